"""The paper's table for any number of models (and for human melodies), fast.

Each model samples ``num_compositions`` compositions of ``length`` steps in
large batches (one compiled TensorFlow loop per chunk), primed as in
training; the statistics come from one vectorised pass
(:func:`rltune.metrics.composition_stats`).
"""
from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import numpy as np

from rltune.errors import RLTuneError
from rltune.metrics import TABLE_ROWS, summarize, composition_stats

CHUNK = 10_000


def evaluate_model(model, *, num_compositions: int = 100_000, length: int = 32, key: str = "C", rules: str = "paper",
                   greedy: bool = False, seed: int = 0, priming: str | None = None, primer_midi=None,
                   primer_melody: str = "", name: str | None = None, reward_model=None, progress=None) -> dict:
    """Rows of the paper's table (fractions) plus mean log p per note and mean r_MT per composition.

    ``model``: a path (bundle, checkpoint, run), a loaded Policy, or None (the shipped default).
    ``priming`` None primes as the model was trained: a run's own priming settings, one
    random note otherwise. ``reward_model`` scores log p(a|s) (default: the model's own
    Reward RNN; a plain Note RNN scores itself, which the result says in ``scored_by``)."""
    from rltune.loading import load_policy, scored_by
    from rltune.priming import primers_for
    from rltune.runs import Run

    if num_compositions <= 0:
        raise RLTuneError(f"--num-compositions must be positive, got {num_compositions}")
    if length < 8:
        raise RLTuneError(f"--length must be at least 8, got {length}")
    is_path = model is None or isinstance(model, (str, Path))
    policy = load_policy(model, name=name, reward_model=reward_model) if is_path else model
    if priming is None and is_path and Run.is_run(model):
        primers = Run.open(model).primers(seed)
    else:
        primers = primers_for(priming or "random-note", primer_midi, seed=seed, primer_melody=primer_melody)
    t0 = time.time()
    comps, log_p = [], []
    for i, start in enumerate(range(0, num_compositions, CHUNK)):
        n = min(CHUNK, num_compositions - start)
        primer, lengths = primers(n)
        out = policy.sample(primer, length, primer_lengths=lengths, greedy=greedy, seed=seed * 7919 + i, chunk=CHUNK,
                              predict_next=primers.predict_next)
        comps.append(out["events"].astype(np.int64))
        log_p.append(out["log_p"])
        if progress:
            progress(n)
    comps = np.concatenate(comps)
    sample_seconds = time.time() - t0
    stats = composition_stats(comps, key=key, rules=rules, with_reward=True)
    rows = summarize(stats, length)
    rows["mean_log_p"] = float(np.concatenate(log_p).mean())
    seconds = time.time() - t0
    return {"name": policy.name, "rows": rows, "num_compositions": num_compositions, "seconds": seconds,
            "sample_seconds": sample_seconds, "compositions_per_s": num_compositions / seconds,
            "compositions": comps, "info": policy.info, "algorithm": policy.algorithm, "scored_by": scored_by(policy),
            "key": key, "rules": rules}


def table_cell(result: dict, row: str) -> str:
    """A result's cell in the paper's table, as the CLI and the report print it."""
    from rltune.metrics import format_value
    cell = format_value(row, result["rows"].get(row))
    if row == "mean_log_p" and result.get("scored_by") == "itself" and cell != "n/a":
        cell += " (under itself)"
    return cell


def _is_checkpoint_folder(path: Path) -> bool:
    return (path / "checkpoint").exists() or any(path.glob("*.index"))


def is_melody_source(path) -> bool:
    """A NoteSequence TFRecord, a MIDI file, or a folder of MIDI files that is not a model."""
    from rltune.data import MIDI_EXT, TFRECORD_EXT
    from rltune.runs import Run
    path = Path(path)
    if path.is_file():
        return path.suffix.lower() in TFRECORD_EXT + MIDI_EXT
    if not path.is_dir() or Run.is_run(path) or _is_checkpoint_folder(path):
        return False
    return any(f.suffix.lower() in MIDI_EXT for f in path.rglob("*"))


def evaluate_input(source, **kwargs) -> dict:
    """``evaluate_model`` for a model, ``evaluate_melodies`` for compositions (TFRecord, MIDI folder).

    ``key`` and ``rules`` left out (or None) are a run's own, else C and the paper's."""
    from rltune.runs import Run
    is_path = source is None or isinstance(source, (str, Path))
    if is_path:
        own = vars(Run.open(source).config) if source is not None and Run.is_run(source) else {}
    else:  # a loaded policy: a run's knows its key and rules
        own = {k: source.info[k] for k in ("key", "rules") if source.info.get(k)}
    for name, fallback in (("key", "C"), ("rules", "paper")):
        if kwargs.get(name) is None:
            kwargs[name] = own.get(name, fallback)
    if not is_path:
        return evaluate_model(source, **kwargs)
    if source is not None and is_melody_source(source):
        allowed = {k: kwargs[k] for k in ("length", "key", "rules", "reward_model") if k in kwargs}
        return evaluate_melodies(source, **allowed)
    source_path = Path(source) if source is not None else None
    if source_path is not None and source_path.is_dir() and not Run.is_run(source_path) \
            and not _is_checkpoint_folder(source_path):
        raise RLTuneError(f"{source} holds no model, checkpoint, run or MIDI files")
    return evaluate_model(source, **kwargs)


