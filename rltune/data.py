"""Training data for Note RNNs, following Magenta's ``melody_rnn_create_dataset``.

Files (MIDI, MusicXML, ABC tunebooks, NoteSequence TFRecords) become
NoteSequences; each is split on time-signature/tempo changes, quantised at 4
steps per quarter, its monophonic melodies extracted with the basic_rnn
pipeline's settings, squashed into MIDI 48..83 and transposed to C major /
A minor (``transpose_to_key=0``), then encoded as event indices. Whole input
sequences are split between training and evaluation (``eval_ratio``).

ABC is read with music21 when it is installed (``pip install rltune[abc]``):
note-seq's own ABC parser rejects rests written ``z``, grace notes, tuplets,
variant endings and chords, which fails most folk tunebooks. Without music21,
note-seq's parser is used and its failures are counted.
"""
from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rltune.encoding import MAX_NOTE, MIN_NOTE, STEPS_PER_QUARTER, melody_to_events
from rltune.errors import RLTuneError

MIDI_EXT = (".mid", ".midi")
XML_EXT = (".xml", ".mxl", ".musicxml")
ABC_EXT = (".abc",)
TFRECORD_EXT = (".tfrecord", ".tfrecords")
MUSIC_EXT = MIDI_EXT + XML_EXT + ABC_EXT + TFRECORD_EXT


def find_music_files(inputs) -> list[Path]:
    files = []
    for item in inputs:
        p = Path(item)
        if not p.exists():
            raise RLTuneError(f"input not found: {p}")
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in MUSIC_EXT)
        else:
            files.append(p)
    return files


@dataclass
class Dataset:
    train: list = field(default_factory=list)  # [np.ndarray of event indices]
    eval: list = field(default_factory=list)
    stats: Counter = field(default_factory=Counter)

    def summary(self) -> dict:
        return {"train_melodies": len(self.train), "eval_melodies": len(self.eval),
                "train_events": int(sum(len(m) for m in self.train)),
                "eval_events": int(sum(len(m) for m in self.eval)), **dict(self.stats)}


def _music21_to_sequences(score_or_opus, name):
    """music21 scores to NoteSequences (120 qpm; ties merged, chord symbols and grace notes dropped)."""
    from note_seq.protobuf import music_pb2
    from music21 import harmony, meter, stream

    scores = list(score_or_opus.scores) if isinstance(score_or_opus, stream.Opus) else [score_or_opus]
    out = []
    for i, score in enumerate(scores):
        seq = music_pb2.NoteSequence()
        seq.ticks_per_quarter = 220
        seq.tempos.add(time=0, qpm=120.0)
        sec = 60.0 / 120.0
        flat = score.stripTies().flatten()
        ts = flat.getElementsByClass(meter.TimeSignature)
        seen = set()
        for t in ts:
            when = float(t.offset) * sec
            if when in seen:
                continue
            seen.add(when)
            seq.time_signatures.add(time=when, numerator=t.numerator, denominator=t.denominator)
        if not ts:
            seq.time_signatures.add(time=0, numerator=4, denominator=4)
        end = 0.0
        for n in flat.notes:
            if isinstance(n, harmony.ChordSymbol) or float(n.quarterLength) <= 0:
                continue
            start = float(n.offset) * sec
            stop = start + float(n.quarterLength) * sec
            for p in n.pitches:
                seq.notes.add(pitch=int(p.midi), velocity=80, start_time=start, end_time=stop)
            end = max(end, stop)
        seq.total_time = end
        title = score.metadata.title if score.metadata is not None and score.metadata.title else f"{i}"
        seq.id = f"{name}#{i}"
        seq.filename = name
        seq.sequence_metadata.title = str(title)
        out.append(seq)
    return out


def read_sequences(path: Path):
    """NoteSequences in one file; raises on a file that cannot be parsed."""
    import note_seq
    suffix = path.suffix.lower()
    if suffix in MIDI_EXT:
        return [note_seq.midi_file_to_note_sequence(str(path))]
    if suffix in XML_EXT:
        return [note_seq.musicxml_file_to_sequence_proto(str(path))]
    if suffix in TFRECORD_EXT:
        from rltune._tf import tf
        seqs = []
        for rec in tf.data.TFRecordDataset(str(path)):
            s = note_seq.NoteSequence()
            s.ParseFromString(rec.numpy())
            seqs.append(s)
        return seqs
    if suffix in ABC_EXT:
        try:
            from music21 import converter
        except ImportError:
            tunes, errors = note_seq.abc_parser.parse_abc_tunebook_file(str(path))
            if not tunes and errors:
                raise ValueError(f"{len(errors)} tunes failed in note-seq's ABC parser")
            return list(tunes.values())
        return _music21_to_sequences(converter.parse(str(path), format="abc"), path.name)
    raise ValueError(f"unsupported file type {suffix}")


