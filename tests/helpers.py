"""Helpers shared by the tests (paths, CLI runners, the tiny training settings)."""
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
FIXTURES = DATA / "fixtures"
FIXTURE_BUNDLE = FIXTURES / "magenta" / "basic_rnn_essen_100.mag"
PRIMER_MIDI = FIXTURES / "midi" / "essen_altdeu10_3.mid"
ORACLE = ROOT.parent / "shared" / "magenta-oracle"
MAGENTA_VENV = Path(os.environ.get("MAGENTA_VENV", Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                                   / "rltune-magenta-venv"))

# A run of seconds: 128 compositions in lockstep, small minibatches, frequent evaluations and checkpoints.
TINY = ["--steps", 8192, "--num-envs", 128, "--minibatch-size", 128, "--learning-starts", 1024,
        "--eval-every", 4096, "--eval-compositions", 64, "--checkpoint-every", 4096, "--num-samples", 2,
        "--exploration-steps", 4096, "--replay-size", 20000]


def tiny(steps=8192):
    """TINY with another number of steps."""
    return ["--steps", steps, *TINY[2:]]


_runner = CliRunner()


def invoke(*args):
    """Run a command in-process (Typer's runner); stderr is kept apart."""
    return _runner.invoke(__import__("rltune.cli", fromlist=["app"]).app, [str(a) for a in args])


def assert_user_error(result, *needles):
    """Non-zero exit, exactly one line on stderr, no traceback, the needles said."""
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert not result.stderr.startswith("\n"), repr(result.stderr)
    text = " ".join(result.stderr.split()).lower()
    for n in needles:
        assert n.lower() in text, result.stderr


def run_cli(*args, timeout=600, cwd=ROOT):
    """Run the real console entry point in a subprocess; returns CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "rltune.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def assert_clean_error(proc, *needles):
    """A user error from a subprocess: non-zero exit, one line on stderr, no traceback."""
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for n in needles:
        assert n.lower() in proc.stderr.lower(), proc.stderr
