"""Q-learning (the paper's "Q"): target max_a' Q'(s', a')."""
from rltune._tf import tf
from rltune.algorithms.base import Algorithm


class QLearning(Algorithm):
    name = "q"

    @staticmethod
    def target(next_values, next_log_prior=None):
        return tf.reduce_max(next_values, axis=1)
