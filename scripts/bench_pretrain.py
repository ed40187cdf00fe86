"""Pretraining speed of `rltune pretrain` (events per second), next to Magenta's.

Uses the dataset cached by scripts/build_default_bundle.py (Essen + Ryan's
Mammoth melodies, Magenta's basic_rnn pipeline), basic_rnn [100], batch 64.
Prints our training events/s with length-bucketed batches (what
`rltune pretrain` does) and with random batches padded to their longest
melody (what Magenta's `get_padded_batch` does), and the same figure for
Magenta's `melody_rnn_train`, measured on this 2-core machine at about 2.8
steps per second at this batch and layer size on the same Essen melodies.

    python scripts/bench_pretrain.py [--steps 200]
"""
import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MAGENTA_STEPS_PER_S = 2.8  # melody_rnn_train --config=basic_rnn, rnn_layer_sizes=[100], batch 64, here


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--dataset", default=str(ROOT / "build" / "default_note_rnn.pretrain" / "dataset.npz"))
    args = ap.parse_args()
    from rltune._tf import tf
    from rltune.data import load_dataset
    from rltune.note_rnn import NoteRNN, random_weights
    from rltune.optim import Adam
    from rltune.pretraining import Batches, pad

    ds = load_dataset(args.dataset)
    mels = [m[:513] for m in ds.train if len(m) >= 2]
    mean_events = float(np.mean([len(m) - 1 for m in mels]))
    net = NoteRNN(random_weights([100]), trainable=True)
    opt = Adam(net.weight_variables, 1e-3, clip_norm=5.0, clip="global")

    @tf.function(reduce_retracing=True)
    def step(x, y, mask):
        with tf.GradientTape() as tape:
            logits = net.sequence_logits(x)
            ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
            loss = tf.reduce_sum(ce * mask) / tf.reduce_sum(mask)
        opt.apply(tape.gradient(loss, net.weight_variables))
        return loss

    rng = np.random.default_rng(0)
    bucketed = Batches(mels, 64, 512, rng)

    def random_batch():
        return pad([mels[i] for i in rng.integers(0, len(mels), 64)])

    results = {}
    for name, make in (("bucketed", bucketed), ("random", random_batch)):
        for _ in range(5):
            step(*map(tf.constant, make()))
        events, t0 = 0, time.perf_counter()
        for _ in range(args.steps):
            x, y, mask = make()
            step(tf.constant(x), tf.constant(y), tf.constant(mask))
            events += int(mask.sum())
        dt = time.perf_counter() - t0
        results[name] = (events / dt, args.steps / dt)
        print(f"rltune {name:8s} batches: {events / dt:,.0f} events/s, {args.steps / dt:.2f} steps/s")
    magenta = MAGENTA_STEPS_PER_S * 64 * mean_events
    print(f"magenta melody_rnn_train: {MAGENTA_STEPS_PER_S} steps/s x 64 x {mean_events:.1f} mean events = {magenta:,.0f} events/s")
    print(f"speedup_bucketed={results['bucketed'][0] / magenta:.1f}x speedup_random_batches={results['random'][0] / magenta:.1f}x")


if __name__ == "__main__":
    main()
