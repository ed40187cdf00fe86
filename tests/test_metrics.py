"""The statistics equal rl_tuner_eval_metrics' counts (golden fixture)."""
import numpy as np

from rltune import metrics


def test_counts_equal_the_original(golden_rewards):
    assert tuple(golden_rewards["stat_names"]) == metrics.STAT_NAMES
    stats = metrics.composition_stats(golden_rewards["compositions"])
    for i, name in enumerate(metrics.STAT_NAMES):
        np.testing.assert_array_equal(stats[name], golden_rewards["stats"][:, i], err_msg=name)


def test_autocorrelation_equals_the_original(golden_rewards):
    ac = metrics.composition_stats(golden_rewards["compositions"])["autocorrelation"]
    gold = golden_rewards["autocorrelation"]
    np.testing.assert_array_equal(np.isnan(ac), np.isnan(gold))
    assert np.isnan(gold).any(), "the fixture has constant compositions"
    assert np.nanmax(np.abs(ac - gold)) <= 1e-9


def test_reward_sum_matches_rules(golden_rewards):
    stats = metrics.composition_stats(golden_rewards["compositions"], with_reward=True)
    np.testing.assert_allclose(stats["music_theory_reward"], golden_rewards["total_reward"].sum(1), atol=1e-8)


def test_summary_rows_are_fractions(golden_rewards):
    comps = golden_rewards["compositions"]
    rows = metrics.table_row_values(comps)
    g = dict(zip(golden_rewards["stat_names"], golden_rewards["stats"].sum(0)))
    assert rows["notes_excessively_repeated"] == g["num_repeated_notes"] / comps.size
    assert rows["starting_with_tonic"] == g["num_starting_tonic"] / len(comps)
    assert rows["leaps_resolved"] == g["num_resolved_leaps"] / (g["num_resolved_leaps"] + g["num_leap_twice"])
    np.testing.assert_allclose(rows["autocorrelation_lag1"], np.nanmean(golden_rewards["autocorrelation"][:, 0]))
    assert {k for k, _ in metrics.TABLE_ROWS} - {"mean_log_p"} == set(rows)


def test_melody_shape_rows():
    """Note length, sustaining holds, silence and distinct compositions (note-seq meanings: 0 hold, 1 rest)."""
    import numpy as np

    from rltune.metrics import composition_stats, melody_shape, summarize
    comps = np.array([[14, 0, 0, 1, 0, 16, 0, 17],   # notes of 3, 2 and 1 steps; a rest held for 2 steps
                      [1, 0, 14, 14, 0, 1, 1, 1],    # a hold after a rest is silence
                      [14, 0, 0, 1, 0, 16, 0, 17]])  # a repeat of the first
    shape = melody_shape(comps)
    assert shape["num_notes"].tolist() == [3, 2, 3]
    assert shape["sounding_steps"].tolist() == [6, 3, 6]
    assert shape["sustain_steps"].tolist() == [3, 1, 3]
    assert shape["silent_steps"].tolist() == [2, 5, 2]
    rows = summarize(composition_stats(comps), 8)
    assert rows["mean_note_length"] == 15 / 8
    assert rows["hold_fraction"] == 7 / 24 and rows["rest_fraction"] == 9 / 24
    assert rows["distinct_compositions"] == 2 / 3
