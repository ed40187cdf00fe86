"""The paper's evaluation statistics, vectorised over a batch of compositions.

Reproduces ``rl_tuner_eval_metrics.compose_and_evaluate_piece`` of Magenta
2.1.4 count by count, using the same step detections as the rules
(:func:`rltune.rules.detect`). Quirks kept on purpose, because the paper's
table was computed with them:

* the index naming of :mod:`rltune.rules` (``rules="paper"``);
* ``add_interval_stat`` tests ``interval == (IN_KEY_FIFTH or interval ==
  IN_KEY_THIRD)``, which is ``interval == IN_KEY_FIFTH``: only in-key fifths
  count as "in key preferred intervals", and in-key thirds count nowhere;
* hold intervals (codes -1.5 and -2.5) count in no interval class.
"""
from __future__ import annotations

import numpy as np

from rltune import rules as R

STAT_NAMES = (
    "notes_not_in_key", "notes_in_motif", "notes_in_repeated_motif", "num_starting_tonic",
    "num_repeated_notes", "num_octave_jumps", "num_fifths", "num_thirds", "num_sixths",
    "num_seconds", "num_fourths", "num_sevenths", "num_rest_intervals",
    "num_special_rest_intervals", "num_in_key_preferred_intervals", "num_resolved_leaps",
    "num_leap_twice", "num_high_unique", "num_low_unique")

_INTERVAL_STATS = (
    ("num_rest_intervals", R.REST_INTERVAL), ("num_special_rest_intervals", R.REST_INTERVAL_AFTER_THIRD_OR_FIFTH),
    ("num_in_key_preferred_intervals", R.IN_KEY_FIFTH), ("num_fifths", 7), ("num_thirds", 4),
    ("num_sixths", 9), ("num_seconds", 2), ("num_fourths", 5), ("num_sevenths", 11))


def composition_stats(compositions, key="C", rules="paper", with_reward: bool = False) -> dict[str, np.ndarray]:
    """Per-composition counts (``STAT_NAMES``, arrays of N) plus ``autocorrelation`` [N, 3].

    With ``with_reward``, also ``music_theory_reward`` [N]: the sum over steps
    of the nine rule terms (r_MT, unweighted), from the same detections.
    """
    comps = np.asarray(compositions, dtype=np.int64)
    ctx = R.context(key, rules)
    n, length = comps.shape
    stats = {name: np.zeros(n, np.int64) for name in STAT_NAMES}
    state = R.LeapState(n)
    reward = np.zeros(n)
    for t in range(length):
        a = comps[:, t]
        det = R.detect(comps, a, t, length, state, ctx)
        if with_reward:
            reward += R.terms_from(det, comps[:, :t + 1], t, length).sum(axis=1)
        stats["notes_not_in_key"] += ~det.in_key
        stats["notes_in_motif"] += det.motif_notes >= 3
        stats["notes_in_repeated_motif"] += det.repeated_motif
        stats["num_repeated_notes"] += det.repeating
        if t == 0:
            stats["num_starting_tonic"] += a == ctx.key.tonic_index
        stats["num_octave_jumps"] += det.interval > 12
        for name, code in _INTERVAL_STATS:
            stats[name] += det.interval == code
        stats["num_resolved_leaps"] += det.leap == R.LEAP_RESOLVED
        stats["num_leap_twice"] += det.leap == R.LEAP_DOUBLED
    high, low = R.unique_extrema(comps)
    stats["num_high_unique"] += high
    stats["num_low_unique"] += low
    stats["autocorrelation"] = R.autocorrelation(comps)
    stats.update(melody_shape(comps))
    if with_reward:
        stats["music_theory_reward"] = reward
    return stats


def melody_shape(compositions) -> dict[str, np.ndarray]:
    """How melodies move, per composition (note-seq's meanings: 0 holds, 1 rests, 2.. notes):
    ``num_notes`` (onsets), ``sounding_steps`` (onsets and the holds that sustain a note),
    ``sustain_steps`` (those holds), ``silent_steps`` (rests and the holds that continue them)
    and ``first_of_kind`` (1 for the first occurrence of each distinct composition)."""
    from rltune.encoding import NO_EVENT, NOTE_OFF
    comps = np.asarray(compositions, dtype=np.int64)
    n = len(comps)
    sounding = np.zeros(n, bool)
    out = {k: np.zeros(n, np.int64) for k in ("num_notes", "sounding_steps", "sustain_steps", "silent_steps")}
    for t in range(comps.shape[1]):
        e = comps[:, t]
        onset, hold = e > NOTE_OFF, e == NO_EVENT
        sounding = onset | (hold & sounding)
        out["num_notes"] += onset
        out["sounding_steps"] += sounding
        out["sustain_steps"] += hold & sounding
        out["silent_steps"] += ~sounding
    first = np.zeros(n, np.int64)
    if n:
        first[np.unique(comps, axis=0, return_index=True)[1]] = 1
    out["first_of_kind"] = first
    return out


