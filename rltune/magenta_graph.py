"""Write Note RNNs (and tuned policies) as graphs Magenta's generator can run.

Magenta's ``melody_rnn_generate`` imports a bundle's metagraph and restores its
V1 checkpoint, then feeds the ``inputs``, ``temperature`` and
``initial_state`` collections and reads ``softmax`` and ``final_state``
(``magenta/models/shared/events_rnn_graph.py``). This module builds such a
graph with ``tf.compat.v1`` in graph mode: a ``tf.scan`` over time steps, the
LSTM variables under Magenta's basic_rnn names, and the initial state as
zero-valued placeholders with defaults (Magenta evaluates ``initial_state``
without feeding it to get the zero state). Variables are stored in float32
under Magenta's names; the graph computes and carries its states in float64,
so that Magenta's older TensorFlow kernels reproduce rltune's probabilities
even for tuned networks with large values (measured: a G policy's softmax
differed by 1.8e-5 when computed in float32 by Magenta's TF 2.9).

A policy is one or more networks, each with a role: ``scores`` (its outputs
enter the softmax as they are: a Note RNN's logits, a Q network's values),
``prior`` (enters as its log-softmax: the Reward RNN of a G policy,
``softmax(G + log p)``, the same sum rltune's sampler computes) or
``reward_model`` (variables only, carried so that rltune scores log p(a|s) of
an exported Q/Psi policy under the Reward RNN it was tuned against; Magenta
never reads them).
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

from rltune._tf import tf
from rltune.note_rnn import NoteRNNWeights, attention_step, lstm_step

GENERATION_BATCH_SIZE = 64  # the static batch of the generation graph, as Magenta's bundles have


COMPUTE_DTYPE = tf.float64


def _network(scope: str, w: NoteRNNWeights, batch, v1):
    """Build one network's variables and return (step_fn, initial_states)."""
    from rltune.checkpoint import ATTENTION_VARIABLES
    prefix = f"{scope}/" if scope else ""
    kernels, biases = [], []
    for i, (k, b) in enumerate(w.layers):
        cell = f"{prefix}rnn/multi_rnn_cell/cell_{i}/" + ("attention_cell_wrapper/" if i == 0 and w.attention else "")
        kernels.append(v1.Variable(k.astype(np.float32), name=f"{cell}basic_lstm_cell/kernel"))
        biases.append(v1.Variable(b.astype(np.float32), name=f"{cell}basic_lstm_cell/bias"))
    attention = {part: tf.cast(v1.Variable(w.attention[part].astype(np.float32),
                                           name=f"{prefix}rnn/multi_rnn_cell/cell_0/attention_cell_wrapper/{name}"), COMPUTE_DTYPE)
                 for part, name in ATTENTION_VARIABLES.items()} if w.attention else {}
    fc_w = v1.Variable(w.fc_weights.astype(np.float32), name=f"{prefix}fully_connected/weights")
    fc_b = v1.Variable(w.fc_bias.astype(np.float32), name=f"{prefix}fully_connected/biases")
    init = []
    for i, units in enumerate(w.layer_sizes):
        parts = [("c", units), ("h", units)] + ([("attns", units), ("attn_states", units * w.attn_length)]
                                                 if i == 0 and w.attention else [])
        for part, width in parts:
            init.append(v1.placeholder_with_default(tf.zeros([batch, width], COMPUTE_DTYPE), [batch, width],
                                                    name=f"{prefix}initial_state_{i}_{part}"))
    kernels = [tf.cast(k, COMPUTE_DTYPE) for k in kernels]
    biases = [tf.cast(b, COMPUTE_DTYPE) for b in biases]
    fc_w, fc_b = tf.cast(fc_w, COMPUTE_DTYPE), tf.cast(fc_b, COMPUTE_DTYPE)

    def step(x, state):
        new, j = [], 0
        for i in range(len(kernels)):
            if i == 0 and attention:
                x, cell_state = attention_step(x, state[0:4], attention, kernels[0], biases[0], w.attn_length)
                new += cell_state
                j = 4
                continue
            c, h = lstm_step(x, state[j], state[j + 1], kernels[i], biases[i])
            new += [c, h]
            x, j = h, j + 2
        return tf.matmul(x, fc_w) + fc_b, new

    return step, init


