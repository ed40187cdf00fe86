"""What rltune writes is what Magenta reads (runs where the Magenta oracle venv exists)."""
import subprocess

import numpy as np
import pytest

import rltune
from helpers import FIXTURES, ORACLE


def magenta_softmax(venv, bundle, melodies, tmp_path):
    np.savez(tmp_path / "melodies.npz", melodies=melodies)
    out = tmp_path / "magenta_softmax.npz"
    p = subprocess.run([str(venv / "bin" / "python"), str(ORACLE / "magenta_softmax.py"),
                        str(bundle), str(out), str(tmp_path / "melodies.npz")], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    return np.load(out)["softmax"]


def magenta_generate(venv, bundle, out_dir):
    p = subprocess.run(["bash", str(ORACLE / "magenta_generate.sh"), str(bundle), str(out_dir), str(venv)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    return sorted(out_dir.glob("*.mid"))


@pytest.mark.slow
def test_written_bundle_runs_in_magenta(magenta_venv, tmp_path):
    """A Note RNN written by rltune's bundle writer: Magenta generates from it and gives our probabilities."""
    from rltune.checkpoint import load_weights
    from rltune.magenta_graph import write_note_rnn_bundle
    from rltune.note_rnn import random_weights
    weights = random_weights([24, 16], seed=3)
    bundle = tmp_path / "two_layer.mag"
    write_note_rnn_bundle(bundle, weights, "rltune interop test")
    assert len(magenta_generate(magenta_venv, bundle, tmp_path / "gen")) == 4
    melodies = np.load(FIXTURES / "magenta" / "basic_rnn_essen_100.golden.npz")["melodies"]
    ours = rltune.load_note_rnn(bundle).probabilities(melodies)
    theirs = magenta_softmax(magenta_venv, bundle, melodies, tmp_path)
    assert np.abs(ours - theirs).max() < 1e-5
    assert load_weights(bundle).weights.layer_sizes == [24, 16]


@pytest.mark.slow
def test_exported_policies_run_in_magenta(magenta_venv, tmp_path):
    """Each algorithm's exported bundle: Magenta generates MIDI and computes rltune's policy."""
    from helpers import invoke
    from helpers import tiny
    melodies = np.load(FIXTURES / "magenta" / "basic_rnn_essen_100.golden.npz")["melodies"][:4, :24]
    for algo in ("q", "psi", "g"):
        run = tmp_path / algo
        r = invoke("train", "--bundle", FIXTURES / "magenta" / "basic_rnn_essen_100.mag", "-o", run, "--algo", algo,
                   *tiny(4096))
        assert r.exit_code == 0, r.stderr
        bundle = tmp_path / f"{algo}.mag"
        assert rltune_export(run, bundle).exit_code == 0
        assert len(magenta_generate(magenta_venv, bundle, tmp_path / f"gen_{algo}")) == 4
        ours = rltune.load_policy(run).probabilities(melodies)
        theirs = magenta_softmax(magenta_venv, bundle, melodies, tmp_path)
        assert np.abs(ours - theirs).max() < 1e-5, algo


@pytest.mark.slow
def test_pretrained_bundle_runs_in_magenta(magenta_venv, tmp_path):
    from helpers import invoke
    out = tmp_path / "pre.mag"
    r = invoke("pretrain", FIXTURES / "midi" / "essen_altdeu10_3.mid", "-o", out, "--layers", "20",
               "--steps", 5, "--batch-size", 2)
    assert r.exit_code == 0, r.stderr
    assert len(magenta_generate(magenta_venv, out, tmp_path / "gen")) == 4
    melodies = np.load(FIXTURES / "magenta" / "basic_rnn_essen_100.golden.npz")["melodies"][:3]
    assert np.abs(rltune.load_note_rnn(out).probabilities(melodies) - magenta_softmax(magenta_venv, out, melodies, tmp_path)).max() < 1e-5


def rltune_export(run, bundle):
    from helpers import invoke
    return invoke("export", run, "-o", bundle)
