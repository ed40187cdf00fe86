"""Load anything rltune can run: Note RNNs (bundles, checkpoints) and training runs."""
from __future__ import annotations

from pathlib import Path

from rltune.errors import RLTuneError


def default_bundle() -> Path:
    """The shipped default Note RNN (``bundles/`` of the source tree or the installed package)."""
    here = Path(__file__).resolve().parent
    for cand in (here / "bundles", here.parent / "bundles"):
        found = sorted(cand.glob("*.mag")) if cand.is_dir() else []
        if found:
            preferred = [f for f in found if f.name.startswith("default")]
            return (preferred or found)[0]
    raise RLTuneError("no default bundle is installed; pass a model with --bundle or --checkpoint")


def load_note_rnn(path=None):
    """A Note RNN from a .mag bundle, a Magenta/RL Tuner checkpoint or an rltune run (its Q network).

    Returns a :class:`rltune.note_rnn.NoteRNN` with ``probabilities(melodies)``.
    """
    from rltune.checkpoint import load_weights
    from rltune.note_rnn import NoteRNN
    from rltune import runs
    path = Path(path) if path is not None else default_bundle()
    if runs.is_run(path):
        _, arrays = runs.load_checkpoint(path)
        return NoteRNN(runs.weights_from_arrays("q", arrays), name="q_network", trainable=False)
    return NoteRNN(load_weights(path).weights, trainable=False)


def load_policy(path=None, step: int | None = None, name: str | None = None):
    """The sampling policy of a model: a Note RNN, or a trained run's Q/Psi/G policy."""
    from rltune import runs
    from rltune.checkpoint import load_weights
    from rltune.note_rnn import NoteRNN
    from rltune.policy import Policy
    path = Path(path) if path is not None else default_bundle()
    label = name or (path.stem if path.suffix == ".mag" else path.name)
    if runs.is_run(path):
        meta = runs.read_run(path)
        step, arrays = runs.load_checkpoint(path, step)
        algo = meta.get("algorithm", "q")
        q = NoteRNN(runs.weights_from_arrays("q", arrays), name="q_network", trainable=False)
        reward = NoteRNN(runs.weights_from_arrays("reward", arrays), name="reward_rnn", trainable=False)
        info = {"run": str(path), "step": step, **{k: meta.get(k) for k in ("algorithm", "rules", "key", "model")}}
        return Policy.tuned(algo, q, reward, label, info)
    if step is not None:
        raise RLTuneError(f"--step applies to training runs; {path} is not one")
    loaded = load_weights(path)
    info = {"source": loaded.source, "layout": loaded.layout}
    if loaded.extra and "reward_rnn" in loaded.extra:  # an exported G policy: softmax(G + log p)
        g = NoteRNN(loaded.weights, name="g_network", trainable=False)
        reward = NoteRNN(loaded.extra["reward_rnn"], name="reward_rnn", trainable=False)
        return Policy.tuned("g", g, reward, label, info)
    return Policy.note_rnn(loaded.weights, name=label, info=info)
