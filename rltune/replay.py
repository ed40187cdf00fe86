"""The replay buffer: transitions in TensorFlow variables, a ring sampled uniformly.

Living in variables, it is written and sampled inside the compiled learning
function, with no copy through Python. A transition is the observation (the
previous event), the action stored for learning, the event played (the next
observation: the same as the action unless Boltzmann exploration stores the
argmax, as the original does), the reward, the Q network's LSTM state before
and after the step, flattened, and what the algorithm's target needs of the
Reward RNN at the next state: its log p(.|s') computed while acting (a frozen
prior) or its state, to run it again at every replay (a trained prior).
"""
from __future__ import annotations

from rltune._tf import tf

FIELDS = ("obs", "action", "next_obs", "reward", "state", "next_state", "next_log_prior", "reward_next_state")
CANDIDATES = 4  # without replacement: draw this many times the minibatch, keep the first distinct ones


class ReplayBuffer(tf.Module):
    def __init__(self, capacity: int, state_size: int, prior_width: int = 0, reward_state_size: int = 0):
        super().__init__(name="replay")
        self.capacity = capacity

        def var(dtype, width=None, used=True):
            shape = [capacity if used else 1] + ([width] if width is not None else [])
            return tf.Variable(tf.zeros(shape, dtype), trainable=False)
        self.obs, self.action, self.next_obs = (var(tf.int32) for _ in range(3))
        self.reward = var(tf.float32)
        self.state, self.next_state = var(tf.float32, state_size), var(tf.float32, state_size)
        self.widths = {"next_log_prior": prior_width, "reward_next_state": reward_state_size}
        self.next_log_prior = var(tf.float32, max(prior_width, 1), prior_width > 0)
        self.reward_next_state = var(tf.float32, max(reward_state_size, 1), reward_state_size > 0)
        self.position = tf.Variable(0, trainable=False)  # where the next transition goes
        self.size = tf.Variable(0, trainable=False)      # how many slots hold a transition

    def stored(self, name: str) -> bool:
        return self.widths.get(name, 1) > 0

    def add(self, **transitions):
        """Write a batch of transitions (one tensor per field in FIELDS this buffer stores)
        at the ring's position, overwriting the oldest."""
        n = tf.shape(transitions["obs"])[0]
        idx = ((self.position + tf.range(n)) % self.capacity)[:, None]
        for name in FIELDS:
            if self.stored(name):
                getattr(self, name).scatter_nd_update(idx, transitions[name])
        self.position.assign((self.position + n) % self.capacity)
        self.size.assign(tf.minimum(self.size + n, self.capacity))

    def sample_indices(self, batch_size: int, seed, replace: bool = True):
        """``batch_size`` slots drawn uniformly from the filled part, with or without replacement."""
        if replace:
            return tf.random.stateless_uniform([batch_size], seed, 0, self.size, tf.int32)
        return distinct_uniform(batch_size, self.size, self.capacity, seed)

    def gather(self, idx) -> dict:
        return {name: tf.gather(getattr(self, name), idx) if self.stored(name) else None for name in FIELDS}


def distinct_uniform(k: int, n, capacity: int, seed):
    """``k`` distinct integers drawn uniformly from [0, n) (``random.sample(range(n), k)``).

    The first ``k`` distinct values of a sequence of independent uniform draws are
    exactly such a sample; ``CANDIDATES * k`` draws nearly always hold ``k`` distinct
    values once ``n`` is much larger than ``k``. When they do not (a nearly empty
    buffer), the ``k`` smallest of ``n`` uniform keys are taken instead.
    """
    m = CANDIDATES * k
    draws = tf.random.stateless_uniform([m], seed, 0, n, tf.int32)
    same = tf.equal(draws[:, None], draws[None, :])
    earlier = tf.linalg.band_part(tf.ones([m, m]), -1, 0) - tf.eye(m) > 0  # [i, j]: draw j came before draw i
    repeated = tf.reduce_any(tf.logical_and(same, earlier), axis=1)  # draw i equals an earlier draw
    first = tf.logical_not(repeated)
    position = tf.cast(tf.range(m), tf.float32)

    def from_draws():
        _, at = tf.math.top_k(tf.where(first, -position, -float(m) - 1.0), k)  # the first k distinct, in order
        return tf.gather(draws, at)

    def from_keys():
        keys = tf.random.stateless_uniform([capacity], tf.random.experimental.stateless_fold_in(seed, 1))
        keys = tf.where(tf.range(capacity) < n, keys, 2.0)
        _, at = tf.math.top_k(-keys, k)
        return at

    return tf.cond(tf.reduce_sum(tf.cast(first, tf.int32)) >= k, from_draws, from_keys)