def write_sequences(sequences, path):
    """NoteSequences as a TFRecord file, written whole (temporary file, then rename)."""
    import os
    import tempfile
    from rltune._tf import tf
    from rltune.outputs import check_writable, file_mode
    path = Path(path)
    check_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with tf.io.TFRecordWriter(tmp) as w:
            for s in sequences:
                w.write(s.SerializeToString())
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def sequence_melodies(seq, stats: Counter, strict: bool = True, transpose_to_key: int = 0) -> list[np.ndarray]:
    """Magenta's basic_rnn pipeline for one NoteSequence: event arrays.

    ``strict=False`` keeps any melody (no minimum length or pitch count, polyphony
    skipped), for primers rather than training data."""
    from note_seq import sequences_lib
    from rltune.melodies import extract_melodies
    out = []
    for part in sequences_lib.split_note_sequence_on_time_changes(seq):
        try:
            q = sequences_lib.quantize_note_sequence(part, STEPS_PER_QUARTER)
        except Exception as e:  # noqa: BLE001
            stats[f"quantise errors ({type(e).__name__})"] += 1
            continue
        try:
            melodies = extract_melodies(q, stats=stats) if strict else extract_melodies(
                q, min_bars=0, max_steps_truncate=None, min_unique_pitches=1, ignore_polyphonic_notes=True, stats=stats)
        except Exception as e:  # noqa: BLE001 - e.g. non-integer steps per bar
            stats[f"extraction errors ({type(e).__name__})"] += 1
            continue
        for m in melodies:
            m.squash(MIN_NOTE, MAX_NOTE, transpose_to_key)
            out.append(melody_to_events(list(m)))
    return out


def _process_file(path: Path):
    stats = Counter()
    try:
        seqs = read_sequences(path)
    except Exception as e:  # noqa: BLE001 - a bad file is counted, never fatal
        stats[f"files that failed to parse ({type(e).__name__})"] += 1
        return [], stats
    stats["files read"] += 1
    result = []
    for seq in seqs:
        stats["sequences read"] += 1
        if not any(not n.is_drum for n in seq.notes):
            stats["sequences with no notes"] += 1
            continue
        mels = sequence_melodies(seq, stats)
        if not mels:
            stats["sequences with no usable melody"] += 1
        result.append(mels)
    return result, stats


def build_dataset(inputs, eval_ratio: float = 0.1, seed: int = 0, workers: int | None = None, progress=None) -> Dataset:
    """Read every file, extract melodies, split per input sequence into train/eval."""
    if not 0 <= eval_ratio < 1:
        raise RLTuneError("--eval-ratio must be in [0, 1)")
    files = find_music_files(inputs)
    if not files:
        raise RLTuneError(f"no music files ({', '.join(MUSIC_EXT)}) in {', '.join(map(str, inputs))}")
    rng = np.random.default_rng(seed)
    ds = Dataset()
    workers = workers or min(len(files), os.cpu_count() or 1)
    if workers > 1 and len(files) > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = pool.map(_process_file, files, chunksize=4)
            ds = _collect(results, ds, rng, eval_ratio, progress)
    else:
        ds = _collect(map(_process_file, files), ds, rng, eval_ratio, progress)
    if not ds.train and not ds.eval:
        raise RLTuneError("no usable melodies in the input: " + (", ".join(f"{k}: {v}" for k, v in sorted(ds.stats.items())) or "nothing read"))
    if not ds.train:
        ds.train, ds.eval = ds.eval, []
    return ds


def _collect(results, ds, rng, eval_ratio, progress):
    for seq_melodies, stats in results:
        ds.stats.update(stats)
        for mels in seq_melodies:
            (ds.eval if rng.random() < eval_ratio else ds.train).extend(mels)
        if progress:
            progress()
    ds.stats["melodies kept"] = len(ds.train) + len(ds.eval)
    return ds


def save_dataset(ds: Dataset, path):
    def pack(mels):
        lengths = np.array([len(m) for m in mels], np.int64)
        flat = np.concatenate(mels) if mels else np.zeros(0, np.int64)
        return flat.astype(np.int8), lengths
    tf_, tl = pack(ds.train)
    ef, el = pack(ds.eval)
    np.savez_compressed(path, train=tf_, train_lengths=tl, eval=ef, eval_lengths=el,
                        stats_keys=np.array(list(ds.stats.keys())), stats_values=np.array(list(ds.stats.values())))


def load_dataset(path) -> Dataset:
    with np.load(path) as z:
        def unpack(flat, lengths):
            return [a.astype(np.int64) for a in np.split(flat, np.cumsum(lengths)[:-1])] if len(lengths) else []
        return Dataset(unpack(z["train"], z["train_lengths"]), unpack(z["eval"], z["eval_lengths"]),
                       Counter(dict(zip(z["stats_keys"].tolist(), z["stats_values"].tolist()))))
