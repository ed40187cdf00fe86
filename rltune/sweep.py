"""Sweeps: many training runs from one TOML spec, on Ray Tune, and the log p / music-theory frontier.

A spec names a base config (any :class:`~rltune.config.TrainConfig` field),
axes to grid over and axes to sample, and how to evaluate each trial::

    model = "bundles/default_note_rnn.mag"   # optional; default: the shipped Note RNN
    compositions = 10000                      # evaluated per trial
    cpus_per_trial = 1
    [base]
    steps = 3000000
    [grid]
    algo = ["q", "psi", "g"]
    reward_scaler = [0.5, 1, 2, 4]
    seed = [0, 1]
    [random]                                  # optional
    num_samples = 4
    learning_rate = {loguniform = [1e-4, 1e-2]}
    [[extra]]                                 # optional: further single trials
    rules = "paper"

Every trial is an ordinary run folder (``SWEEP/trials/ID``: evaluate, export
and report work on it) and its figures are kept in ``SWEEP/results/ID.json``,
so a sweep started again runs only the trials that have not finished. Ray Tune
schedules the trials: an embedded local Ray by default (one trial per
``cpus_per_trial`` cores, TensorFlow's thread pools sized to match), or an
existing cluster (``address="auto"`` or ``"ray://HOST:PORT"``). The spec is
checked whole before anything starts.
"""
from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import re
import time
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from rltune.config import TrainConfig
from rltune.errors import RLTuneError

SPEC_KEYS = ("model", "compositions", "cpus_per_trial", "base", "grid", "random", "extra")
DISTRIBUTIONS = ("uniform", "loguniform", "choice", "randint")
AXIS_COLUMNS = ("algo", "reward_scaler", "rules", "seed", "steps")
ROW_COLUMNS = ("mean_log_p", "mean_music_theory_reward", "mean_note_length", "hold_fraction", "rest_fraction",
               "distinct_compositions", "notes_excessively_repeated", "notes_not_in_key", "leaps_resolved",
               "starting_with_tonic", "notes_in_motif", "unique_max_note", "unique_min_note")
INSTALL_HINT = "rltune sweep needs Ray Tune: pip install 'rltune[sweep]' (or pip install -e '.[sweep]' in a checkout)"


@dataclass
class SweepSpec:
    model: str | None = None
    compositions: int = 10_000
    cpus_per_trial: int = 1
    base: dict = field(default_factory=dict)
    grid: dict = field(default_factory=dict)
    random: dict = field(default_factory=dict)
    extra: list = field(default_factory=list)  # further trials, each a table of settings over [base]

    def trials(self) -> list[dict]:
        """Each trial's settings (base + one grid point + one random draw), with a stable id."""
        names = list(self.grid)
        random = dict(self.random)
        num_samples = int(random.pop("num_samples", 1))
        rng = np.random.default_rng(0)  # the same draws every time: a restarted sweep finds its trials
        draws = [{k: _draw(k, d, rng) for k, d in random.items()} for _ in range(num_samples)]
        out = []
        for point in itertools.product(*(self.grid[n] for n in names)) if names else [()]:
            for draw in draws:
                axes = {**dict(zip(names, point)), **draw}
                out.append({"id": trial_id(axes), "axes": axes, "settings": {**self.base, **axes}})
        for axes in self.extra:
            out.append({"id": trial_id(axes), "axes": dict(axes), "settings": {**self.base, **axes}})
        return out


def trial_id(axes: dict) -> str:
    def value(v):
        if isinstance(v, dict):
            return "+".join(f"{k}-{value(x)}" for k, x in v.items())
        if isinstance(v, list):
            return "+".join(value(x) for x in v)
        return f"{v:.4g}" if isinstance(v, float) else str(v)
    text = "_".join(f"{k}={value(v)}" for k, v in axes.items()) or "base"
    return re.sub(r"[^A-Za-z0-9_.=+-]", "-", text)


