"""Presets: named, documented sets of training settings (``rltune train --preset NAME``).

A preset sits between rltune's defaults and what the user gives: settings from
a ``--config`` file and from options override it. Some of a preset's settings
only mean something alongside another setting (what Boltzmann exploration
stores; whether G's prior is trained): those are kept only when their
condition holds in the resolved config, so ``--preset original --exploration
egreedy`` or ``--preset original --algo psi`` need nothing else. The run's
``config.toml`` records the preset's name and every resolved value.

``original`` is what ``magenta/models/rl_tuner/rl_tuner_train.py`` runs with its
defaults: Q-learning, reward_scaler 0.1, 1,000,000 steps, Boltzmann exploration
storing the argmax (an egreedy run anneals over 500,000 steps), minibatches of
32 drawn without replacement, one training step per 5 environment steps of each
composition (``replay_ratio`` 32 / 5 = 6.4 transitions per step, so with N
compositions in lockstep N / 5 updates per acting step, each followed by the
0.01 soft target update), learning from the first full minibatch, replay
100,000, discount 0.5, Adam 1e-3, each gradient clipped to 5, the paper's
(index-quirk) rules unweighted, random-note priming with the original's
primer semantics, and G's Reward RNN trained as in the original's graph.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from rltune.errors import RLTuneError


@dataclass(frozen=True)
class Preset:
    summary: str
    values: dict
    # setting -> (what it needs, test on the resolved config as a dict): dropped when the test fails
    only_when: dict = field(default_factory=dict)


def _explores_boltzmann(cfg: dict) -> bool:
    return cfg["exploration"] == "boltzmann"


def _target_uses_prior(cfg: dict) -> bool:
    from rltune.algorithms import ALGORITHMS, get_algorithm
    return cfg["algo"] in ALGORITHMS and get_algorithm(cfg["algo"]).needs_prior_at_next_state


PRESETS = {
    "original": Preset(
        summary="rl_tuner_train.py's defaults (q, reward_scaler 0.1, 1M steps, boltzmann storing the argmax, "
                "minibatch 32 without replacement every 5 steps, paper rules, G's prior trained)",
        values={"algo": "q", "steps": 1_000_000, "reward_scaler": 0.1, "discount": 0.5, "learning_rate": 1e-3,
                "clip_norm": 5.0, "target_update_rate": 0.01, "minibatch_size": 32, "replay_ratio": 32 / 5,
                "replay_size": 100_000, "learning_starts": 32, "replay_sampling": "without-replacement",
                "exploration": "boltzmann", "boltzmann_stores": "argmax", "epsilon": 0.1,
                "exploration_steps": 500_000, "rules": "paper", "rule_weights": {}, "key": "C",
                "priming": "random-note", "primer_mode": "original", "g_prior": "trained", "length": 32},
        only_when={"boltzmann_stores": _explores_boltzmann, "g_prior": _target_uses_prior}),
}


def unknown_preset(name: str) -> str:
    return f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}"


def resolve(defaults: dict, given: dict) -> dict:
    """The settings of a new run: ``defaults``, then the preset named in ``given`` (if any),
    then ``given`` itself; a preset setting whose condition fails goes back to its default."""
    name = given.get("preset") or ""
    if not name:
        return {**defaults, **given}
    if name not in PRESETS:
        raise RLTuneError(unknown_preset(name))
    preset = PRESETS[name]
    out = {**defaults, **preset.values, **given}
    for setting, holds in preset.only_when.items():
        if setting not in given and not holds(out):
            out[setting] = defaults[setting]
    return out
