"""The Note RNN: a stack of LSTM layers and a linear layer over 38 classes.

Math of TF1's ``BasicLSTMCell`` / ``LSTMCell`` (no peepholes, no projection),
which Magenta's basic_rnn and the RL Tuner paper's model use: the kernel is
``[input + units, 4 * units]`` with gates in the order i, j, f, o, and a
forget bias of 1.0 is added at run time (it is not stored in the checkpoint):

    i, j, f, o = split([x, h] @ kernel + bias, 4)
    c' = c * sigmoid(f + 1) + sigmoid(i) * tanh(j);   h' = tanh(c') * sigmoid(o)

States are flat tuples ``(c0, h0, c1, h1, ...)``, the order of Magenta's
``initial_state`` / ``final_state`` collections.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rltune._tf import tf
from rltune.encoding import NUM_CLASSES

FORGET_BIAS = 1.0


@dataclass
class NoteRNNWeights:
    """Plain numpy weights; layer sizes are read from the shapes."""
    layers: list  # [(kernel [in + units, 4 * units], bias [4 * units]), ...]
    fc_weights: np.ndarray  # [units of last layer, classes]
    fc_bias: np.ndarray  # [classes]

    @property
    def layer_sizes(self) -> list[int]:
        return [int(k.shape[1]) // 4 for k, _ in self.layers]

    @property
    def input_size(self) -> int:
        k, _ = self.layers[0]
        return int(k.shape[0]) - int(k.shape[1]) // 4

    @property
    def num_classes(self) -> int:
        return int(self.fc_bias.shape[0])

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """Flat arrays for an npz checkpoint, named ``prefix/kernel_0`` ... ``prefix/fc_bias``."""
        out = {f"{prefix}/fc_weights": self.fc_weights, f"{prefix}/fc_bias": self.fc_bias}
        for i, (k, b) in enumerate(self.layers):
            out[f"{prefix}/kernel_{i}"] = k
            out[f"{prefix}/bias_{i}"] = b
        return out

    @classmethod
    def from_arrays(cls, prefix: str, arrays) -> "NoteRNNWeights":
        from rltune.errors import RLTuneError
        n = sum(1 for k in arrays if k.startswith(f"{prefix}/kernel_"))
        if n == 0:
            raise RLTuneError(f"checkpoint holds no {prefix!r} network")
        return cls([(arrays[f"{prefix}/kernel_{i}"], arrays[f"{prefix}/bias_{i}"]) for i in range(n)],
                   arrays[f"{prefix}/fc_weights"], arrays[f"{prefix}/fc_bias"])

    def architecture(self) -> dict:
        return {"cell": "LSTM (TF1 BasicLSTMCell math, gates i,j,f,o, forget bias 1.0)",
                "layer_sizes": self.layer_sizes, "input_size": self.input_size,
                "num_classes": self.num_classes}


def random_weights(layer_sizes, seed: int = 0, num_classes: int = NUM_CLASSES) -> NoteRNNWeights:
    """Fresh weights: Glorot-uniform kernels and zero biases (TF1's defaults)."""
    rng = np.random.default_rng(seed)

    def glorot(shape):
        limit = np.sqrt(6.0 / (shape[0] + shape[1]))
        return rng.uniform(-limit, limit, size=shape).astype(np.float32)

    layers, n_in = [], num_classes
    for units in layer_sizes:
        layers.append((glorot((n_in + units, 4 * units)), np.zeros(4 * units, np.float32)))
        n_in = units
    return NoteRNNWeights(layers, glorot((n_in, num_classes)), np.zeros(num_classes, np.float32))


def _cores() -> int:
    import os
    return max(1, min(len(os.sched_getaffinity(0)), 8))


class NoteRNN(tf.Module):
    """A Note RNN whose weights are TensorFlow variables (trainable or frozen)."""

    def __init__(self, weights: NoteRNNWeights, name: str = "note_rnn", trainable: bool = True):
        super().__init__(name=name)
        self.layer_sizes = weights.layer_sizes
        self.num_classes = weights.num_classes
        self.input_size = weights.input_size
        if self.input_size != NUM_CLASSES or self.num_classes != NUM_CLASSES:
            from rltune.errors import RLTuneError
            raise RLTuneError(f"model has {self.input_size} inputs and {self.num_classes} classes; "
                              f"rltune's melody encoding needs {NUM_CLASSES} and {NUM_CLASSES}")
        with self.name_scope:
            self.kernels = [tf.Variable(k.astype(np.float32), trainable=trainable, name=f"kernel_{i}")
                            for i, (k, _) in enumerate(weights.layers)]
            self.biases = [tf.Variable(b.astype(np.float32), trainable=trainable, name=f"bias_{i}")
                           for i, (_, b) in enumerate(weights.layers)]
            self.fc_weights = tf.Variable(weights.fc_weights.astype(np.float32), trainable=trainable, name="fc_weights")
            self.fc_bias = tf.Variable(weights.fc_bias.astype(np.float32), trainable=trainable, name="fc_bias")

    @property
    def weight_variables(self) -> list:
        """All variables in a fixed order (kernels, biases, fc weights, fc bias)."""
        return [*self.kernels, *self.biases, self.fc_weights, self.fc_bias]

    @property
    def state_size(self) -> int:
        return 2 * sum(self.layer_sizes)

    def zero_state(self, batch: int):
        return tuple(tf.zeros([batch, u]) for u in self.layer_sizes for _ in (0, 1))

    def step(self, events, state):
        """One step: event indices [B] and a state -> logits [B, classes], new state."""
        new_state = []
        x = tf.one_hot(events, self.input_size)
        for i in range(len(self.layer_sizes)):
            c, h = state[2 * i], state[2 * i + 1]
            # one matmul of [x, h] with the whole kernel: cheaper to differentiate than a row gather
            gates = tf.matmul(tf.concat([x, h], axis=1), self.kernels[i])
            gates = gates + self.biases[i]
            gi, gj, gf, go = tf.split(gates, 4, axis=1)
            c = c * tf.sigmoid(gf + FORGET_BIAS) + tf.sigmoid(gi) * tf.tanh(gj)
            h = tf.tanh(c) * tf.sigmoid(go)
            new_state += [c, h]
            x = h
        logits = tf.matmul(x, self.fc_weights) + self.fc_bias
        return logits, tuple(new_state)

    def run(self, events, state=None):
        """Feed [B, T] events from ``state`` (zero): logits [B, T, classes], final state."""
        events = tf.convert_to_tensor(events, tf.int32)
        if state is None:
            state = self.zero_state(tf.shape(events)[0])

        def body(carry, ev):
            logits, st = self.step(ev, carry[1])
            return logits, st

        init = (tf.zeros([tf.shape(events)[0], self.num_classes]), tuple(state))
        logits, states = tf.scan(body, tf.transpose(events), initializer=init)
        final = tuple(s[-1] for s in states)
        return tf.transpose(logits, [1, 0, 2]), final

    @tf.function(reduce_retracing=True)
    def _probabilities(self, events):
        logits, _ = self.run(events)
        return tf.nn.softmax(logits)

    def probabilities(self, melodies) -> np.ndarray:
        """[N, T] event indices -> [N, T, classes]: the distribution after each step from the zero state."""
        melodies = np.asarray(melodies, dtype=np.int32)
        if melodies.ndim == 1:
            melodies = melodies[None]
        return self._probabilities(tf.constant(melodies)).numpy()

    def sequence_logits(self, events, dropout: float = 0.0, training: bool = False):
        """Teacher-forced logits [B, T, classes] for [B, T] events from the zero state.

        Each layer runs over the whole sequence in TensorFlow's fused ``BlockLSTM``
        kernel (the same math: gates i, j, f, o, forget bias added at run time; a
        test compares it with :meth:`step`, gradients included), the batch split
        into one part per core so that the parts run in parallel. Measured on this
        2-core CPU (batch 64, 300 steps, one thread per op): a ``tf.scan`` of steps
        157k events/s, BlockLSTM 221k, BlockLSTM in two parts 330k. Dropout (on each
        layer's output, as Magenta's ``DropoutWrapper``) applies when ``training``.
        """
        events = tf.convert_to_tensor(events, tf.int32)
        x = tf.one_hot(tf.transpose(events), self.input_size)  # [T, B, input], time major
        batch = tf.shape(x)[1]
        parts = _cores()
        if parts > 1:
            sizes = [(batch + i) // parts for i in range(parts)]  # sums to batch, each part >= 0
            xs = tf.split(x, tf.stack(sizes), axis=1, num=parts)
        else:
            xs = [x]
        hs = [self._fused_layers(part, dropout if training else 0.0) for part in xs]
        h = tf.concat(hs, axis=1) if parts > 1 else hs[0]
        return tf.einsum("tbu,uc->btc", h, self.fc_weights) + self.fc_bias

    def _fused_layers(self, x, dropout: float):
        """All LSTM layers over time-major inputs [T, B, input] -> last layer's h [T, B, units]."""
        batch = tf.shape(x)[1]
        for i, units in enumerate(self.layer_sizes):
            zeros, no_peephole = tf.zeros([batch, units]), tf.zeros([units])
            out = tf.raw_ops.BlockLSTM(seq_len_max=tf.cast(tf.shape(x)[0], tf.int64), x=x, cs_prev=zeros, h_prev=zeros,
                                       w=self.kernels[i], wci=no_peephole, wcf=no_peephole, wco=no_peephole, b=self.biases[i],
                                       forget_bias=FORGET_BIAS, cell_clip=-1.0, use_peephole=False)
            x = out[6]  # h of every step
            if dropout > 0:
                x = tf.nn.dropout(x, rate=dropout)
        return x

    def get_weights(self) -> NoteRNNWeights:
        return NoteRNNWeights(
            layers=[(k.numpy(), b.numpy()) for k, b in zip(self.kernels, self.biases)],
            fc_weights=self.fc_weights.numpy(), fc_bias=self.fc_bias.numpy())
