"""`rltune report`: a self-contained HTML file with the table, piano rolls and sound, checked in a real browser."""
import io
import re
import shutil

import numpy as np
import pytest

from helpers import FIXTURE_BUNDLE, FIXTURES, assert_user_error, invoke


@pytest.fixture(scope="module")
def compositions(tmp_path_factory):
    rec = tmp_path_factory.mktemp("comps") / "comps.tfrecord"
    assert invoke("export", FIXTURE_BUNDLE, "--compositions", 64, "-o", rec).exit_code == 0
    return rec


@pytest.fixture(scope="module")
def report(tmp_path_factory, compositions):
    out = tmp_path_factory.mktemp("report") / "report.html"
    r = invoke("report", FIXTURE_BUNDLE, compositions, "-o", out, "-n", 500, "--samples", 3)
    assert r.exit_code == 0, r.output + r.stderr
    return out


def test_report_holds_table_rolls_and_embedded_sound(report):
    page = report.read_text()
    assert report.stat().st_size < 5_000_000
    # nothing is fetched: no http(s) source for any script, style, image or audio
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", page, re.I) and "<script" not in page.lower()
    assert page.count("<audio") == 2 * 3 + 2  # the samples of each input, and the side-by-side row
    assert page.count('src="data:audio/ogg;base64,') == page.count("<audio")
    assert page.count('<svg class="roll"') == page.count("<audio")
    assert "Listen side by side" in page and "Notes excessively repeated" in page
    assert "FluidSynth" in page or "built-in synth" in page
    from rltune.evaluation import evaluate_model
    number = evaluate_model(FIXTURE_BUNDLE, num_compositions=500)["rows"]["notes_not_in_key"]
    assert f"{100 * number:.3f}%" in page  # the same numbers as rltune evaluate


def test_builtin_synth_renders_plucked_ogg(monkeypatch):
    import soundfile

    import rltune.audio as audio
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)
    renderer = audio.Renderer()
    assert "built-in" in renderer.name
    events = np.array([14, 0, 0, 0, 16, 0, 1, 1] * 4)
    info = soundfile.info(io.BytesIO(renderer(events)))
    assert info.format == "OGG" and info.subtype == "VORBIS" and info.channels == 1
    assert info.duration == pytest.approx(32 / 8 + audio.TAIL_SECONDS, abs=0.05)  # 16th notes at 120 qpm
    samples = audio.synthesize(events)
    assert np.abs(samples).max() == pytest.approx(0.8, abs=1e-3)
    onset = samples[:int(0.05 * audio.SAMPLE_RATE)]
    later = samples[int(0.4 * audio.SAMPLE_RATE):int(0.45 * audio.SAMPLE_RATE)]
    assert np.abs(onset).max() > 2 * np.abs(later).max()  # it decays, like a plucked string


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="fluidsynth is not installed")
def test_fluidsynth_renders_when_installed():
    import soundfile

    from rltune.audio import Renderer
    renderer = Renderer()
    if "FluidSynth" not in renderer.name:
        pytest.skip("no General MIDI SoundFont installed")
    clips = renderer.render_many([np.array([14, 0, 16, 0] * 8), np.array([20, 0, 0, 0] * 8)])
    assert [round(soundfile.info(io.BytesIO(c)).duration, 1) for c in clips] == [4.6, 4.6]


def _browser():
    selenium = pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[test]')")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1600"):
        opts.add_argument(arg)
    opts.binary_location = chromium
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    assert selenium
    return webdriver.Chrome(service=Service(driver), options=opts)


def test_report_in_a_real_browser(report, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait
    browser = _browser()
    try:
        browser.get(report.as_uri())
        WebDriverWait(browser, 30).until(lambda b: b.execute_script(
            "return Array.from(document.querySelectorAll('audio')).every(a => a.readyState >= 1)"))
        durations = browser.execute_script("return Array.from(document.querySelectorAll('audio')).map(a => a.duration)")
        assert len(durations) == 8 and all(np.isfinite(d) and d > 0 for d in durations), durations
        assert browser.execute_script("return document.querySelectorAll('svg.roll rect').length") > 50
        errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert not errors, errors
        shot = tmp_path / "shot.png"
        browser.save_screenshot(str(shot))
    finally:
        browser.quit()
    import matplotlib.image
    pixels = matplotlib.image.imread(shot)[..., :3]
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20  # not blank


def test_bad_input_leaves_no_report(tmp_path, compositions):
    out = tmp_path / "r.html"
    cases = [
        (["-o", tmp_path / "missing" / "r.html"], "does not exist"),
        (["-o", out, "--samples", 0], "--samples"),
        (["-o", out, "--soundfont", tmp_path / "none.sf2"], "soundfont not found"),
        (["-o", out, "--soundfont", FIXTURE_BUNDLE], "not a soundfont"),
        (["-o", out, "--qpm", "nan"], "--qpm"),
    ]
    empty_rec = tmp_path / "empty.tfrecord"
    empty_rec.write_bytes(b"")
    nomel = tmp_path / "nomelodies"
    nomel.mkdir()
    import pretty_midi
    pm = pretty_midi.PrettyMIDI()
    pm.instruments.append(pretty_midi.Instrument(0))
    pm.write(str(nomel / "silent.mid"))
    for args, needle in cases:
        assert_user_error(invoke("report", FIXTURE_BUNDLE, "-n", 100, *args), needle)
    for bad in (empty_rec, nomel):
        assert_user_error(invoke("report", bad, "-o", out, "-n", 100), "no melodies")
    assert not out.exists() and not list(tmp_path.glob(".r.html*"))
    existing = tmp_path / "keep.html"
    existing.write_text("keep")
    assert_user_error(invoke("report", FIXTURE_BUNDLE, "-o", existing, "-n", 100), "--force")
    assert existing.read_text() == "keep"


def test_primer_as_users_type_it(tmp_path):
    mid = FIXTURES / "midi" / "essen_altdeu10_3.mid"
    for i, primer in enumerate((str(mid), "[60, -2, 62]")):
        r = invoke("generate", "--bundle", FIXTURE_BUNDLE, "--primer", primer, "--num-outputs", 2, "-o", tmp_path / str(i))
        assert r.exit_code == 0, r.stderr
        assert len(list((tmp_path / str(i)).glob("*.mid"))) == 2
    for bad in ("nonsense", str(tmp_path / "missing.mid"), "[60, 'a']"):
        assert_user_error(invoke("generate", "--primer", bad, "-o", tmp_path / "x"), "--primer")
    assert_user_error(invoke("generate", "--primer", str(tmp_path), "-o", tmp_path / "x"), "is a folder")
    r = invoke("evaluate", FIXTURE_BUNDLE, "-n", 200, "--primer", "[60, -2, 62]", "--json", tmp_path / "e.json")
    assert r.exit_code == 0, r.stderr


@pytest.mark.slow
def test_train_takes_primer(tmp_path):
    r = invoke("train", "--bundle", FIXTURE_BUNDLE, "-o", tmp_path / "run", "--primer", "[60, -2, 64]", "--steps", 4096,
               "--num-envs", 128, "--minibatch-size", 64, "--learning-starts", 1024, "--eval-compositions", 32,
               "--num-samples", 1)
    assert r.exit_code == 0, r.stderr
    from rltune.runs import Run
    cfg = Run.open(tmp_path / "run").config
    assert cfg.priming == "melody" and cfg.primer_melody == "[60, -2, 64]"
