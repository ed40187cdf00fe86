"""`rltune train`: run folders, resume, faults and bad input (tiny runs on the fixture Note RNN)."""
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from helpers import ROOT, TINY, assert_user_error, invoke, tiny
from rltune.runs import Run


def _train(bundle, out, *extra):
    return invoke("train", "--bundle", bundle, "-o", out, *TINY, *extra)


@pytest.fixture(scope="module")
def q_run(tmp_path_factory):
    """One tiny Q run, shared by the tests that only read it (copy it before changing it)."""
    from helpers import FIXTURE_BUNDLE
    out = tmp_path_factory.mktemp("q") / "run"
    r = _train(FIXTURE_BUNDLE, out, "--algo", "q")
    assert r.exit_code == 0, r.output + r.stderr
    return out


def _copy(run, dest):
    import shutil
    shutil.copytree(run, dest)
    return dest


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["q", "psi", "g", "rl-only"])
def test_each_algorithm_writes_a_run(fixture_bundle, tmp_path, algo):
    out = tmp_path / algo
    r = _train(fixture_bundle, out, "--algo", algo)
    assert r.exit_code == 0, r.output + r.stderr
    run = Run.open(out)
    for name in (Run.CONFIG, Run.META, Run.HISTORY, Run.SUMMARY, Run.PLOT):
        assert (out / name).is_file(), name
    assert len(list(run.samples_dir.glob("*.mid"))) == 2
    assert list(run.tensorboard_dir.iterdir())
    assert run.checkpoints.steps()[-1] == 8192
    summary = run.summary()
    assert summary["algorithm"] == algo and summary["env_steps"] == 8192
    minibatch = TINY[TINY.index("--minibatch-size") + 1]
    assert summary["updates"] == pytest.approx((8192 - 1024) * 6.4 / minibatch, abs=15)  # learning starts within one acting step
    assert set(summary["final_table"]) >= {"notes_excessively_repeated", "notes_in_motif"}
    assert [h["step"] for h in run.history()][:3] == [0, 4096, 8192]
    import rltune
    policy = rltune.load_policy(out)
    assert policy.algorithm == algo and len(policy.networks) == (2 if algo == "g" else 1)
    assert policy.sample(np.zeros((3, 1), int), 8)["events"].shape == (3, 8)


def test_weights_change_and_target_follows(q_run, fixture_bundle):
    from rltune.checkpoint import load_weights
    from rltune.note_rnn import NoteRNNWeights
    _, a = Run.open(q_run).load_checkpoint()
    q, target, reward = (NoteRNNWeights.from_arrays(p, a) for p in ("q", "target", "reward"))
    orig = load_weights(fixture_bundle).weights
    np.testing.assert_array_equal(reward.fc_weights, orig.fc_weights)  # the Reward RNN is frozen
    moved_q = np.abs(q.fc_weights - orig.fc_weights).max()
    moved_t = np.abs(target.fc_weights - orig.fc_weights).max()
    assert moved_q > 1e-3 and 0 < moved_t < moved_q  # soft updates trail the Q network


def test_every_file_has_the_same_mode(q_run):
    modes = {p.relative_to(q_run): p.stat().st_mode & 0o777 for p in q_run.rglob("*") if p.is_file()}
    assert len(set(modes.values())) == 1, modes


def test_resume_continues_the_whole_run(q_run, tmp_path):
    out = _copy(q_run, tmp_path / "run")
    r = invoke("train", "-o", out, "--resume", "--steps", 12288)
    assert r.exit_code == 0, r.output + r.stderr
    run = Run.open(out)
    summary = run.summary()
    assert summary["env_steps"] == 12288 and run.config.steps == 12288  # config and summary describe the whole run
    assert [(s["start_step"], s["end_step"]) for s in summary["segments"]] == [(0, 8192), (8192, 12288)]
    assert summary["train_seconds"] == pytest.approx(sum(s["seconds"] for s in summary["segments"]))
    assert summary["this_segment"]["start_step"] == 8192


@pytest.mark.slow
def test_config_toml_is_a_config_file(q_run, tmp_path):
    out = q_run
    r = invoke("train", "--bundle", ROOT / "tests/data/fixtures/magenta/basic_rnn_essen_100.mag", "-o", tmp_path / "again",
               "--config", out / "config.toml", "--steps", 4096)
    assert r.exit_code == 0, r.output + r.stderr


