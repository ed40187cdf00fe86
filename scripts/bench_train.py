"""Environment steps per second of `rltune train`, learning included.

At the original's replay ratio (6.4 sampled transitions per environment step:
minibatch 32 every 5 steps) with a one-layer 100-unit Note RNN (the shipped
default). Prints `env_steps_per_s=<number>` last.

    python scripts/bench_train.py --algo q [--steps 600000]
"""
import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--algo", default="q", choices=["q", "psi", "g", "rl-only"])
    ap.add_argument("--steps", type=int, default=600_000)
    ap.add_argument("--bundle", default=None, help="default: the shipped bundle")
    args = ap.parse_args()
    from rltune.config import TrainConfig
    from rltune.training import train
    cfg = TrainConfig(algo=args.algo, steps=args.steps, replay_ratio=6.4, eval_every=10**9, checkpoint_every=10**9,
                      num_samples=0, eval_compositions=100)
    with tempfile.TemporaryDirectory() as d:
        s = train(args.bundle, Path(d) / "run", cfg)
    print(f"algo={args.algo} env_steps={s['env_steps']} updates={s['updates']} minibatch={cfg.minibatch_size} "
          f"num_envs={cfg.num_envs} replay_ratio={s['updates'] * cfg.minibatch_size / s['env_steps']:.2f} "
          f"train_seconds={s['train_seconds']:.1f} learn_seconds={s['learn_seconds']:.1f}")
    print(f"env_steps_per_s={s['env_steps_per_s']:.0f}")


if __name__ == "__main__":
    sys.exit(main())
