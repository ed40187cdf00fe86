"""Policies: what picks the next note, and batched sampling of compositions.

A policy adds the scores of one or more networks and samples from the
softmax of the sum divided by a temperature:

* a Note RNN: its logits (Magenta's generator);
* Q and Psi (and rl-only): the Q network's values, softmax(Q);
* G: the G network's values plus the Reward RNN's log-probabilities,
  softmax(G + log p), the original's ``g_action_scores``.

Sampling runs all compositions of a chunk in lockstep inside one compiled
TensorFlow function; seeds are stateless, so the same seed gives the same
compositions.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rltune._tf import tf
from rltune.note_rnn import NoteRNN, NoteRNNWeights



@dataclass(eq=False)
class Policy:
    networks: list  # [NoteRNN]; scores are summed
    normalize: list  # per network: add log_softmax (True) or raw values (False)
    reward_rnn: NoteRNN | None = None  # for log p(a|s); None: the first network is the reward RNN
    name: str = "model"
    algorithm: str = "note_rnn"
    info: dict = field(default_factory=dict)

    @classmethod
    def note_rnn(cls, weights: NoteRNNWeights, name="model", info=None, dtype: str = "float32"):
        net = NoteRNN(weights, name="note_rnn", trainable=False, dtype=dtype)
        return cls([net], [True], None, name, "note_rnn", info or {})

    @classmethod
    def tuned(cls, algorithm, q: NoteRNN, reward_rnn: NoteRNN, name="policy", info=None):
        """A tuned model's policy, as its :class:`~rltune.algorithms.Algorithm` defines it
        (softmax(Q), or softmax(G + log p) when the algorithm adds the prior)."""
        networks, normalize = algorithm.policy_networks(q, reward_rnn)
        return cls(networks, normalize, reward_rnn, name, algorithm.name, info or {})

    def with_reward_network(self, reward_rnn: NoteRNN, label: str | None = None) -> "Policy":
        """The same policy, its log p(a|s) scored by another Note RNN."""
        return Policy(self.networks, self.normalize, reward_rnn, self.name, self.algorithm,
                      {**self.info, "reward_model": label or reward_rnn.name})

    @property
    def reward_network(self) -> NoteRNN:
        return self.reward_rnn if self.reward_rnn is not None else self.networks[0]

    def _all(self):
        nets = list(self.networks)
        if self.reward_rnn is not None and not any(n is self.reward_rnn for n in nets):
            nets.append(self.reward_rnn)
        return nets

    def scores(self, outputs):
        """Action scores from each network's output logits (one per policy network)."""
        total = 0.0
        for out, norm in zip(outputs, self.normalize):
            total = total + (tf.nn.log_softmax(out) if norm else out)
        return total

    @tf.function(reduce_retracing=True)
    def prime(self, primer, lengths, predict_next=False):
        """Feed the primers from the zero state; returns the states and the first observation.

        ``predict_next`` False: feed primer[:, :len-1] and observe the last primer event (a
        one-event primer is the RL Tuner's random note). True (the original's MIDI priming):
        feed the whole primer and observe the first network's most probable next event."""
        nets = self._all()
        batch = tf.shape(primer)[0]
        states = [n.zero_state(batch) for n in nets]
        extra = tf.cast(predict_next, tf.int32)
        fed = lengths - 1 + extra
        logits = tf.zeros([batch, self.networks[0].num_classes], self.networks[0].dtype)
        for t in tf.range(tf.shape(primer)[1] - 1 + extra):
            keep = (t < fed)[:, None]
            new_states = []
            for i, (n, st) in enumerate(zip(nets, states)):
                out, ns = n.step(primer[:, t], st)
                new_states.append(tuple(tf.where(keep, a, b) for a, b in zip(ns, st)))
                if i == 0:
                    logits = tf.where(keep, out, logits)
            states = new_states
        predicted = self.networks[0].resolve(states[0], tf.cast(tf.argmax(logits, axis=1), tf.int32))
        last = tf.where(predict_next, tf.cast(predicted, primer.dtype), tf.gather(primer, lengths - 1, batch_dims=1))
        return states, last

    @tf.function(reduce_retracing=True)
    def _sample(self, primer, lengths, num_steps, temperature, greedy, seed, record_probs, predict_next):
        nets = self._all()
        states, last = self.prime(primer, lengths, predict_next)
        reward_idx = next(i for i, n in enumerate(nets) if n is self.reward_network)
        events = tf.TensorArray(tf.int32, size=num_steps)
        logps = tf.TensorArray(tf.float32, size=num_steps)
        probs = tf.TensorArray(tf.float32, size=num_steps if record_probs else 0, dynamic_size=record_probs)
        for t in tf.range(num_steps):
            outs, states = step_all(nets, last, states)
            logits = self.scores(outs[:len(self.networks)]) / tf.cast(temperature, self.networks[0].dtype)
            step_seed = tf.random.experimental.stateless_fold_in(seed, t)
            sampled = tf.cast(tf.random.stateless_categorical(logits, 1, step_seed)[:, 0], tf.int32)
            choice = tf.where(greedy, tf.cast(tf.argmax(logits, axis=1), tf.int32), sampled)
            event = nets[0].resolve(states[0], choice)  # a lookback class plays the event it repeats
            label = nets[reward_idx].label(states[reward_idx], event)  # the class Magenta scores the event by
            logp = tf.cast(tf.gather(tf.nn.log_softmax(outs[reward_idx]), label, batch_dims=1), tf.float32)
            events = events.write(t, event)
            logps = logps.write(t, logp)
            if record_probs:
                probs = probs.write(t, tf.cast(tf.nn.softmax(logits), tf.float32))
            last = event
        return (tf.transpose(events.stack()), tf.transpose(logps.stack()),
                tf.transpose(probs.stack(), [1, 0, 2]) if record_probs else tf.zeros([0]))

    @tf.function(reduce_retracing=True)
    def _probabilities(self, events, temperature):
        nets = self._all()
        batch = tf.shape(events)[0]
        states = [n.zero_state(batch) for n in nets]
        out = tf.TensorArray(tf.float32, size=tf.shape(events)[1])
        for t in tf.range(tf.shape(events)[1]):
            outs, states = step_all(nets, events[:, t], states)
            scores = self.scores(outs[:len(self.networks)])
            out = out.write(t, tf.cast(tf.nn.softmax(scores / tf.cast(temperature, scores.dtype)), tf.float32))
        return tf.transpose(out.stack(), [1, 0, 2])

    @tf.function(reduce_retracing=True)
    def _log_likelihood(self, events):
        nets = self.networks
        batch = tf.shape(events)[0]
        states = [n.zero_state(batch) for n in nets]
        out = tf.TensorArray(tf.float32, size=tf.shape(events)[1] - 1)
        for t in tf.range(tf.shape(events)[1] - 1):
            outs, states = step_all(nets, events[:, t], states)
            label = nets[0].label(states[0], events[:, t + 1])
            out = out.write(t, tf.cast(tf.gather(tf.nn.log_softmax(self.scores(outs)), label, batch_dims=1), tf.float32))
        return tf.transpose(out.stack())

    def log_likelihood(self, melodies) -> np.ndarray:
        """[N, T] melodies -> [N, T-1]: the policy's log-probability of event t+1 after events 0..t
        (the class Magenta's encoder gives the event; see :meth:`rltune.note_rnn.NoteRNN.log_likelihood`)."""
        melodies = np.atleast_2d(np.asarray(melodies, dtype=np.int32))
        return self._log_likelihood(tf.constant(self.networks[0].encoder.clean(melodies))).numpy()

    def probabilities(self, melodies, temperature: float = 1.0) -> np.ndarray:
        """The policy's distribution over the model's classes after each step of [N, T] melodies fed from
        the zero state: [N, T, classes] (38 events for basic_rnn; 40 for lookback and attention models)."""
        melodies = np.atleast_2d(np.asarray(melodies, dtype=np.int32))
        return self._probabilities(tf.constant(melodies), tf.constant(temperature, tf.float32)).numpy()

    def sample(self, primers, num_steps: int, *, primer_lengths=None, temperature: float = 1.0,
               greedy: bool = False, seed: int = 0, chunk: int = 8192, record_probs: bool = False,
               predict_next: bool = False):
        """Sample ``num_steps`` events after each primer.

        ``primers`` int [N, P] (ragged primers right-padded, with ``primer_lengths``).
        ``predict_next``: the original's primer semantics (see :meth:`prime`).
        Returns dict(events [N, num_steps], log_p [N, num_steps] under the Reward RNN,
        and probs [N, num_steps, 38] when ``record_probs``).
        """
        primers = np.asarray(primers, dtype=np.int32)
        n = len(primers)
        lengths = np.full(n, primers.shape[1], np.int32) if primer_lengths is None else np.asarray(primer_lengths, np.int32)
        out_e, out_l, out_p = [], [], []
        for i, start in enumerate(range(0, n, chunk)):
            sl = slice(start, start + chunk)
            e, lp, p = self._sample(tf.constant(primers[sl]), tf.constant(lengths[sl]), tf.constant(num_steps, tf.int32),
                                    tf.constant(temperature, tf.float32), tf.constant(bool(greedy)),
                                    tf.constant([seed, i], tf.int64), record_probs, tf.constant(bool(predict_next)))
            out_e.append(e.numpy())
            out_l.append(lp.numpy())
            if record_probs:
                out_p.append(p.numpy())
        result = {"events": np.concatenate(out_e), "log_p": np.concatenate(out_l)}
        if record_probs:
            result["probs"] = np.concatenate(out_p)
        return result


def step_all(nets, events, states):
    """One step of every network on the same events: (outputs, new states)."""
    stepped = [n.step(events, st) for n, st in zip(nets, states)]
    return [o for o, _ in stepped], [st for _, st in stepped]
