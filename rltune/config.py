"""Every hyperparameter, declared once with its meaning (CleanRL style).

``TrainConfig`` drives ``rltune train``; ``PretrainConfig`` drives
``rltune pretrain``. Each field carries its help text; the CLI's options are
generated from these fields (:func:`rltune.cli_options.config_options`), a
``--config FILE.toml`` sets any of them, and a run folder keeps its
``config.toml``. Fields marked ``resumable`` may change when a run is resumed;
the others are what the run *is* and cannot.

The defaults of what tuning trades (algo g, rules corrected, reward_scaler 2.0,
the motif rule weighted 2) were chosen from the sweep of
``docs/sweeps/frontier.toml`` (``scripts/choose_default.py``): of the 39 trials,
the config that meets the paper's improved rows with both seeds and keeps the
Note RNN's note length within 25% while losing the least log p.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from rltune.algorithms import ALGORITHMS, get_algorithm
from rltune.errors import RLTuneError
from rltune.presets import PRESETS, unknown_preset

EXPLORATION = ("egreedy", "boltzmann")
PRIMING = ("random-note", "midi", "melody", "dataset")
PRIMER_MODES = ("continue", "original")
BOLTZMANN_STORES = ("played", "argmax")
G_PRIORS = ("frozen", "trained")
REPLAY_SAMPLING = ("with-replacement", "without-replacement")


def _f(default, help: str, *, resumable: bool = False, repeat: str | None = None, parse: str | None = None):
    """A config field: ``help`` for the CLI and docs; ``repeat``: the name of a repeatable
    CLI option that builds this (list or dict) field, ``parse`` ("module:function") turns
    its values into the field's value."""
    meta = {"help": help, "resumable": resumable, "repeat": repeat, "parse": parse}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def option_name(name: str) -> str:
    return "--" + name.replace("_", "-")


