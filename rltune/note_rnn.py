"""The Note RNN: an input encoder, a stack of LSTM layers and a linear layer over the classes.

Magenta's three melody_rnn configurations: basic_rnn (one-hot events in, 38
classes), lookback_rnn (121 inputs, 40 classes) and attention_rnn (74 inputs,
40 classes, Magenta's ``AttentionCellWrapper`` on the first layer); the input
encodings are :mod:`rltune.encoders`, whose state travels with the LSTM state.

Math of TF1's ``BasicLSTMCell`` / ``LSTMCell`` (no peepholes, no projection),
which Magenta's basic_rnn and the RL Tuner paper's model use: the kernel is
``[input + units, 4 * units]`` with gates in the order i, j, f, o, and a
forget bias of 1.0 is added at run time (it is not stored in the checkpoint):

    i, j, f, o = split([x, h] @ kernel + bias, 4)
    c' = c * sigmoid(f + 1) + sigmoid(i) * tanh(j);   h' = tanh(c') * sigmoid(o)

States are flat tuples: the encoder's state tensors, then ``(c0, h0, c1, h1,
...)`` in the order of Magenta's ``initial_state`` / ``final_state`` collections
(with attention, ``c0, h0, attns, attn_states`` for the first layer).

The attention wrapper (https://arxiv.org/abs/1601.06733, ``magenta.contrib.rnn``):
the layer's input is ``[x, attns] @ W_in``; after the LSTM step, the query
``[c, h] @ W_q`` scores the last ``attn_length`` outputs ``H`` by
``v . tanh(H @ W_a + query)``; ``attns`` is their softmax-weighted sum, the
output ``[h, attns] @ W_out`` is appended to ``H`` (the oldest dropped) and
fed to the next layer.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rltune._tf import tf
from rltune.encoding import NUM_CLASSES

FORGET_BIAS = 1.0


ATTENTION_PARTS = ("in_kernel", "in_bias", "query_kernel", "query_bias", "attn_w", "attn_v", "out_kernel", "out_bias")


@dataclass
class NoteRNNWeights:
    """Plain numpy weights; layer sizes are read from the shapes."""
    layers: list  # [(kernel [in + units, 4 * units], bias [4 * units]), ...]
    fc_weights: np.ndarray  # [units of last layer, classes]
    fc_bias: np.ndarray  # [classes]
    encoder: str = "basic_rnn"  # the melody_rnn configuration: basic_rnn, lookback_rnn or attention_rnn
    attention: dict | None = None  # ATTENTION_PARTS -> arrays (attention_rnn's first layer)
    attn_length: int = 0  # outputs the attention looks back over

    @property
    def layer_sizes(self) -> list[int]:
        return [int(k.shape[1]) // 4 for k, _ in self.layers]

    @property
    def input_size(self) -> int:
        if self.attention:
            return int(self.attention["in_kernel"].shape[1])
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
        if self.encoder != "basic_rnn":
            out[f"{prefix}/encoder"] = np.array(self.encoder)
        if self.attention:
            out.update({f"{prefix}/attention_{k}": v for k, v in self.attention.items()})
            out[f"{prefix}/attn_length"] = np.array(self.attn_length)
        return out

    @classmethod
    def from_arrays(cls, prefix: str, arrays) -> "NoteRNNWeights":
        from rltune.errors import RLTuneError
        n = sum(1 for k in arrays if k.startswith(f"{prefix}/kernel_"))
        if n == 0:
            raise RLTuneError(f"checkpoint holds no {prefix!r} network")
        attention = {k: arrays[f"{prefix}/attention_{k}"] for k in ATTENTION_PARTS} \
            if f"{prefix}/attention_in_kernel" in arrays else None
        return cls([(arrays[f"{prefix}/kernel_{i}"], arrays[f"{prefix}/bias_{i}"]) for i in range(n)],
                   arrays[f"{prefix}/fc_weights"], arrays[f"{prefix}/fc_bias"],
                   str(arrays[f"{prefix}/encoder"]) if f"{prefix}/encoder" in arrays else "basic_rnn",
                   attention, int(arrays[f"{prefix}/attn_length"]) if attention else 0)

    def architecture(self) -> dict:
        out = {"configuration": self.encoder, "cell": "LSTM (TF1 BasicLSTMCell math, gates i,j,f,o, forget bias 1.0)",
               "layer_sizes": self.layer_sizes, "input_size": self.input_size, "num_classes": self.num_classes}
        if self.attention:
            out["attention"] = f"AttentionCellWrapper on layer 0, attn_length {self.attn_length}"
        return out


def lstm_step(x, c, h, kernel, bias):
    """TF1 BasicLSTMCell: one matmul of [x, h] with the whole kernel (cheaper to differentiate than a row gather)."""
    gates = tf.matmul(tf.concat([x, h], axis=1), kernel) + bias
    gi, gj, gf, go = tf.split(gates, 4, axis=1)
    c = c * tf.sigmoid(gf + FORGET_BIAS) + tf.sigmoid(gi) * tf.tanh(gj)
    return c, tf.tanh(c) * tf.sigmoid(go)


def attention_step(x, state, a: dict, kernel, bias, attn_length: int):
    """Magenta's AttentionCellWrapper around a BasicLSTMCell: (output, [c, h, attns, attn_states])."""
    c, h, attns, attn_states = state
    units = int(kernel.shape[1]) // 4
    x = tf.matmul(tf.concat([x, attns], axis=1), a["in_kernel"]) + a["in_bias"]
    c, h = lstm_step(x, c, h, kernel, bias)
    query = tf.matmul(tf.concat([c, h], axis=1), a["query_kernel"]) + a["query_bias"]
    hidden = tf.reshape(attn_states, [-1, attn_length, units])
    features = tf.einsum("blu,uv->blv", hidden, a["attn_w"][0, 0])
    weights = tf.nn.softmax(tf.reduce_sum(a["attn_v"] * tf.tanh(features + query[:, None, :]), axis=2))
    attns = tf.reduce_sum(weights[:, :, None] * hidden, axis=1)
    output = tf.matmul(tf.concat([h, attns], axis=1), a["out_kernel"]) + a["out_bias"]
    attn_states = tf.reshape(tf.concat([hidden[:, 1:], output[:, None, :]], axis=1), [-1, attn_length * units])
    return output, [c, h, attns, attn_states]


