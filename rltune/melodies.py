"""Melodies in and out: extraction from NoteSequences/MIDI (note-seq's melody
pipeline), primers, and events back to NoteSequence and MIDI files.
"""
from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from rltune.encoding import DEFAULT_QPM, MAX_NOTE, MIN_NOTE, STEPS_PER_QUARTER, events_to_melody, melody_to_events
from rltune.errors import RLTuneError

warnings.filterwarnings("ignore", message="Couldn't find ffmpeg")


def _ns():
    import note_seq  # imported lazily: it pulls in librosa and friends
    return note_seq


def quantize(sequence, steps_per_quarter: int = STEPS_PER_QUARTER):
    ns = _ns()
    try:
        return ns.sequences_lib.quantize_note_sequence(sequence, steps_per_quarter)
    except Exception as e:  # noqa: BLE001 - note-seq has many specific errors
        raise RLTuneError(f"cannot quantise the sequence: {type(e).__name__}: {e}") from None


def extract_melodies(quantized, *, min_bars=7, max_steps_truncate=512, gap_bars=1.0, min_unique_pitches=5,
                     ignore_polyphonic_notes=False, search_start_step=0, stats: Counter | None = None):
    """Magenta's ``melody_pipelines.extract_melodies``: monophonic melodies of every track.

    Defaults are those of ``melody_rnn_create_dataset`` (``MelodyExtractor(min_bars=7,
    max_steps=512, min_unique_pitches=5, gap_bars=1.0, ignore_polyphonic_notes=False)``).
    """
    ns = _ns()
    stats = stats if stats is not None else Counter()
    melodies = []
    steps_per_bar = int(ns.sequences_lib.steps_per_bar_in_quantized_sequence(quantized))
    for instrument in sorted(set(n.instrument for n in quantized.notes)):
        start = search_start_step
        while True:
            melody = ns.Melody()
            try:
                melody.from_quantized_sequence(quantized, instrument=instrument, search_start_step=start,
                                               gap_bars=gap_bars, ignore_polyphonic_notes=ignore_polyphonic_notes)
            except ns.PolyphonicMelodyError:
                stats["polyphonic tracks discarded"] += 1
                break
            start = melody.end_step + (search_start_step - melody.end_step) % steps_per_bar
            if not melody:
                break
            if len(melody) < melody.steps_per_bar * min_bars:
                stats["melodies too short"] += 1
                continue
            if max_steps_truncate is not None and len(melody) > max_steps_truncate:
                melody.set_length(max_steps_truncate)
                stats["melodies truncated"] += 1
            if np.count_nonzero(melody.get_note_histogram()) < min_unique_pitches:
                stats["melodies with too few pitches"] += 1
                continue
            melodies.append(melody)
    return melodies


def primer_from_midi(path) -> tuple[np.ndarray, list[str]]:
    """The primer melody of a MIDI file, as Magenta's melody generator extracts it.

    Quantised at 4 steps per quarter; the first monophonic melody of the first
    track with notes, skipping polyphony (``ignore_polyphonic_notes=True``);
    moved by whole octaves into MIDI 48..83. Returns (events, warnings).
    """
    ns = _ns()
    path = Path(path)
    if path.is_dir():
        raise RLTuneError(f"primer MIDI {path} is a folder; give one MIDI file")
    if not path.is_file():
        raise RLTuneError(f"primer MIDI not found: {path}")
    try:
        seq = ns.midi_file_to_note_sequence(str(path))
    except Exception as e:  # noqa: BLE001
        raise RLTuneError(f"{path} is not a readable MIDI file: {type(e).__name__}") from None
    if not [n for n in seq.notes if not n.is_drum]:
        raise RLTuneError(f"{path} has no notes to use as a primer")
    quantized = quantize(seq)
    melodies = extract_melodies(quantized, min_bars=0, max_steps_truncate=None, gap_bars=float("inf"),
                                min_unique_pitches=1, ignore_polyphonic_notes=True)
    melodies = [m for m in melodies if len(m)]
    if not melodies:
        raise RLTuneError(f"{path}: no monophonic melody could be extracted")
    melody = melodies[0]
    notes = [p for p in melody if p >= 0]
    messages = []
    if len(set(n.instrument for n in seq.notes)) > 1 or len(melodies) > 1:
        messages.append(f"{path.name} has several parts; using the first melody note-seq extracts "
                        f"(instrument {min(n.instrument for n in quantized.notes)})")
    shift = 0
    lo, hi = min(notes), max(notes)
    while lo + shift < MIN_NOTE:
        shift += 12
    while hi + shift >= MAX_NOTE and lo + shift - 12 >= MIN_NOTE:
        shift -= 12
    values = np.array(list(melody), dtype=np.int64)
    values = np.where(values >= 0, values + shift, values)
    if shift:
        messages.append(f"primer moved by {shift:+d} semitones into MIDI {MIN_NOTE}..{MAX_NOTE - 1}")
    out_of_range = (values >= 0) & ((values < MIN_NOTE) | (values >= MAX_NOTE))
    if out_of_range.any():
        messages.append(f"primer spans MIDI {lo}..{hi}, more than octave shifts can fit in {MIN_NOTE}..{MAX_NOTE - 1}; "
                        f"{int(out_of_range.sum())} notes were folded in by octaves")
        values = np.where(values >= MAX_NOTE, MAX_NOTE - 12 + (values - MAX_NOTE) % 12, values)
        values = np.where((values >= 0) & (values < MIN_NOTE), MIN_NOTE + (values - MIN_NOTE) % 12, values)
    return melody_to_events(values), messages


def events_to_sequence(events, qpm: float = DEFAULT_QPM, key=None, title: str | None = None):
    """Event indices to a NoteSequence (Magenta's Melody.to_sequence), optionally tagged with a key."""
    ns = _ns()
    melody = ns.Melody([int(v) for v in events_to_melody(events)], steps_per_quarter=STEPS_PER_QUARTER)
    seq = melody.to_sequence(qpm=qpm)
    if key is not None:
        from rltune.keys import as_key
        k = as_key(key)
        ks = seq.key_signatures.add()
        ks.time = 0
        ks.key = k.tonic_pc
        ks.mode = ks.MINOR if k.minor else ks.MAJOR
    if title:
        seq.sequence_metadata.title = title
    return seq


def write_midi(sequence, path):
    ns = _ns()
    ns.sequence_proto_to_midi_file(sequence, str(path))
