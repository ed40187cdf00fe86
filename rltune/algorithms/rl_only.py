"""The paper's "RL only" baseline: Q-learning on reward_scaler * r_MT alone,
with no Reward RNN term (it drifts away from the data)."""
from rltune.algorithms.q import QLearning


class RLOnly(QLearning):
    name = "rl-only"
    summary = "Q-learning on the music-theory reward alone"
    reward_uses_log_p = False
