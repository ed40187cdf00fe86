"""A training run folder, as one object: :class:`Run`.

A run folder holds

* ``config.toml``: the run's :class:`~rltune.config.TrainConfig` (reusable with ``--config``);
* ``run.json``: the source model, the algorithm, progress and the training segments;
* ``checkpoints/step-NNNNNNNNN.npz``: the Q, target Q and Reward RNN weights, the
  optimizer state and the counters, each written whole (temporary file, rename);
* ``history.json`` (periodic evaluations), ``rewards.png``, ``summary.json``
  (the whole run), ``samples/*.mid``, ``tb/`` (TensorBoard) and ``.lock``.

Nothing outside this module knows a file name inside a run. A run needs its
``config.toml``: every command that opens a run without it stops with one
line (the config says how the run primes and what it is; without it neither
resuming, evaluating nor exporting can be done faithfully).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from rltune.config import TrainConfig, load_toml, to_toml
from rltune.errors import RLTuneError, warn
from rltune.outputs import atomic_write_bytes, file_mode

_CKPT_RE = re.compile(r"step-(\d+)\.npz$")


class CheckpointDir:
    """A folder of ``step-N.npz`` checkpoints (runs and pretraining work folders)."""

    def __init__(self, path):
        self.path = Path(path)

    def steps(self) -> list[int]:
        if not self.path.is_dir():
            return []
        return sorted(int(m.group(1)) for f in self.path.iterdir() if (m := _CKPT_RE.search(f.name)))

    def file(self, step: int) -> Path:
        return self.path / f"step-{step:09d}.npz"

    def save(self, step: int, arrays: dict[str, np.ndarray], keep: int = 5) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".step-", suffix=".npz.tmp", dir=self.path)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, file_mode())
            os.replace(tmp, self.file(step))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        for old in self.steps()[:-keep]:
            if old != step:
                self.file(old).unlink(missing_ok=True)
        return self.file(step)

    def load(self, step: int | None = None, what: str = "run") -> tuple[int, dict[str, np.ndarray]]:
        """The checkpoint at ``step``, or the newest readable one (a warning names each skipped file)."""
        steps = self.steps()
        if not steps:
            raise RLTuneError(f"{what} {self.path.parent} has no checkpoint yet")
        if step is not None:
            if step not in steps:
                raise RLTuneError(f"{what} {self.path.parent} has no checkpoint at step {step}; "
                                  f"saved steps: {', '.join(map(str, steps))}")
            return step, self._read(step)
        for s in reversed(steps):
            try:
                return s, self._read(s)
            except RLTuneError as e:
                warn(f"{e}; skipping it")
        raise RLTuneError(f"no readable checkpoint in {self.path} (tried {len(steps)})")

    def _read(self, step: int) -> dict[str, np.ndarray]:
        try:
            with np.load(self.file(step)) as z:
                return {k: z[k] for k in z.files}
        except Exception as e:  # noqa: BLE001 - numpy/zipfile raise many kinds on a damaged file
            raise RLTuneError(f"checkpoint {self.file(step)} is unreadable: {type(e).__name__}") from None


def write_json(path, data):
    """Write JSON atomically."""
    atomic_write_bytes(path, (json.dumps(data, indent=2, default=_json_default) + "\n").encode())


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


class Run:
    """One training run folder: its config, metadata, checkpoints, policy and records."""

    CONFIG, META, HISTORY, SUMMARY, PLOT = "config.toml", "run.json", "history.json", "summary.json", "rewards.png"
    LOCK, SAMPLES, TB, CHECKPOINTS = ".lock", "samples", "tb", "checkpoints"
    _OWNED = (CONFIG, META, HISTORY, SUMMARY, PLOT, SAMPLES, TB, CHECKPOINTS)  # the lock file stays

    def __init__(self, path):
        self.path = Path(path)
        self.checkpoints = CheckpointDir(self.path / self.CHECKPOINTS)
        self._config = None

    def __repr__(self):
        return f"Run({str(self.path)!r})"

    # -- finding, creating, opening -----------------------------------------
    @staticmethod
    def is_run(path) -> bool:
        return path is not None and Path(path).is_dir() and (Path(path) / Run.META).is_file()

    @classmethod
    def open(cls, path) -> "Run":
        """An existing run; one line when the folder is not one or lacks its config."""
        run = cls(path)
        if not cls.is_run(path):
            raise RLTuneError(f"{path} is not an rltune run folder (no {cls.META})")
        if not (run.path / cls.CONFIG).is_file():
            raise RLTuneError(f"run {path} has no {cls.CONFIG}; a run cannot be resumed, evaluated or exported "
                              f"without it (restore it, e.g. from the 'config' of its {cls.SUMMARY})")
        _ = run.meta  # fail early on a damaged run.json
        return run

    @classmethod
    def check_new(cls, path, force: bool = False):
        """Refuse a folder that holds a started run or other files, unless ``force``.

        A run that never wrote a checkpoint (a failed start) may be replaced freely."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise RLTuneError(f"{path} is a file, not a run folder")
        if force or not path.exists() or not any(p.name != cls.LOCK for p in path.iterdir()):
            return
        if cls.is_run(path):
            if cls(path).checkpoints.steps():
                raise RLTuneError(f"{path} already holds another run; pass --resume to continue it or --force to replace it")
            return
        raise RLTuneError(f"{path} already holds other files; pass --force to use it anyway")

    @classmethod
    def create(cls, path, config: TrainConfig, model, *, force: bool = False) -> "Run":
        """A new run folder with its config and metadata (an old run's files are replaced)."""
        cls.check_new(path, force)
        run = cls(path)
        if cls.is_run(path):
            run._remove_files()
        try:
            run.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RLTuneError(f"cannot create run folder {path}: {e.strerror}") from None
        run.save_config(config)
        run.write_meta({"algorithm": config.algo, "model": str(model), "rules": config.rules, "key": config.key,
                        "reward_scaler": config.reward_scaler, "rltune_version": _version(),
                        "env_steps": 0, "segments": []})
        return run

    def _remove_files(self):
        for name in self._OWNED:
            p = self.path / name
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)

    def discard_if_unstarted(self, created_folder: bool):
        """After a failed start: remove what was written (and the folder if this run made it)."""
        if self.checkpoints.steps():
            return
        self._remove_files()
        if created_folder:
            with contextlib.suppress(OSError):
                (self.path / self.LOCK).unlink()
                self.path.rmdir()

    @contextlib.contextmanager
    def lock(self):
        """Hold the run for one writer (an OS lock: it dies with the process)."""
        import fcntl
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RLTuneError(f"cannot create run folder {self.path}: {e.strerror}") from None
        fd = os.open(self.path / self.LOCK, os.O_RDWR | os.O_CREAT, file_mode())
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                raise RLTuneError(f"run {self.path} is in use by another rltune process (pid {holder}); "
                                  f"wait for it to finish or stop it") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield self
        finally:
            os.close(fd)  # releases the lock

    # -- what the run is ------------------------------------------------------
    @property
    def config(self) -> TrainConfig:
        if self._config is None:
            self._config = TrainConfig(**load_toml(TrainConfig, self.path / self.CONFIG))
        return self._config

    def save_config(self, config: TrainConfig):
        atomic_write_bytes(self.path / self.CONFIG, to_toml(config.to_dict()).encode())
        self._config = config

    @property
    def meta(self) -> dict:
        p = self.path / self.META
        try:
            return json.loads(p.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise RLTuneError(f"cannot read {p}: {type(e).__name__}") from None

    def write_meta(self, meta: dict):
        write_json(self.path / self.META, meta)

    def update_meta(self, **changes):
        self.write_meta({**self.meta, **changes})

    @property
    def model(self) -> Path:
        """The Note RNN the run was tuned from."""
        return Path(self.meta["model"])

    @property
    def algorithm(self):
        from rltune.algorithms import get_algorithm
        return get_algorithm(self.config.algo)

    # -- weights and policy ---------------------------------------------------
    def load_checkpoint(self, step: int | None = None):
        return self.checkpoints.load(step)

    def networks(self, step: int | None = None):
        """(step, Q network weights, Reward RNN weights) at ``step`` (default: the newest readable)."""
        from rltune.note_rnn import NoteRNNWeights
        step, arrays = self.load_checkpoint(step)
        return step, NoteRNNWeights.from_arrays("q", arrays), NoteRNNWeights.from_arrays("reward", arrays)

    def policy(self, step: int | None = None, name: str | None = None, dtype: str = "float32"):
        """The run's sampling policy at ``step``, as its algorithm defines it."""
        from rltune.note_rnn import NoteRNN
        from rltune.policy import Policy
        step, q, reward = self.networks(step)
        info = {"run": str(self.path), "step": step, "algorithm": self.config.algo, "rules": self.config.rules,
                "key": self.config.key, "model": str(self.model)}
        policy = Policy.tuned(self.algorithm, NoteRNN(q, name="q_network", trainable=False, dtype=dtype),
                              NoteRNN(reward, name="reward_rnn", trainable=False, dtype=dtype), name or self.path.name, info)
        if self.config.g_prior == "trained" and self.model.exists():
            # the trained prior is part of the policy; log p(a|s) is still scored by the Note RNN tuned from
            from rltune.checkpoint import load_weights
            policy = policy.with_reward_network(NoteRNN(load_weights(self.model).weights, name="note_rnn", trainable=False, dtype=dtype),
                                                label=f"{self.model} (the prior was trained)")
        return policy

    def export_networks(self, step: int | None = None):
        """(networks of the generation graph, description) for ``rltune export``."""
        step, q, reward = self.networks(step)
        c = self.config
        desc = (f"rltune RL Tuner, algorithm {c.algo}, policy {self.algorithm.policy_formula}; rules {c.rules}, "
                f"key {c.key}, reward_scaler {c.reward_scaler}, {step:,} training steps, tuned from {self.model.name}")
        return self.algorithm.export_networks(q, reward), desc

    def primers(self, seed: int = 0):
        """Primers as the run was trained (its priming settings)."""
        from rltune.priming import Primers
        return Primers(self.config, np.random.default_rng(seed))

    # -- records --------------------------------------------------------------
    def history(self) -> list:
        p = self.path / self.HISTORY
        return json.loads(p.read_text()) if p.is_file() else []

    def save_progress(self, history: list, step: int, segment: dict):
        """History, curve and metadata after a checkpoint at ``step``."""
        from rltune.plotting import plot_rewards
        write_json(self.path / self.HISTORY, history)
        meta = self.meta
        segments = [s for s in meta.get("segments", []) if s["start_step"] != segment["start_step"]] + [segment]
        self.write_meta({**meta, "env_steps": step, "segments": sorted(segments, key=lambda s: s["start_step"])})
        plot_rewards({k: [h[k] for h in history] for k in ("step", "mean_log_p", "mean_music_theory_reward")},
                     self.path / self.PLOT, title=f"{self.config.algo} on {self.model.name}")

    def start_segment(self, step: int):
        """A segment starts at ``step``: records of earlier segments beyond it are cut back
        (a resume from an older checkpoint replays those steps)."""
        kept = []
        for s in self.meta.get("segments", []):
            if s["start_step"] >= step:
                continue
            if s["end_step"] > step:
                part = (step - s["start_step"]) / (s["end_step"] - s["start_step"])
                s = {**s, "end_step": step, "seconds": s["seconds"] * part, "learn_seconds": s["learn_seconds"] * part}
            kept.append(s)
        self.update_meta(segments=kept)
        self.clear_summary()

    def clear_summary(self):
        """A summary describes a finished segment; while training, there is none."""
        (self.path / self.SUMMARY).unlink(missing_ok=True)

    def write_summary(self, summary: dict):
        write_json(self.path / self.SUMMARY, summary)

    def summary(self) -> dict | None:
        p = self.path / self.SUMMARY
        return json.loads(p.read_text()) if p.is_file() else None

    @property
    def samples_dir(self) -> Path:
        return self.path / self.SAMPLES

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / self.TB


def _version() -> str:
    from rltune import __version__
    return __version__
