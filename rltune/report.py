"""A listening report: one self-contained HTML file to hear and compare models.

For each input (a model, a run, or compositions: a NoteSequence TFRecord or
MIDI files) the report holds its column of the paper's table (the numbers of
``rltune evaluate`` with the same options), a run's reward curves, and K
compositions from the same primers, each a piano roll (inline SVG, notes in
the key in blue, others in red) with an ``<audio controls>`` player whose Ogg
Vorbis sound is embedded as a data URI. A "listen side by side" row plays
the same primer continued by each model. Nothing is fetched: no script,
style, image or sound comes from outside the file.
"""
from __future__ import annotations

import base64
import html
import time
from pathlib import Path

import numpy as np

from rltune.encoding import DEFAULT_QPM, MIN_NOTE, NUM_SPECIAL_EVENTS, STEPS_PER_QUARTER
from rltune.errors import RLTuneError


def build_report(inputs, output, *, num_compositions: int = 10_000, length: int = 32, key: str | None = None,
                 rules: str | None = None, seed: int = 0, samples: int = 8, soundfont=None, qpm: float = DEFAULT_QPM,
                 force: bool = False, progress=None) -> dict:
    """Evaluate ``inputs`` (None: the shipped Note RNN), render samples and write the HTML ``output``.
    ``key`` and ``rules`` None: each run's own, else C and the paper's."""
    from rltune.audio import Renderer
    from rltune.outputs import atomic_write_bytes
    output = Path(output)
    _check_output(output, force)
    if samples <= 0:
        raise RLTuneError(f"--samples must be positive, got {samples}")
    if not (qpm > 0 and np.isfinite(qpm)):
        raise RLTuneError(f"--qpm must be a positive number, got {qpm}")
    renderer = Renderer(soundfont, qpm)
    t0 = time.time()
    columns = [_column(source, num_compositions, length, key, rules, seed, samples) for source in (inputs or [None])]
    if progress:
        progress("render")
    sounds = renderer.render_many([ev for c in columns for ev in c["samples"]])
    for c in columns:
        c["sounds"], sounds = sounds[:len(c["samples"])], sounds[len(c["samples"]):]
    page = _page(columns, seed=seed, renderer=renderer.name, qpm=qpm, num_compositions=num_compositions)
    atomic_write_bytes(output, page.encode())
    return {"output": str(output), "bytes": len(page), "renderer": renderer.name, "seconds": time.time() - t0,
            "models": [c["result"]["name"] for c in columns], "samples": samples}


def _check_output(output: Path, force: bool):
    if output.suffix.lower() not in (".html", ".htm"):
        raise RLTuneError(f"a report's name must end in .html: {output}")
    if not output.parent.is_dir():
        raise RLTuneError(f"the folder of {output} does not exist")
    if output.exists() and not force:
        raise RLTuneError(f"{output} exists; pass --force to overwrite it")


def _column(source, n, length, key, rules, seed, k) -> dict:
    """One input's numbers, curves and the events of its samples."""
    from rltune.evaluation import evaluate_input, is_melody_source
    from rltune.loading import load_policy
    from rltune.priming import random_note_primers
    from rltune.runs import Run
    result = evaluate_input(source, num_compositions=n, length=length, key=key, rules=rules, seed=seed)
    if source is not None and is_melody_source(source):
        events = result["compositions"][:k]
    else:  # every model continues the same primers
        primers = random_note_primers(k, np.random.default_rng(seed))
        events = load_policy(source).sample(primers, length, seed=seed)["events"]
    curves = None
    if source is not None and Run.is_run(source):
        from rltune.plotting import reward_curves_png
        history = Run.open(source).history()
        curves = reward_curves_png({k2: [h[k2] for h in history] for k2 in ("step", "mean_log_p", "mean_music_theory_reward")},
                                   dpi=70)
    return {"result": result, "samples": list(events), "curves": curves}


