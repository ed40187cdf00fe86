"""Compositions per second of `rltune evaluate`, statistics included.

One-layer 100-unit Note RNN (the shipped default), 32-step compositions,
random-note priming, sampling + the paper's statistics + log p + r_MT.
Prints `compositions_per_s=<number>` last.

    python scripts/bench_evaluate.py [--num-compositions 100000]
"""
import argparse
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--num-compositions", type=int, default=100_000)
    ap.add_argument("--model", default=None, help="default: the shipped bundle")
    args = ap.parse_args()
    from rltune.evaluation import evaluate_model
    from rltune.loading import load_policy
    policy = load_policy(args.model)
    evaluate_model(policy, num_compositions=1000)  # compile once, as any long evaluation amortises
    t0 = time.time()
    r = evaluate_model(policy, num_compositions=args.num_compositions, seed=1)
    dt = time.time() - t0
    print(f"compositions={args.num_compositions} seconds={dt:.2f} sampling_seconds={r['sample_seconds']:.2f} "
          f"notes_excessively_repeated={r['rows']['notes_excessively_repeated']:.4f}")
    print(f"compositions_per_s={args.num_compositions / dt:.0f}")


if __name__ == "__main__":
    main()
