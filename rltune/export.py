"""Export tuned models as Magenta bundles, and compositions as NoteSequences or MIDI.

A bundle exported from a run samples, at temperature 1, from exactly the
policy rltune samples from: softmax(Q) for Q, Psi and rl-only, and
softmax(G + log p) for G, whose graph carries both the G network and the
Reward RNN (both states are in the ``initial_state`` / ``final_state``
collections). Any Note RNN rltune loads exports too (a bundle round trip, a
paper-format checkpoint turned into a bundle).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from rltune import runs
from rltune.encoding import DEFAULT_QPM
from rltune.errors import RLTuneError

FORMATS = ("bundle", "note-sequences", "midi")


def _refuse_existing(output: Path, force: bool):
    if output.exists() and not force:
        raise RLTuneError(f"{output} exists; pass --force to overwrite it")


def _policy_networks(source, step):
    """(networks for the graph, description) of a run or a Note RNN."""
    from rltune.checkpoint import load_weights
    source = Path(source)
    if runs.is_run(source):
        meta = runs.read_run(source)
        step, arrays = runs.load_checkpoint(source, step)
        q = runs.weights_from_arrays("q", arrays)
        algo = meta.get("algorithm", "q")
        networks = [("", q)]
        if algo == "g":
            networks.append(("reward_rnn", runs.weights_from_arrays("reward", arrays)))
        policy = "softmax(G + log p(a|s))" if algo == "g" else "softmax(Q)"
        desc = (f"rltune RL Tuner, algorithm {algo}, policy {policy}; rules {meta.get('rules')}, key {meta.get('key')}, "
                f"reward_scaler {meta.get('reward_scaler')}, {step:,} training steps, tuned from {Path(str(meta.get('model'))).name}")
        return networks, desc
    if step is not None:
        raise RLTuneError(f"--step applies to training runs; {source} is not one")
    loaded = load_weights(source)
    networks = [("", loaded.weights)] + [(scope, w) for scope, w in (loaded.extra or {}).items()]
    desc = (loaded.bundle.bundle_description if loaded.bundle else
            f"Note RNN {loaded.weights.layer_sizes} exported by rltune from {loaded.layout} checkpoint {Path(loaded.source).name}")
    return networks, desc


def export_bundle(source, output, *, step: int | None = None, force: bool = False) -> dict:
    """Write ``source`` (a run or any Note RNN) as a basic_rnn GeneratorBundle."""
    from rltune.checkpoint import write_bundle
    from rltune.outputs import check_writable
    from rltune.magenta_graph import bundle_bytes
    output = Path(output)
    if output.suffix != ".mag":
        raise RLTuneError(f"a bundle's name must end in .mag: {output}")
    _refuse_existing(output, force)
    check_writable(output)
    networks, desc = _policy_networks(source, step)
    ckpt, meta = bundle_bytes(networks)
    write_bundle(output, ckpt, meta, desc)
    return {"output": str(output), "description": desc, "networks": [s or "main" for s, _ in networks]}


def export_compositions(source, output, *, num: int, fmt: str = "note-sequences", step: int | None = None,
                        qpm: float = DEFAULT_QPM, seed: int = 0, force: bool = False, length: int | None = None) -> dict:
    """Sample ``num`` compositions with the model's policy, primed as in training, and write them."""
    from rltune.config import TrainConfig
    from rltune.loading import load_policy
    from rltune.melodies import events_to_sequence, write_midi
    from rltune.training import Primers

    if num <= 0:
        raise RLTuneError("--compositions must be positive")
    if qpm <= 0:
        raise RLTuneError("--qpm must be positive")
    output = Path(output)
    _refuse_existing(output, force)
    source = Path(source)
    meta = runs.read_run(source) if runs.is_run(source) else {}
    key = meta.get("key", "C")
    if runs.is_run(source):
        from rltune.config import load_toml
        cfg = TrainConfig(**load_toml(TrainConfig, source / "config.toml"))
    else:
        cfg = TrainConfig()
    length = length or cfg.length
    policy = load_policy(source, step=step)
    primer, lengths = Primers(cfg, np.random.default_rng(seed))(num)
    events = policy.sample(primer, length, primer_lengths=lengths, seed=seed)["events"]
    name = source.stem if source.suffix == ".mag" else source.name
    seqs = [events_to_sequence(ev, qpm=qpm, key=key, title=f"{name} composition {i + 1}") for i, ev in enumerate(events)]
    for i, s in enumerate(seqs):
        s.id = f"rltune/{name}/{i + 1}"
    if fmt == "note-sequences":
        from rltune._tf import tf
        from rltune.outputs import check_writable
        import os
        import tempfile
        check_writable(output)
        fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
        os.close(fd)
        try:
            with tf.io.TFRecordWriter(tmp) as w:
                for s in seqs:
                    w.write(s.SerializeToString())
            os.replace(tmp, output)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        files = [str(output)]
    elif fmt == "midi":
        from rltune.outputs import staged_dir
        with staged_dir(output) as tmp:
            for i, s in enumerate(seqs):
                write_midi(s, tmp / f"composition_{i + 1:05d}.mid")
        files = [f"composition_{i + 1:05d}.mid" for i in range(num)]
    else:
        raise RLTuneError(f"unknown format {fmt!r}: choose note-sequences or midi")
    return {"output": str(output), "format": fmt, "compositions": num, "key": key, "qpm": qpm, "files": files,
            "events": events}
