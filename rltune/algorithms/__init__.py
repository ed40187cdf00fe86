"""RL Tuner algorithms: one module each over :mod:`rltune.algorithms.base`."""
from rltune.algorithms.base import Algorithm
from rltune.algorithms.g import GLearning
from rltune.algorithms.psi import PsiLearning
from rltune.algorithms.q import QLearning
from rltune.algorithms.rl_only import RLOnly
from rltune.errors import RLTuneError

ALGORITHMS = {cls.name: cls for cls in (QLearning, PsiLearning, GLearning, RLOnly)}


def get_algorithm(name: str) -> Algorithm:
    try:
        return ALGORITHMS[name]()
    except KeyError:
        raise RLTuneError(f"unknown algorithm {name!r}: choose one of {', '.join(ALGORITHMS)}") from None


__all__ = ["ALGORITHMS", "Algorithm", "get_algorithm", "QLearning", "PsiLearning", "GLearning", "RLOnly"]
