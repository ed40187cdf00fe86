"""Choose `rltune train`'s default config from a sweep's results (docs/sweeps/frontier.toml).

    python scripts/choose_default.py sweeps/frontier/results.json

Among the trials that meet the paper's improved rows (evaluated with the rules
each was trained with; the weaker of the paper's Q and Psi columns) and keep
the Note RNN's mean note length within 25%, the one that loses the least log p
per note. Settings shared by both seeds must pass with both seeds: a config
is judged by its worse seed. Prints every config's verdict and the choice last.
"""
import json
import sys
from collections import defaultdict

PAPER = {  # the weaker of the paper's Q and Psi columns
    "notes_excessively_repeated": ("<=", 0.0002),
    "notes_not_in_key": ("<=", 0.010),
    "leaps_resolved": (">=", 0.90),
    "starting_with_tonic": (">=", 0.287),
    "notes_in_motif": (">=", 0.738),
}


def verdict(row, note_length):
    fails = [k for k, (op, v) in PAPER.items() if not (row[k] <= v if op == "<=" else row[k] >= v)]
    if abs(row["mean_note_length"] - note_length) > 0.25 * note_length:
        fails.append("mean_note_length")
    return fails


def main():
    data = json.load(open(sys.argv[1] if len(sys.argv) > 1 else "sweeps/frontier/results.json"))
    note_length = data["note_rnn"]["rows"]["mean_note_length"]
    configs = defaultdict(list)
    for t in data["trials"]:  # a config is every setting that varies but the seed
        columns = list(t)[1:list(t).index("mean_log_p")]
        configs[tuple((k, json.dumps(t[k])) for k in columns if k not in ("seed", "steps") and t[k] is not None)].append(t)
    best = None
    print(f"Note RNN: mean log p per note {data['note_rnn']['rows']['mean_log_p']:.3f}, mean note length {note_length:.2f}")
    for key, trials in sorted(configs.items(), key=lambda kv: str(kv[0])):
        fails = sorted({f for t in trials for f in verdict(t, note_length)})
        worst = min(t["mean_log_p"] for t in trials)
        name = " ".join(f"{k}={json.loads(v)}" for k, v in key)
        print(f"{name}: seeds {len(trials)}, worst log p {worst:.3f}, "
              f"note length {max(t['mean_note_length'] for t in trials):.2f}, "
              + ("meets every row" if not fails else "fails " + ", ".join(fails)))
        if not fails and (best is None or worst > best[1]):
            best = (key, worst)
    if best is None:
        print("choice: none of the swept configs meets every condition")
        return 1
    print(f"choice: {' '.join(f'{k}={json.loads(v)}' for k, v in best[0])} (worst seed's log p {best[1]:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