def test_resume_refuses_what_cannot_change_and_says_when_done(q_run, tmp_path, fixtures):
    out = _copy(q_run, tmp_path / "run")
    before = (out / Run.CONFIG).read_text()
    for args, needle in ((["--algo", "psi"], "--algo"), (["--reward-scaler", "0.1"], "--reward-scaler"),
                         (["--key", "G"], "--key"), (["--rules", "paper" if Run.open(q_run).config.rules == "corrected" else "corrected"], "--rules"),
                         (["--bundle", fixtures / "rl_tuner" / "note_rnn_paper_format"], "model")):
        assert_user_error(invoke("train", "-o", out, "--resume", *args), needle, "resum")
    assert (out / Run.CONFIG).read_text() == before
    r = invoke("train", "-o", out, "--resume", "--algo", "q", "--steps", 8192)  # the same value is no change
    assert r.exit_code == 0, r.output + r.stderr
    assert "nothing to train" in r.stdout and Run.open(out).checkpoints.steps()[-1] == 8192


def test_resume_from_a_chosen_step_and_past_a_damaged_checkpoint(q_run, tmp_path):
    out = _copy(q_run, tmp_path / "run")
    run = Run.open(out)
    newest = run.checkpoints.file(8192)
    newest.write_bytes(newest.read_bytes()[:1000])  # truncated
    with pytest.warns(UserWarning, match="step-000008192.npz is unreadable: BadZipFile"):
        step, _ = run.load_checkpoint()
    assert step == 4096
    for cmd in (["evaluate", out, "-n", 64], ["export", out, "-o", tmp_path / "x.mag"]):
        r = invoke(*cmd)
        assert r.exit_code == 0, r.stderr
        assert "warning:" in r.stderr and "skipping it" in r.stderr
    r = invoke("evaluate", out, "--step", 4096, "-n", 64, "--json", "-")
    assert r.exit_code == 0 and json.loads(r.stdout), r.stderr
    r = invoke("train", "-o", out, "--resume", "--step", 0, "--steps", 4096)
    assert r.exit_code == 0, r.stderr
    assert Run.open(out).summary()["segments"][-1]["start_step"] == 0
    assert_user_error(invoke("train", "-o", out, "--resume", "--step", 777), "no checkpoint at step 777")


def test_a_run_without_its_config_is_refused_by_every_command(q_run, tmp_path):
    out = _copy(q_run, tmp_path / "run")
    (out / Run.CONFIG).unlink()
    for cmd in (["train", "-o", out, "--resume"], ["evaluate", out, "-n", 64], ["export", out, "-o", tmp_path / "x.mag"],
                ["generate", "--checkpoint", out, "-o", tmp_path / "gen"]):
        assert_user_error(invoke(*cmd), "config.toml")
    assert not (tmp_path / "x.mag").exists() and not (tmp_path / "gen").exists()


def test_refuses_an_existing_run(q_run, fixture_bundle, tmp_path):
    out = _copy(q_run, tmp_path / "run")
    assert_user_error(_train(fixture_bundle, out), "--resume", "--force")
    assert _train(fixture_bundle, out, "--force", "--steps", 4096).exit_code == 0
    assert Run.open(out).checkpoints.steps()[-1] == 4096


@pytest.mark.parametrize("args, needle", [
    (["--discount", "1.0"], "--discount"),
    (["--discount", "-0.1"], "--discount"),
    (["--num-envs", "0"], "--num-envs"),
    (["--minibatch-size", "-1"], "--minibatch-size"),
    (["--algo", "sarsa"], "unknown algorithm"),
    (["--key", "H#"], "unknown key"),
    (["--rules", "modern"], "unknown rule set"),
    (["--rule-weight", "nonsense=2"], "unknown rule"),
    (["--rule-weight", "repeating=nan"], "finite"),
    (["--rule-weight", "repeating=inf"], "finite"),
    (["--rule", "no_such_module_zz:f"], "cannot load user rule"),
    (["--learning-rate", "0"], "--learning-rate"),
    (["--learning-rate", "nan"], "--learning-rate"),
    (["--reward-scaler", "inf"], "--reward-scaler must be a finite number"),
    (["--reward-scaler", "-1"], "--reward-scaler must be >= 0"),
    (["--time-limit", "-1"], "--time-limit"),
    (["--epsilon", "nan"], "--epsilon"),
    (["--num-samples", "-1"], "--num-samples"),
    (["--step", "5"], "--resume"),
])
def test_invalid_settings(fixture_bundle, tmp_path, args, needle):
    r = invoke("train", "--bundle", fixture_bundle, "-o", tmp_path / "run", *args)
    assert_user_error(r, needle)
    assert not (tmp_path / "run").exists()


