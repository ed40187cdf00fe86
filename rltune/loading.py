"""Load anything rltune can run: Note RNNs (bundles, checkpoints), exported policies and training runs."""
from __future__ import annotations

from pathlib import Path

from rltune.errors import RLTuneError

_MIDI_SUFFIXES = (".mid", ".midi")


def default_bundle() -> Path:
    """The shipped default Note RNN (package data: ``rltune/bundles/default_note_rnn.mag``)."""
    path = Path(__file__).resolve().parent / "bundles" / "default_note_rnn.mag"
    if not path.is_file():
        raise RLTuneError("the default bundle is not installed; pass a model with --bundle or --checkpoint")
    return path


def _model_path(path) -> Path:
    path = Path(path) if path is not None else default_bundle()
    if path.suffix.lower() in _MIDI_SUFFIXES and path.is_file():
        raise RLTuneError(f"{path} is a MIDI file, not a model; give a .mag bundle, a checkpoint or an rltune run")
    return path


def load_note_rnn(path=None, dtype: str = "float32"):
    """A Note RNN (basic_rnn, lookback_rnn or attention_rnn) from a .mag bundle, a Magenta/RL Tuner
    checkpoint or an rltune run (its Q network).

    Returns a :class:`rltune.note_rnn.NoteRNN` with ``probabilities(melodies)`` and
    ``log_likelihood(melodies)``; ``dtype="float64"`` computes in double precision.
    """
    from rltune.checkpoint import load_weights
    from rltune.note_rnn import NoteRNN
    from rltune.runs import Run
    path = _model_path(path)
    if Run.is_run(path):
        _, q, _ = Run.open(path).networks()
        return NoteRNN(q, name="q_network", trainable=False, dtype=dtype)
    return NoteRNN(load_weights(path).weights, trainable=False, dtype=dtype)


def load_policy(path=None, step: int | None = None, name: str | None = None, reward_model=None, dtype: str = "float32"):
    """The sampling policy of a model: a Note RNN, an exported tuned bundle, or a run's policy.

    ``reward_model`` (a Note RNN path) scores log p(a|s) instead of the model's own
    Reward RNN (a run's, or the one an exported bundle carries, else the model itself).
    ``dtype="float64"`` computes in double precision (as exported graphs do)."""
    from rltune.algorithms import from_exported_scopes
    from rltune.checkpoint import load_weights
    from rltune.note_rnn import NoteRNN
    from rltune.policy import Policy
    from rltune.runs import Run
    path = _model_path(path)
    label = name or (path.stem if path.suffix == ".mag" else path.name)
    if Run.is_run(path):
        policy = Run.open(path).policy(step, name=label, dtype=dtype)
    else:
        if step is not None:
            raise RLTuneError(f"--step applies to training runs; {path} is not one")
        loaded = load_weights(path)
        info = {"source": loaded.source, "layout": loaded.layout}
        extra = loaded.extra or {}
        algorithm = from_exported_scopes(extra)
        if algorithm is not None:  # an exported policy that adds a prior: softmax(G + log p)
            policy = Policy.tuned(algorithm, NoteRNN(loaded.weights, name="g_network", trainable=False, dtype=dtype),
                                  NoteRNN(extra["reward_rnn"], name="reward_rnn", trainable=False, dtype=dtype), label, info)
        elif "reward_model" in extra:  # an exported softmax(Q) policy with the Reward RNN it was tuned against
            policy = Policy([NoteRNN(loaded.weights, name="q_network", trainable=False, dtype=dtype)], [False],
                            NoteRNN(extra["reward_model"], name="reward_rnn", trainable=False, dtype=dtype), label, "tuned", info)
        else:
            policy = Policy.note_rnn(loaded.weights, name=label, info=info, dtype=dtype)
    if reward_model is not None:
        policy = policy.with_reward_network(load_note_rnn(reward_model, dtype=dtype), label=str(reward_model))
    return policy


def scored_by(policy) -> str:
    """Which network a policy's log p(a|s) comes from, for labels: 'the Reward RNN' or 'itself'."""
    return "itself" if policy.reward_rnn is None else "the Reward RNN"
