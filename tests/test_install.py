"""rltune installs like a library: a wheel, installed outside the checkout, generates from its default model."""
import subprocess
import sys
import sysconfig

import pytest

from helpers import ROOT


@pytest.mark.slow
def test_wheel_installs_and_generates_outside_the_checkout(tmp_path):
    wheels = tmp_path / "wheels"
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(wheels)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    (wheel,) = wheels.glob("rltune-*.whl")
    import zipfile
    assert "rltune/bundles/default_note_rnn.mag" in zipfile.ZipFile(wheel).namelist()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = next(venv.glob("lib/python*/site-packages"))
    # the dependencies (TensorFlow, note-seq ...) come from this environment, rltune itself only from the wheel
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    p = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps", "-q",
                        str(wheel)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    work = tmp_path / "elsewhere"
    work.mkdir()
    p = subprocess.run([str(venv / "bin" / "python"), "-c", "import rltune, sys; print(rltune.__file__)"],
                       capture_output=True, text=True, cwd=work, timeout=120)
    assert str(site) in p.stdout, p.stdout + p.stderr
    p = subprocess.run([str(venv / "bin" / "rltune"), "generate", "--num-outputs", "2", "-o", "out"],
                       capture_output=True, text=True, cwd=work, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    assert len(list((work / "out").glob("*.mid"))) == 2
    assert "default_note_rnn" in p.stdout