def random_weights(layer_sizes, seed: int = 0, num_classes: int = NUM_CLASSES, configuration: str = "basic_rnn",
                   attn_length: int = 0) -> NoteRNNWeights:
    """Fresh weights of a configuration (basic_rnn, lookback_rnn, attention_rnn): Glorot-uniform
    kernels and zero biases (TF1's defaults). ``num_classes`` applies to basic_rnn."""
    from rltune.encoders import get_encoder
    rng = np.random.default_rng(seed)
    enc = get_encoder(configuration)
    if configuration != "basic_rnn":
        num_classes = enc.num_classes

    def glorot(shape):
        limit = np.sqrt(6.0 / (shape[-2] + shape[-1]))
        return rng.uniform(-limit, limit, size=shape).astype(np.float32)

    layers, n_in = [], enc.input_size if configuration != "basic_rnn" else num_classes
    for units in layer_sizes:
        layers.append((glorot((n_in + units, 4 * units)), np.zeros(4 * units, np.float32)))
        n_in = units
    attention = None
    if configuration == "attention_rnn":
        a, x = layer_sizes[0], enc.input_size
        attention = {"in_kernel": glorot((x + a, x)), "in_bias": np.zeros(x, np.float32), "query_kernel": glorot((2 * a, a)),
                     "query_bias": np.zeros(a, np.float32), "attn_w": glorot((1, 1, a, a)), "attn_v": glorot((1, a))[0],
                     "out_kernel": glorot((2 * a, a)), "out_bias": np.zeros(a, np.float32)}
        attn_length = attn_length or 40
    return NoteRNNWeights(layers, glorot((n_in, num_classes)), np.zeros(num_classes, np.float32), configuration,
                          attention, attn_length if attention else 0)


def _cores() -> int:
    import os
    return max(1, min(len(os.sched_getaffinity(0)), 8))


