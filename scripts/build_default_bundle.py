"""Rebuild bundles/default_note_rnn.mag from scratch with `rltune pretrain`.

Trains the shipped default Note RNN (one LSTM layer of 100 units, the paper's
size) on the public-domain music21 corpus collections `essenFolksong` and
`ryansMammoth`. music21 is needed by this script only:

    pip install -e '.[abc]'
    python scripts/build_default_bundle.py [--steps 6000]

Then compare with the Magenta-trained fixture on the same held-out melodies:
    python scripts/compare_heldout.py
"""
import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--output", default=str(ROOT / "rltune" / "bundles" / "default_note_rnn.mag"))
    ap.add_argument("--work-dir", default=str(ROOT / "build" / "default_note_rnn.pretrain"))
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args()
    try:
        from music21 import corpus
    except ImportError:
        sys.exit("music21 is needed: pip install -e '.[abc]'")
    base = Path(corpus.getCorePaths()[0]).parents[0]
    while base.name != "corpus":
        base = base.parent
    inputs = [str(base / "essenFolksong"), str(base / "ryansMammoth")]
    cmd = [sys.executable, "-m", "rltune.cli", "pretrain", *inputs, "-o", args.output, "--layers", "100",
           "--batch-size", "64", "--steps", str(args.steps), "--eval-every", "500", "--seed", "0",
           "--work-dir", args.work_dir, "--force"]
    if args.resume:
        cmd.append("--resume")
    print(" ".join(cmd), flush=True)
    sys.exit(subprocess.call(cmd))


if __name__ == "__main__":
    main()
