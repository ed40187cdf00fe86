"""Export tuned models as Magenta bundles, and compositions as NoteSequences or MIDI.

A bundle exported from a run samples, at temperature 1, from exactly the
policy rltune samples from, as the run's algorithm defines it
(:meth:`rltune.algorithms.Algorithm.export_networks`): softmax(Q) for Q, Psi
and rl-only, whose bundles also carry the Reward RNN (variables only) so that
``rltune evaluate`` scores them as it scores the run; softmax(G + log p) for
G, whose graph runs both the G network and the Reward RNN. Any Note RNN
rltune loads exports too (a bundle round trip, a paper-format checkpoint
turned into a bundle).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from rltune.encoding import DEFAULT_QPM
from rltune.errors import RLTuneError
from rltune.runs import Run

COMPOSITION_FORMATS = ("note-sequences", "midi")


def _refuse_existing(output: Path, force: bool):
    if output.exists() and not force:
        raise RLTuneError(f"{output} exists; pass --force to overwrite it")


def _networks(source, step):
    """(networks of the generation graph, description) of a run or a Note RNN."""
    from rltune.checkpoint import load_weights
    if Run.is_run(source):
        return Run.open(source).export_networks(step)
    if step is not None:
        raise RLTuneError(f"--step applies to training runs; {source} is not one")
    loaded = load_weights(source)
    role = {"reward_rnn": "prior", "reward_model": "reward_model"}
    networks = [("", loaded.weights, "scores")] + [(scope, w, role.get(scope, "prior")) for scope, w in (loaded.extra or {}).items()]
    desc = (loaded.bundle.bundle_description if loaded.bundle else
            f"Note RNN {loaded.weights.layer_sizes} exported by rltune from {loaded.layout} checkpoint {Path(loaded.source).name}")
    return networks, desc


def export_bundle(source, output, *, step: int | None = None, force: bool = False) -> dict:
    """Write ``source`` (a run or any Note RNN) as a GeneratorBundle of its configuration
    (basic_rnn, lookback_rnn or attention_rnn)."""
    from rltune.magenta_graph import write_policy_bundle
    from rltune.outputs import check_writable
    output = Path(output)
    if output.suffix != ".mag":
        raise RLTuneError(f"a bundle's name must end in .mag: {output}")
    _refuse_existing(output, force)
    check_writable(output)
    networks, desc = _networks(Path(source), step)
    write_policy_bundle(output, networks, desc)
    return {"output": str(output), "description": desc, "networks": [s or "main" for s, _, _ in networks]}


def export_compositions(source, output, *, num: int, fmt: str = "note-sequences", step: int | None = None,
                        qpm: float = DEFAULT_QPM, seed: int = 0, force: bool = False, length: int | None = None) -> dict:
    """Sample ``num`` compositions with the model's policy, primed as in training, and write them."""
    from rltune.loading import load_policy
    from rltune.melodies import events_to_sequence, write_midi
    from rltune.priming import primers_for

    if num <= 0:
        raise RLTuneError("--compositions must be positive")
    if fmt not in COMPOSITION_FORMATS:
        raise RLTuneError(f"unknown format {fmt!r}: choose {' or '.join(COMPOSITION_FORMATS)}")
    if not (qpm > 0 and np.isfinite(qpm)):
        raise RLTuneError(f"--qpm must be a positive number, got {qpm}")
    output = Path(output)
    _refuse_existing(output, force)
    source = Path(source)
    run = Run.open(source) if Run.is_run(source) else None
    key = run.config.key if run else "C"
    length = length or (run.config.length if run else 32)
    policy = load_policy(source, step=step)
    primers = run.primers(seed) if run else primers_for(seed=seed)
    primer, lengths = primers(num)
    events = policy.sample(primer, length, primer_lengths=lengths, seed=seed, predict_next=primers.predict_next)["events"]
    name = source.stem if source.suffix == ".mag" else source.name
    seqs = [events_to_sequence(ev, qpm=qpm, key=key, title=f"{name} composition {i + 1}") for i, ev in enumerate(events)]
    for i, s in enumerate(seqs):
        s.id = f"rltune/{name}/{i + 1}"
    if fmt == "note-sequences":
        from rltune.data import write_sequences
        write_sequences(seqs, output)
        files = [str(output)]
    else:
        from rltune.outputs import staged_dir
        with staged_dir(output) as tmp:
            for i, s in enumerate(seqs):
                write_midi(s, tmp / f"composition_{i + 1:05d}.mid")
        files = [f"composition_{i + 1:05d}.mid" for i in range(num)]
    return {"output": str(output), "format": fmt, "compositions": num, "key": key, "qpm": qpm, "files": files,
            "events": events}
