"""`rltune --help` is fast and does not import TensorFlow."""
import subprocess
import sys
import time

from conftest import ROOT


def test_help_lists_commands_quickly():
    t0 = time.time()
    p = subprocess.run([sys.executable, "-m", "rltune.cli", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.returncode == 0
    assert time.time() - t0 < 2.0
    for cmd in ("unpack-bundle", "generate", "pretrain", "train", "evaluate", "export"):
        assert cmd in p.stdout


def test_help_does_not_import_tensorflow():
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom rltune.cli import app\n"
            "for c in ([], ['train'], ['evaluate'], ['generate']):\n"
            "    CliRunner().invoke(app, c + ['--help'])\n"
            "print('tensorflow' in sys.modules, 'note_seq' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.stdout.strip() == "False False", p.stdout + p.stderr