# The paper's table rows (fractions, not percents), in its order, then rltune's extras.
TABLE_ROWS = (
    ("notes_excessively_repeated", "Notes excessively repeated"),
    ("notes_not_in_key", "Notes not in key"),
    ("autocorrelation_lag1", "Mean autocorrelation, lag 1"),
    ("autocorrelation_lag2", "Mean autocorrelation, lag 2"),
    ("autocorrelation_lag3", "Mean autocorrelation, lag 3"),
    ("leaps_resolved", "Leaps resolved"),
    ("starting_with_tonic", "Compositions starting with tonic"),
    ("unique_max_note", "Compositions with unique max note"),
    ("unique_min_note", "Compositions with unique min note"),
    ("notes_in_motif", "Notes in motif"),
    ("notes_in_repeated_motif", "Notes in repeated motif"),
    ("mean_log_p", "Mean log p(a|s) under the Reward RNN"),
    ("mean_music_theory_reward", "Mean music-theory reward per composition"),
    ("mean_note_length", "Mean note length (16th-note steps)"),
    ("hold_fraction", "Steps holding a note"),
    ("rest_fraction", "Steps of silence"),
    ("distinct_compositions", "Distinct compositions"),
)
FRACTION_ROWS = {"notes_excessively_repeated", "notes_not_in_key", "leaps_resolved", "starting_with_tonic",
                 "unique_max_note", "unique_min_note", "notes_in_motif", "notes_in_repeated_motif",
                 "hold_fraction", "rest_fraction", "distinct_compositions"}


def format_value(row: str, value) -> str:
    """A table cell: fractions as percents, others with four decimals, n/a for missing or NaN."""
    if value is None or value != value:
        return "n/a"
    return f"{100 * value:.3f}%" if row in FRACTION_ROWS else f"{value:.4f}"


def summarize(stats: dict[str, np.ndarray], length: int) -> dict[str, float]:
    """The paper's table rows (fractions) from per-composition stats, aggregated as the
    original's ``get_stat_dict_string`` does: note rows over all notes, composition rows
    over compositions, leaps resolved over resolved + doubled leaps, and ``nanmean`` of
    the signed autocorrelation coefficients (the paper's table shows their magnitude)."""
    n = len(stats["notes_not_in_key"])
    notes = float(n * length)
    resolved = float(stats["num_resolved_leaps"].sum())
    leaps = resolved + float(stats["num_leap_twice"].sum())
    ac = stats["autocorrelation"]
    valid = ~np.isnan(ac)
    ac_mean = np.where(valid.any(axis=0), np.nansum(ac, axis=0) / np.maximum(valid.sum(axis=0), 1), np.nan)
    rows = {
        "notes_excessively_repeated": stats["num_repeated_notes"].sum() / notes,
        "notes_not_in_key": stats["notes_not_in_key"].sum() / notes,
        "autocorrelation_lag1": ac_mean[0],
        "autocorrelation_lag2": ac_mean[1],
        "autocorrelation_lag3": ac_mean[2],
        "leaps_resolved": resolved / leaps if leaps else float("nan"),
        "starting_with_tonic": stats["num_starting_tonic"].mean(),
        "unique_max_note": stats["num_high_unique"].mean(),
        "unique_min_note": stats["num_low_unique"].mean(),
        "notes_in_motif": stats["notes_in_motif"].sum() / notes,
        "notes_in_repeated_motif": stats["notes_in_repeated_motif"].sum() / notes,
    }
    if "num_notes" in stats:
        notes_played = float(stats["num_notes"].sum())
        rows["mean_note_length"] = stats["sounding_steps"].sum() / notes_played if notes_played else float("nan")
        rows["hold_fraction"] = stats["sustain_steps"].sum() / notes
        rows["rest_fraction"] = stats["silent_steps"].sum() / notes
        rows["distinct_compositions"] = stats["first_of_kind"].mean()
    if "music_theory_reward" in stats:
        rows["mean_music_theory_reward"] = stats["music_theory_reward"].mean()
    return {k: float(v) for k, v in rows.items()}


def table_row_values(compositions, key="C", rules="paper") -> dict[str, float]:
    """The paper's rows and the mean music-theory reward for a batch of compositions."""
    comps = np.asarray(compositions)
    return summarize(composition_stats(comps, key=key, rules=rules, with_reward=True), comps.shape[1])