def test_user_rule_failure_is_named_and_a_failed_start_leaves_nothing(fixture_bundle, tmp_path):
    (tmp_path / "my_rules.py").write_text(
        "import numpy as np\n"
        "def likes_c(history, action, t, length):\n    return (action == 14).astype(float)\n"
        "def broken(history, action, t, length):\n    raise KeyError('oops')\n"
        "def short(history, action, t, length):\n    return np.zeros(2)\n"
        "def nan(history, action, t, length):\n    return np.full(len(action), np.nan)\n")
    for fn in ("broken", "short", "nan"):
        r = _train(fixture_bundle, tmp_path / fn, "--rule", f"{tmp_path / 'my_rules.py'}:{fn}")
        assert_user_error(r, f"user rule '{fn}'")
        assert not (tmp_path / fn).exists()  # nothing blocks a retry
    # a folder the user made stays, emptied of the failed run, and takes a plain rerun
    (tmp_path / "mine").mkdir()
    assert _train(fixture_bundle, tmp_path / "mine", "--rule", f"{tmp_path / 'my_rules.py'}:nan").exit_code == 1
    assert (tmp_path / "mine").is_dir() and not Run.is_run(tmp_path / "mine")
    assert _train(fixture_bundle, tmp_path / "mine", "--steps", 4096).exit_code == 0


@pytest.mark.slow
def test_a_weighted_user_rule_trains(fixture_bundle, tmp_path):
    (tmp_path / "my_rules.py").write_text("def likes_c(history, action, t, length):\n    return (action == 14).astype(float)\n")
    ok = _train(fixture_bundle, tmp_path / "ok", "--rule", f"{tmp_path / 'my_rules.py'}:likes_c",
                "--rule-weight", "likes_c=3", "--steps", 4096)
    assert ok.exit_code == 0, ok.output + ok.stderr


def test_a_run_that_never_checkpointed_can_be_rerun_in_place(fixture_bundle, tmp_path):
    from rltune.config import TrainConfig
    out = tmp_path / "run"
    Run.create(out, TrainConfig(), fixture_bundle)  # e.g. a process killed before its first checkpoint
    assert_user_error(invoke("train", "-o", out, "--resume"), "no checkpoint yet")
    assert _train(fixture_bundle, out, "--steps", 4096).exit_code == 0


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # the point of the test
def test_nan_loss_stops_and_keeps_a_good_checkpoint(fixture_bundle, tmp_path):
    out = tmp_path / "nan"
    r = _train(fixture_bundle, out, "--reward-scaler", "1e38")
    assert_user_error(r, "loss became")
    step, arrays = Run.open(out).load_checkpoint()
    assert all(np.isfinite(v).all() for k, v in arrays.items() if k.startswith("q/"))


