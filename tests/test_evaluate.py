"""`rltune evaluate`: the table, its files, real melodies and bad input."""
import json

import pytest

from helpers import FIXTURES, assert_user_error, invoke, tiny

KEYS = ["notes_excessively_repeated", "notes_not_in_key", "autocorrelation_lag1", "autocorrelation_lag2",
        "autocorrelation_lag3", "leaps_resolved", "starting_with_tonic", "unique_max_note", "unique_min_note",
        "notes_in_motif", "notes_in_repeated_motif", "mean_log_p", "mean_music_theory_reward",
        "mean_note_length", "hold_fraction", "rest_fraction", "distinct_compositions"]


def test_table_json_csv_for_two_models(fixtures, fixture_bundle, tmp_path):
    paper = fixtures / "rl_tuner" / "note_rnn_paper_format"
    r = invoke("evaluate", fixture_bundle, paper, "-n", 3000, "--seed", 1,
               "--json", tmp_path / "t.json", "--csv", tmp_path / "t.csv")
    assert r.exit_code == 0, r.output + r.stderr
    assert "Notes excessively repeated" in r.stdout and "Leaps resolved" in r.stdout
    data = json.loads((tmp_path / "t.json").read_text())
    assert list(data) == ["basic_rnn_essen_100", "note_rnn_paper_format"]
    a, b = data.values()
    assert list(a) == KEYS
    assert a == b  # same weights, same seed: the same compositions
    assert 0 <= a["notes_excessively_repeated"] <= 1 and a["mean_log_p"] < 0
    assert a["notes_excessively_repeated"] > 0.05  # the Note RNN's repetition problem (original definitions)
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert lines[0] == "row,basic_rnn_essen_100,note_rnn_paper_format" and len(lines) == 1 + len(KEYS)


def test_seed_greedy_and_key(fixture_bundle, tmp_path):
    import rltune
    from rltune.evaluation import evaluate_model
    a = evaluate_model(fixture_bundle, num_compositions=500, seed=5)
    b = evaluate_model(fixture_bundle, num_compositions=500, seed=5)
    c = evaluate_model(fixture_bundle, num_compositions=500, seed=6)
    assert (a["compositions"] == b["compositions"]).all() and not (a["compositions"] == c["compositions"]).all()
    g = evaluate_model(fixture_bundle, num_compositions=200, greedy=True)
    assert g["rows"]["mean_log_p"] > a["rows"]["mean_log_p"]  # argmax notes are the likeliest
    d = evaluate_model(fixture_bundle, num_compositions=500, seed=5, key="F#")
    assert d["rows"]["notes_not_in_key"] > a["rows"]["notes_not_in_key"]
    assert rltune.metrics.table_row_values(a["compositions"]) == pytest.approx(
        {k: v for k, v in a["rows"].items() if k != "mean_log_p"}, nan_ok=True)


def test_midi_folder(fixtures, tmp_path):
    d = tmp_path / "human"
    d.mkdir()
    (d / "a.mid").write_bytes((fixtures / "midi" / "essen_altdeu10_3.mid").read_bytes())
    r = invoke("evaluate", fixtures / "magenta" / "basic_rnn_essen_100.mag", "-n", 200, "--midi", d, "--json", tmp_path / "h.json")
    assert r.exit_code == 0, r.output + r.stderr
    data = json.loads((tmp_path / "h.json").read_text())
    human = data["MIDI: human"]
    assert human["notes_not_in_key"] < 0.05  # a folk song, transposed to C