ROLES = ("scores", "prior", "reward_model")


def build_generation_graph(networks: list[tuple[str, NoteRNNWeights, str]], checkpoint_prefix: str,
                           batch_size: int = GENERATION_BATCH_SIZE):
    """Build and save the graph of ``(scope, weights, role)`` networks; returns (checkpoint bytes, metagraph bytes)."""
    v1 = tf.compat.v1
    graph = tf.Graph()
    input_size, num_classes = networks[0][1].input_size, networks[0][1].num_classes
    with graph.as_default():
        inputs = v1.placeholder(tf.float32, [batch_size, None, input_size], name="inputs")
        temperature = v1.placeholder(tf.float32, [], name="temperature")
        steps, inits = [], []
        for scope, w, role in networks:
            step, init = _network(scope, w, batch_size, v1)
            if role != "reward_model":
                steps.append((step, len(init), role))
                inits += init

        def scan_body(carry, x_t):
            _, state = carry
            total, new_state, offset = 0.0, [], 0
            for step, n, role in steps:
                scores, ns = step(x_t, state[offset:offset + n])
                total = total + (scores if role == "scores" else tf.nn.log_softmax(scores))
                new_state += ns
                offset += n
            return total, new_state

        x_time = tf.cast(tf.transpose(inputs, [1, 0, 2]), COMPUTE_DTYPE)
        init_scores = tf.zeros([batch_size, num_classes], COMPUTE_DTYPE)
        scores, states = tf.scan(scan_body, x_time, initializer=(init_scores, list(inits)))
        logits = tf.transpose(scores, [1, 0, 2])
        flat = tf.reshape(logits, [-1, num_classes])
        probs = tf.cast(tf.nn.softmax(flat / tf.cast(temperature, COMPUTE_DTYPE)), tf.float32)
        softmax = tf.reshape(probs, [batch_size, -1, num_classes], name="softmax")
        final = [tf.identity(s[-1], name=f"final_state_{i}") for i, s in enumerate(states)]
        v1.add_to_collection("inputs", inputs)
        v1.add_to_collection("temperature", temperature)
        v1.add_to_collection("softmax", softmax)
        for s in inits:
            v1.add_to_collection("initial_state", s)
        for s in final:
            v1.add_to_collection("final_state", s)
        saver = v1.train.Saver(sharded=False, write_version=v1.train.SaverDef.V1)
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            saver.save(sess, checkpoint_prefix, meta_graph_suffix="meta", write_meta_graph=True)
    with open(checkpoint_prefix, "rb") as f:
        ckpt = f.read()
    with open(checkpoint_prefix + ".meta", "rb") as f:
        meta = f.read()
    return ckpt, meta


def bundle_bytes(networks, batch_size: int = GENERATION_BATCH_SIZE):
    with tempfile.TemporaryDirectory(prefix="rltune-graph-") as d:
        return build_generation_graph(networks, os.path.join(d, "model.ckpt"), batch_size)


GENERATOR_DESCRIPTIONS = {"basic_rnn": "Melody RNN with one-hot encoding.",  # as Magenta's melody_rnn configs
                          "lookback_rnn": "Melody RNN with lookback encoding.",
                          "attention_rnn": "Melody RNN with lookback encoding and attention."}


def write_policy_bundle(path, networks, description: str):
    """A bundle of the ``(scope, weights, role)`` networks under the generator id of their
    configuration (basic_rnn, lookback_rnn or attention_rnn), which Magenta's
    ``melody_rnn_generate`` plays and rltune loads."""
    from rltune.checkpoint import write_bundle
    from rltune.errors import RLTuneError
    configurations = {w.encoder for _, w, _ in networks}
    if len(configurations) != 1:
        raise RLTuneError(f"the networks of one bundle must share a configuration; found {sorted(configurations)}")
    configuration = configurations.pop()
    ckpt, meta = bundle_bytes(networks)
    write_bundle(path, ckpt, meta, description, generator_id=configuration,
                 generator_description=GENERATOR_DESCRIPTIONS[configuration])


def write_note_rnn_bundle(path, weights: NoteRNNWeights, description: str):
    """A bundle of one Note RNN that both rltune and Magenta load."""
    from rltune.outputs import check_writable
    check_writable(path)
    write_policy_bundle(path, [("", weights, "scores")], description)
