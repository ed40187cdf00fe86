"""lookback_rnn and attention_rnn: loaded exactly, sampled, tuned and exported like basic_rnn."""
import subprocess

import numpy as np
import pytest

import rltune
from helpers import DATA, FIXTURES, ORACLE, assert_user_error, invoke, tiny

LOOKBACK = FIXTURES / "magenta" / "lookback_rnn_tiny.mag"
ATTENTION = DATA / "magenta" / "attention_rnn_tiny.mag"
BASIC = FIXTURES / "magenta" / "basic_rnn_essen_100.mag"
MODELS = {"basic_rnn": BASIC, "lookback_rnn": LOOKBACK, "attention_rnn": ATTENTION}
GOLDEN = np.load(DATA / "golden" / "melody_rnn_loglik.npz")


def magenta_loglik(venv, bundle, melodies, tmp_path):
    np.savez(tmp_path / "mel.npz", melodies=melodies)
    out = tmp_path / "loglik.npz"
    p = subprocess.run([str(venv / "bin" / "python"), str(ORACLE / "magenta_loglik.py"), str(bundle), str(tmp_path / "mel.npz"),
                        str(out)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    return np.load(out)["step_logp"]


@pytest.mark.parametrize("name", list(MODELS))
def test_log_likelihood_matches_magentas_golden(name):
    """Magenta 2.1.4's log-likelihood (magenta_loglik.py, 12 melodies of 80 steps: real ones with bar
    repeats, random ones, ones opening with rests) against rltune.load_note_rnn(...).log_likelihood."""
    net = rltune.load_note_rnn(MODELS[name])
    assert net.encoder.name == name
    ours = net.log_likelihood(GOLDEN["melodies"])
    assert ours.shape == (12, 79)
    np.testing.assert_allclose(ours, GOLDEN[name], atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lookback_rnn", "attention_rnn"])
def test_log_likelihood_matches_magenta_live(name, magenta_venv, tmp_path):
    rng = np.random.default_rng(7)
    mel = np.concatenate([np.tile(rng.integers(0, 38, (4, 16)), (1, 5)), rng.integers(0, 38, (4, 80))])  # bar repeats, noise
    np.testing.assert_allclose(rltune.load_note_rnn(MODELS[name]).log_likelihood(mel), magenta_loglik(magenta_venv, MODELS[name], mel, tmp_path),
                               atol=1e-5)


def test_basic_log_likelihood_agrees_with_probabilities():
    mel = GOLDEN["melodies"][:6]
    mel = mel[(mel[:, 0] >= 2)]  # no opening rest (log_likelihood reads it as a hold, as Magenta's Melody does)
    net = rltune.load_note_rnn(BASIC)
    probs = net.probabilities(mel)
    expected = np.log(np.take_along_axis(probs[:, :-1], mel[:, 1:, None], axis=2)[:, :, 0])
    np.testing.assert_allclose(net.log_likelihood(mel), expected, atol=1e-5)


@pytest.mark.parametrize("name", ["lookback_rnn", "attention_rnn"])
def test_sampled_events_are_scored_as_magenta_scores_them(name):
    """Sampling resolves lookback classes into events; the log p it reports is log_likelihood's."""
    policy = rltune.load_policy(MODELS[name])
    primer = np.array([[5], [20], [0], [9]])
    out = policy.sample(primer, 70, seed=3)
    events = out["events"]
    assert events.min() >= 0 and events.max() < 38
    full = np.concatenate([primer, events], axis=1)
    np.testing.assert_allclose(out["log_p"], rltune.load_note_rnn(MODELS[name]).log_likelihood(full), atol=2e-5)


def test_bundle_info_reads_the_configuration(tmp_path):
    r = invoke("unpack-bundle", ATTENTION, "--info")
    assert r.exit_code == 0, r.stderr
    assert "attention_rnn" in r.stdout and "74" in r.stdout and "40" in r.stdout
    info = rltune.bundle_info(ATTENTION)
    assert info["architecture"]["configuration"] == "attention_rnn" and "attn_length 10" in info["architecture"]["attention"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lookback_rnn", "attention_rnn"])
def test_generate_train_evaluate_export(name, tmp_path):
    model = MODELS[name]
    r = invoke("generate", "--bundle", model, "--num-outputs", 2, "--num-steps", 64, "--primer", "[60, -2, 62]", "-o", tmp_path / "gen")
    assert r.exit_code == 0, r.stderr
    assert len(list((tmp_path / "gen").glob("*.mid"))) == 2
    for algo in ("psi", "g"):
        run = tmp_path / algo
        r = invoke("train", "--bundle", model, "--algo", algo, "-o", run, *tiny(4096))
        assert r.exit_code == 0, r.stderr
        r = invoke("evaluate", run, "-n", 200, "--json", tmp_path / f"{algo}.json")
        assert r.exit_code == 0, r.stderr
        bundle = tmp_path / f"{algo}.mag"
        assert invoke("export", run, "-o", bundle).exit_code == 0
        from rltune.checkpoint import read_bundle
        assert read_bundle(bundle).generator_id == name
        mel = GOLDEN["melodies"][:4, :64]
        np.testing.assert_allclose(rltune.load_policy(bundle).log_likelihood(mel), rltune.load_policy(run).log_likelihood(mel),
                                   atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lookback_rnn", "attention_rnn"])
def test_exported_tuned_bundles_play_in_magenta(name, magenta_venv, tmp_path):
    """Magenta's melody_rnn_generate plays the export, and its graph gives rltune's policy."""
    from test_magenta_interop import magenta_generate
    for algo in ("q", "g"):
        run = tmp_path / algo
        assert invoke("train", "--bundle", MODELS[name], "--algo", algo, "-o", run, *tiny(4096)).exit_code == 0
        bundle = tmp_path / f"{algo}.mag"
        assert invoke("export", run, "-o", bundle).exit_code == 0
        assert len(magenta_generate(magenta_venv, bundle, tmp_path / f"gen_{algo}")) == 4
        mel = GOLDEN["melodies"][:, :64]
        theirs = magenta_loglik(magenta_venv, bundle, mel, tmp_path)
        np.testing.assert_allclose(rltune.load_policy(run, dtype="float64").log_likelihood(mel), theirs, atol=1e-5)
        # in float32 too, while a tuned attention wrapper's outputs (fed back through its attention, they grow
        # to 10^2-10^3 within 60 steps here) are small enough for float32's 7 digits
        ours = rltune.load_policy(run).log_likelihood(mel)
        np.testing.assert_allclose(ours[:, :24] if name == "attention_rnn" else ours, theirs[:, :24] if name == "attention_rnn" else theirs,
                                   atol=1e-5)


def test_bad_bundles_and_checkpoints(tmp_path):
    from rltune.checkpoint import read_bundle, write_bundle
    basic, lookback = read_bundle(BASIC), read_bundle(LOOKBACK)
    wrong_id = tmp_path / "wrong_id.mag"  # a lookback_rnn id over a basic_rnn checkpoint
    write_bundle(wrong_id, basic.checkpoint, basic.metagraph, "x", generator_id="lookback_rnn")
    assert_user_error(invoke("generate", "--bundle", wrong_id, "-o", tmp_path / "o"),
                      "a lookback_rnn model has 121 inputs and 40 classes; its checkpoint has 38 and 38")
    disagree = tmp_path / "disagree.mag"  # a lookback checkpoint with a basic_rnn metagraph
    write_bundle(disagree, lookback.checkpoint, basic.metagraph, "x", generator_id="lookback_rnn")
    assert_user_error(invoke("generate", "--bundle", disagree, "-o", tmp_path / "o"),
                      "metagraph's state sizes [100, 100] do not fit the checkpoint's layers [32, 32]")
    assert invoke("unpack-bundle", ATTENTION, "-o", tmp_path / "unpacked").exit_code == 0
    (tmp_path / "unpacked" / "model.ckpt.meta").unlink()  # nothing says the attention length any more
    assert_user_error(invoke("generate", "--checkpoint", tmp_path / "unpacked", "-o", tmp_path / "o"),
                      "attention length of this attention_rnn model cannot be found")
    assert not (tmp_path / "o").exists()