def _start_training(fixture_bundle, out, *extra):
    args = [sys.executable, "-m", "rltune.cli", "train", "--bundle", str(fixture_bundle), "-o", str(out),
            *map(str, tiny(100_000_000)), *map(str, extra)]
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for_checkpoint(out, step, proc, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        steps = Run(out).checkpoints.steps()
        if steps and steps[-1] >= step:
            return steps[-1]
        time.sleep(0.3)
    raise AssertionError(f"no checkpoint at {step} (exit {proc.poll()}): {proc.stderr.read() if proc.poll() is not None else ''}")


@pytest.mark.slow
def test_sigkill_then_resume_and_a_second_writer_is_refused(fixture_bundle, tmp_path):
    out = tmp_path / "killed"
    proc = _start_training(fixture_bundle, out)
    try:
        _wait_for_checkpoint(out, 8192, proc)
        second = subprocess.run([sys.executable, "-m", "rltune.cli", "train", "-o", str(out), "--resume"],
                                cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert second.returncode == 1 and f"pid {proc.pid}" in second.stderr, second.stderr
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    run = Run.open(out)
    last = run.checkpoints.steps()[-1]
    assert run.summary() is None  # no summary of a part that is not the whole run
    assert run.meta["env_steps"] == last
    r = invoke("train", "-o", out, "--resume", "--steps", last + 4096)  # the dead process's lock is gone
    assert r.exit_code == 0, r.output + r.stderr
    summary = Run.open(out).summary()
    assert summary["env_steps"] == last + 4096 and summary["segments"][-1]["start_step"] == last
    assert len(list(run.tensorboard_dir.iterdir())) == 2  # one event file per process that trained


@pytest.mark.slow
def test_boltzmann_exploration_and_midi_priming(fixtures, fixture_bundle, tmp_path):
    out = tmp_path / "boltz"
    r = _train(fixture_bundle, out, "--exploration", "boltzmann", "--priming", "midi",
               "--primer-midi", fixtures / "midi" / "essen_altdeu10_3.mid", "--steps", 4096)
    assert r.exit_code == 0, r.output + r.stderr
    cfg = Run.open(out).config
    assert cfg.exploration == "boltzmann" and cfg.priming == "midi"
    # evaluation primes as the run was trained, unless told otherwise
    from rltune.evaluation import evaluate_model
    as_trained = evaluate_model(out, num_compositions=64, seed=0)["compositions"]
    explicit = evaluate_model(out, num_compositions=64, seed=0, priming="midi",
                              primer_midi=fixtures / "midi" / "essen_altdeu10_3.mid")["compositions"]
    random_note = evaluate_model(out, num_compositions=64, seed=0, priming="random-note")["compositions"]
    assert (as_trained == explicit).all() and not (as_trained == random_note).all()


@pytest.mark.slow
def test_polyphonic_primer_is_accepted_with_the_same_warning_everywhere(fixtures, fixture_bundle, tmp_path):
    bach = fixtures / "midi" / "bach_bwv66.6_polyphonic.mid"
    r = invoke("generate", "--bundle", fixture_bundle, "--primer-midi", bach, "-o", tmp_path / "g", "--num-outputs", 1)
    assert r.exit_code == 0 and "several parts" in r.stderr
    r = _train(fixture_bundle, tmp_path / "t", "--priming", "midi", "--primer-midi", bach, "--steps", 4096)
    assert r.exit_code == 0 and "several parts" in r.stderr, r.stderr
    r = invoke("evaluate", fixture_bundle, "-n", 64, "--priming", "midi", "--primer-midi", bach)
    assert r.exit_code == 0 and "several parts" in r.stderr


@pytest.mark.slow
def test_dataset_priming(fixture_bundle, tmp_path):
    """Prime with random prefixes of melodies from a NoteSequence TFRecord (here: exported by rltune)."""
    rec = tmp_path / "primers.tfrecord"
    assert invoke("export", fixture_bundle, "--compositions", 8, "-o", rec).exit_code == 0
    from rltune.config import TrainConfig
    from rltune.priming import Primers
    primers = Primers(TrainConfig(priming="dataset", primer_dataset=str(rec)), np.random.default_rng(0))
    p, lengths = primers(16)
    assert p.shape[0] == 16 and (lengths >= 1).all() and len(set(lengths.tolist())) > 1
    r = _train(fixture_bundle, tmp_path / "ds", "--priming", "dataset", "--primer-dataset", rec, "--steps", 4096)
    assert r.exit_code == 0, r.output + r.stderr
    assert_user_error(invoke("train", "--bundle", fixture_bundle, "-o", tmp_path / "x", "--priming", "dataset"),
                      "--primer-dataset")


def test_ctrl_c_saves_a_checkpoint_and_figures(fixture_bundle, tmp_path):
    from rltune.config import TrainConfig
    from rltune.training import Callback, train

    class StopAt4096(Callback):
        def on_batch(self, step, total, loss, epsilon, reward, steps_per_s):
            if step >= 4096:
                raise KeyboardInterrupt

    cfg = TrainConfig(steps=10**8, num_envs=128, minibatch_size=64, learning_starts=1024, eval_every=10**8,
                      eval_compositions=32, checkpoint_every=10**8, num_samples=1)
    summary = train(fixture_bundle, tmp_path / "run", cfg, callback=StopAt4096())
    assert summary["interrupted"] and summary["env_steps"] == 4096
    run = Run.open(tmp_path / "run")
    assert run.checkpoints.steps()[-1] == 4096 and run.summary()["interrupted"]
    assert (tmp_path / "run" / Run.PLOT).is_file()


def test_bad_model_or_primer_leaves_no_run_folder(fixture_bundle, tmp_path):
    assert_user_error(invoke("train", "--bundle", tmp_path / "missing.mag", "-o", tmp_path / "a"), "not found")
    assert_user_error(invoke("train", "--bundle", fixture_bundle, "-o", tmp_path / "b", "--priming", "midi",
                             "--primer-midi", tmp_path / "missing.mid"), "not found")
    assert_user_error(invoke("train", "--bundle", fixture_bundle, "-o", tmp_path / "c", "--priming", "midi",
                             "--primer-midi", tmp_path), "is a folder")
    assert not any((tmp_path / n).exists() for n in "abc")


def test_checkpoint_files_are_whole_zips(q_run):
    for step in Run.open(q_run).checkpoints.steps():
        assert zipfile.is_zipfile(Run(q_run).checkpoints.file(step))
    assert json.loads((q_run / Run.META).read_text())["env_steps"] == 8192
