"""The RL Tuner music-theory rules, vectorised over a batch of compositions.

Every function here reproduces ``RLTuner.reward_music_theory`` of Magenta 2.1.4
(``magenta/models/rl_tuner/rl_tuner.py``) term by term. A composition is an int
array of event indices; the term for step ``t`` sees the steps before ``t``
(``history``) plus the action at ``t``, and the leap rule carries a small state
from step to step, as in training. All operations are numpy ops over the
batch; the only loop is over the 32 time steps in :func:`reward_terms`.

The original's index quirk
--------------------------
The original rule code names index 0 ``NOTE_OFF`` (rest) and index 1
``NO_EVENT`` (hold), the opposite of note-seq's encoding used by its own Note
RNN. ``rules="paper"`` (the default) keeps that, because the paper's figures
were computed with it: runs of holds count as an excessively repeated "rest",
and the rewards meant for holding the final tonic go to rests.
``rules="corrected"`` uses the true meanings (0 = hold, 1 = rest).

User rules
----------
A user rule is a plain function ``rule(history, action, t, length) -> [N]``
(``history`` int [N, t], ``action`` int [N], ``t`` the step, ``length`` the
composition length) returning one float per composition; load one with
``--rule my_module:my_rule`` or pass it to :class:`Rules`. Its value is added
to r_MT, times its weight.
"""
from __future__ import annotations

import importlib
import math
import importlib.util
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np

from rltune.encoding import NUM_SPECIAL_EVENTS
from rltune.errors import RLTuneError
from rltune.keys import Key, as_key

TERMS = ("key", "tonic", "repeating", "autocorrelation", "motif", "repeated_motif",
         "preferred_intervals", "leap_up_back", "high_low_unique")

BAR_LENGTH = 8           # steps in a motif window
STEPS_BETWEEN_LEAPS = 6  # a leap back sooner than this does not resolve a leap

# Interval codes of the original's detect_sequential_interval.
REST_INTERVAL = -1.0
HOLD_INTERVAL = -1.5
REST_INTERVAL_AFTER_THIRD_OR_FIFTH = -2.0
HOLD_INTERVAL_AFTER_THIRD_OR_FIFTH = -2.5
IN_KEY_THIRD = -3.0
IN_KEY_FIFTH = -5.0
LEAP_RESOLVED = 1
LEAP_DOUBLED = -1


@dataclass(frozen=True)
class Indices:
    """Which index the rules treat as a rest (``NOTE_OFF``) and as a hold (``NO_EVENT``)."""
    rest: int
    hold: int


RULE_SETS = {"paper": Indices(rest=0, hold=1), "corrected": Indices(rest=1, hold=0)}


def rule_indices(rules: str) -> Indices:
    try:
        return RULE_SETS[rules]
    except KeyError:
        raise RLTuneError(f"unknown rule set {rules!r}: choose one of {', '.join(RULE_SETS)}") from None


class LeapState:
    """The leap rule's memory for each composition (direction, note leapt from, steps since)."""

    def __init__(self, n: int):
        self.direction = np.zeros(n, np.int64)
        self.leapt_from = np.full(n, -1, np.int64)
        self.steps = np.zeros(n, np.int64)


class Detections(NamedTuple):
    """What the rules see at one step; shared by the rewards and the metrics."""
    in_key: np.ndarray            # bool [N]
    tonic: np.ndarray             # bool [N]: the tonic rule is satisfied
    repeating: np.ndarray         # bool [N]: excessively repeated
    autocorr_penalty: np.ndarray  # float [N], <= 0
    motif_notes: np.ndarray       # int [N]: distinct notes in the last bar (0 if no full bar yet)
    repeated_motif: np.ndarray    # bool [N]
    interval: np.ndarray          # float [N]: the original's interval code
    leap: np.ndarray              # int [N]: LEAP_RESOLVED, LEAP_DOUBLED or 0


@dataclass(frozen=True)
class _Context:
    key: Key
    idx: Indices
    in_key: np.ndarray
    tonic_or_fifth: np.ndarray
    tonic_or_third: np.ndarray


def context(key, rules) -> _Context:
    k = as_key(key)
    return _Context(k, rule_indices(rules), k.in_key, k.tonic_mask | k.fifth_mask, k.tonic_mask | k.third_mask)


