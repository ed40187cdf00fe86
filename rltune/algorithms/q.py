"""Q-learning (the paper's "Q"): target max_a' Q'(s', a')."""
from rltune.algorithms.base import Algorithm


class QLearning(Algorithm):
    name = "q"
    summary = "Q-learning: target max Q'"

    @staticmethod
    def target(next_values, next_log_prior=None):
        from rltune._tf import tf
        return tf.reduce_max(next_values, axis=1)
