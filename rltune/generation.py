"""Generate melodies from a model: primers in, MIDI and NoteSequences out."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from rltune.encoding import DEFAULT_QPM, parse_melody_string
from rltune.errors import RLTuneError


def resolve_primer(primer_midi=None, primer_melody=None):
    """(events or None, warnings). None means: one random note per melody."""
    from rltune.melodies import primer_from_midi
    if primer_midi and primer_melody:
        raise RLTuneError("give either --primer-midi or --primer-melody, not both")
    if primer_midi:
        return primer_from_midi(primer_midi)
    if primer_melody:
        return parse_melody_string(primer_melody), []
    return None, []


def generate(model, output_dir, *, num_outputs: int = 10, num_steps: int = 128, temperature: float = 1.0,
             qpm: float = DEFAULT_QPM, seed: int = 0, primer_midi=None, primer_melody=None,
             plot_probs: bool = False, prefix: str = "melody") -> dict:
    """Write ``num_outputs`` melodies of ``num_steps`` steps (primer included, as in Magenta).

    ``model`` is a path (bundle, checkpoint, training run), a loaded Policy, or
    None for the shipped default bundle.
    Returns a dict with the files written and the events.
    """
    from rltune.loading import load_policy
    from rltune.melodies import events_to_sequence, write_midi
    from rltune.outputs import staged_dir

    if num_outputs <= 0:
        raise RLTuneError("--num-outputs must be positive")
    if num_steps <= 0:
        raise RLTuneError("--num-steps must be positive")
    if not (temperature > 0 and math.isfinite(temperature)):
        raise RLTuneError(f"--temperature must be a positive finite number, got {temperature}")
    if not (qpm > 0 and math.isfinite(qpm)):
        raise RLTuneError(f"--qpm must be a positive finite number, got {qpm}")
    primer, messages = resolve_primer(primer_midi, primer_melody)
    policy = load_policy(model) if model is None or isinstance(model, (str, Path)) else model
    rng = np.random.default_rng(seed)
    if primer is None:
        from rltune.priming import random_note_primers
        primers = random_note_primers(num_outputs, rng)
        keep_primer = False
    else:
        if len(primer) >= num_steps:
            keep = max(1, num_steps // 2)
            messages.append(f"the primer has {len(primer)} steps, more than --num-steps {num_steps}; "
                            f"using its first {keep} steps")
            primer = primer[:keep]
        primers = np.tile(primer, (num_outputs, 1))
        keep_primer = True
    new_steps = num_steps - (primers.shape[1] if keep_primer else 0)
    result = policy.sample(primers, new_steps, temperature=temperature, seed=seed, record_probs=plot_probs)
    events = np.concatenate([primers, result["events"]], axis=1) if keep_primer else result["events"]
    files = []
    with staged_dir(output_dir) as tmp:
        for i, ev in enumerate(events):
            seq = events_to_sequence(ev, qpm=qpm, title=f"{prefix} {i + 1}")
            stem = f"{prefix}_{i + 1:03d}"
            write_midi(seq, tmp / f"{stem}.mid")
            (tmp / f"{stem}.pb").write_bytes(seq.SerializeToString())
            files += [f"{stem}.mid", f"{stem}.pb"]
            if plot_probs:
                from rltune.plotting import plot_note_probabilities
                plot_note_probabilities(result["probs"][i], tmp / f"{stem}_probs.png",
                                        title=f"{policy.name}: {prefix} {i + 1}",
                                        class_layout=policy.networks[0].encoder.class_layout)
                files.append(f"{stem}_probs.png")
    return {"output_dir": str(output_dir), "files": files, "events": events, "warnings": messages,
            "model": policy.name, "primer_steps": primers.shape[1] if keep_primer else 0}
