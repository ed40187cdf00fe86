"""Environment steps per second of the original RL Tuner (Magenta 2.1.4), for speed ratios.

Runs ``magenta.models.rl_tuner.rl_tuner.RLTuner.train`` with
rl_tuner_train.py's settings on the fixture Note RNN (RL Tuner paper format)
in the Magenta oracle venv (``../shared/magenta-oracle/setup.sh``), with its
initial evaluation switched off, and prints `env_steps_per_s=<number>` last.

    python scripts/bench_original.py [--steps 20000] [--exploration boltzmann|egreedy] [--algo q|psi|g]
"""
import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "tests" / "data" / "fixtures" / "rl_tuner" / "note_rnn_paper_format"
VENV = Path(os.environ.get("MAGENTA_VENV", Path.home() / ".cache" / "rltune-magenta-venv"))

CODE = r"""
import os, sys, tempfile, time
import matplotlib; matplotlib.use("Agg")
import tensorflow.compat.v1 as tf
tf.disable_v2_behavior(); tf.logging.set_verbosity(tf.logging.ERROR)
from magenta.models.rl_tuner import rl_tuner
from magenta.contrib import training as contrib_training
steps, exploration, algo, ckpt = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
hp = contrib_training.HParams(random_action_probability=0.1, store_every_nth=1, train_every_nth=5, minibatch_size=32,
                              discount_rate=0.5, max_experience=100000, target_network_update_rate=0.01)
rlt = rl_tuner.RLTuner(tempfile.mkdtemp(), dqn_hparams=hp, reward_scaler=0.1, note_rnn_checkpoint_dir=ckpt,
                       note_rnn_checkpoint_file=os.path.join(ckpt, "note_rnn.ckpt"), output_every_nth=10**9,
                       exploration_mode=exploration, algorithm=algo)
rlt.evaluate_model = lambda *a, **k: None
t0 = time.time()
rlt.train(num_steps=steps, exploration_period=500000)
print(f"env_steps_per_s={steps / (time.time() - t0):.0f}")
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--exploration", default="boltzmann", choices=["boltzmann", "egreedy"])
    ap.add_argument("--algo", default="q", choices=["q", "psi", "g"])
    args = ap.parse_args()
    python = VENV / "bin" / "python"
    if not python.exists():
        sys.exit(f"the Magenta oracle venv is not built at {VENV} (../shared/magenta-oracle/setup.sh)")
    p = subprocess.run([str(python), "-c", CODE, str(args.steps), args.exploration, args.algo, str(CHECKPOINT)],
                       capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    line = next((x for x in p.stdout.splitlines() if x.startswith("env_steps_per_s=")), None)
    if p.returncode or line is None:
        sys.exit(p.stderr[-3000:])
    print(f"original RL Tuner (Magenta 2.1.4): steps={args.steps} exploration={args.exploration} algo={args.algo}")
    print(line)


if __name__ == "__main__":
    main()
