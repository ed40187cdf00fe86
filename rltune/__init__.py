"""rltune: RL Tuner for Magenta melody RNNs on today's Python and TensorFlow.

Everything the CLI does is importable. TensorFlow is imported on first use:

    import rltune
    net = rltune.load_note_rnn("bundles/default_note_rnn.mag")   # basic_rnn, lookback_rnn, attention_rnn
    probs = net.probabilities(melodies)          # [N, T] -> [N, T, classes]
    logp = net.log_likelihood(melodies)          # [N, T] -> [N, T-1], as Magenta scores each event
    terms = rltune.rules.reward_terms(comps)     # [N, T] -> [N, T, 9]
    stats = rltune.metrics.composition_stats(comps)
"""
import os as _os
import warnings as _warnings

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_warnings.filterwarnings("ignore", message="Couldn't find ffmpeg", category=RuntimeWarning)

__version__ = "0.1.0"

_LAZY = {
    "load_note_rnn": ("rltune.loading", "load_note_rnn"),
    "load_policy": ("rltune.loading", "load_policy"),
    "generate": ("rltune.generation", "generate"),
    "pretrain": ("rltune.pretraining", "pretrain"),
    "train": ("rltune.training", "train"),
    "resume": ("rltune.training", "resume"),
    "Run": ("rltune.runs", "Run"),
    "evaluate_model": ("rltune.evaluation", "evaluate_model"),
    "evaluate_melodies": ("rltune.evaluation", "evaluate_melodies"),
    "TrainConfig": ("rltune.config", "TrainConfig"),
    "PretrainConfig": ("rltune.config", "PretrainConfig"),
    "unpack_bundle": ("rltune.checkpoint", "unpack_bundle"),
    "bundle_info": ("rltune.checkpoint", "bundle_info"),
    "RLTuneError": ("rltune.errors", "RLTuneError"),
}
_SUBMODULES = ("rules", "metrics", "encoding", "keys")


def __getattr__(name):
    import importlib
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    if name in _SUBMODULES:
        return importlib.import_module(f"rltune.{name}")
    raise AttributeError(f"module 'rltune' has no attribute {name!r}")
