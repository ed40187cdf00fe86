"""`rltune unpack-bundle` and bad bundles."""
import json

import numpy as np

from helpers import assert_user_error, invoke
from helpers import assert_clean_error, run_cli


def test_unpack_writes_checkpoint_metagraph_and_json(fixture_bundle, tmp_path):
    r = invoke("unpack-bundle", fixture_bundle, "-o", tmp_path / "out")
    assert r.exit_code == 0, r.output
    info = json.loads((tmp_path / "out" / "bundle.json").read_text())
    assert info["generator_id"] == "basic_rnn"
    assert info["architecture"]["layer_sizes"] == [100]
    assert info["architecture"]["input_size"] == 38 and info["architecture"]["num_classes"] == 38
    assert "Essen" in info["bundle_description"]
    assert (tmp_path / "out" / "model.ckpt.meta").stat().st_size > 1000
    from rltune.checkpoint import read_checkpoint_variables
    v = read_checkpoint_variables(tmp_path / "out" / "model.ckpt")
    assert v["rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel"].shape == (138, 400)


def test_info_writes_nothing(fixture_bundle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = invoke("unpack-bundle", fixture_bundle, "--info")
    assert r.exit_code == 0
    assert "basic_rnn" in r.stdout and "[100]" in r.stdout
    assert list(tmp_path.iterdir()) == []


def test_missing_bundle(tmp_path):
    assert_user_error(invoke("unpack-bundle", tmp_path / "nope.mag", "--info"), "not found")


def test_empty_truncated_and_non_bundle_files(fixture_bundle, tmp_path):
    empty = tmp_path / "empty.mag"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.mag"
    truncated.write_bytes(fixture_bundle.read_bytes()[:100_000])
    text = tmp_path / "text.mag"
    text.write_text("this is not a bundle\n" * 20)
    for f in (empty, truncated, text):
        r = invoke("unpack-bundle", f, "-o", tmp_path / "out")
        assert_user_error(r, "bundle")
    assert not (tmp_path / "out" / "bundle.json").exists()


def future_bundle(fixtures, tmp_path):
    """A melody_rnn bundle under a generator id rltune does not know (a future encoder)."""
    from rltune.checkpoint import read_bundle, write_bundle
    b = read_bundle(fixtures / "magenta" / "lookback_rnn_tiny.mag")
    path = tmp_path / "future.mag"
    write_bundle(path, b.checkpoint, b.metagraph, "a future configuration", generator_id="future_rnn")
    return path


def test_other_generator_is_refused_by_name(fixtures, tmp_path):
    r = invoke("unpack-bundle", future_bundle(fixtures, tmp_path), "-o", tmp_path / "o")
    assert_user_error(r, "'future_rnn' bundle", "basic_rnn, lookback_rnn, attention_rnn")


def test_real_process_prints_one_line(fixtures, tmp_path):
    """The installed entry point: one line, no traceback, exit 1."""
    p = run_cli("generate", "--bundle", future_bundle(fixtures, tmp_path), "-o", "/tmp/never")
    assert_clean_error(p, "future_rnn")


def test_checkpoint_with_unknown_variables(tmp_path):
    from test_note_rnn import _save_v1
    _save_v1(tmp_path / "x.ckpt", {"encoder/w": np.zeros((2, 2), np.float32)})
    r = invoke("generate", "--checkpoint", tmp_path / "x.ckpt", "-o", tmp_path / "out")
    assert_user_error(r, "encoder/w", "no note rnn layout")
