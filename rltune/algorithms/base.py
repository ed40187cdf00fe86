"""The common core of the RL Tuner algorithms (stable-baselines3 style).

Everything that differs between Q, Psi, G and RL-only lives in the algorithm:

* the reward: ``log p(a|s) + reward_scaler * r_MT``, or the music-theory part alone;
* the policy: softmax(Q), or softmax(G + log p) when the prior is added;
* the bootstrap target ``r + discount * target(next values, next log prior)``;
* what an exported bundle carries (the networks of its generation graph).

TensorFlow is imported inside the methods, which run while a compiled
function is traced, so that listing the algorithms (``--help``) stays light.
"""
from __future__ import annotations

import numpy as np


class Algorithm:
    name: str = ""
    summary: str = ""
    reward_uses_log_p: bool = True   # reward = log p(a|s) + reward_scaler * r_MT, else reward_scaler * r_MT
    policy_adds_prior: bool = False  # action scores = Q(s, .) + log p(.|s)

    @property
    def needs_prior_at_next_state(self) -> bool:
        """G's target needs log p(.|s') of the Reward RNN; it is computed while acting and stored."""
        return self.policy_adds_prior

    @staticmethod
    def target(next_values, next_log_prior):
        """next_values [M, A] from the target network; next_log_prior [M, A] or None -> [M]."""
        raise NotImplementedError

    def reward(self, log_p: np.ndarray, music_theory: np.ndarray) -> np.ndarray:
        """The reward of one step: ``music_theory`` is already multiplied by reward_scaler."""
        return log_p + music_theory if self.reward_uses_log_p else music_theory

    def action_scores(self, values, log_prior):
        return values + log_prior if self.policy_adds_prior else values

    @property
    def policy_formula(self) -> str:
        return "softmax(G + log p(a|s))" if self.policy_adds_prior else "softmax(Q)"

    def policy_networks(self, q, reward_rnn) -> tuple[list, list]:
        """(networks whose scores are added, per network: add its log-softmax rather than its raw values)."""
        if self.policy_adds_prior:
            return [q, reward_rnn], [False, True]
        return [q], [False]

    def export_networks(self, q_weights, reward_weights) -> list[tuple[str, object, str]]:
        """The networks of an exported generation graph: (scope, weights, role).

        Roles: ``scores`` (added as they are), ``prior`` (added as log-softmax) and
        ``reward_model`` (carried for scoring log p only, not in the softmax)."""
        if self.policy_adds_prior:
            return [("", q_weights, "scores"), ("reward_rnn", reward_weights, "prior")]
        return [("", q_weights, "scores"), ("reward_model", reward_weights, "reward_model")]

    def __repr__(self):
        return f"{type(self).__name__}()"


def logsumexp(x):
    from rltune._tf import tf
    return tf.reduce_logsumexp(x, axis=1)
