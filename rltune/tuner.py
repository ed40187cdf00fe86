"""The RL Tuner's networks and its two compiled functions: acting and learning.

``RLTuner`` holds the Q network (trained), the target Q network (soft
updates), the Reward RNN (frozen: the paper's prior) and the replay buffer.
:meth:`RLTuner.act` plays one note in every composition of a batch;
:meth:`RLTuner.store_and_learn` stores that step's transitions and runs the
DQN updates the schedule asks for, each followed by a soft target update.
What the algorithm changes (action scores, target) is asked of
``self.algo``.

Faithful to the original (``magenta/models/rl_tuner/rl_tuner.py``; a test
compares one update with its graph for q, psi and g): the target network is
evaluated at the Q network's next state on the event played; a composition's
last step bootstraps like any other; random notes are drawn from indices
0..36 (``randint(0, 37)``); each gradient is clipped to ``clip_norm``. Where
the original departs from the paper, a setting chooses (README, "Differences
from the original"): ``g_prior`` frozen (the paper; G's log p(.|s') is then
computed once while acting and stored) or trained (the original's graph
trains the Reward RNN through the G target, so it is run again at every
replay); ``boltzmann_stores`` played or argmax (the original's).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rltune._tf import tf
from rltune.algorithms import get_algorithm
from rltune.config import TrainConfig
from rltune.note_rnn import NoteRNN, NoteRNNWeights
from rltune.optim import Adam
from rltune.policy import Policy
from rltune.priming import RANDOM_NOTE_CLASSES
from rltune.replay import ReplayBuffer

NETWORKS = ("q", "target", "reward")  # how the three networks are named in a checkpoint
XLA_BELOW_MINIBATCH = 128  # learning is compiled with XLA for minibatches smaller than this


REPLAY_MEMORY_LIMIT = 8 * 2**30  # bytes


def check_replay_memory(replay_size: int, state_floats: int):
    """Refuse a replay buffer that would not fit: an attention_rnn state holds its last outputs
    (attn_length x units floats), so its transitions are ~10x a basic_rnn's."""
    from rltune.errors import RLTuneError
    per_transition = 4 * (2 * state_floats + 50)
    if replay_size * per_transition > REPLAY_MEMORY_LIMIT:
        fits = REPLAY_MEMORY_LIMIT // per_transition
        raise RLTuneError(f"--replay-size {replay_size:,} needs {replay_size * per_transition / 2**30:.1f} GiB for this model's "
                          f"states ({state_floats:,} floats each); use --replay-size {fits:,} or less")


@dataclass
class Counters:
    env_steps: int = 0
    updates: int = 0
    compositions: int = 0