def piano_roll_svg(events, key: str = "C", qpm: float = DEFAULT_QPM, step_px: int = 10, pitch_px: int = 6) -> str:
    """An inline SVG piano roll: in-key notes blue, others red, bar lines every 16 steps."""
    from rltune.audio import notes
    from rltune.keys import Key
    parsed = Key.parse(key)
    in_key = parsed.in_key
    played = notes(events, qpm)
    steps = len(events)
    pitches = [p for _, _, p in played] or [60]
    lo, hi = min(pitches) - 2, max(pitches) + 2
    width, height = steps * step_px, (hi - lo + 1) * pitch_px
    per_s = qpm / 60 * STEPS_PER_QUARTER
    parts = [f'<svg class="roll" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="piano roll">',
             f'<rect width="{width}" height="{height}" fill="#fafafa"/>']
    for p in range(lo, hi + 1):
        if p % 12 == parsed.tonic_pc:
            parts.append(f'<rect y="{(hi - p) * pitch_px}" width="{width}" height="{pitch_px}" fill="#eef3fb"/>')
    for bar in range(0, steps + 1, 16):
        parts.append(f'<line x1="{bar * step_px}" x2="{bar * step_px}" y1="0" y2="{height}" stroke="#ccc"/>')
    for start, end, p in played:
        idx = p - MIN_NOTE + NUM_SPECIAL_EVENTS
        color = "#2f6fd0" if 0 <= idx < len(in_key) and in_key[idx] else "#d0412f"
        x, w = start * per_s * step_px, max((end - start) * per_s * step_px - 1, 2)
        parts.append(f'<rect x="{x:.1f}" y="{(hi - p) * pitch_px}" width="{w:.1f}" height="{pitch_px - 1}" '
                     f'rx="1.5" fill="{color}"><title>MIDI {p}</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


def _audio(ogg: bytes) -> str:
    return (f'<audio controls preload="auto" src="data:audio/ogg;base64,{base64.b64encode(ogg).decode()}">'
            "</audio>")


def _sample(events, ogg, key, qpm, label) -> str:
    return (f'<figure class="sample"><figcaption>{html.escape(label)}</figcaption>'
            f"{piano_roll_svg(events, key, qpm)}{_audio(ogg)}</figure>")


def _table(columns) -> str:
    from rltune.evaluation import table_cell
    from rltune.metrics import TABLE_ROWS
    head = "".join(f"<th>{html.escape(c['result']['name'])}</th>" for c in columns)
    rows = []
    for k, label in TABLE_ROWS:
        cells = [f"<td>{html.escape(table_cell(c['result'], k))}</td>" for c in columns]
        rows.append(f"<tr><th>{html.escape(label)}</th>{''.join(cells)}</tr>")
    rows.append("<tr><th>Compositions</th>" + "".join(f"<td>{c['result']['num_compositions']:,}</td>" for c in columns) + "</tr>")
    return f'<table><thead><tr><th></th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9em}td,th{padding:.25em .7em;border-bottom:1px solid #eee;text-align:right}
tbody th{text-align:left;font-weight:normal}.meta{color:#555}
.samples{display:flex;flex-wrap:wrap;gap:1em}.sample{margin:0;border:1px solid #e4e4e4;border-radius:6px;padding:.5em}
.sample figcaption{font-size:.85em;color:#444;margin-bottom:.3em}.roll{display:block;margin-bottom:.3em}
audio{width:100%;min-width:240px}.curves img{max-width:100%}
"""


def _page(columns, *, seed, renderer, qpm, num_compositions) -> str:
    names = [c["result"]["name"] for c in columns]
    key = "/".join(sorted({c["result"]["key"] for c in columns}))
    rules = "/".join(sorted({c["result"]["rules"] for c in columns}))
    side = "".join(_sample(c["samples"][0], c["sounds"][0], c["result"]["key"], qpm, n) for c, n in zip(columns, names))
    sections = [f"<h2>Listen side by side</h2><p class=meta>The same primer continued by each model "
                f"(compositions: their first window).</p><div class=samples>{side}</div>"]
    for c, name in zip(columns, names):
        if c["curves"]:
            sections.append(f'<h2>Reward curves: {html.escape(name)}</h2><div class=curves>'
                            f'<img alt="reward curves of {html.escape(name)}" '
                            f'src="data:image/png;base64,{base64.b64encode(c["curves"]).decode()}"></div>')
        figs = "".join(_sample(ev, ogg, c["result"]["key"], qpm, f"{name} #{i + 1}") for i, (ev, ogg) in enumerate(zip(c["samples"], c["sounds"])))
        sections.append(f"<h2>Samples: {html.escape(name)}</h2><div class=samples>{figs}</div>")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>rltune report</title>'
            f"<style>{_STYLE}</style></head><body><h1>rltune report</h1>"
            f"<p class=meta>{len(columns)} input(s); the paper's statistics over {num_compositions:,} compositions per "
            f"model (seed {seed}, key {html.escape(key)}, rules {html.escape(rules)}); audio: {html.escape(renderer)}, "
            f"{qpm:g} quarter notes per minute; notes in the key blue, others red.</p>"
            f"<h2>The paper's table</h2>{_table(columns)}{''.join(sections)}</body></html>")