def _rows(n):
    return np.arange(n)


def interval_codes(history, action, ctx: _Context):
    """Vectorised ``detect_sequential_interval``: (code, previous note)."""
    n, t = history.shape
    if t == 0:
        return np.zeros(n), np.full(n, -1, np.int64)
    real = history >= NUM_SPECIAL_EVENTS
    has_prev = real.any(axis=1)
    last = t - 1 - np.argmax(real[:, ::-1], axis=1)
    prev = np.where(has_prev, history[_rows(n), last], history[:, -1])
    prev_idx = np.clip(prev, 0, None)
    after_tf = ctx.tonic_or_fifth[prev_idx]
    interval = np.abs(action - prev).astype(np.float64)
    code = np.where((interval == 7) & after_tf, IN_KEY_FIFTH,
           np.where((interval == ctx.key.third_interval) & ctx.tonic_or_third[prev_idx], IN_KEY_THIRD, interval))
    code = np.where(action == ctx.idx.hold,
                    np.where(after_tf, HOLD_INTERVAL_AFTER_THIRD_OR_FIFTH, HOLD_INTERVAL), code)
    code = np.where(action == ctx.idx.rest,
                    np.where(after_tf, REST_INTERVAL_AFTER_THIRD_OR_FIFTH, REST_INTERVAL), code)
    return np.where(has_prev, code, 0.0), prev


def _repeating(history, action, ctx: _Context):
    """Vectorised ``detect_repeating_notes``."""
    rev = history[:, ::-1]
    match = rev == action[:, None]
    rest = (rev == ctx.idx.rest) & ~match
    hold = (rev == ctx.idx.hold) & ~match
    run = np.logical_and.accumulate(match | rest | hold, axis=1)
    num = (match & run).sum(axis=1)
    breaks = ((rest | hold) & run).any(axis=1)
    return ((action == ctx.idx.rest) & (num > 1)) | (~breaks & (num > 4)) | (breaks & (num > 6))


def autocorrelation(compositions) -> np.ndarray:
    """``rl_tuner_ops.autocorrelate`` at lags 1, 2, 3: [N, 3], NaN where constant."""
    c = np.asarray(compositions, dtype=np.float64)
    n = c.shape[1]
    x = c - c.mean(axis=1, keepdims=True)
    c0 = np.var(c, axis=1)
    out = np.zeros((c.shape[0], 3))
    with np.errstate(divide="ignore", invalid="ignore"):
        for j, lag in enumerate((1, 2, 3)):
            s = (x[:, lag:] * x[:, :n - lag]).sum(axis=1) if n > lag else np.zeros(c.shape[0])
            out[:, j] = s / float(n) / c0
    return out


def _distinct_notes(bar) -> np.ndarray:
    s = np.sort(bar, axis=1)
    first = np.ones_like(s, dtype=bool)
    first[:, 1:] = s[:, 1:] != s[:, :-1]
    return (first & (s >= NUM_SPECIAL_EVENTS)).sum(axis=1)


def _repeated_motif(history, comp, has_motif):
    n, t = history.shape
    prev_len = max(t - (BAR_LENGTH - 1), 0)
    if prev_len < BAR_LENGTH:
        return np.zeros(n, bool)
    windows = np.lib.stride_tricks.sliding_window_view(history[:, :prev_len], BAR_LENGTH, axis=1)
    motif = comp[:, -BAR_LENGTH:]
    return has_motif & (windows == motif[:, None, :]).all(axis=2).any(axis=1)


def _leap(history, action, code, prev, state: LeapState):
    """Vectorised ``detect_leap_up_back``; updates ``state`` in place."""
    n, t = history.shape
    if t == 0:
        return np.zeros(n, np.int64)
    special = action < NUM_SPECIAL_EVENTS
    leap = ~special & ((code >= 7) | (code == IN_KEY_FIFTH))
    new_dir = np.where(action > prev, 1, -1)
    has_dir = state.direction != 0
    turn = leap & has_dir & (state.direction != new_dir)
    doubled = leap & has_dir & (state.direction == new_dir)
    start = leap & ~has_dir
    gradual = ~special & ~leap & (((state.direction == 1) & (action <= state.leapt_from))
                                  | ((state.direction == -1) & (action >= state.leapt_from)))
    outcome = np.where((turn & (state.steps > STEPS_BETWEEN_LEAPS)) | gradual, LEAP_RESOLVED,
                       np.where(doubled, LEAP_DOUBLED, 0))
    state.leapt_from = np.where(start, prev, np.where(turn | gradual, -1, state.leapt_from))
    state.direction = np.where(start, new_dir, np.where(turn | gradual, 0, state.direction))
    state.steps = np.where(leap, 0, state.steps + 1)
    return outcome


