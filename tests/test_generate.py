"""`rltune generate`: primers, reproducibility, outputs and bad input."""
import hashlib

import pretty_midi
import pytest

from helpers import assert_user_error, invoke


def _digest(folder):
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.glob("*.mid"))}


def test_primer_midi_eight_melodies(fixtures, fixture_bundle, tmp_path):
    primer = fixtures / "midi" / "essen_altdeu10_3.mid"
    args = ["generate", "--bundle", fixture_bundle, "--primer-midi", primer, "--num-outputs", 8, "--num-steps", 128, "--seed", 3]
    r = invoke(*args, "-o", tmp_path / "a")
    assert r.exit_code == 0, r.output
    mids = sorted((tmp_path / "a").glob("*.mid"))
    assert len(mids) == 8 and len(list((tmp_path / "a").glob("*.pb"))) == 8
    src = pretty_midi.PrettyMIDI(str(primer)).instruments[0].notes
    for m in mids:
        pm = pretty_midi.PrettyMIDI(str(m))
        assert len(pm.instruments) == 1
        notes = sorted(pm.instruments[0].notes, key=lambda n: n.start)
        assert all(b.start >= a.end - 1e-6 for a, b in zip(notes, notes[1:])), "not monophonic"
        # the primer's first notes (same tempo, 120 qpm) open every melody
        assert [n.pitch for n in notes[:3]] == [n.pitch for n in src[:3]]
        assert pm.get_end_time() <= 128 * 0.125 + 1e-6
    r2 = invoke(*args, "-o", tmp_path / "b")
    assert r2.exit_code == 0
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert invoke(*args[:-1], 4, "-o", tmp_path / "c").exit_code == 0
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_notesequence_and_probability_plot(fixture_bundle, tmp_path):
    r = invoke("generate", "--bundle", fixture_bundle, "--primer-melody", "[60, -2, 62, -1, 64]", "--num-outputs", 2,
               "--num-steps", 40, "--plot-probs", "-o", tmp_path)
    assert r.exit_code == 0, r.output
    from note_seq.protobuf import music_pb2
    seq = music_pb2.NoteSequence.FromString((tmp_path / "melody_001.pb").read_bytes())
    assert [n.pitch for n in seq.notes][:3] == [60, 62, 64]
    assert (tmp_path / "melody_001_probs.png").stat().st_size > 1000


def test_generate_is_batched_python_api(fixture_bundle, tmp_path):
    import rltune
    out = rltune.generate(fixture_bundle, tmp_path, num_outputs=5, num_steps=16, seed=1)
    assert out["events"].shape == (5, 16)
    assert ((out["events"] >= 0) & (out["events"] < 38)).all()


def test_polyphonic_primer_uses_extracted_melody(fixtures, fixture_bundle, tmp_path):
    r = invoke("generate", "--bundle", fixture_bundle, "--primer-midi", fixtures / "midi" / "bach_bwv66.6_polyphonic.mid",
               "--num-outputs", 1, "--num-steps", 96, "-o", tmp_path)
    assert r.exit_code == 0, r.output
    assert "several parts" in r.stderr
    pm = pretty_midi.PrettyMIDI(str(tmp_path / "melody_001.mid"))
    notes = sorted(pm.instruments[0].notes, key=lambda n: n.start)
    assert all(b.start >= a.end - 1e-6 for a, b in zip(notes, notes[1:]))


def test_midi_without_notes(fixture_bundle, tmp_path):
    pm = pretty_midi.PrettyMIDI()
    pm.instruments.append(pretty_midi.Instrument(0))
    pm.write(str(tmp_path / "empty.mid"))
    r = invoke("generate", "--bundle", fixture_bundle, "--primer-midi", tmp_path / "empty.mid", "-o", tmp_path / "o")
    assert_user_error(r, "no notes")
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").glob("*.mid"))


def test_missing_primer_and_model(fixture_bundle, tmp_path):
    assert_user_error(invoke("generate", "--bundle", fixture_bundle, "--primer-midi", tmp_path / "no.mid", "-o", tmp_path),
                      "not found")
    assert_user_error(invoke("generate", "--bundle", tmp_path / "no.mag", "-o", tmp_path), "not found")


@pytest.mark.parametrize("melody", ["[60, -2,", "hello", "[]", "[60, 200]", "[-2, 60]"])
def test_malformed_primer_melody(fixture_bundle, tmp_path, melody):
    r = invoke("generate", "--bundle", fixture_bundle, "--primer-melody", melody, "-o", tmp_path / "o")
    assert_user_error(r, "primer")
    assert not list(tmp_path.glob("o/*.mid"))


@pytest.mark.parametrize("option, value", [("--temperature", "nan"), ("--temperature", "inf"), ("--temperature", "0"),
                                           ("--qpm", "nan"), ("--qpm", "-1")])
def test_nonsense_numbers_are_refused(fixture_bundle, tmp_path, option, value):
    assert_user_error(invoke("generate", "--bundle", fixture_bundle, option, value, "-o", tmp_path / "g"), option)
    assert not (tmp_path / "g").exists()


def test_primer_folder_is_named(fixture_bundle, tmp_path):
    assert_user_error(invoke("generate", "--bundle", fixture_bundle, "--primer-midi", tmp_path, "-o", tmp_path / "g"),
                      "is a folder")


@pytest.mark.parametrize("steps", [0, -5])
def test_non_positive_num_steps(fixture_bundle, tmp_path, steps):
    assert_user_error(invoke("generate", "--bundle", fixture_bundle, "--num-steps", steps, "-o", tmp_path), "--num-steps")


def test_failure_leaves_no_partial_output(fixture_bundle, tmp_path, monkeypatch):
    import rltune.melodies as mel
    calls = {"n": 0}
    real = mel.write_midi

    def flaky(seq, path):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        real(seq, path)
    monkeypatch.setattr(mel, "write_midi", flaky)
    import rltune
    with pytest.raises(OSError):
        rltune.generate(fixture_bundle, tmp_path / "o", num_outputs=5, num_steps=16)
    assert list((tmp_path / "o").iterdir()) == []


def test_default_model_is_the_shipped_bundle(tmp_path):
    r = invoke("generate", "--primer-melody", "[60, -2, 62]", "--num-outputs", 2, "--num-steps", 24, "-o", tmp_path)
    assert r.exit_code == 0, r.output + r.stderr
    assert "default_note_rnn" in r.stdout and len(list(tmp_path.glob("*.mid"))) == 2
