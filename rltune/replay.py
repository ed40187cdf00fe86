"""The replay buffer: transitions in TensorFlow variables, a ring sampled uniformly.

Living in variables, it is written and sampled inside the compiled learning
function, with no copy through Python. A transition is the observation (the
previous note), the action, the reward, the Q network's LSTM state before and
after the step, flattened, and, for algorithms whose target needs it, the
Reward RNN's log p(.|s') computed while acting.
"""
from __future__ import annotations

from rltune._tf import tf


class ReplayBuffer(tf.Module):
    def __init__(self, capacity: int, state_size: int, prior_width: int = 0):
        super().__init__(name="replay")
        self.capacity = capacity
        self.obs = tf.Variable(tf.zeros([capacity], tf.int32), trainable=False)
        self.action = tf.Variable(tf.zeros([capacity], tf.int32), trainable=False)
        self.reward = tf.Variable(tf.zeros([capacity]), trainable=False)
        self.state = tf.Variable(tf.zeros([capacity, state_size]), trainable=False)
        self.next_state = tf.Variable(tf.zeros([capacity, state_size]), trainable=False)
        self.uses_prior = prior_width > 0
        self.next_log_prior = tf.Variable(tf.zeros([capacity, max(prior_width, 1)]), trainable=False)
        self.position = tf.Variable(0, trainable=False)  # where the next transition goes
        self.size = tf.Variable(0, trainable=False)      # how many slots hold a transition

    def add(self, obs, action, reward, state, next_state, next_log_prior=None):
        """Write a batch of transitions at the ring's position, overwriting the oldest."""
        n = tf.shape(obs)[0]
        idx = ((self.position + tf.range(n)) % self.capacity)[:, None]
        self.obs.scatter_nd_update(idx, obs)
        self.action.scatter_nd_update(idx, action)
        self.reward.scatter_nd_update(idx, reward)
        self.state.scatter_nd_update(idx, state)
        self.next_state.scatter_nd_update(idx, next_state)
        if self.uses_prior:
            self.next_log_prior.scatter_nd_update(idx, next_log_prior)
        self.position.assign((self.position + n) % self.capacity)
        self.size.assign(tf.minimum(self.size + n, self.capacity))

    def sample_indices(self, batch_size: int, seed):
        """``batch_size`` slots drawn uniformly, with replacement, from the filled part."""
        return tf.random.stateless_uniform([batch_size], seed, 0, self.size, tf.int32)

    def gather(self, idx) -> dict:
        out = {name: tf.gather(getattr(self, name), idx) for name in ("obs", "action", "reward", "state", "next_state")}
        out["next_log_prior"] = tf.gather(self.next_log_prior, idx) if self.uses_prior else None
        return out