class NoteRNN(tf.Module):
    """A Note RNN whose weights are TensorFlow variables (trainable or frozen)."""

    def __init__(self, weights: NoteRNNWeights, name: str = "note_rnn", trainable: bool = True, dtype: str = "float32"):
        """``dtype`` float64 computes (not trains) in double precision: Magenta's tuned attention
        models feed their outputs back and can grow to 10^2-10^3, where float32 drifts by ~1e-4."""
        super().__init__(name=name)
        self.dtype = tf.as_dtype(dtype)
        np_dtype = self.dtype.as_numpy_dtype
        from rltune.encoders import get_encoder
        self.encoder = get_encoder(weights.encoder)
        self.layer_sizes = weights.layer_sizes
        self.num_classes = weights.num_classes
        self.input_size = weights.input_size
        self.attn_length = weights.attn_length if weights.attention else 0
        if self.input_size != self.encoder.input_size or self.num_classes != self.encoder.num_classes:
            from rltune.errors import RLTuneError
            raise RLTuneError(f"model has {self.input_size} inputs and {self.num_classes} classes; its {self.encoder.name} "
                              f"encoding has {self.encoder.input_size} and {self.encoder.num_classes}")
        with self.name_scope:
            self.kernels = [tf.Variable(k.astype(np_dtype), trainable=trainable, name=f"kernel_{i}")
                            for i, (k, _) in enumerate(weights.layers)]
            self.biases = [tf.Variable(b.astype(np_dtype), trainable=trainable, name=f"bias_{i}")
                           for i, (_, b) in enumerate(weights.layers)]
            self.fc_weights = tf.Variable(weights.fc_weights.astype(np_dtype), trainable=trainable, name="fc_weights")
            self.fc_bias = tf.Variable(weights.fc_bias.astype(np_dtype), trainable=trainable, name="fc_bias")
            self.attention = {k: tf.Variable(v.astype(np_dtype), trainable=trainable, name=f"attention_{k}")
                              for k, v in (weights.attention or {}).items()}

    @property
    def weight_variables(self) -> list:
        """All variables in a fixed order (kernels, biases, fc weights, fc bias, attention parts)."""
        return [*self.kernels, *self.biases, self.fc_weights, self.fc_bias, *self.attention.values()]

    @property
    def state_widths(self) -> list[int]:
        """Widths of the flat state's tensors: the encoder's, then each layer's (c, h[, attns, attn_states])."""
        widths = list(self.encoder.state_widths)
        for i, u in enumerate(self.layer_sizes):
            widths += [u, u] + ([u, u * self.attn_length] if i == 0 and self.attn_length else [])
        return widths

    @property
    def state_size(self) -> int:
        return sum(self.state_widths)

    def zero_state(self, batch: int):
        k = len(self.encoder.state_widths)
        return tuple(self.encoder.initial(batch)) + tuple(tf.zeros([batch, w], self.dtype) for w in self.state_widths[k:])

    def resolve(self, state, classes):
        """The events [B] that classes [B] play after the events ``state`` has seen."""
        return self.encoder.resolve(state[:len(self.encoder.state_widths)], classes)

    def label(self, state, events):
        """The class Magenta's encoder gives events [B] played after the events ``state`` has seen."""
        return self.encoder.label(state[:len(self.encoder.state_widths)], events)

    def step(self, events, state):
        """One step: event indices [B] and a state -> logits [B, classes], new state."""
        k = len(self.encoder.state_widths)
        enc = self.encoder.observe(tuple(state[:k]), events)
        x = tf.cast(self.encoder.features(enc, events), self.dtype)
        new_state, j = list(enc), k
        for i in range(len(self.layer_sizes)):
            c, h = state[j], state[j + 1]
            if i == 0 and self.attn_length:
                x, cell_state = self._attention_step(x, state[j:j + 4])
                new_state += cell_state
                j += 4
                continue
            c, h = self._lstm(i, x, c, h)
            new_state += [c, h]
            x, j = h, j + 2
        logits = tf.matmul(x, self.fc_weights) + self.fc_bias
        return logits, tuple(new_state)

    def _lstm(self, i, x, c, h):
        return lstm_step(x, c, h, self.kernels[i], self.biases[i])

    def _attention_step(self, x, state):
        return attention_step(x, state, self.attention, self.kernels[0], self.biases[0], self.attn_length)

    def run(self, events, state=None):
        """Feed [B, T] events from ``state`` (zero): logits [B, T, classes], final state."""
        events = tf.convert_to_tensor(events, tf.int32)
        if state is None:
            state = self.zero_state(tf.shape(events)[0])

        def body(carry, ev):
            logits, st = self.step(ev, carry[1])
            return logits, st

        init = (tf.zeros([tf.shape(events)[0], self.num_classes], self.dtype), tuple(state))
        logits, states = tf.scan(body, tf.transpose(events), initializer=init)
        final = tuple(s[-1] for s in states)
        return tf.transpose(logits, [1, 0, 2]), final

    @tf.function(reduce_retracing=True)
    def _probabilities(self, events):
        logits, _ = self.run(events)
        return tf.cast(tf.nn.softmax(logits), tf.float32)

    def probabilities(self, melodies) -> np.ndarray:
        """[N, T] event indices -> [N, T, classes]: the distribution after each step from the zero state."""
        melodies = np.asarray(melodies, dtype=np.int32)
        if melodies.ndim == 1:
            melodies = melodies[None]
        return self._probabilities(tf.constant(melodies)).numpy()

    @tf.function(reduce_retracing=True)
    def _log_likelihood(self, events):
        state = self.zero_state(tf.shape(events)[0])
        out = tf.TensorArray(tf.float32, size=tf.shape(events)[1] - 1)
        for t in tf.range(tf.shape(events)[1] - 1):
            logits, state = self.step(events[:, t], state)
            label = self.label(state, events[:, t + 1])
            out = out.write(t, tf.cast(tf.gather(tf.nn.log_softmax(logits), label, batch_dims=1), tf.float32))
        return tf.transpose(out.stack())

    def log_likelihood(self, melodies) -> np.ndarray:
        """int [N, T] melodies (the 38 event indices) -> [N, T-1]: log p of event t+1 given events
        0..t from the zero state, under the model's own encoding: the probability of the class
        Magenta's ``events_to_label`` gives the event (a repeat of the event one or two bars back
        is scored as the lookback class for lookback_rnn and attention_rnn). As Magenta's
        ``Melody`` does, rests before the first note are read as holds."""
        melodies = np.atleast_2d(np.asarray(melodies, dtype=np.int32))
        if melodies.shape[1] < 2:
            return np.zeros((len(melodies), 0), np.float32)
        return self._log_likelihood(tf.constant(self.encoder.clean(melodies))).numpy()

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
            fc_weights=self.fc_weights.numpy(), fc_bias=self.fc_bias.numpy(), encoder=self.encoder.name,
            attention={k: v.numpy() for k, v in self.attention.items()} or None, attn_length=self.attn_length)
