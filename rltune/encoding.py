"""Melody event encoding: note-seq's ``MelodyOneHotEncoding(48, 84)``.

Index 0 is NO_EVENT (hold the previous note), 1 is NOTE_OFF (rest) and
2..37 are MIDI pitches 48..83. Magenta's melody syntax (``[60, -2, 62, -1]``)
uses -2 for NO_EVENT and -1 for NOTE_OFF.
"""
from __future__ import annotations

import ast

import numpy as np

from rltune.errors import RLTuneError

MIN_NOTE = 48  # inclusive
MAX_NOTE = 84  # exclusive
NUM_SPECIAL_EVENTS = 2
NUM_CLASSES = MAX_NOTE - MIN_NOTE + NUM_SPECIAL_EVENTS  # 38
NO_EVENT = 0
NOTE_OFF = 1
STEPS_PER_QUARTER = 4
DEFAULT_QPM = 120.0


def melody_to_events(values) -> np.ndarray:
    """Magenta melody values (-2, -1, MIDI pitch) to event indices."""
    values = np.asarray(values, dtype=np.int64)
    out = np.where(values == -2, NO_EVENT, np.where(values == -1, NOTE_OFF, values - MIN_NOTE + NUM_SPECIAL_EVENTS))
    bad = (values >= 0) & ((values < MIN_NOTE) | (values >= MAX_NOTE))
    bad |= values < -2
    if bad.any():
        raise RLTuneError(
            f"melody value {int(values[bad][0])} is outside MIDI {MIN_NOTE}..{MAX_NOTE - 1} "
            "(or -2 = hold, -1 = rest)")
    return out


def events_to_melody(events) -> np.ndarray:
    """Event indices to Magenta melody values (-2 hold, -1 rest, MIDI pitch)."""
    events = np.asarray(events, dtype=np.int64)
    return np.where(events == NO_EVENT, -2, np.where(events == NOTE_OFF, -1, events + MIN_NOTE - NUM_SPECIAL_EVENTS))


def parse_melody_string(text: str) -> np.ndarray:
    """Parse a primer in Magenta's syntax, e.g. ``"[60, -2, 62, -1]"``."""
    try:
        values = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        raise RLTuneError(f"--primer-melody {text!r} is not a list such as \"[60, -2, 62, -1]\"") from None
    if isinstance(values, int):
        values = [values]
    if not isinstance(values, (list, tuple)) or not values or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise RLTuneError(f"--primer-melody {text!r} must be a non-empty list of integers such as \"[60, -2, 62, -1]\"")
    if values[0] == -2:
        raise RLTuneError("--primer-melody cannot start with -2 (hold): there is no note to hold")
    try:
        return melody_to_events(values)
    except RLTuneError as e:
        raise RLTuneError(f"--primer-melody: {e}") from None
