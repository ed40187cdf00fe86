"""Training-run folders: config, metadata and atomic, resumable checkpoints.

A run folder holds ``config.toml`` (the TrainConfig, reusable with
``--config``), ``run.json`` (algorithm, source model, progress),
``checkpoints/step-NNNNNNNNN.npz`` (Q, target Q and Reward RNN weights, the
optimizer state and counters; each written to a temporary file and renamed,
so a killed run always leaves whole checkpoints), ``history.json`` (periodic
evaluations), ``summary.json``, ``rewards.png``, ``samples/`` and ``tb/``.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from rltune.errors import RLTuneError

RUN_FILE = "run.json"
CKPT_DIR = "checkpoints"
_CKPT_RE = re.compile(r"step-(\d+)\.npz$")


def is_run(path) -> bool:
    return Path(path).is_dir() and (Path(path) / RUN_FILE).is_file()


def read_run(path) -> dict:
    p = Path(path) / RUN_FILE
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise RLTuneError(f"cannot read {p}: {e}") from None


def write_json(path, data):
    """Write JSON atomically."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, default=_json_default)
        f.write("\n")
    os.replace(tmp, path)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


def checkpoint_steps(run_dir) -> list[int]:
    d = Path(run_dir) / CKPT_DIR
    if not d.is_dir():
        return []
    return sorted(int(m.group(1)) for f in d.iterdir() if (m := _CKPT_RE.search(f.name)))


def checkpoint_path(run_dir, step: int) -> Path:
    return Path(run_dir) / CKPT_DIR / f"step-{step:09d}.npz"


def save_checkpoint(run_dir, step: int, arrays: dict[str, np.ndarray], keep: int = 5) -> Path:
    d = Path(run_dir) / CKPT_DIR
    d.mkdir(parents=True, exist_ok=True)
    path = checkpoint_path(run_dir, step)
    fd, tmp = tempfile.mkstemp(prefix=".step-", suffix=".npz.tmp", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    for old in checkpoint_steps(run_dir)[:-keep]:
        if old != step:
            checkpoint_path(run_dir, old).unlink(missing_ok=True)
    return path


def load_checkpoint(run_dir, step: int | None = None) -> tuple[int, dict[str, np.ndarray]]:
    steps = checkpoint_steps(run_dir)
    if not steps:
        raise RLTuneError(f"run {run_dir} has no checkpoint yet")
    if step is None:
        step = steps[-1]
    elif step not in steps:
        raise RLTuneError(f"run {run_dir} has no checkpoint at step {step}; saved steps: {', '.join(map(str, steps))}")
    try:
        with np.load(checkpoint_path(run_dir, step)) as z:
            return step, {k: z[k] for k in z.files}
    except Exception as e:  # noqa: BLE001
        raise RLTuneError(f"checkpoint {checkpoint_path(run_dir, step)} is unreadable: {type(e).__name__}") from None


def weights_to_arrays(prefix: str, w) -> dict[str, np.ndarray]:
    out = {f"{prefix}/fc_weights": w.fc_weights, f"{prefix}/fc_bias": w.fc_bias}
    for i, (k, b) in enumerate(w.layers):
        out[f"{prefix}/kernel_{i}"] = k
        out[f"{prefix}/bias_{i}"] = b
    return out


def weights_from_arrays(prefix: str, arrays: dict[str, np.ndarray]):
    from rltune.note_rnn import NoteRNNWeights
    n = sum(1 for k in arrays if k.startswith(f"{prefix}/kernel_"))
    if n == 0:
        raise RLTuneError(f"checkpoint holds no {prefix!r} network")
    return NoteRNNWeights([(arrays[f"{prefix}/kernel_{i}"], arrays[f"{prefix}/bias_{i}"]) for i in range(n)],
                          arrays[f"{prefix}/fc_weights"], arrays[f"{prefix}/fc_bias"])