class RLTuner(tf.Module):
    """Q network, target Q network, Reward RNN (frozen, or trained with G's ``g_prior="trained"``),
    optimizer and replay buffer."""

    def __init__(self, config: TrainConfig, weights: dict[str, NoteRNNWeights]):
        """``weights``: ``q`` (required), ``target`` and ``reward`` (default: copies of ``q``)."""
        super().__init__(name="rl_tuner")
        self.config = config
        self.algo = get_algorithm(config.algo)
        self.trains_prior = self.algo.needs_prior_at_next_state and config.g_prior == "trained"
        self.stores_argmax = config.exploration == "boltzmann" and config.boltzmann_stores == "argmax"
        self.replace = config.replay_sampling == "with-replacement"
        self.q = NoteRNN(weights["q"], name="q_network", trainable=True)
        self.target = NoteRNN(weights.get("target") or weights["q"], name="target_q_network", trainable=False)
        self.reward_rnn = NoteRNN(weights.get("reward") or weights["q"], name="reward_rnn", trainable=self.trains_prior)
        learned = self.q.weight_variables + (self.reward_rnn.weight_variables if self.trains_prior else [])
        self.opt = Adam(learned, config.learning_rate, clip_norm=config.clip_norm, clip="each")
        stores_prior = self.algo.needs_prior_at_next_state and not self.trains_prior
        check_replay_memory(config.replay_size, self.q.state_size + (self.reward_rnn.state_size if self.trains_prior else 0))
        self.buffer = ReplayBuffer(config.replay_size, self.q.state_size, self.q.num_classes if stores_prior else 0,
                                   self.reward_rnn.state_size if self.trains_prior else 0)
        self.policy = Policy.tuned(self.algo, self.q, self.reward_rnn)
        # Many small updates (the original's minibatch of 32, ~100 per acting step) run fastest as one
        # XLA program; large minibatches in TensorFlow's own kernels. Measured (us per update, one thread
        # per op): minibatch 32: XLA 288, graph 419; 128: 782 / 791; 256: 1,414 / 1,349; 1,024: 5,438 / 3,968.
        self._store_and_learn = tf.function(self._store_and_learn, reduce_retracing=True,
                                            jit_compile=config.minibatch_size < XLA_BELOW_MINIBATCH)

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
    def prime(self, primer, lengths, predict_next: bool = False):
        """Zero states fed with the primers; returns (q state, reward state, first observation)."""
        (q_state, r_state), last = self.policy.prime(tf.constant(primer, tf.int32), tf.constant(lengths, tf.int32),
                                                     tf.constant(bool(predict_next)))
        return q_state, r_state, last

    @tf.function(reduce_retracing=True)
    def act(self, obs, q_state, r_state, epsilon, boltzmann, seed) -> dict:
        """One event for each composition. Actions are the model's classes (a lookback class plays the
        event it repeats): ``played`` (the class played), ``event`` (the event it plays), ``stored``
        (what replay learns from: the class played, or with ``boltzmann_stores="argmax"`` the greedy
        one), ``log_p`` (the Reward RNN's log p of the event, by the class Magenta scores it with), the
        new ``q_state`` and ``r_state``, and ``next_log_prior`` (log p(.|s') when the algorithm's
        target needs it from a frozen prior, else zeros)."""
        values, new_q = self.q.step(obs, q_state)
        r_logits, new_r = self.reward_rnn.step(obs, r_state)
        log_prior = tf.nn.log_softmax(r_logits)
        scores = self.algo.action_scores(values, log_prior)
        n = tf.shape(obs)[0]
        s1, s2, s3 = (tf.random.experimental.stateless_fold_in(seed, i) for i in range(3))
        greedy = tf.cast(tf.argmax(scores, axis=1), tf.int32)
        random_event = tf.random.stateless_uniform([n], s1, 0, RANDOM_NOTE_CLASSES, tf.int32)
        explore = tf.random.stateless_uniform([n], s2) < epsilon
        sampled = tf.cast(tf.random.stateless_categorical(scores, 1, s3)[:, 0], tf.int32)
        played = tf.where(boltzmann, sampled, tf.where(explore, self.q.encoder.event_class(random_event), greedy))
        event = self.q.resolve(new_q, played)
        stored = greedy if self.stores_argmax else played
        log_p = tf.gather(log_prior, self.reward_rnn.label(new_r, event), batch_dims=1)
        if self.algo.needs_prior_at_next_state and not self.trains_prior:
            next_logits, _ = self.reward_rnn.step(event, new_r)
            next_log_prior = tf.nn.log_softmax(next_logits)
        else:
            next_log_prior = tf.zeros([n, 1])
        return {"played": played, "event": event, "stored": stored, "log_p": log_p, "q_state": new_q,
                "r_state": new_r, "next_log_prior": next_log_prior}

    # -- learning -------------------------------------------------------------
    def store_and_learn(self, obs, step: dict, reward, q_state, num_updates: int, seed):
        """Store one step of transitions (``step`` as :meth:`act` returns it, ``q_state`` the Q
        network's state before it), then run ``num_updates`` updates; mean loss and target."""
        return self._store_and_learn(
            {"obs": obs, "action": step["stored"], "next_obs": step["event"], "reward": reward,
             "state": tf.concat(q_state, 1), "next_state": tf.concat(step["q_state"], 1),
             "next_log_prior": step["next_log_prior"],
             "reward_next_state": tf.concat(step["r_state"], 1) if self.trains_prior else None},
            tf.constant(num_updates), seed)

    def _store_and_learn(self, transitions, num_updates, seed):
        self.buffer.add(**transitions)
        loss_sum, target_sum = tf.constant(0.0), tf.constant(0.0)
        for i in tf.range(num_updates):
            idx = self.buffer.sample_indices(self.config.minibatch_size, tf.random.experimental.stateless_fold_in(seed, i),
                                             self.replace)
            loss, target = self.update(self.buffer.gather(idx))
            loss_sum += loss
            target_sum += tf.reduce_mean(target)
        n = tf.maximum(tf.cast(num_updates, tf.float32), 1.0)
        return loss_sum / n, target_sum / n

    def update(self, batch: dict):
        """One DQN step on a minibatch (fields as :data:`rltune.replay.FIELDS`): the TD target,
        the squared error, Adam (each gradient clipped), the soft target update.
        Returns the loss and the TD targets [M]."""
        next_values, _ = self.target.step(batch["next_obs"], self._unflat(batch["next_state"], self.q))
        with tf.GradientTape() as tape:
            if self.trains_prior:  # the original's G graph: gradients reach the Reward RNN through the target
                logits, _ = self.reward_rnn.step(batch["next_obs"], self._unflat(batch["reward_next_state"], self.reward_rnn))
                next_log_prior = tf.nn.log_softmax(logits)
            else:
                next_log_prior = batch["next_log_prior"]
            target = batch["reward"] + self.config.discount * self.algo.target(next_values, next_log_prior)
            if not self.trains_prior:
                target = tf.stop_gradient(target)
            values, _ = self.q.step(batch["obs"], self._unflat(batch["state"], self.q))
            q_sa = tf.gather(values, batch["action"], batch_dims=1)
            loss = tf.reduce_mean(tf.square(q_sa - target))
        self.opt.apply(tape.gradient(loss, self.opt.vars))
        rate = self.config.target_update_rate
        for t, s in zip(self.target.weight_variables, self.q.weight_variables):
            t.assign_sub(rate * (t - s))
        return loss, target

    @staticmethod
    def _unflat(flat, net: NoteRNN):
        return tuple(tf.split(flat, net.state_widths, axis=1))