def test_bad_inputs(fixture_bundle, tmp_path):
    assert_user_error(invoke("evaluate", tmp_path / "missing.mag", "-n", 10), "not found")
    assert_user_error(invoke("evaluate", fixture_bundle, "-n", 0), "--num-compositions")
    assert_user_error(invoke("evaluate", fixture_bundle, "-n", -3), "--num-compositions")
    assert_user_error(invoke("evaluate", fixture_bundle, "-n", 10, "--key", "X"), "unknown key")
    empty = tmp_path / "nomidi"
    empty.mkdir()
    assert_user_error(invoke("evaluate", "--midi", empty), "no melodies")
    assert_user_error(invoke("generate", "--bundle", FIXTURES / "midi" / "essen_altdeu10_3.mid", "-o", tmp_path / "g"),
                      "is a MIDI file, not a model")
    empty_rec = tmp_path / "empty.tfrecord"
    empty_rec.write_bytes(b"")
    assert_user_error(invoke("evaluate", empty_rec), "no melodies")
    assert_user_error(invoke("evaluate", tmp_path / "nomidi"), "no model, checkpoint, run or MIDI files")
    assert_user_error(invoke("evaluate", fixture_bundle, "-n", 10, "--reward-model", tmp_path / "nope.mag"), "not found")


@pytest.mark.slow
def test_log_p_of_an_exported_policy_is_scored_as_its_run(fixture_bundle, tmp_path):
    """A Q bundle carries the Reward RNN it was tuned against: evaluate gives the run's log p, not the
    bundle's own; a plain Note RNN is labelled as scored under itself; --reward-model overrides."""
    from rltune.evaluation import evaluate_model
    run = tmp_path / "q"
    assert invoke("train", "--bundle", fixture_bundle, "-o", run, *tiny(4096), "--algo", "q", "--reward-scaler", "5").exit_code == 0
    assert invoke("export", run, "-o", tmp_path / "q.mag").exit_code == 0
    of_run = evaluate_model(run, num_compositions=500, seed=3)
    of_bundle = evaluate_model(tmp_path / "q.mag", num_compositions=500, seed=3)
    assert (of_run["compositions"] == of_bundle["compositions"]).all()
    assert of_bundle["rows"]["mean_log_p"] == pytest.approx(of_run["rows"]["mean_log_p"], abs=1e-6)
    assert of_bundle["scored_by"] == "the Reward RNN"
    itself = evaluate_model(tmp_path / "q.mag", num_compositions=500, seed=3, reward_model=tmp_path / "q.mag")
    assert abs(itself["rows"]["mean_log_p"] - of_run["rows"]["mean_log_p"]) > 0.01
    r = invoke("evaluate", fixture_bundle, "-n", 200)
    assert "(under itself)" in r.stdout


def test_gates_for_ci(fixture_bundle):
    ok = invoke("evaluate", fixture_bundle, "-n", 2000, "--require", "notes_not_in_key<=0.5", "--require", "leaps_resolved>=0.1")
    assert ok.exit_code == 0, ok.stderr
    assert "pass" in ok.stdout and "FAIL" not in ok.stdout
    bad = invoke("evaluate", fixture_bundle, "-n", 2000, "--require", "notes_not_in_key<=0", "--require", "leaps_resolved>=0.1")
    assert bad.exit_code == 1
    assert "FAIL" in bad.stdout
    lines = [line for line in bad.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "notes_not_in_key" in lines[0] and "leaps_resolved" not in lines[0], bad.stderr
    assert_user_error(invoke("evaluate", fixture_bundle, "-n", 10, "--require", "tonic>0.2"), "unknown row", "leaps_resolved")
    assert_user_error(invoke("evaluate", fixture_bundle, "-n", 10, "--require", "leaps_resolved = high"), "not a condition")


def test_json_to_stdout_and_compositions_as_inputs(fixture_bundle, tmp_path):
    rec = tmp_path / "q.tfrecord"
    assert invoke("export", fixture_bundle, "--compositions", 300, "-o", rec).exit_code == 0
    folder = tmp_path / "midi"
    folder.mkdir()
    (folder / "a.mid").write_bytes((FIXTURES / "midi" / "essen_altdeu10_3.mid").read_bytes())
    r = invoke("evaluate", rec, folder, "--json", "-")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)  # only the JSON on stdout; the table went to stderr
    assert set(data) == {"NoteSequences: q.tfrecord", "MIDI: midi"}
    assert "Music-theory statistics" in r.stderr
    comps = data["NoteSequences: q.tfrecord"]
    assert 0 <= comps["notes_not_in_key"] <= 1 and comps["mean_log_p"] < 0
