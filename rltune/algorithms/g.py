"""G-learning (the paper's "G"): the reward is reward_scaler * r_MT alone and the
prior enters the target, logsumexp_a' (G'(s', a') + log p(a'|s')); the policy
is softmax(G + log p)."""
from rltune.algorithms.base import Algorithm, logsumexp


class GLearning(Algorithm):
    name = "g"
    summary = "G-learning: the prior in the target and the policy"
    reward_uses_log_p = False
    policy_adds_prior = True

    @staticmethod
    def target(next_values, next_log_prior):
        return logsumexp(next_values + next_log_prior)
