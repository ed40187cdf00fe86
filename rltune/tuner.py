"""The RL Tuner's networks and its two compiled functions: acting and learning.

``RLTuner`` holds the Q network (trained), the target Q network (soft
updates), the Reward RNN (frozen: the paper's prior) and the replay buffer.
:meth:`RLTuner.act` plays one note in every composition of a batch;
:meth:`RLTuner.store_and_learn` stores that step's transitions and runs the
DQN updates the schedule asks for, each followed by a soft target update.
What the algorithm changes (action scores, target) is asked of
``self.algo``.

Faithful to the original (``magenta/models/rl_tuner/rl_tuner.py``): the
target network is evaluated at the Q network's next state; a composition's
last step bootstraps like any other; random notes are drawn from indices
0..36 (``randint(0, 37)``). Two differences: G's log p(.|s') is computed
once while acting and stored, rather than at every replay (the same numbers
while the Reward RNN is frozen); in Boltzmann mode the action stored is the
one played (the original stores the argmax).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rltune._tf import tf
from rltune.algorithms import get_algorithm
from rltune.config import TrainConfig
from rltune.encoding import NUM_CLASSES
from rltune.note_rnn import NoteRNN, NoteRNNWeights
from rltune.optim import Adam
from rltune.policy import Policy
from rltune.priming import RANDOM_NOTE_CLASSES
from rltune.replay import ReplayBuffer

NETWORKS = ("q", "target", "reward")  # how the three networks are named in a checkpoint


@dataclass
class Counters:
    env_steps: int = 0
    updates: int = 0
    compositions: int = 0


class RLTuner(tf.Module):
    """Q network, target Q network, frozen Reward RNN, optimizer and replay buffer."""

    def __init__(self, config: TrainConfig, weights: dict[str, NoteRNNWeights]):
        """``weights``: ``q`` (required), ``target`` and ``reward`` (default: copies of ``q``)."""
        super().__init__(name="rl_tuner")
        self.config = config
        self.algo = get_algorithm(config.algo)
        self.q = NoteRNN(weights["q"], name="q_network", trainable=True)
        self.target = NoteRNN(weights.get("target") or weights["q"], name="target_q_network", trainable=False)
        self.reward_rnn = NoteRNN(weights.get("reward") or weights["q"], name="reward_rnn", trainable=False)
        self.opt = Adam(self.q.weight_variables, config.learning_rate, clip_norm=config.clip_norm, clip="each")
        prior_width = NUM_CLASSES if self.algo.needs_prior_at_next_state else 0
        self.buffer = ReplayBuffer(config.replay_size, self.q.state_size, prior_width)
        self.policy = Policy.tuned(self.algo, self.q, self.reward_rnn)

    @classmethod
    def from_arrays(cls, config: TrainConfig, arrays: dict[str, np.ndarray]) -> "RLTuner":
        """Restore networks and optimizer state from a checkpoint's arrays."""
        tuner = cls(config, {name: NoteRNNWeights.from_arrays(name, arrays) for name in NETWORKS})
        tuner.opt.load_state(arrays)
        return tuner

    def arrays(self, counters: Counters) -> dict[str, np.ndarray]:
        """Everything a checkpoint holds: the three networks, the optimizer state, the counters."""
        nets = {"q": self.q, "target": self.target, "reward": self.reward_rnn}
        out = {k: v for name, net in nets.items() for k, v in net.get_weights().to_arrays(name).items()}
        return {**out, **self.opt.state(), **{k: np.array(v) for k, v in vars(counters).items()}}

    # -- acting ---------------------------------------------------------------
    def prime(self, primer, lengths):
        """Zero states fed with primer[:, :len-1]; returns (q state, reward state, first observation)."""
        (q_state, r_state), last = self.policy.prime(tf.constant(primer, tf.int32), tf.constant(lengths, tf.int32))
        return q_state, r_state, last

    @tf.function(reduce_retracing=True)
    def act(self, obs, q_state, r_state, epsilon, boltzmann, seed):
        """One note for each composition: (action, log p(action|s), new states, log p(.|s') or zeros)."""
        values, new_q = self.q.step(obs, q_state)
        r_logits, new_r = self.reward_rnn.step(obs, r_state)
        log_prior = tf.nn.log_softmax(r_logits)
        scores = self.algo.action_scores(values, log_prior)
        n = tf.shape(obs)[0]
        s1, s2, s3 = (tf.random.experimental.stateless_fold_in(seed, i) for i in range(3))
        greedy = tf.cast(tf.argmax(scores, axis=1), tf.int32)
        random_note = tf.random.stateless_uniform([n], s1, 0, RANDOM_NOTE_CLASSES, tf.int32)
        explore = tf.random.stateless_uniform([n], s2) < epsilon
        sampled = tf.cast(tf.random.stateless_categorical(scores, 1, s3)[:, 0], tf.int32)
        action = tf.where(boltzmann, sampled, tf.where(explore, random_note, greedy))
        log_p = tf.gather(log_prior, action, batch_dims=1)
        if self.algo.needs_prior_at_next_state:
            next_logits, _ = self.reward_rnn.step(action, new_r)
            next_log_prior = tf.nn.log_softmax(next_logits)
        else:
            next_log_prior = tf.zeros([n, 1])
        return action, log_p, new_q, new_r, next_log_prior

    # -- learning -------------------------------------------------------------
    @tf.function(reduce_retracing=True)
    def store_and_learn(self, obs, action, reward, state, next_state, next_log_prior, num_updates, seed):
        """Store one step of transitions, then run ``num_updates`` updates; mean loss and target."""
        self.buffer.add(obs, action, reward, tf.concat(state, 1), tf.concat(next_state, 1), next_log_prior)
        loss_sum, target_sum = tf.constant(0.0), tf.constant(0.0)
        for i in tf.range(num_updates):
            idx = self.buffer.sample_indices(self.config.minibatch_size, tf.random.experimental.stateless_fold_in(seed, i))
            loss, target = self._update(self.buffer.gather(idx))
            loss_sum += loss
            target_sum += target
        n = tf.maximum(tf.cast(num_updates, tf.float32), 1.0)
        return loss_sum / n, target_sum / n

    def _update(self, batch):
        """One DQN step on a minibatch: TD target, squared error, Adam, soft target update."""
        state = self._unflat(batch["state"])
        next_values, _ = self.target.step(batch["action"], self._unflat(batch["next_state"]))
        target = tf.stop_gradient(batch["reward"] + self.config.discount *
                                  self.algo.target(next_values, batch["next_log_prior"]))
        with tf.GradientTape() as tape:
            values, _ = self.q.step(batch["obs"], state)
            q_sa = tf.gather(values, batch["action"], batch_dims=1)
            loss = tf.reduce_mean(tf.square(q_sa - target))
        self.opt.apply(tape.gradient(loss, self.q.weight_variables))
        rate = self.config.target_update_rate
        for t, s in zip(self.target.weight_variables, self.q.weight_variables):
            t.assign_sub(rate * (t - s))
        return loss, tf.reduce_mean(target)

    def _unflat(self, flat):
        return tuple(tf.split(flat, [u for u in self.q.layer_sizes for _ in (0, 1)], axis=1))
