"""Psi-learning (the paper's "Psi", KL control): target logsumexp_a' Psi'(s', a')."""
from rltune.algorithms.base import Algorithm, logsumexp


class PsiLearning(Algorithm):
    name = "psi"
    summary = "Psi-learning (KL control): target logsumexp Psi'"

    @staticmethod
    def target(next_values, next_log_prior=None):
        return logsumexp(next_values)
