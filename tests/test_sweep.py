"""`rltune sweep`: a spec of tiny runs on a local Ray, the frontier, restarts, and bad specs."""
import csv
import json

import pytest

from helpers import FIXTURE_BUNDLE, assert_user_error, invoke

TINY_BASE = """
[base]
steps = 4096
num_envs = 128
minibatch_size = 64
learning_starts = 1024
eval_every = 4096
eval_compositions = 32
checkpoint_every = 4096
num_samples = 1
"""


def _spec(tmp_path, body, name="spec.toml"):
    path = tmp_path / name
    path.write_text(f'model = "{FIXTURE_BUNDLE}"\ncompositions = 300\n{TINY_BASE}{body}')
    return path


def test_pareto_front():
    from rltune.sweep import pareto_front
    points = [(0, 0), (1, -1), (-1, 1), (0.5, -0.5), (-2, -2), (1, -1)]
    assert pareto_front(points) == [2, 0, 3, 1, 5]  # (1, -1) twice: neither beats the other


def test_spec_expands_grid_random_and_extra(tmp_path):
    from rltune.sweep import load_spec
    spec = load_spec(_spec(tmp_path, '[grid]\nalgo = ["q", "g"]\nseed = [0, 1]\n'
                                     '[random]\nnum_samples = 2\nlearning_rate = {loguniform = [1e-4, 1e-2]}\n'
                                     '[[extra]]\nrules = "paper"\n'))
    trials = spec.trials()
    assert len(trials) == 2 * 2 * 2 + 1 and len({t["id"] for t in trials}) == len(trials)
    assert all(1e-4 <= t["settings"]["learning_rate"] <= 1e-2 for t in trials[:-1])
    assert spec.trials() == trials  # the same draws every time: a restart finds its trials
    assert trials[0]["settings"]["steps"] == 4096


@pytest.mark.parametrize("body, needle", [
    ('[grid]\nalgo = ["q"]\nbogus = 1\n', "unknown field 'bogus'"),
    ('colour = "blue"\n', "unknown field 'colour'"),
    ('[grid]\nreward_scaler = ["high"]\n', "--reward-scaler must be a number"),
    ('[grid]\nalgo = []\n', "non-empty list"),
    ('[grid]\nalgo = ["sarsa"]\n', "unknown algorithm"),
    ('[random]\nseed = {gaussian = [0, 1]}\n', "must be one of"),
])
def test_bad_specs_start_nothing(tmp_path, body, needle):
    spec = _spec(tmp_path, body)
    assert_user_error(invoke("sweep", spec, "-o", tmp_path / "out"), needle)
    assert not (tmp_path / "out").exists()


def test_bad_address(tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[sweep]')")
    spec = _spec(tmp_path, '[grid]\nalgo = ["q"]\n')
    assert_user_error(invoke("sweep", spec, "-o", tmp_path / "out", "--address", "not an address"), "--address")


@pytest.mark.slow
def test_two_trial_sweep_on_local_ray(tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[sweep]')")
    spec = _spec(tmp_path, '[grid]\nalgo = ["q", "psi"]\n'
                           f'[[extra]]\npriming = "midi"\nprimer_midi = "{tmp_path / "missing.mid"}"\n')
    out = tmp_path / "sweep"
    r = invoke("sweep", spec, "-o", out)
    assert r.exit_code == 1, r.output + r.stderr  # one trial failed: reported, the others finished
    assert "failed" in r.stderr and "primer MIDI not found" in r.stderr
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert sorted(row["algo"] for row in rows) == ["psi", "q"]
    assert all(float(row["mean_log_p"]) < 0 and float(row["mean_note_length"]) > 0 for row in rows)
    assert (out / "frontier.png").stat().st_size > 10_000
    data = json.loads((out / "results.json").read_text())
    assert data["front"] and data["note_rnn"]["rows"]["mean_log_p"] < 0
    from rltune.runs import Run
    assert Run.open(out / "trials" / "algo=q").summary()["env_steps"] >= 4096  # each trial is a run folder
    before = {p.name: p.stat().st_mtime for p in (out / "results").glob("*.json")}
    r = invoke("sweep", spec, "-o", out)  # started again: only the failed trial runs again
    assert r.exit_code == 1 and "primer MIDI not found" in r.stderr
    assert {p.name: p.stat().st_mtime for p in (out / "results").glob("*.json")} == before
