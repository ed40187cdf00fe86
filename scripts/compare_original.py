"""Faithful dynamics: `--preset original` beside the original RL Tuner's own figures.

Trains ``--preset original`` (with the given overrides; by default
``--exploration egreedy``, the setting the original's figures below were
measured with) on the fixture Note RNN in the RL Tuner paper's checkpoint
format, once per seed, evaluates each run over 10,000 compositions under the
paper's rules, and prints the paper's rows of each seed beside the original's.

The original's figures: Magenta 2.1.4's ``rl_tuner_train.py`` run with its
full default budget (1M steps, reward_scaler 0.1, egreedy, exploration 500k)
on this same fixture checkpoint on a machine like this one (about an hour),
then ``evaluate_music_theory_metrics`` over 10,000 compositions; recorded in
the project brief (DEVELOPERS.md). Re-measure them with the Magenta oracle
venv; they are not computed here because the original needs an hour per run.

    python scripts/compare_original.py [--seeds 0 1] [--steps 1000000] [--algo q] [--g-prior trained]
"""
import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "tests" / "data" / "fixtures" / "rl_tuner" / "note_rnn_paper_format"
ORIGINAL_Q_EGREEDY = {"notes_excessively_repeated": 0.00014, "notes_not_in_key": 0.0165, "leaps_resolved": 0.594,
                      "starting_with_tonic": 0.071, "notes_in_motif": 0.570, "unique_max_note": 0.72,
                      "unique_min_note": 0.72}
ROWS = ["notes_excessively_repeated", "notes_not_in_key", "leaps_resolved", "starting_with_tonic", "notes_in_motif",
        "unique_max_note", "unique_min_note", "notes_in_repeated_motif", "mean_log_p", "mean_note_length",
        "hold_fraction"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--compositions", type=int, default=10_000)
    ap.add_argument("--algo", default="q")
    ap.add_argument("--exploration", default="egreedy")
    ap.add_argument("--g-prior", default=None)
    ap.add_argument("--set", action="append", default=[], help="another setting, NAME=VALUE (TOML value)")
    ap.add_argument("-o", "--output", default="runs/compare_original")
    args = ap.parse_args()
    import tomllib
    from rltune.config import TrainConfig
    from rltune.evaluation import evaluate_model
    from rltune.metrics import format_value
    from rltune.training import train
    extra = {k: tomllib.loads(f"v = {v}")["v"] for k, v in (s.split("=", 1) for s in args.set)}
    results = {}
    for seed in args.seeds:
        given = {"preset": "original", "algo": args.algo, "exploration": args.exploration, "steps": args.steps,
                 "seed": seed, "eval_every": 250_000, "checkpoint_every": 10**9, **extra}
        if args.g_prior:
            given["g_prior"] = args.g_prior
        cfg = TrainConfig.from_settings(given).validate()
        name = f"{args.algo}_{args.exploration}{'_' + args.g_prior if args.g_prior else ''}_seed{seed}"
        run_dir = Path(args.output) / name
        t0 = time.time()
        summary = train(CHECKPOINT, run_dir, cfg, force=True)
        result = evaluate_model(run_dir, num_compositions=args.compositions, key="C", rules="paper", seed=seed)
        results[name] = {"rows": result["rows"], "train_seconds": summary["train_seconds"],
                         "env_steps_per_s": summary["env_steps_per_s"], "updates": summary["updates"],
                         "wall_seconds": time.time() - t0}
        print(f"{name}: {summary['env_steps']:,} steps in {summary['train_seconds']:.0f} s "
              f"({summary['env_steps_per_s']:,.0f} steps/s), {summary['updates']:,} updates", flush=True)
    names = list(results)
    print("\n| row | " + " | ".join(names) + " | original (q, egreedy) |")
    print("| --- |" + " ---: |" * (len(names) + 1))
    for row in ROWS:
        cells = [format_value(row, results[n]["rows"].get(row)) for n in names]
        orig = format_value(row, ORIGINAL_Q_EGREEDY[row]) if row in ORIGINAL_Q_EGREEDY else ""
        print(f"| {row} | " + " | ".join(cells) + f" | {orig} |")
    out = Path(args.output) / f"compare_{args.algo}_{args.exploration}{'_' + args.g_prior if args.g_prior else ''}.json"
    out.write_text(json.dumps(results, indent=1))
    print(f"\nwritten {out}")


if __name__ == "__main__":
    sys.exit(main())
