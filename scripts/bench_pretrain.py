"""Pretraining speed of `rltune pretrain` (real training events per second), optionally
side by side with Magenta's `melody_rnn_train` on the same melodies.

    python scripts/bench_pretrain.py [--steps 60] [--against-magenta]

The melodies: the first 40 tunes of O'Neill's 1850 collection in music21's
public-domain corpus that music21 writes as MIDI, through rltune's basic_rnn
pipeline (Magenta's MelodyExtractor settings); the melodies kept are written
back as monophonic MIDI files, so that Magenta's own pipeline
(`convert_dir_to_note_sequences`, `melody_rnn_create_dataset --config=basic_rnn`)
keeps exactly the same melodies. Both train basic_rnn [100] with batch 64 and no
held-out split. A real event is one (input, label) pair of a melody, padding
excluded: steps/s x 64 x the mean events per melody for Magenta, counted per
batch for rltune. `--against-magenta` needs the oracle venv
(`../shared/magenta-oracle/setup.sh`). Prints `events_per_s=N` (rltune) last,
after `magenta_events_per_s=` and `ratio=` with --against-magenta.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("MAGENTA_VENV", Path.home() / ".cache" / "rltune-magenta-venv"))


def oneills_melodies(work: Path, tunes: int = 40):
    """(folder of monophonic MIDI files, melodies as event arrays)."""
    from music21 import converter, corpus

    from rltune.data import build_dataset
    from rltune.melodies import events_to_sequence, write_midi
    raw, mono = work / "raw", work / "melodies"
    raw.mkdir()
    mono.mkdir()
    path = next(p for p in corpus.getPaths() if str(p).endswith("oneills1850/0001-0050.abc"))
    written = 0
    for i, score in enumerate(converter.parse(str(path), format="abc").scores):
        if written == tunes:
            break
        try:
            score.write("midi", fp=str(raw / f"tune_{i + 1:02d}.mid"))
            written += 1
        except Exception:  # noqa: BLE001 - music21 cannot write some tunes; take the next
            continue
    melodies = build_dataset([raw], 0.0, 0).train
    for i, m in enumerate(melodies):
        write_midi(events_to_sequence(m), mono / f"melody_{i:02d}.mid")
    return mono, melodies


def rltune_events_per_s(folder: Path, steps: int, work: Path) -> float:
    from rltune.config import PretrainConfig
    from rltune.pretraining import pretrain
    cfg = PretrainConfig(layers=[100], batch_size=64, steps=steps, eval_ratio=0.0, eval_every=steps)
    return pretrain([folder], work / "rltune.mag", cfg, work_dir=work / "rltune.work").train_events_per_s


def magenta_steps_per_s(folder: Path, steps: int, work: Path) -> tuple[float, int]:
    """Magenta's global_step/sec (mean of its reports after the first) and the melodies it kept."""
    b = VENV / "bin"
    run = lambda *a: subprocess.run([str(x) for x in a], capture_output=True, text=True, check=True, timeout=1800)
    run(b / "convert_dir_to_note_sequences", f"--input_dir={folder}", f"--output_file={work / 'notes.tfrecord'}")
    made = run(b / "melody_rnn_create_dataset", "--config=basic_rnn", f"--input={work / 'notes.tfrecord'}",
               f"--output_dir={work / 'seqex'}", "--eval_ratio=0.0")
    kept = int(re.findall(r"training_melodies_count: (\d+)", made.stderr)[-1])
    log = run(b / "melody_rnn_train", "--config=basic_rnn", f"--run_dir={work / 'run'}",
              f"--sequence_example_file={work / 'seqex' / 'training_melodies.tfrecord'}",
              "--hparams=batch_size=64,rnn_layer_sizes=[100]", f"--num_training_steps={steps}").stderr
    rates = [float(x) for x in re.findall(r"global_step/sec: ([\d.]+)", log)]
    return float(np.mean(rates[1:] or rates)), kept


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--against-magenta", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="rltune-bench-") as d:
        work = Path(d)
        folder, melodies = oneills_melodies(work)
        mean_events = float(np.mean([len(m) - 1 for m in melodies]))
        print(f"melodies={len(melodies)} mean_events_per_melody={mean_events:.1f}")
        ours = rltune_events_per_s(folder, args.steps, work)
        print(f"rltune: {ours:,.0f} events/s ({ours / 64 / mean_events:.2f} steps/s)")
        if args.against_magenta:
            if not (VENV / "bin" / "melody_rnn_train").exists():
                sys.exit(f"the Magenta oracle venv is not at {VENV} (../shared/magenta-oracle/setup.sh)")
            rate, kept = magenta_steps_per_s(folder, args.steps, work / "magenta")
            theirs = rate * 64 * mean_events
            print(f"magenta: {rate:.2f} steps/s x 64 x {mean_events:.1f} events ({kept} melodies kept)")
            print(f"magenta_events_per_s={theirs:.0f}")
            print(f"ratio={ours / theirs:.2f}")
        print(f"events_per_s={ours:.0f}")


if __name__ == "__main__":
    main()