def _draw(name, dist, rng):
    kind, args = next(iter(dist.items()))
    if kind == "uniform":
        return float(rng.uniform(*args))
    if kind == "loguniform":
        return float(math.exp(rng.uniform(math.log(args[0]), math.log(args[1]))))
    if kind == "randint":
        return int(rng.integers(args[0], args[1]))
    return args[int(rng.integers(0, len(args)))]


def load_spec(path) -> SweepSpec:
    """Read and check a sweep spec: unknown fields, axes of the wrong type and empty grids are refused."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise RLTuneError(f"sweep spec not found: {path}") from None
    except IsADirectoryError:
        raise RLTuneError(f"sweep spec {path} is a folder") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise RLTuneError(f"sweep spec {path} is not valid TOML: {e}") from None
    unknown = set(data) - set(SPEC_KEYS)
    if unknown:
        raise RLTuneError(f"unknown field {sorted(unknown)[0]!r} in {path}; a spec has {', '.join(SPEC_KEYS)}")
    spec = SweepSpec(**data)
    names = {f.name for f in fields(TrainConfig)}
    for section in ("base", "grid", "random"):
        value = getattr(spec, section)
        if not isinstance(value, dict):
            raise RLTuneError(f"[{section}] in {path} must be a table")
        for k in set(value) - names - ({"num_samples"} if section == "random" else set()):
            raise RLTuneError(f"unknown field {k!r} in [{section}] of {path}")
    if not isinstance(spec.extra, list) or not all(isinstance(e, dict) for e in spec.extra):
        raise RLTuneError(f"extra in {path} must be a list of tables of settings")
    for e in spec.extra:
        for k in set(e) - names:
            raise RLTuneError(f"unknown field {k!r} in an extra trial of {path}")
    for k, values in spec.grid.items():
        if not isinstance(values, list) or not values:
            raise RLTuneError(f"grid axis {k!r} in {path} must be a non-empty list")
    for k, dist in spec.random.items():
        if k == "num_samples":
            if not (isinstance(dist, int) and dist > 0):
                raise RLTuneError(f"[random] num_samples in {path} must be a positive whole number")
            continue
        if not (isinstance(dist, dict) and len(dist) == 1 and next(iter(dist)) in DISTRIBUTIONS):
            raise RLTuneError(f"random axis {k!r} in {path} must be one of {{{', '.join(DISTRIBUTIONS)} = [...]}}")
        args = next(iter(dist.values()))
        if not isinstance(args, list) or len(args) < (1 if "choice" in dist else 2):
            raise RLTuneError(f"random axis {k!r} in {path}: give a list of bounds (or choices)")
    if not (isinstance(spec.compositions, int) and spec.compositions > 0):
        raise RLTuneError(f"compositions in {path} must be a positive whole number")
    if not (isinstance(spec.cpus_per_trial, int) and spec.cpus_per_trial > 0):
        raise RLTuneError(f"cpus_per_trial in {path} must be a positive whole number")
    for trial in spec.trials():  # every trial's config is valid (types, ranges) before anything starts
        try:
            TrainConfig.from_settings(trial["settings"]).validate()
        except RLTuneError as e:
            raise RLTuneError(f"trial {trial['id']} of {path}: {e}") from None
    return spec


class Sweep:
    """A sweep folder: its trials (run folders), their results, the frontier."""

    def __init__(self, spec: SweepSpec, path):
        self.spec, self.path = spec, Path(path)
        self.trials = spec.trials()

    def trial_dir(self, trial) -> Path:
        return self.path / "trials" / trial["id"]

    def result_file(self, trial) -> Path:
        return self.path / "results" / f"{trial['id']}.json"

    def pending(self) -> list[dict]:
        return [t for t in self.trials if not self.result_file(t).is_file()]

    def results(self) -> list[dict]:
        return [json.loads(self.result_file(t).read_text()) for t in self.trials if self.result_file(t).is_file()]


def run_trial(job: dict) -> dict:
    """One trial, in a Ray worker: train (from scratch if it never finished), evaluate, record."""
    threads = int(job["cpus"])
    from rltune._tf import tf
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        pass
    from rltune.evaluation import evaluate_model
    from rltune.runs import write_json
    from rltune.training import train
    cfg = TrainConfig.from_settings(job["settings"])
    t0 = time.time()
    summary = train(job["model"], job["dir"], cfg, force=True)
    result = evaluate_model(job["dir"], num_compositions=job["compositions"], key=cfg.key, rules=cfg.rules, seed=cfg.seed)
    record = {"id": job["id"], "axes": job["axes"], "run": job["dir"], "rules": cfg.rules, "algo": cfg.algo,
              "config": {k: getattr(cfg, k) for k in AXIS_COLUMNS},
              "rows": result["rows"], "wall_seconds": time.time() - t0, "env_steps": summary["env_steps"],
              "env_steps_per_s": summary["env_steps_per_s"]}
    Path(job["result"]).parent.mkdir(parents=True, exist_ok=True)
    write_json(job["result"], record)
    return {k: record["rows"][k] for k in ("mean_log_p", "mean_music_theory_reward")}


def _ray_trainable(config):
    from ray import tune
    tune.report(run_trial(config["job"]))


def run_sweep(spec_path, output, *, address: str | None = None, progress=None) -> dict:
    """Run the trials of ``spec_path`` that have not finished into ``output``; results and the frontier."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # with verbose=0: no status tables; progress comes from _Progress
    try:
        import ray
        from ray import tune
    except ImportError:
        raise RLTuneError(INSTALL_HINT) from None
    from rltune.loading import default_bundle
    spec = load_spec(spec_path)
    sweep = Sweep(spec, output)
    model = Path(spec.model) if spec.model else default_bundle()
    if not model.exists():
        raise RLTuneError(f"model not found: {model}")
    if address and address != "auto" and not re.fullmatch(r"(ray://)?[\w.-]+:\d+", address):
        raise RLTuneError(f"--address {address!r} must be auto, HOST:PORT or ray://HOST:PORT")
    pending = sweep.pending()
    failures, interrupted = {}, False
    if pending:
        sweep.path.mkdir(parents=True, exist_ok=True)
        _start_ray(ray, address)
        cores = int(ray.available_resources().get("CPU", os.cpu_count() or 1))
        jobs = [{"job": {"id": t["id"], "axes": t["axes"], "settings": t["settings"], "model": str(model.resolve()),
                         "dir": str(sweep.trial_dir(t).resolve()), "result": str(sweep.result_file(t).resolve()),
                         "compositions": spec.compositions, "cpus": spec.cpus_per_trial}} for t in pending]
        tuner = tune.Tuner(
            tune.with_resources(_ray_trainable, {"cpu": spec.cpus_per_trial}),
            param_space={"job": tune.grid_search([j["job"] for j in jobs])},
            tune_config=tune.TuneConfig(max_concurrent_trials=max(1, cores // spec.cpus_per_trial)),
            run_config=tune.RunConfig(storage_path=str((sweep.path / "ray").resolve()), name="tune", verbose=0,
                                      failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
                                      callbacks=[_progress_callback(tune, progress, len(pending))]))
        try:
            grid = tuner.fit()
            for r in grid:
                if r.error is not None:
                    failures[r.config["job"]["id"]] = _first_line(r.error)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            ray.shutdown()
    return _summarize(sweep, model, failures, interrupted)


_REPORT = {}  # the driver's progress function; looked up at call time, so that the callback pickles


def _report(kind, **info):
    fn = _REPORT.get("progress")
    if fn:
        fn(kind, **info)


def _progress_callback(tune, progress, total):
    """A Tune callback telling ``progress(kind, **info)`` of each trial's end or failure."""
    _REPORT["progress"] = progress

    class Progress(tune.Callback):
        def __init__(self):
            self.done = 0

        def on_trial_result(self, iteration, trials, trial, result, **info):
            self.done += 1
            _report("finished", trial=trial.config["job"]["id"], done=self.done, total=total,
                    mean_log_p=result.get("mean_log_p"), mean_music_theory_reward=result.get("mean_music_theory_reward"))

        def on_trial_error(self, iteration, trials, trial, **info):
            self.done += 1
            _report("failed", trial=trial.config["job"]["id"], done=self.done, total=total)

    return Progress()


def _check_reachable(address: str, seconds: float = 5.0):
    """One line, quickly, when nothing listens at HOST:PORT (Ray itself waits minutes)."""
    import socket
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=seconds):
            pass
    except OSError as e:
        raise RLTuneError(f"cannot reach the Ray cluster at {address}: {e.strerror or type(e).__name__}") from None


def _start_ray(ray, address):
    if address and address != "auto":
        _check_reachable(address)
    try:
        if address:
            ray.init(address=address, log_to_driver=False, logging_level="ERROR")
        else:
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                     configure_logging=True)
    except Exception as e:  # noqa: BLE001 - Ray raises many kinds for an unreachable cluster
        raise RLTuneError(f"cannot start or reach Ray{' at ' + address if address else ''}: {_first_line(e)}") from None


