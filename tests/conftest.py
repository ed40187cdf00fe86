import os
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import FIXTURE_BUNDLE, FIXTURES, MAGENTA_VENV, ORACLE  # noqa: E402


@pytest.fixture
def fixtures():
    return FIXTURES


@pytest.fixture
def fixture_bundle():
    return FIXTURE_BUNDLE


@pytest.fixture(scope="session")
def golden_rewards():
    return dict(np.load(FIXTURES / "rl_tuner" / "rewards_golden.npz"))


@pytest.fixture
def magenta_python():
    """The Magenta oracle venv's python (for tests that need Magenta but not ../shared's scripts)."""
    python = MAGENTA_VENV / "bin" / "python"
    if not python.exists():
        pytest.skip(f"the Magenta oracle venv is not built at {MAGENTA_VENV} (../shared/magenta-oracle/setup.sh)")
    return python


@pytest.fixture
def magenta_venv():
    if not (MAGENTA_VENV / "bin" / "melody_rnn_generate").exists():
        pytest.skip(f"the Magenta oracle venv is not built at {MAGENTA_VENV} (../shared/magenta-oracle/setup.sh)")
    if not ORACLE.is_dir():
        pytest.skip(f"the Magenta oracle scripts are not at {ORACLE} (../shared is absent)")
    return MAGENTA_VENV