def detect(history, action, t, length, state: LeapState, ctx: _Context) -> Detections:
    """Everything the rules look at for the action at step ``t``."""
    history = np.asarray(history, dtype=np.int64)[:, :t]
    action = np.asarray(action, dtype=np.int64)
    comp = np.concatenate([history, action[:, None]], axis=1)
    final_bar = length - 4
    if t == 0 or t == final_bar:
        tonic = action == ctx.key.tonic_index
    elif t == final_bar + 1:
        tonic = action == ctx.idx.hold
    elif t > final_bar + 1:
        tonic = (action == ctx.idx.hold) | (action == ctx.idx.rest)
    else:
        tonic = np.zeros(len(action), bool)
    coeffs = np.abs(autocorrelation(comp))
    penalty = -np.where(coeffs > 0.15, coeffs * 3.0, 0.0).sum(axis=1)  # NaN > x is False
    motif_notes = _distinct_notes(comp[:, -BAR_LENGTH:]) if t + 1 >= BAR_LENGTH else np.zeros(len(action), np.int64)
    code, prev = interval_codes(history, action, ctx)
    return Detections(
        in_key=ctx.in_key[action], tonic=tonic, repeating=_repeating(history, action, ctx),
        autocorr_penalty=penalty, motif_notes=motif_notes,
        repeated_motif=_repeated_motif(history, comp, motif_notes >= 3),
        interval=code, leap=_leap(history, action, code, prev, state))


_INTERVAL_REWARDS = (  # (code, reward) in the original's order of precedence, x5 below
    (REST_INTERVAL, 0.05), (HOLD_INTERVAL, 0.075), (REST_INTERVAL_AFTER_THIRD_OR_FIFTH, 0.15),
    (HOLD_INTERVAL_AFTER_THIRD_OR_FIFTH, 0.3), (11, -0.3), (IN_KEY_FIFTH, 0.1), (IN_KEY_THIRD, 0.15),
    (4, 0.09), (2, 0.08), (5, 0.07), (9, 0.05), (7, 0.02))


def unique_extrema(compositions):
    """``detect_high_unique`` / ``detect_low_unique`` on whole compositions: two bool [N]."""
    c = np.asarray(compositions)
    high = (c == c.max(axis=1, keepdims=True)).sum(axis=1) == 1
    real = c >= NUM_SPECIAL_EVENTS
    low_note = np.where(real, c, np.iinfo(np.int64).max).min(axis=1, keepdims=True)
    low = real.any(axis=1) & ((c == low_note).sum(axis=1) == 1)
    return high, low


def terms_from(det: Detections, comp, t, length) -> np.ndarray:
    """The nine reward terms [N, 9] for one step, in ``TERMS`` order."""
    n = len(det.in_key)
    out = np.zeros((n, len(TERMS)))
    out[:, 0] = np.where(det.in_key, 0.0, -1.0)
    out[:, 1] = np.where(det.tonic, 3.0, 0.0)
    out[:, 2] = np.where(det.repeating, -100.0, 0.0)
    out[:, 3] = det.autocorr_penalty
    has_motif = det.motif_notes >= 3
    out[:, 4] = np.where(has_motif, 3.0 + np.maximum((det.motif_notes - 3) * 0.3, 0), 0.0)
    out[:, 5] = np.where(det.repeated_motif, 4.0 + np.maximum(det.motif_notes - 3, 0), 0.0)
    code = det.interval
    reward = np.where(code > 12, -1.0, 0.0)
    for value, r in _INTERVAL_REWARDS:
        reward = np.where(code == value, r, reward)
    out[:, 6] = reward * 5.0
    out[:, 7] = np.where(det.leap == LEAP_RESOLVED, 5.0, np.where(det.leap == LEAP_DOUBLED, -5.0, 0.0))
    if t + 1 == length:
        high, low = unique_extrema(comp)
        out[:, 8] = 3.0 * high + 3.0 * low
    return out


