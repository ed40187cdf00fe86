"""The common core of the RL Tuner algorithms (stable-baselines3 style).

An algorithm says three things: whether its reward includes the Reward RNN's
``log p(a|s)``, whether its policy adds the prior to its action scores, and
how it turns the target network's values at the next state into the
bootstrap target of ``r + discount * target``.
"""
from __future__ import annotations

from rltune._tf import tf


class Algorithm:
    name: str = ""
    reward_uses_log_p: bool = True   # reward = log p(a|s) + reward_scaler * r_MT, else reward_scaler * r_MT
    policy_adds_prior: bool = False  # action scores = Q(s, .) + log p(.|s)
    needs_prior_at_next_state: bool = False

    @staticmethod
    def target(next_values, next_log_prior):
        """next_values [M, A] from the target network; next_log_prior [M, A] or None -> [M]."""
        raise NotImplementedError

    def action_scores(self, values, log_prior):
        return values + log_prior if self.policy_adds_prior else values

    def __repr__(self):
        return f"{type(self).__name__}()"


def logsumexp(x):
    return tf.reduce_logsumexp(x, axis=1)
