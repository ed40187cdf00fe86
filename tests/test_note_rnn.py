"""The loader reproduces the probabilities Magenta itself computes."""
import numpy as np
import pytest

import rltune
from rltune.checkpoint import load_weights, weights_from_variables
from rltune.errors import RLTuneError


def _golden(fixtures):
    return np.load(fixtures / "magenta" / "basic_rnn_essen_100.golden.npz")


def test_bundle_matches_magenta_softmax(fixtures, fixture_bundle):
    g = _golden(fixtures)
    net = rltune.load_note_rnn(fixture_bundle)
    probs = net.probabilities(g["melodies"])
    assert probs.shape == g["softmax"].shape
    assert np.abs(probs - g["softmax"]).max() < 1e-5


@pytest.mark.parametrize("sub", ["note_rnn_paper_format", "note_rnn_paper_format/note_rnn.ckpt"])
def test_paper_format_checkpoint_matches(fixtures, sub):
    g = _golden(fixtures)
    loaded = load_weights(fixtures / "rl_tuner" / sub)
    assert loaded.layout == "RL Tuner Note RNN (TF 1.x)"
    probs = rltune.load_note_rnn(fixtures / "rl_tuner" / sub).probabilities(g["melodies"])
    assert np.abs(probs - g["softmax"]).max() < 1e-5


def _save_v1(path, arrays):
    from rltune._tf import tf
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        variables = {name: v1.Variable(value, name=name.replace("/", "_")) for name, value in arrays.items()}
        saver = v1.train.Saver(var_list=variables, sharded=False, write_version=v1.train.SaverDef.V1)
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            saver.save(sess, str(path), write_meta_graph=False)


def test_pre_1_0_names_give_the_same_numbers(fixtures, tmp_path):
    g = _golden(fixtures)
    v = {k[4:]: g[k] for k in g.files if k.startswith("var:")}
    old = {
        "rnn_model/RNN/MultiRNNCell/Cell0/LSTMCell/W_0": v["rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel"],
        "rnn_model/RNN/MultiRNNCell/Cell0/LSTMCell/B": v["rnn/multi_rnn_cell/cell_0/basic_lstm_cell/bias"],
        "rnn_model/fully_connected/weights": v["fully_connected/weights"],
        "rnn_model/fully_connected/bias": v["fully_connected/biases"],
    }
    _save_v1(tmp_path / "rl_tuner_note_rnn.ckpt", old)
    loaded = load_weights(tmp_path / "rl_tuner_note_rnn.ckpt")
    assert loaded.layout == "RL Tuner Note RNN (pre-1.0 names)"
    probs = rltune.load_note_rnn(tmp_path / "rl_tuner_note_rnn.ckpt").probabilities(g["melodies"])
    assert np.abs(probs - g["softmax"]).max() < 1e-5


def test_magenta_training_checkpoint_folder(fixture_bundle, fixtures, tmp_path):
    """An unpacked bundle is a Magenta checkpoint folder; the loader takes the folder or the prefix."""
    rltune.unpack_bundle(fixture_bundle, tmp_path / "train")
    g = _golden(fixtures)
    for p in (tmp_path / "train", tmp_path / "train" / "model.ckpt"):
        probs = rltune.load_note_rnn(p).probabilities(g["melodies"][:2])
        assert np.abs(probs - g["softmax"][:2]).max() < 1e-5


def test_layer_sizes_are_read_from_shapes(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel": rng.normal(size=(38 + 24, 96)).astype(np.float32),
        "rnn/multi_rnn_cell/cell_0/basic_lstm_cell/bias": np.zeros(96, np.float32),
        "rnn/multi_rnn_cell/cell_1/basic_lstm_cell/kernel": rng.normal(size=(24 + 16, 64)).astype(np.float32),
        "rnn/multi_rnn_cell/cell_1/basic_lstm_cell/bias": np.zeros(64, np.float32),
        "fully_connected/weights": rng.normal(size=(16, 38)).astype(np.float32),
        "fully_connected/biases": np.zeros(38, np.float32),
    }
    w, _ = weights_from_variables(arrays)
    assert w.layer_sizes == [24, 16] and w.input_size == 38 and w.num_classes == 38
    _save_v1(tmp_path / "model.ckpt-7", arrays)
    net = rltune.load_note_rnn(tmp_path / "model.ckpt-7")
    p = net.probabilities(np.array([[2, 0, 0, 5, 1]]))
    assert p.shape == (1, 5, 38) and np.allclose(p.sum(-1), 1, atol=1e-5)


def test_unknown_variables_are_named(tmp_path):
    _save_v1(tmp_path / "other.ckpt", {"encoder/dense/kernel": np.zeros((3, 4), np.float32)})
    with pytest.raises(RLTuneError, match="encoder/dense/kernel"):
        load_weights(tmp_path / "other.ckpt")


def test_fused_sequence_logits_match_the_step_and_its_gradient():
    """Pretraining's fused BlockLSTM path computes what the step-by-step cell computes, gradients included."""
    from rltune._tf import tf
    from rltune.note_rnn import NoteRNN, random_weights
    net = NoteRNN(random_weights([24, 16], seed=5), trainable=True)
    events = tf.constant(np.random.default_rng(0).integers(0, 38, (3, 20)), tf.int32)
    stepped, _ = net.run(events)
    np.testing.assert_allclose(net.sequence_logits(events).numpy(), stepped.numpy(), atol=1e-5)
    grads = []
    for f in (lambda e: net.sequence_logits(e), lambda e: net.run(e)[0]):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(f(events)))
        grads.append(tape.gradient(loss, net.weight_variables))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
