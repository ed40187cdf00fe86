"""Melodies as sound, rendered offline and encoded as mono Ogg Vorbis.

Two renderers: FluidSynth with a General MIDI SoundFont, when the
``fluidsynth`` program and a SoundFont are installed (Debian's ``fluidsynth``
and ``fluid-soundfont-gm``; ``soundfont=`` picks another), and otherwise a
small built-in synth in numpy: each note a few decaying harmonics with a
short attack, a piano-like pluck rather than a bare sine, so that a pip-only
install still makes sound. Audio is written by ``soundfile`` (libsndfile).
"""
from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from rltune.encoding import DEFAULT_QPM
from rltune.errors import RLTuneError

SAMPLE_RATE = 22050
SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2",
              "/usr/share/soundfonts/default.sf2")
TAIL_SECONDS = 0.6  # room for the last note to ring out


class Renderer:
    """Turns event arrays into Ogg Vorbis bytes; ``name`` says which renderer is used."""

    def __init__(self, soundfont=None, qpm: float = DEFAULT_QPM, sample_rate: int = SAMPLE_RATE):
        self.qpm, self.sample_rate = qpm, sample_rate
        self.soundfont = _soundfont(soundfont)
        self.name = (f"FluidSynth with {Path(self.soundfont).name}" if self.soundfont
                     else "rltune's built-in synth (numpy, plucked harmonics)")

    def __call__(self, events) -> bytes:
        return self.render_many([events])[0]

    def render_many(self, melodies) -> list[bytes]:
        """One Ogg file per melody. FluidSynth renders them all in one run (its SoundFont loads once):
        the melodies one after another, cut apart afterwards."""
        if not self.soundfont:
            return [encode_ogg(synthesize(ev, self.qpm, self.sample_rate), self.sample_rate) for ev in melodies]
        played = [notes(ev, self.qpm) for ev in melodies]
        spans, offset = [], 0.0
        for ev, ns in zip(melodies, played):
            length = duration(ev, ns, self.qpm) + TAIL_SECONDS
            spans.append((offset, length))
            offset += length + 0.5
        track = [(s + o, e + o, p) for ns, (o, _) in zip(played, spans) for s, e, p in ns]
        audio = self._fluidsynth(track)
        rate = self.sample_rate
        return [encode_ogg(audio[int(o * rate):int((o + n) * rate)], rate) for o, n in spans]

    def _fluidsynth(self, track) -> np.ndarray:
        import pretty_midi
        import soundfile
        with tempfile.TemporaryDirectory(prefix="rltune-audio-") as d:
            mid, wav = Path(d) / "m.mid", Path(d) / "m.wav"
            pm = pretty_midi.PrettyMIDI()
            piano = pretty_midi.Instrument(program=0)
            piano.notes = [pretty_midi.Note(velocity=100, pitch=p, start=s, end=e) for s, e, p in track]
            pm.instruments.append(piano)
            pm.write(str(mid))
            p = subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.8", "-r", str(self.sample_rate), "-T", "wav",
                                "-F", str(wav), self.soundfont, str(mid)], capture_output=True, text=True, timeout=120)
            if p.returncode != 0 or not wav.exists():
                raise RLTuneError(f"fluidsynth failed on {self.soundfont}: {(p.stderr or p.stdout).strip()[:200]}")
            data, _ = soundfile.read(str(wav), dtype="float32", always_2d=True)
        mono = data.mean(axis=1)
        end = max((e for _, e, _ in track), default=0.0) + TAIL_SECONDS
        mono = np.pad(mono, (0, max(0, int(end * self.sample_rate) - len(mono))))
        peak = np.abs(mono).max()
        return mono / peak * 0.8 if peak > 0 else mono


def _soundfont(requested) -> str | None:
    """The SoundFont to use (checked readable), or None for the built-in synth."""
    if requested is not None:
        path = Path(requested)
        if not path.is_file():
            raise RLTuneError(f"soundfont not found: {path}")
        try:
            with open(path, "rb") as f:
                header = f.read(12)
        except OSError as e:
            raise RLTuneError(f"cannot read soundfont {path}: {e.strerror}") from None
        if header[:4] != b"RIFF" or header[8:12] != b"sfbk":
            raise RLTuneError(f"{path} is not a SoundFont (.sf2) file")
        if shutil.which("fluidsynth") is None:
            raise RLTuneError("--soundfont needs the fluidsynth program (Debian: apt-get install fluidsynth)")
        return str(path)
    if shutil.which("fluidsynth") is None:
        return None
    return next((s for s in SOUNDFONTS if Path(s).is_file()), None)


def notes(events, qpm: float = DEFAULT_QPM) -> list[tuple[float, float, int]]:
    """(start seconds, end seconds, MIDI pitch) of each note, as Magenta's Melody.to_sequence makes them."""
    from rltune.melodies import events_to_sequence
    return [(n.start_time, n.end_time, n.pitch) for n in events_to_sequence(events, qpm=qpm).notes]


def duration(events, played, qpm: float) -> float:
    """Seconds of a composition: all its steps (a final rest included) or its last note's end."""
    from rltune.encoding import STEPS_PER_QUARTER
    return max(len(events) * 60.0 / qpm / STEPS_PER_QUARTER, max((e for _, e, _ in played), default=0.0))


def synthesize(events, qpm: float = DEFAULT_QPM, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 samples: each note a plucked tone (harmonics 1-4, exponential decay, soft release)."""
    played = notes(events, qpm)
    end = duration(events, played, qpm) + TAIL_SECONDS
    out = np.zeros(int(end * sample_rate) + 1, np.float32)
    for start, stop, pitch in played:
        out_i = _pluck(pitch, stop - start, sample_rate)
        i = int(start * sample_rate)
        out[i:i + len(out_i)] += out_i[:len(out) - i]
    peak = np.abs(out).max()
    return out / peak * 0.8 if peak > 0 else out


def _pluck(pitch: int, seconds: float, sample_rate: int) -> np.ndarray:
    freq = 440.0 * 2 ** ((pitch - 69) / 12)
    n = int((seconds + 0.25) * sample_rate)
    t = np.arange(n) / sample_rate
    decay = np.exp(-t * (2.5 + freq / 400))  # higher notes die away faster, as on a piano
    tone = sum(a * np.exp(-t * k) * np.sin(2 * np.pi * freq * h * t)
               for h, a, k in ((1, 1.0, 0.0), (2, 0.45, 1.5), (3, 0.22, 3.0), (4, 0.1, 5.0)))
    attack = np.minimum(t / 0.005, 1.0)
    release = np.clip((seconds + 0.25 - t) / 0.25, 0.0, 1.0)  # let go after the note ends
    return (tone * decay * attack * release).astype(np.float32) * 0.3


def encode_ogg(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    import soundfile
    buf = io.BytesIO()
    soundfile.write(buf, np.asarray(samples, np.float32), sample_rate, format="OGG", subtype="VORBIS")
    return buf.getvalue()
