"""`rltune --help` lists every command and option without importing TensorFlow (what keeps it fast)."""
import subprocess
import sys

from helpers import ROOT


def test_help_lists_commands():
    p = subprocess.run([sys.executable, "-m", "rltune.cli", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.returncode == 0
    for cmd in ("unpack-bundle", "generate", "pretrain", "train", "evaluate", "export"):
        assert cmd in p.stdout


def test_help_does_not_import_tensorflow():
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom rltune.cli import app\n"
            "for c in ([], ['train'], ['evaluate'], ['generate']):\n"
            "    CliRunner().invoke(app, c + ['--help'])\n"
            "print('tensorflow' in sys.modules, 'note_seq' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.stdout.strip() == "False False", p.stdout + p.stderr


def test_train_help_lists_every_setting_with_its_help():
    from dataclasses import fields

    from rltune.config import TrainConfig, option_name
    p = subprocess.run([sys.executable, "-m", "rltune.cli", "train", "--help"], capture_output=True, text=True, cwd=ROOT,
                       timeout=60, env={**__import__("os").environ, "COLUMNS": "250"})
    assert p.returncode == 0, p.stderr
    for f in fields(TrainConfig):
        name = f.metadata.get("repeat") or option_name(f.name)
        assert name in p.stdout, name
        assert f.metadata["help"].split()[0] in p.stdout