@dataclass
class TrainConfig:
    preset: str = _f("", "A named set of settings under the options given (see rltune.presets): "
                     + "; ".join(f"{name}: {p.summary}" for name, p in PRESETS.items()) + ".")
    algo: str = _f("g", "Learning target: " + ", ".join(ALGORITHMS) + " (see rltune.algorithms).")
    steps: int = _f(3_000_000, "Environment steps to train for (notes played, over all parallel compositions).", resumable=True)
    time_limit: float = _f(0.0, "Stop after this many seconds of training (0: no limit).", resumable=True)
    length: int = _f(32, "Steps per composition (16th notes).")
    reward_scaler: float = _f(2.0, "Weight of the music-theory reward r_MT (the paper's 1/c; the original's default is 0.1).")
    discount: float = _f(0.5, "Discount factor gamma of the TD target.")
    learning_rate: float = _f(1e-3, "Adam learning rate.")
    clip_norm: float = _f(5.0, "Each gradient is clipped to this norm.")
    target_update_rate: float = _f(0.01, "Soft target update: target += rate * (q - target) after every training step.")
    num_envs: int = _f(512, "Compositions played in lockstep (environment steps per acting step).")
    minibatch_size: int = _f(1024, "Transitions per training step.")
    replay_ratio: float = _f(6.4, "Transitions sampled for training per environment step (original: 32 every 5 steps = 6.4).")
    replay_size: int = _f(100_000, "Replay buffer capacity in transitions.")
    learning_starts: int = _f(5_000, "Environment steps collected before training starts.")
    exploration: str = _f("egreedy", "egreedy (epsilon annealed linearly) or boltzmann (sample from the softmax of the action scores).")
    epsilon: float = _f(0.1, "Final exploration probability of egreedy.")
    exploration_steps: int = _f(500_000, "Environment steps over which epsilon anneals from 1.0 to --epsilon.")
    boltzmann_stores: str = _f("played", "With boltzmann: the action stored for learning, played (the note played and "
                               "rewarded) or argmax (the original stores the most valued note while it plays a sampled one).")
    g_prior: str = _f("frozen", "With algorithms whose target uses the prior (g): frozen (the paper: the Reward RNN stays "
                      "fixed) or trained (the original's G graph: the TD loss also trains the Reward RNN through the target).")
    replay_sampling: str = _f("with-replacement", "How a minibatch is drawn from replay: with-replacement or "
                              "without-replacement (the original's random.sample).")
    priming: str = _f("random-note", "How each composition starts: random-note, midi (--primer-midi), melody (--primer-melody) "
                      "or dataset (--primer-dataset); --primer sets midi or melody.")
    primer_mode: str = _f("continue", "With a primer (midi, melody, dataset): continue (observe the primer's last event and "
                          "go on from it) or original (feed the whole primer, then observe the model's most probable next "
                          "event, as the original's MIDI priming).")
    primer_midi: str = _f("", "MIDI file for --priming midi.")
    primer_melody: str = _f("", 'Melody in Magenta syntax for --priming melody, e.g. "[60, -2, 62]".')
    primer_dataset: str = _f("", "NoteSequence TFRecord for --priming dataset (a random melody prefix each time).")
    key: str = _f("C", "Key of the rules (e.g. C, G, Eb, F#m). The paper's is C major.")
    rules: str = _f("corrected", "corrected (holds are holds) or paper (the original's index quirk, as the paper's table).")
    rule_weights: dict = _f({"motif": 2.0}, "Weight of one rule, e.g. repeating=0.5 (repeatable; rules not named weigh 1).",
                            repeat="--rule-weight",
                            parse="rltune.rules:parse_weights")
    user_rules: list = _f([], "A user rule module:function or file.py:function (repeatable); see rltune.rules.", repeat="--rule")
    eval_every: int = _f(200_000, "Environment steps between evaluations (reward curve points).", resumable=True)
    eval_compositions: int = _f(500, "Compositions sampled at each evaluation.", resumable=True)
    checkpoint_every: int = _f(500_000, "Environment steps between checkpoints.", resumable=True)
    num_samples: int = _f(8, "Compositions written as MIDI at the end of training.", resumable=True)
    seed: int = _f(0, "Random seed.")

    def __post_init__(self):
        self.rule_weights = dict(self.rule_weights or {})
        self.user_rules = list(self.user_rules or [])

    def validate(self) -> "TrainConfig":
        check_types(self)

        def need(cond, msg):
            if not cond:
                raise RLTuneError(msg)
        need(self.algo in ALGORITHMS, f"unknown algorithm {self.algo!r}: choose one of {', '.join(ALGORITHMS)}")
        need(self.exploration in EXPLORATION, f"unknown exploration {self.exploration!r}: choose one of {', '.join(EXPLORATION)}")
        need(self.priming in PRIMING, f"unknown priming mode {self.priming!r}: choose one of {', '.join(PRIMING)}")
        for name, choices in (("primer_mode", PRIMER_MODES), ("boltzmann_stores", BOLTZMANN_STORES),
                              ("g_prior", G_PRIORS), ("replay_sampling", REPLAY_SAMPLING)):
            need(getattr(self, name) in choices, f"unknown {option_name(name)} {getattr(self, name)!r}: choose one of {', '.join(choices)}")
        need(not self.preset or self.preset in PRESETS, unknown_preset(self.preset))
        need(self.boltzmann_stores == "played" or self.exploration == "boltzmann",
             f"--boltzmann-stores {self.boltzmann_stores} goes with --exploration boltzmann (the run explores with {self.exploration})")
        need(self.g_prior == "frozen" or get_algorithm(self.algo).needs_prior_at_next_state,
             f"--g-prior {self.g_prior} applies only to algorithms whose target uses the prior (g), not {self.algo}")
        for name in ("steps", "length", "num_envs", "minibatch_size", "replay_size", "eval_every",
                     "eval_compositions", "checkpoint_every", "exploration_steps"):
            need(getattr(self, name) > 0, f"{option_name(name)} must be positive, got {getattr(self, name)}")
        for name in ("learning_starts", "num_samples"):
            need(getattr(self, name) >= 0, f"{option_name(name)} must be >= 0, got {getattr(self, name)}")
        for name in ("learning_rate", "clip_norm", "target_update_rate", "replay_ratio"):
            need(getattr(self, name) > 0, f"{option_name(name)} must be positive, got {getattr(self, name)}")
        need(0 <= self.discount < 1, f"--discount must be in [0, 1), got {self.discount}")
        need(self.target_update_rate <= 1, "--target-update-rate must be at most 1")
        need(0 <= self.epsilon <= 1, f"--epsilon must be in [0, 1], got {self.epsilon}")
        need(self.reward_scaler >= 0, f"--reward-scaler must be >= 0, got {self.reward_scaler}")
        need(self.time_limit >= 0, f"--time-limit must be >= 0 seconds (0: no limit), got {self.time_limit}")
        need(self.length >= 8, "--length must be at least 8 (one motif bar)")
        need(self.replay_size >= self.minibatch_size, "--replay-size must hold at least one minibatch")
        need(self.priming != "midi" or self.primer_midi, "--priming midi needs --primer-midi")
        need(self.priming != "melody" or self.primer_melody, "--priming melody needs --primer-melody")
        need(self.priming != "dataset" or self.primer_dataset, "--priming dataset needs --primer-dataset")
        from rltune.keys import Key
        from rltune.rules import rule_indices
        Key.parse(self.key)
        rule_indices(self.rules)
        for name, w in self.rule_weights.items():
            need(isinstance(w, (int, float)) and math.isfinite(w), f"--rule-weight {name}={w}: the weight must be a finite number")
        return self

    @classmethod
    def from_settings(cls, given: dict) -> "TrainConfig":
        """A new run's config: the defaults, then ``given["preset"]`` if named, then ``given`` (not yet validated)."""
        from rltune.presets import resolve
        return cls(**resolve(defaults(cls), given))

    def to_dict(self) -> dict:
        return asdict(self)

    def resumed_with(self, given: dict, where: str = "the run") -> "TrainConfig":
        """This (saved) config with the settings ``given`` for a resumed run: resumable
        ones apply; any other that differs is refused, naming its option."""
        out = asdict(self)
        for name, value in given.items():
            if is_resumable(name):
                out[name] = value
            elif value != out[name]:
                raise RLTuneError(f"{option_name(name)} cannot change when resuming ({where} has "
                                  f"{out[name]!r}); start a new run with -o instead")
        return TrainConfig(**out)


