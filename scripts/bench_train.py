"""Environment steps per second of `rltune train`, learning included.

Without --preset: rltune's default schedule at the original's replay ratio
(6.4 sampled transitions per environment step, in minibatches of 1,024) with
the shipped one-layer 100-unit Note RNN. With --preset original: the
original's schedule (minibatches of 32 without replacement, one per 5
environment steps of each composition: ~100 small updates per acting step).
Prints `env_steps_per_s=<number>` last.

    python scripts/bench_train.py --algo q [--steps 600000]
    python scripts/bench_train.py --preset original [--exploration egreedy] [--algo g]
    python scripts/bench_train.py --configuration lookback_rnn   # a random model of the default's size
"""
import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--algo", default=None, choices=["q", "psi", "g", "rl-only"])
    ap.add_argument("--preset", default="")
    ap.add_argument("--exploration", default=None, choices=["egreedy", "boltzmann"])
    ap.add_argument("--steps", type=int, default=600_000)
    ap.add_argument("--bundle", default=None, help="default: the shipped bundle")
    ap.add_argument("--configuration", default=None, choices=["basic_rnn", "lookback_rnn", "attention_rnn"],
                    help="tune a random model of this configuration, one layer of 100 units like the shipped default")
    args = ap.parse_args()
    from rltune.config import TrainConfig
    from rltune.training import train
    given = {"steps": args.steps, "eval_every": 10**9, "checkpoint_every": 10**9, "num_samples": 0, "eval_compositions": 100}
    given.update({k: v for k, v in (("algo", args.algo), ("exploration", args.exploration)) if v})
    if args.preset:
        given["preset"] = args.preset
    else:
        given.setdefault("algo", "q")
        given["replay_ratio"] = 6.4
    cfg = TrainConfig.from_settings(given).validate()
    with tempfile.TemporaryDirectory() as d:
        if args.configuration:
            from rltune.magenta_graph import write_note_rnn_bundle
            from rltune.note_rnn import random_weights
            args.bundle = Path(d) / f"{args.configuration}.mag"
            write_note_rnn_bundle(args.bundle, random_weights([100], configuration=args.configuration), "benchmark model")
        s = train(args.bundle, Path(d) / "run", cfg)
    print(f"configuration={args.configuration or 'bundle'} preset={cfg.preset or '-'} algo={cfg.algo} exploration={cfg.exploration} env_steps={s['env_steps']} "
          f"updates={s['updates']} minibatch={cfg.minibatch_size} num_envs={cfg.num_envs} "
          f"replay_ratio={s['updates'] * cfg.minibatch_size / s['env_steps']:.2f} "
          f"train_seconds={s['train_seconds']:.1f} learn_seconds={s['learn_seconds']:.1f}")
    print(f"env_steps_per_s={s['env_steps_per_s']:.0f}")


if __name__ == "__main__":
    sys.exit(main())
