"""RL Tuner algorithms: one module each over :mod:`rltune.algorithms.base`.

``ALGORITHMS`` is the one list of algorithm names (the config, the CLI and
sweeps read it from here).
"""
from rltune.algorithms.base import Algorithm
from rltune.algorithms.g import GLearning
from rltune.algorithms.psi import PsiLearning
from rltune.algorithms.q import QLearning
from rltune.algorithms.rl_only import RLOnly
from rltune.errors import RLTuneError

_CLASSES = {cls.name: cls for cls in (QLearning, PsiLearning, GLearning, RLOnly)}
ALGORITHMS = tuple(_CLASSES)


def get_algorithm(name: str) -> Algorithm:
    try:
        return _CLASSES[name]()
    except KeyError:
        raise RLTuneError(f"unknown algorithm {name!r}: choose one of {', '.join(ALGORITHMS)}") from None


def from_exported_scopes(scopes) -> Algorithm | None:
    """The algorithm whose exported graph adds a prior network (``reward_rnn/``), if any:
    such a bundle's policy is softmax(scores + log p)."""
    if "reward_rnn" in scopes:
        return next(cls() for cls in _CLASSES.values() if cls.policy_adds_prior)
    return None


__all__ = ["ALGORITHMS", "Algorithm", "get_algorithm", "from_exported_scopes",
           "QLearning", "PsiLearning", "GLearning", "RLOnly"]
