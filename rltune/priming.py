"""Where each composition starts: one random note, a MIDI primer, or a dataset prefix.

Training, evaluation and export all prime through :class:`Primers`, built
from the priming fields of a :class:`~rltune.config.TrainConfig` (a run's own
config, or one made for the occasion). A call returns right-padded primers
[N, P] and their lengths [N]; the policy feeds all but the last event and
then observes the last one, as the RL Tuner observes its random first note
(``primer_mode="continue"``), or, with ``primer_mode="original"``
(``Primers.predict_next``), feeds the whole primer and observes the model's
most probable next event, as the original's MIDI priming does.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from rltune.encoding import NUM_CLASSES
from rltune.errors import RLTuneError, warn

RANDOM_NOTE_CLASSES = NUM_CLASSES - 1  # the original draws randint(0, 37): indices 0..36
MAX_DATASET_PRIMER = 64  # a dataset primer is a random prefix of at most this many steps


def random_note_primers(n: int, rng: np.random.Generator) -> np.ndarray:
    """One random event per composition, as the RL Tuner primes (``randint(0, 37)``)."""
    return rng.integers(0, RANDOM_NOTE_CLASSES, size=(n, 1))


def dataset_melodies(path, key: str = "C") -> list[np.ndarray]:
    """The melodies of a NoteSequence TFRecord (Magenta's pipeline, moved to ``key``'s relative major)."""
    from rltune.data import read_sequences, sequence_melodies
    from rltune.keys import Key
    path = Path(path)
    if not path.is_file():
        raise RLTuneError(f"primer dataset {'is a folder, not a TFRecord' if path.is_dir() else 'not found'}: {path}")
    try:
        seqs = read_sequences(path)
    except Exception as e:  # noqa: BLE001
        raise RLTuneError(f"cannot read primer dataset {path}: {type(e).__name__}") from None
    major_pc = Key.parse(key).major_pc
    stats = Counter()
    melodies = [m for s in seqs for m in sequence_melodies(s, stats, strict=False, transpose_to_key=major_pc)
                if len(m) >= 2]
    if not melodies:
        raise RLTuneError(f"primer dataset {path} holds no usable melody")
    return melodies


class Primers:
    """Primers for ``config.priming``: random-note, midi (``primer_midi``) or dataset (``primer_dataset``)."""

    def __init__(self, config, rng: np.random.Generator):
        self.rng = rng
        # the original's primer semantics: feed the whole primer, observe the model's most probable next event
        self.predict_next = config.priming != "random-note" and config.primer_mode == "original"
        self.melody = None
        self.melodies = None
        if config.priming == "midi":
            from rltune.melodies import primer_from_midi
            self.melody, messages = primer_from_midi(config.primer_midi)
            for m in messages:
                warn(m)
        elif config.priming == "melody":
            from rltune.encoding import parse_melody_string
            self.melody = parse_melody_string(config.primer_melody)
        elif config.priming == "dataset":
            self.melodies = dataset_melodies(config.primer_dataset, config.key)

    def reseeded(self, rng: np.random.Generator) -> "Primers":
        """The same primers (files already read) drawing from another random generator."""
        other = object.__new__(Primers)
        other.rng, other.melody, other.melodies, other.predict_next = rng, self.melody, self.melodies, self.predict_next
        return other

    def __call__(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if self.melody is not None:
            return np.tile(self.melody, (n, 1)), np.full(n, len(self.melody), np.int32)
        if self.melodies is not None:
            picks = self.rng.integers(0, len(self.melodies), n)
            limits = np.array([min(len(self.melodies[i]), MAX_DATASET_PRIMER) for i in picks])
            lengths = self.rng.integers(1, limits + 1).astype(np.int32)
            out = np.zeros((n, lengths.max()), np.int64)
            for j, (i, length) in enumerate(zip(picks, lengths)):
                out[j, :length] = self.melodies[i][:length]
            return out, lengths
        return random_note_primers(n, self.rng), np.ones(n, np.int32)


def primers_for(priming: str = "random-note", primer_midi=None, key: str = "C", seed: int = 0,
                primer_melody: str = "") -> Primers:
    """Primers for a plain model (not a run): random-note, midi or melody."""
    from rltune.config import TrainConfig
    cfg = TrainConfig(priming=priming, primer_midi=str(primer_midi or ""), primer_melody=primer_melody or "", key=key)
    return Primers(cfg.validate(), np.random.default_rng(seed))


PRIMER_FORMS = 'a MIDI file, or a melody in Magenta syntax such as "[60, -2, 62]" (-2 hold, -1 rest)'


def parse_primer(text: str) -> tuple[str, str]:
    """``--primer`` as users type it: ("midi", path) or ("melody", text)."""
    text = str(text)
    if text.strip().startswith("[") or text.strip().lstrip("-").isdigit():
        from rltune.encoding import parse_melody_string
        parse_melody_string(text)  # one clear line if malformed
        return "melody", text
    path = Path(text)
    if path.is_dir():
        raise RLTuneError(f"--primer {text} is a folder; give {PRIMER_FORMS}")
    if path.is_file():
        return "midi", text
    raise RLTuneError(f"--primer {text!r} is neither an existing file nor a melody list; give {PRIMER_FORMS}")