def _first_line(e) -> str:
    text = str(e).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return (lines[-1] if lines else type(e).__name__)[:300]


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both x and y (both maximised), by x."""
    front = [i for i, (x, y) in enumerate(points)
             if not any((x2 >= x and y2 >= y) and (x2 > x or y2 > y) for j, (x2, y2) in enumerate(points) if j != i)]
    return sorted(front, key=lambda i: points[i][0])


def _summarize(sweep: Sweep, model: Path, failures: dict, interrupted: bool) -> dict:
    from rltune.runs import write_json
    results = sweep.results()
    reference = _note_rnn_reference(sweep, model)
    points = [(r["rows"]["mean_music_theory_reward"], r["rows"]["mean_log_p"]) for r in results]
    front = [results[i]["id"] for i in pareto_front(points)]
    for r in results:
        r["on_front"] = r["id"] in front
    axes = list(AXIS_COLUMNS) + sorted({k for t in sweep.trials for k in t["axes"]} - set(AXIS_COLUMNS))
    rows = [{"id": r["id"], **{a: r["axes"].get(a, r.get("config", {}).get(a)) for a in axes}, **{k: r["rows"].get(k) for k in ROW_COLUMNS},
             "wall_seconds": r["wall_seconds"], "env_steps_per_s": r["env_steps_per_s"], "on_front": r["on_front"],
             "run": r["run"]} for r in results]
    if results:
        write_json(sweep.path / "results.json", {"trials": rows, "note_rnn": reference, "front": front,
                                                  "failed": failures})
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        from rltune.outputs import atomic_write_bytes
        atomic_write_bytes(sweep.path / "results.csv", buf.getvalue().encode())
        from rltune.plotting import plot_frontier
        plot_frontier(results, reference, front, sweep.path / "frontier.png")
    return {"trials": rows, "front": [r for r in rows if r["on_front"]], "note_rnn": reference, "failed": failures,
            "interrupted": interrupted, "finished": len(results), "total": len(sweep.trials), "path": str(sweep.path)}


def _note_rnn_reference(sweep: Sweep, model: Path) -> dict:
    """The Note RNN's own point, cached in the sweep folder."""
    from rltune.evaluation import evaluate_model
    from rltune.runs import write_json
    cache = sweep.path / "results" / "_note_rnn.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    base = TrainConfig.from_settings(sweep.spec.base)
    rows = evaluate_model(model, num_compositions=sweep.spec.compositions, key=base.key, rules=base.rules)["rows"]
    ref = {"model": str(model), "rows": rows}
    cache.parent.mkdir(parents=True, exist_ok=True)
    write_json(cache, ref)
    return ref
