"""`rltune train`: run folders, resume, faults and bad input (tiny runs on the fixture Note RNN)."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from cli_helpers import assert_user_error, invoke
from conftest import ROOT

TINY = ["--steps", 8192, "--num-envs", 128, "--minibatch-size", 64, "--learning-starts", 1024,
        "--eval-every", 4096, "--eval-compositions", 64, "--checkpoint-every", 4096, "--num-samples", 2,
        "--exploration-steps", 4096, "--replay-size", 20000]


def _train(bundle, out, *extra):
    return invoke("train", "--bundle", bundle, "-o", out, *TINY, *extra)


@pytest.mark.parametrize("algo", ["q", "psi", "g", "rl-only"])
def test_each_algorithm_writes_a_run(fixture_bundle, tmp_path, algo):
    out = tmp_path / algo
    r = _train(fixture_bundle, out, "--algo", algo)
    assert r.exit_code == 0, r.output + r.stderr
    for name in ("config.toml", "run.json", "history.json", "summary.json", "rewards.png"):
        assert (out / name).is_file(), name
    assert len(list((out / "samples").glob("*.mid"))) == 2
    assert list((out / "tb").iterdir())
    steps = sorted(int(p.stem.split("-")[1]) for p in (out / "checkpoints").glob("step-*.npz"))
    assert steps[-1] == 8192
    summary = json.loads((out / "summary.json").read_text())
    assert summary["algorithm"] == algo and summary["env_steps"] == 8192
    assert summary["updates"] == pytest.approx((8192 - 1024) * 6.4 / 64, abs=15)  # learning starts within one acting step
    assert set(summary["final_table"]) >= {"notes_excessively_repeated", "notes_in_motif"}
    hist = json.loads((out / "history.json").read_text())
    assert [h["step"] for h in hist][:3] == [0, 4096, 8192]
    # the run is a model: it loads and samples with the algorithm's policy
    import rltune
    policy = rltune.load_policy(out)
    assert policy.algorithm == algo and len(policy.networks) == (2 if algo == "g" else 1)
    assert policy.sample(np.zeros((3, 1), int), 8)["events"].shape == (3, 8)


def test_weights_change_and_target_follows(fixture_bundle, tmp_path):
    from rltune import runs
    out = tmp_path / "q"
    assert _train(fixture_bundle, out).exit_code == 0
    _, a = runs.load_checkpoint(out)
    q, target, reward = (runs.weights_from_arrays(p, a) for p in ("q", "target", "reward"))
    from rltune.checkpoint import load_weights
    orig = load_weights(fixture_bundle).weights
    np.testing.assert_array_equal(reward.fc_weights, orig.fc_weights)  # the Reward RNN is frozen
    moved_q = np.abs(q.fc_weights - orig.fc_weights).max()
    moved_t = np.abs(target.fc_weights - orig.fc_weights).max()
    assert moved_q > 1e-3 and 0 < moved_t < moved_q  # soft updates trail the Q network


def test_resume_continues_and_config_file(fixture_bundle, tmp_path):
    out = tmp_path / "run"
    assert _train(fixture_bundle, out).exit_code == 0
    r = invoke("train", "-o", out, "--resume", "--steps", 12288)
    assert r.exit_code == 0, r.output + r.stderr
    assert json.loads((out / "summary.json").read_text())["env_steps"] == 12288
    # config.toml is a valid --config file
    r = invoke("train", "--bundle", fixture_bundle, "-o", tmp_path / "again", "--config", out / "config.toml",
               "--steps", 4096)
    assert r.exit_code == 0, r.output + r.stderr


def test_refuses_an_existing_run(fixture_bundle, tmp_path):
    out = tmp_path / "run"
    assert _train(fixture_bundle, out).exit_code == 0
    assert_user_error(_train(fixture_bundle, out), "--resume", "--force")
    assert _train(fixture_bundle, out, "--force").exit_code == 0


@pytest.mark.parametrize("args, needle", [
    (["--discount", "1.0"], "--discount"),
    (["--discount", "-0.1"], "--discount"),
    (["--num-envs", "0"], "--num-envs"),
    (["--minibatch-size", "-1"], "--minibatch-size"),
    (["--algo", "sarsa"], "unknown algorithm"),
    (["--key", "H#"], "unknown key"),
    (["--rules", "modern"], "unknown rule set"),
    (["--rule-weight", "nonsense=2"], "unknown rule"),
    (["--rule", "no_such_module_zz:f"], "cannot load user rule"),
    (["--learning-rate", "0"], "--learning-rate"),
])
def test_invalid_settings(fixture_bundle, tmp_path, args, needle):
    r = invoke("train", "--bundle", fixture_bundle, "-o", tmp_path / "run", *args)
    assert_user_error(r, needle)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_user_rule_failure_is_named(fixture_bundle, tmp_path):
    (tmp_path / "my_rules.py").write_text(
        "import numpy as np\n"
        "def likes_c(history, action, t, length):\n    return (action == 14).astype(float)\n"
        "def broken(history, action, t, length):\n    raise KeyError('oops')\n"
        "def short(history, action, t, length):\n    return np.zeros(2)\n")
    ok = _train(fixture_bundle, tmp_path / "ok", "--rule", f"{tmp_path / 'my_rules.py'}:likes_c",
                "--rule-weight", "likes_c=3", "--steps", 4096)
    assert ok.exit_code == 0, ok.output + ok.stderr
    for fn in ("broken", "short"):
        r = _train(fixture_bundle, tmp_path / fn, "--rule", f"{tmp_path / 'my_rules.py'}:{fn}")
        assert_user_error(r, f"user rule '{fn}'")


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # the point of the test
def test_nan_loss_stops_and_keeps_a_good_checkpoint(fixture_bundle, tmp_path):
    from rltune import runs
    out = tmp_path / "nan"
    r = _train(fixture_bundle, out, "--reward-scaler", "1e38")
    assert_user_error(r, "loss became")
    step, arrays = runs.load_checkpoint(out)
    assert all(np.isfinite(v).all() for k, v in arrays.items() if k.startswith("q/"))


def test_sigkill_then_resume(fixture_bundle, tmp_path):
    out = tmp_path / "killed"
    args = [sys.executable, "-m", "rltune.cli", "train", "--bundle", str(fixture_bundle), "-o", str(out),
            *map(str, TINY[:1]), "100000000", *map(str, TINY[2:])]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from rltune import runs
    deadline = time.time() + 240
    try:
        while time.time() < deadline and (not runs.checkpoint_steps(out) or runs.checkpoint_steps(out)[-1] < 8192):
            time.sleep(0.5)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    last = runs.checkpoint_steps(out)[-1]
    assert last >= 8192
    r = invoke("train", "-o", out, "--resume", "--steps", last + 4096)
    assert r.exit_code == 0, r.output + r.stderr
    assert json.loads((out / "summary.json").read_text())["env_steps"] == last + 4096


def test_boltzmann_exploration_and_midi_priming(fixtures, fixture_bundle, tmp_path):
    out = tmp_path / "boltz"
    r = _train(fixture_bundle, out, "--exploration", "boltzmann", "--priming", "midi",
               "--primer-midi", fixtures / "midi" / "essen_altdeu10_3.mid", "--steps", 4096)
    assert r.exit_code == 0, r.output + r.stderr
    cfg = (out / "config.toml").read_text()
    assert 'exploration = "boltzmann"' in cfg and 'priming = "midi"' in cfg
    # evaluation primes as the run was trained, unless told otherwise
    from rltune.evaluation import evaluate_model
    as_trained = evaluate_model(out, num_compositions=64, seed=0)["compositions"]
    explicit = evaluate_model(out, num_compositions=64, seed=0, priming="midi",
                              primer_midi=fixtures / "midi" / "essen_altdeu10_3.mid")["compositions"]
    random_note = evaluate_model(out, num_compositions=64, seed=0, priming="random-note")["compositions"]
    assert (as_trained == explicit).all() and not (as_trained == random_note).all()


def test_dataset_priming(fixture_bundle, tmp_path):
    """Prime with random prefixes of melodies from a NoteSequence TFRecord (here: exported by rltune)."""
    rec = tmp_path / "primers.tfrecord"
    assert invoke("export", fixture_bundle, "--compositions", 8, "-o", rec).exit_code == 0
    from rltune.config import TrainConfig
    from rltune.training import Primers
    primers = Primers(TrainConfig(priming="dataset", primer_dataset=str(rec)), np.random.default_rng(0))
    p, lengths = primers(16)
    assert p.shape[0] == 16 and (lengths >= 1).all() and len(set(lengths.tolist())) > 1
    r = _train(fixture_bundle, tmp_path / "ds", "--priming", "dataset", "--primer-dataset", rec, "--steps", 4096)
    assert r.exit_code == 0, r.output + r.stderr
    assert_user_error(invoke("train", "--bundle", fixture_bundle, "-o", tmp_path / "x", "--priming", "dataset"),
                      "--primer-dataset")


def test_ctrl_c_saves_a_checkpoint_and_figures(fixture_bundle, tmp_path):
    from rltune import runs
    from rltune.config import TrainConfig
    from rltune.training import train

    def reporter(kind, **kw):
        if kind == "progress" and kw["step"] >= 4096:
            raise KeyboardInterrupt

    cfg = TrainConfig(steps=10**8, num_envs=128, minibatch_size=64, learning_starts=1024, eval_every=10**8,
                      eval_compositions=32, checkpoint_every=10**8, num_samples=1)
    summary = train(fixture_bundle, tmp_path / "run", cfg, reporter=reporter)
    assert summary["interrupted"] and summary["env_steps"] == 4096
    assert runs.checkpoint_steps(tmp_path / "run")[-1] == 4096
    assert (tmp_path / "run" / "rewards.png").is_file() and (tmp_path / "run" / "summary.json").is_file()


def test_bad_model_or_primer_leaves_no_run_folder(fixture_bundle, tmp_path):
    assert_user_error(invoke("train", "--bundle", tmp_path / "missing.mag", "-o", tmp_path / "a"), "not found")
    assert_user_error(invoke("train", "--bundle", fixture_bundle, "-o", tmp_path / "b", "--priming", "midi",
                             "--primer-midi", tmp_path / "missing.mid"), "not found")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
