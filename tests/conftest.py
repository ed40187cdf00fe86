import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures"
MAGENTA_VENV = Path(os.environ.get("MAGENTA_VENV", Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rltune-magenta-venv"))


def need_fixtures():
    if not FIXTURES.is_dir():
        pytest.skip(f"reference fixtures not found at {FIXTURES} (../shared is absent)")


@pytest.fixture
def fixtures():
    need_fixtures()
    return FIXTURES


@pytest.fixture
def fixture_bundle(fixtures):
    return fixtures / "magenta" / "basic_rnn_essen_100.mag"


@pytest.fixture(scope="session")
def golden_rewards():
    need_fixtures()
    return dict(np.load(FIXTURES / "rl_tuner" / "rewards_golden.npz"))


@pytest.fixture
def magenta_venv():
    if not (MAGENTA_VENV / "bin" / "melody_rnn_generate").exists():
        pytest.skip(f"the Magenta oracle venv is not built at {MAGENTA_VENV} (../shared/magenta-oracle/setup.sh)")
    need_fixtures()
    return MAGENTA_VENV


def run_cli(*args, timeout=600):
    """Run the real console entry point in a subprocess; returns CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "rltune.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def assert_clean_error(proc, *needles):
    """A user error: non-zero exit, one line on stderr, no traceback."""
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    lines = [l for l in proc.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1, proc.stderr
    for n in needles:
        assert n.lower() in proc.stderr.lower(), proc.stderr