def is_resumable(name: str) -> bool:
    return next(f.metadata.get("resumable", False) for f in fields(TrainConfig) if f.name == name)


def check_types(config):
    """Field values of the declared types, finite where a float (one line naming the option)."""
    for f in fields(config):
        v = getattr(config, f.name)
        kind = f.type if isinstance(f.type, str) else f.type.__name__
        ok = {"int": isinstance(v, int) and not isinstance(v, bool),
              "float": isinstance(v, (int, float)) and not isinstance(v, bool),
              "str": isinstance(v, str), "bool": isinstance(v, bool),
              "list": isinstance(v, list), "dict": isinstance(v, dict)}.get(kind, True)
        if not ok:
            raise RLTuneError(f"{option_name(f.name)} must be {'a number' if kind in ('int', 'float') else 'a ' + kind}"
                              f"{' (a whole number)' if kind == 'int' else ''}, got {v!r}")
        if kind == "float" and not math.isfinite(v):
            raise RLTuneError(f"{option_name(f.name)} must be a finite number, got {v}")


@dataclass
class PretrainConfig:
    layers: list = _f([100], "LSTM layer sizes, e.g. [100] (the paper's) or [128, 128].")
    batch_size: int = _f(64, "Melodies per training batch.")
    steps: int = _f(3000, "Training steps (batches).")
    learning_rate: float = _f(1e-3, "Adam learning rate.")
    clip_norm: float = _f(5.0, "Global gradient norm clip (Magenta's clip_norm).")
    dropout: float = _f(0.0, "Dropout rate on LSTM outputs while training (Magenta's 1 - dropout_keep_prob).")
    eval_ratio: float = _f(0.1, "Fraction of input sequences held out for evaluation.")
    eval_every: int = _f(250, "Steps between held-out evaluations.")
    max_length: int = _f(512, "Melodies are truncated to this many steps (Magenta's max_steps).")
    seed: int = _f(0, "Random seed.")

    def __post_init__(self):
        self.layers = list(self.layers or [100])

    def validate(self) -> "PretrainConfig":
        if not self.layers or any((not isinstance(u, int)) or isinstance(u, bool) or u <= 0 for u in self.layers):
            raise RLTuneError(f"--layers must be positive integers such as 100 or 128,128; got {self.layers}")
        check_types(self)
        for name in ("batch_size", "steps", "eval_every", "max_length"):
            if getattr(self, name) <= 0:
                raise RLTuneError(f"{option_name(name)} must be positive, got {getattr(self, name)}")
        for name in ("learning_rate", "clip_norm"):
            if not getattr(self, name) > 0:
                raise RLTuneError(f"{option_name(name)} must be positive, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise RLTuneError(f"--dropout must be in [0, 1), got {self.dropout}")
        if not 0 <= self.eval_ratio < 1:
            raise RLTuneError(f"--eval-ratio must be in [0, 1), got {self.eval_ratio}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)


def parse_layers(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in str(text).replace(" ", "").strip("[]").split(",") if x != ""]
    except ValueError:
        raise RLTuneError(f"--layers {text!r} must be positive integers such as 100 or 128,128") from None
    if not sizes or any(s <= 0 for s in sizes):
        raise RLTuneError(f"--layers {text!r} must be positive integers such as 100 or 128,128")
    return sizes


def help_of(cls, name: str) -> str:
    return next(f.metadata.get("help", "") for f in fields(cls) if f.name == name)


def load_toml(cls, path) -> dict:
    """Read a TOML file of ``cls`` fields (unknown keys are an error)."""
    path = Path(path)
    if path.is_dir():
        raise RLTuneError(f"config file {path} is a folder")
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise RLTuneError(f"config file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise RLTuneError(f"config file {path} is not valid TOML: {e}") from None
    names = {f.name for f in fields(cls)}
    data = {k.replace("-", "_"): v for k, v in data.items()}
    unknown = set(data) - names
    if unknown:
        raise RLTuneError(f"unknown setting {sorted(unknown)[0]!r} in {path}")
    return data


def to_toml(data: dict) -> str:
    """A flat dict of scalars, lists and string->number dicts as TOML."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f'"{k}" = {value(x)}' for k, x in v.items()) + "}"
        raise TypeError(type(v).__name__)
    return "".join(f"{k} = {value(v)}\n" for k, v in data.items() if v is not None)


def defaults(cls) -> dict:
    out = {}
    for f in fields(cls):
        if f.default is not MISSING:
            out[f.name] = f.default
        elif f.default_factory is not MISSING:
            out[f.name] = f.default_factory()
        else:
            out[f.name] = None
    return out
