"""Held-out log-perplexity (nats per event) and accuracy of Note RNNs on the same melodies.

    python scripts/compare_heldout.py [--dataset build/default_note_rnn.pretrain/dataset.npz] MODEL.mag ...

By default compares the shipped bundle with the Magenta-trained fixture
../shared/fixtures/magenta/basic_rnn_essen_100.mag on the held-out melodies
that `scripts/build_default_bundle.py` set aside.
"""
import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="*", default=[str(ROOT / "bundles" / "default_note_rnn.mag"),
                                                   str(ROOT.parent / "shared" / "fixtures" / "magenta" / "basic_rnn_essen_100.mag")])
    ap.add_argument("--dataset", default=str(ROOT / "build" / "default_note_rnn.pretrain" / "dataset.npz"))
    args = ap.parse_args()
    from rltune.data import load_dataset
    from rltune.loading import load_note_rnn
    from rltune.pretraining import evaluate_log_perplexity
    ds = load_dataset(args.dataset)
    print(f"held-out melodies: {len(ds.eval)} ({sum(len(m) for m in ds.eval):,} events)")
    for m in args.models:
        r = evaluate_log_perplexity(load_note_rnn(m), ds.eval)
        print(f"{Path(m).name}: log_perplexity={r['log_perplexity']:.4f} accuracy={r['accuracy']:.4f}")


if __name__ == "__main__":
    main()