def midi_windows(folder, length: int = 32, key: str = "C") -> tuple[np.ndarray, Counter]:
    """Melodies of a MIDI file, a folder of MIDI files or a NoteSequence TFRecord (Magenta's
    pipeline, transposed to ``key``), cut into non-overlapping windows of ``length`` steps."""
    from rltune.data import MIDI_EXT, read_sequences
    from rltune.keys import as_key
    from rltune.melodies import extract_melodies, quantize
    from note_seq import sequences_lib
    from rltune.encoding import MAX_NOTE, MIN_NOTE, melody_to_events

    folder = Path(folder)
    if not folder.exists():
        raise RLTuneError(f"melodies not found: {folder}")
    files = [folder] if folder.is_file() else sorted(f for f in folder.rglob("*") if f.suffix.lower() in MIDI_EXT)
    major_pc = as_key(key).major_pc
    stats, windows = Counter(), []
    for f in files:
        try:
            seqs = read_sequences(f)
        except Exception:  # noqa: BLE001 - counted, not fatal
            stats["files that failed to parse"] += 1
            continue
        for seq in seqs:
            for part in sequences_lib.split_note_sequence_on_time_changes(seq):
                try:
                    melodies = extract_melodies(quantize(part), min_bars=0, max_steps_truncate=None,
                                                min_unique_pitches=1, stats=stats)
                except Exception:  # noqa: BLE001
                    stats["sequences that failed to quantise"] += 1
                    continue
                for m in melodies:
                    m.squash(MIN_NOTE, MAX_NOTE, major_pc)
                    ev = melody_to_events(list(m))
                    windows += [ev[i:i + length] for i in range(0, len(ev) - length + 1, length)]
    if not windows:
        what = "NoteSequences" if folder.suffix.lower() in (".tfrecord", ".tfrecords") else "MIDI files"
        raise RLTuneError(f"no melodies of at least {length} steps in the {what} of {folder} ({len(files)} files)")
    stats["windows"] = len(windows)
    return np.stack(windows), stats


def evaluate_melodies(folder, *, length: int = 32, key: str = "C", rules: str = "paper", reward_model=None) -> dict:
    """The table for melodies (human ones, or exported compositions): windows of ``length`` steps;
    log p under ``reward_model`` (default: the shipped Note RNN)."""
    from rltune.loading import load_note_rnn
    t0 = time.time()
    comps, counts = midi_windows(folder, length, key)
    stats = composition_stats(comps, key=key, rules=rules, with_reward=True)
    rows = summarize(stats, length)
    try:
        net = load_note_rnn(reward_model)
        probs = net.probabilities(comps[:, :-1])
        p = np.take_along_axis(probs, comps[:, 1:, None], axis=2)[..., 0]
        rows["mean_log_p"] = float(np.log(np.maximum(p, 1e-30)).mean())
    except RLTuneError:
        if reward_model is not None:
            raise
        rows["mean_log_p"] = float("nan")
    kind = "NoteSequences" if Path(folder).suffix.lower() in (".tfrecord", ".tfrecords") else "MIDI"
    return {"name": f"{kind}: {Path(folder).name}", "rows": rows, "num_compositions": len(comps),
            "seconds": time.time() - t0, "compositions": comps, "counts": dict(counts), "scored_by": "the Reward RNN",
            "key": key, "rules": rules}


_REQUIREMENT = re.compile(r"\s*([A-Za-z_][A-Za-z_0-9]*)\s*(<=|>=|==|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
_OPS = {"<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, ">": lambda a, b: a > b,
        "==": lambda a, b: a == b}


def parse_requirement(text: str) -> tuple[str, str, float]:
    """``"notes_not_in_key<=0.01"`` -> (row, operator, value); rows are the JSON keys (fractions)."""
    names = [k for k, _ in TABLE_ROWS]
    m = _REQUIREMENT.match(text or "")
    if not m:
        raise RLTuneError(f"--require {text!r} is not a condition such as \"leaps_resolved>=0.9\" "
                          f"(rows: {', '.join(names)})")
    name, op, value = m.group(1), m.group(2), float(m.group(3))
    if name not in names:
        raise RLTuneError(f"--require: unknown row {name!r}; rows: {', '.join(names)}")
    return name, op, value


def check_requirements(results, requirements) -> list[dict]:
    """One entry per (model, requirement): its value and whether it passed (NaN fails)."""
    out = []
    for r in results:
        for name, op, value in requirements:
            v = r["rows"].get(name)
            ok = v is not None and v == v and _OPS[op](v, value)
            out.append({"model": r["name"], "row": name, "op": op, "limit": value, "value": v, "passed": bool(ok)})
    return out


def results_to_json(results) -> dict:
    return {r["name"]: {key: r["rows"].get(key) for key, _ in TABLE_ROWS} for r in results}


def write_json(results, path):
    """The numbers as JSON; ``path`` "-" writes them to standard output."""
    import json
    text = json.dumps(results_to_json(results), indent=2) + "\n"
    if str(path) == "-":
        import sys
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from rltune.outputs import atomic_write_bytes
    atomic_write_bytes(path, text.encode())


def write_csv(results, path):
    import csv
    import io
    from rltune.outputs import atomic_write_bytes
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["row"] + [r["name"] for r in results])
    for key, _ in TABLE_ROWS:
        w.writerow([key] + [r["rows"].get(key) for r in results])
    atomic_write_bytes(path, buf.getvalue().encode())
