"""`rltune export`: bundles that sample rltune's policy, compositions out, bad input."""
import json

import numpy as np
import pytest

import rltune
from helpers import assert_user_error, invoke, tiny


class _Runs(dict):
    """Tiny runs in key G, trained the first time a test asks for an algorithm."""

    def __init__(self, base):
        super().__init__()
        self.base = base

    def __missing__(self, algo):
        from helpers import FIXTURE_BUNDLE
        r = invoke("train", "--bundle", FIXTURE_BUNDLE, "-o", self.base / algo, "--algo", algo, *tiny(4096), "--key", "G")
        assert r.exit_code == 0, r.output + r.stderr
        self[algo] = self.base / algo
        return self[algo]


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory):
    return _Runs(tmp_path_factory.mktemp("runs"))


def _melodies(fixtures):
    return np.load(fixtures / "magenta" / "basic_rnn_essen_100.golden.npz")["melodies"]


@pytest.mark.parametrize("algo", ["q", pytest.param("psi", marks=pytest.mark.slow), "g",
                                  pytest.param("rl-only", marks=pytest.mark.slow)])
def test_round_trip_gives_the_policy(trained_runs, fixtures, tmp_path, algo):
    out = tmp_path / f"{algo}.mag"
    r = invoke("export", trained_runs[algo], "-o", out)
    assert r.exit_code == 0, r.output + r.stderr
    info = rltune.bundle_info(out)
    assert info["generator_id"] == "basic_rnn"
    assert f"algorithm {algo}" in info["bundle_description"] and "key G" in info["bundle_description"]
    assert "4,096 training steps" in info["bundle_description"]
    mel = _melodies(fixtures)
    ours = rltune.load_policy(trained_runs[algo]).probabilities(mel)
    exported = rltune.load_policy(out).probabilities(mel)
    assert np.abs(ours - exported).max() < 1e-5
    note_rnn = rltune.load_note_rnn(fixtures / "magenta" / "basic_rnn_essen_100.mag").probabilities(mel)
    assert np.abs(ours - note_rnn).max() > 1e-3  # the tuned policy is not the Note RNN


def test_export_a_chosen_step_and_note_rnns(trained_runs, fixtures, tmp_path):
    from rltune.runs import Run
    steps = Run.open(trained_runs["q"]).checkpoints.steps()
    assert invoke("export", trained_runs["q"], "-o", tmp_path / "first.mag", "--step", steps[0]).exit_code == 0
    mel = _melodies(fixtures)[:2]
    first = rltune.load_policy(tmp_path / "first.mag").probabilities(mel)
    assert np.abs(first - rltune.load_policy(trained_runs["q"], step=steps[0]).probabilities(mel)).max() < 1e-5
    paper = fixtures / "rl_tuner" / "note_rnn_paper_format"
    assert invoke("export", paper, "-o", tmp_path / "paper.mag").exit_code == 0
    gold = np.load(fixtures / "magenta" / "basic_rnn_essen_100.golden.npz")
    assert np.abs(rltune.load_note_rnn(tmp_path / "paper.mag").probabilities(gold["melodies"]) - gold["softmax"]).max() < 1e-5


def test_compositions_as_note_sequences_and_midi(trained_runs, tmp_path):
    rec = tmp_path / "comps.tfrecord"
    r = invoke("export", trained_runs["g"], "--compositions", 20, "--format", "note-sequences", "-o", rec, "--qpm", 90)
    assert r.exit_code == 0, r.output + r.stderr
    import note_seq
    from rltune._tf import tf
    seqs = [note_seq.NoteSequence.FromString(x.numpy()) for x in tf.data.TFRecordDataset(str(rec))]
    assert len(seqs) == 20
    assert all(s.tempos[0].qpm == 90 for s in seqs)
    assert all(s.key_signatures[0].key == 7 for s in seqs)  # the run's key, G
    assert sum(len(s.notes) for s in seqs) > 20
    r = invoke("export", trained_runs["q"], "--compositions", 5, "--format", "midi", "-o", tmp_path / "mid")
    assert r.exit_code == 0
    assert len(list((tmp_path / "mid").glob("*.mid"))) == 5
    # exported NoteSequences feed rltune pretrain (as they would melody_rnn_create_dataset)
    from rltune.data import read_sequences
    assert len(read_sequences(rec)) == 20


def test_bad_inputs(trained_runs, tmp_path):
    empty_run = tmp_path / "empty_run"
    empty_run.mkdir()
    (empty_run / "run.json").write_text(json.dumps({"algorithm": "q"}))
    assert_user_error(invoke("export", empty_run, "-o", tmp_path / "x.mag"), "no config.toml")
    (empty_run / "config.toml").write_text('algo = "q"\n')
    assert_user_error(invoke("export", empty_run, "-o", tmp_path / "x.mag"), "no checkpoint")
    assert_user_error(invoke("export", trained_runs["q"], "-o", tmp_path / "x.mag", "--step", 123), "no checkpoint at step 123")
    existing = tmp_path / "exists.mag"
    existing.write_bytes(b"keep me")
    assert_user_error(invoke("export", trained_runs["q"], "-o", existing), "--force")
    assert existing.read_bytes() == b"keep me"
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_user_error(invoke("export", trained_runs["q"], "-o", blocker / "x.mag"), "cannot")
    assert_user_error(invoke("export", trained_runs["q"], "--compositions", 3, "-o", blocker / "c.tfrecord"), "cannot")
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))
