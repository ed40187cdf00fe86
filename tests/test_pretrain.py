"""`rltune pretrain`: a small run end to end, and bad input."""
import numpy as np
import pytest

from helpers import assert_user_error, invoke

ABC = """X:1
T:Little test tune
M:4/4
L:1/8
K:G
GABc dedB|dedB dedB|c2ec B2dB|c2A2 A2BA|GABc dedB|dedB dedB|c2ec B2dB|A2F2 G4|
z2 (3Bcd e2d2|{g}fedc B4|GABc dedB|dedB dedB|c2ec B2dB|c2A2 A2BA|G8|]

X:2
T:Second tune
M:3/4
L:1/4
K:D
D F A|d2 c|B A G|F2 E|D F A|d2 f|e d c|d3|A B c|d e f|g f e|d3|f e d|c B A|B c d|d3|]
"""


@pytest.fixture
def corpus_dir(fixtures, tmp_path):
    d = tmp_path / "music"
    d.mkdir()
    (d / "tunes.abc").write_text(ABC)
    for name in ("essen_altdeu10_3.mid", "bach_bwv66.6_polyphonic.mid"):
        (d / name).write_bytes((fixtures / "midi" / name).read_bytes())
    (d / "broken.mid").write_bytes(b"MThd garbage")
    return d


@pytest.mark.slow
def test_small_run_writes_a_loadable_bundle(corpus_dir, tmp_path):
    pytest.importorskip("music21")
    out = tmp_path / "model.mag"
    r = invoke("pretrain", corpus_dir, "-o", out, "--layers", "16,12", "--steps", 12, "--batch-size", 4,
               "--eval-every", 6, "--eval-ratio", 0.0)
    assert r.exit_code == 0, r.output + r.stderr
    assert "held-out log-perplexity" in r.stdout
    assert "files that failed to parse" in r.stderr  # the broken MIDI is counted, not fatal
    import rltune
    info = rltune.bundle_info(out)
    assert info["architecture"]["layer_sizes"] == [16, 12]
    assert info["generator_id"] == "basic_rnn" and "rltune pretrain" in info["bundle_description"]
    work = tmp_path / "model.pretrain"
    assert (work / "dataset.npz").is_file() and list((work / "tb").iterdir())
    from rltune.data import load_dataset
    ds = load_dataset(work / "dataset.npz")
    assert ds.stats["files read"] == 3 and len(ds.train) >= 3
    assert all(((m >= 0) & (m < 38)).all() for m in ds.train)
    g = invoke("generate", "--bundle", out, "--num-outputs", 2, "--num-steps", 32, "-o", tmp_path / "gen")
    assert g.exit_code == 0 and len(list((tmp_path / "gen").glob("*.mid"))) == 2
    # --resume continues from the work folder's checkpoint
    r = invoke("pretrain", "-o", out, "--layers", "16,12", "--steps", 16, "--batch-size", 4, "--resume")
    assert r.exit_code == 0, r.output + r.stderr
    import json
    assert json.loads((work / "result.json").read_text())["steps"] == 16


def test_interrupt_still_writes_a_usable_bundle(corpus_dir, tmp_path):
    from rltune.config import PretrainConfig
    from rltune.pretraining import pretrain

    def reporter(kind, **kw):
        if kind == "step" and kw["step"] == 3:
            raise KeyboardInterrupt

    out = tmp_path / "m.mag"
    res = pretrain([corpus_dir / "essen_altdeu10_3.mid"], out, PretrainConfig(layers=[8], steps=100, batch_size=2),
                   reporter=reporter)
    assert res.interrupted and res.steps == 3
    import rltune
    assert rltune.load_note_rnn(out).probabilities(np.array([[14, 0, 0]])).shape == (1, 3, 38)
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_missing_input(tmp_path):
    assert_user_error(invoke("pretrain", tmp_path / "nowhere", "-o", tmp_path / "m.mag"), "not found")


def test_folder_without_usable_music(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    (d / "notes.txt").write_text("no music here")
    assert_user_error(invoke("pretrain", d, "-o", tmp_path / "m.mag"), "no music files")
    (d / "bad.mid").write_bytes(b"not midi at all")
    assert_user_error(invoke("pretrain", d, "-o", tmp_path / "m.mag"), "no usable melodies")
    assert not (tmp_path / "m.mag").exists()


def test_unwritable_output(fixtures, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    r = invoke("pretrain", fixtures / "midi" / "essen_altdeu10_3.mid", "-o", blocker / "m.mag")
    assert_user_error(r, "cannot")


@pytest.mark.parametrize("layers", ["0", "-5", "abc", "100,0", ""])
def test_bad_layer_sizes(fixtures, tmp_path, layers):
    r = invoke("pretrain", fixtures / "midi" / "essen_altdeu10_3.mid", "-o", tmp_path / "m.mag", "--layers", layers)
    assert_user_error(r, "--layers")


@pytest.mark.parametrize("option, value", [("--learning-rate", "nan"), ("--dropout", "nan"), ("--dropout", "1"),
                                           ("--eval-ratio", "inf"), ("--batch-size", "0")])
def test_nonsense_numbers_are_refused(fixtures, tmp_path, option, value):
    r = invoke("pretrain", fixtures / "midi" / "essen_altdeu10_3.mid", "-o", tmp_path / "m.mag", option, value)
    assert_user_error(r, option)
    assert not (tmp_path / "m.mag").exists()
