"""Musical keys for the rules: which event indices are in key, the tonic, ...

The original RL Tuner knows only C major (``rl_tuner_ops.C_MAJOR_KEY``,
tonic index 14 = MIDI 60). Other keys move the same sets by pitch class, so
``Key.parse("C")`` reproduces the original exactly.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rltune.encoding import MIN_NOTE, NUM_CLASSES, NUM_SPECIAL_EVENTS
from rltune.errors import RLTuneError

_NAMES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_MAJOR_STEPS = (0, 2, 4, 5, 7, 9, 11)
_MINOR_STEPS = (0, 2, 3, 5, 7, 8, 10)


def _pitch_class_mask(pitch_classes) -> np.ndarray:
    """Boolean mask over the 38 event indices of pitches in ``pitch_classes``."""
    mask = np.zeros(NUM_CLASSES, dtype=bool)
    pitches = np.arange(NUM_CLASSES - NUM_SPECIAL_EVENTS) + MIN_NOTE
    mask[NUM_SPECIAL_EVENTS:] = np.isin(pitches % 12, list(pitch_classes))
    return mask


@dataclass(frozen=True)
class Key:
    name: str
    tonic_pc: int
    minor: bool

    @classmethod
    def parse(cls, text: str) -> "Key":
        """``C``, ``G``, ``Eb``, ``F#m``, ``A minor``, ``Bb major`` ..."""
        m = re.fullmatch(r"\s*([A-Ga-g])([#b♯♭]?)\s*(m|min|minor|maj|major|M)?\s*", text or "")
        if not m:
            raise RLTuneError(f"unknown key {text!r}: use a note name with an optional #/b and 'm' for minor, e.g. C, Eb, F#m")
        letter, accidental, quality = m.groups()
        pc = (_NAMES[letter.upper()] + {"#": 1, "♯": 1, "b": -1, "♭": -1}.get(accidental, 0)) % 12
        minor = quality in ("m", "min", "minor")
        name = letter.upper() + accidental.replace("♯", "#").replace("♭", "b") + ("m" if minor else "")
        return cls(name=name, tonic_pc=pc, minor=minor)

    @property
    def scale_pcs(self):
        return [(self.tonic_pc + s) % 12 for s in (_MINOR_STEPS if self.minor else _MAJOR_STEPS)]

    @property
    def in_key(self) -> np.ndarray:
        """Mask of event indices in key; like the original, holds and rests count as in key."""
        mask = _pitch_class_mask(self.scale_pcs)
        mask[:NUM_SPECIAL_EVENTS] = True
        return mask

    @property
    def major_pc(self) -> int:
        """Pitch class of the major key with this scale (Magenta's ``transpose_to_key`` convention)."""
        return (self.tonic_pc + 3) % 12 if self.minor else self.tonic_pc

    @property
    def tonic_index(self) -> int:
        """The tonic in the octave from MIDI 60 (C major: 14, A minor: 23, as in the original)."""
        return 60 + self.tonic_pc - MIN_NOTE + NUM_SPECIAL_EVENTS

    @property
    def tonic_mask(self) -> np.ndarray:
        return _pitch_class_mask([self.tonic_pc])

    @property
    def fifth_mask(self) -> np.ndarray:
        return _pitch_class_mask([(self.tonic_pc + 7) % 12])

    @property
    def third_interval(self) -> int:
        """Semitones of the in-key third the interval rule rewards (original: 4)."""
        return 3 if self.minor else 4

    @property
    def third_mask(self) -> np.ndarray:
        return _pitch_class_mask([(self.tonic_pc + (3 if self.minor else 4)) % 12])


def as_key(key) -> Key:
    return key if isinstance(key, Key) else Key.parse(str(key))