def reward_terms(compositions, key="C", rules="paper") -> np.ndarray:
    """The nine music-theory terms [N, T, 9] for every step of every composition."""
    comps = np.asarray(compositions, dtype=np.int64)
    if comps.ndim != 2:
        raise RLTuneError("compositions must be an int array [N, T]")
    ctx = context(key, rules)
    n, length = comps.shape
    state = LeapState(n)
    out = np.zeros((n, length, len(TERMS)))
    for t in range(length):
        det = detect(comps, comps[:, t], t, length, state, ctx)
        out[:, t] = terms_from(det, comps[:, :t + 1], t, length)
    return out


UserRule = Callable[[np.ndarray, np.ndarray, int, int], np.ndarray]


def load_user_rule(spec: str) -> tuple[str, UserRule]:
    """``module:function`` (or ``path/to/file.py:function``) to (name, function)."""
    module_name, sep, func_name = spec.rpartition(":")
    if not sep or not module_name or not func_name:
        raise RLTuneError(f"--rule {spec!r} must look like my_module:my_rule")
    try:
        if module_name.endswith(".py"):
            s = importlib.util.spec_from_file_location(f"rltune_user_rule_{abs(hash(module_name))}", module_name)
            if s is None or s.loader is None:
                raise ImportError(module_name)
            module = importlib.util.module_from_spec(s)
            s.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
        fn = getattr(module, func_name)
    except Exception as e:  # noqa: BLE001 - any failure to import is the user's to fix
        raise RLTuneError(f"cannot load user rule {spec!r}: {type(e).__name__}: {e}") from None
    if not callable(fn):
        raise RLTuneError(f"user rule {spec!r} is not a function")
    return func_name, fn


@dataclass
class Rules:
    """A configured rule set: key, index meaning, per-term weights and user rules.

    ``step`` is what training calls once per environment step for the whole
    batch; it returns the weighted r_MT [N] and the raw terms [N, 9 + users].
    """
    key: str = "C"
    rules: str = "paper"
    weights: dict[str, float] = field(default_factory=dict)
    user_rules: list[tuple[str, UserRule]] = field(default_factory=list)

    def __post_init__(self):
        self._ctx = context(self.key, self.rules)
        names = list(TERMS) + [name for name, _ in self.user_rules]
        unknown = set(self.weights) - set(names)
        if unknown:
            raise RLTuneError(f"unknown rule {sorted(unknown)[0]!r} in --rule-weight: known rules are {', '.join(names)}")
        self.names = names
        self.weight_vector = np.array([float(self.weights.get(n, 1.0)) for n in names])

    def new_state(self, n: int) -> LeapState:
        return LeapState(n)

    def step(self, history, action, t: int, length: int, state: LeapState):
        history = np.asarray(history, dtype=np.int64)[:, :t]
        action = np.asarray(action, dtype=np.int64)
        det = detect(history, action, t, length, state, self._ctx)
        comp = np.concatenate([history, action[:, None]], axis=1)
        terms = terms_from(det, comp, t, length)
        if self.user_rules:
            extra = [self._call_user(name, fn, history, action, t, length) for name, fn in self.user_rules]
            terms = np.concatenate([terms, np.stack(extra, axis=1)], axis=1)
        return terms @ self.weight_vector, terms

    @staticmethod
    def _call_user(name, fn, history, action, t, length):
        try:
            value = fn(history.copy(), action.copy(), t, length)
            value = np.asarray(value, dtype=np.float64)
        except Exception as e:  # noqa: BLE001 - report which user rule failed
            raise RLTuneError(f"user rule {name!r} raised {type(e).__name__}: {e}") from None
        if value.shape != action.shape:
            raise RLTuneError(f"user rule {name!r} returned shape {value.shape}, expected {action.shape} (one value per composition)")
        if not np.all(np.isfinite(value)):
            raise RLTuneError(f"user rule {name!r} returned a NaN or infinite value")
        return value


def parse_weights(items) -> dict[str, float]:
    """``["repeating=0.5", ...]`` to a dict."""
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise RLTuneError(f"--rule-weight {item!r} must look like repeating=0.5") from None
        if not math.isfinite(out[name.strip()]):
            raise RLTuneError(f"--rule-weight {item!r}: the weight must be a finite number")
    return out
