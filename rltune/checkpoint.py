"""Bundle and checkpoint I/O: Magenta ``.mag`` bundles and checkpoints of the
three melody_rnn configurations (basic_rnn, lookback_rnn, attention_rnn) and
RL Tuner (paper-format) Note RNN checkpoints.

Layer sizes are always read from the variables' shapes; the configuration from
a bundle's generator id (a checkpoint's from its input and class sizes and its
attention variables); the attention length, which no variable shows, from the
metagraph's initial state (a bundle's, or the ``.meta`` beside a checkpoint).
"""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rltune.errors import RLTuneError
from rltune.outputs import atomic_write_bytes

SUPPORTED_GENERATORS = ("basic_rnn", "lookback_rnn", "attention_rnn")


@dataclass
class Bundle:
    generator_id: str
    generator_description: str
    bundle_description: str
    checkpoint: bytes
    metagraph: bytes


def read_bundle(path) -> Bundle:
    """Parse a ``GeneratorBundle`` (.mag) and check that rltune can use it."""
    from google.protobuf.message import DecodeError
    from note_seq.protobuf import generator_pb2

    path = Path(path)
    if not path.exists():
        raise RLTuneError(f"bundle not found: {path}")
    if path.is_dir():
        raise RLTuneError(f"{path} is a folder, not a .mag bundle")
    data = path.read_bytes()
    if not data:
        raise RLTuneError(f"{path} is empty, not a Magenta .mag bundle")
    msg = generator_pb2.GeneratorBundle()
    try:
        msg.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError):
        raise RLTuneError(f"{path} is not a Magenta .mag bundle (or it is truncated): it does not parse as a GeneratorBundle") from None
    gid = msg.generator_details.id
    if not gid or not msg.checkpoint_file:
        raise RLTuneError(f"{path} is not a Magenta .mag bundle (or it is truncated): no generator id or checkpoint")
    if gid not in SUPPORTED_GENERATORS:
        raise RLTuneError(f"{path} is a {gid!r} bundle; rltune supports generator ids: {', '.join(SUPPORTED_GENERATORS)}")
    if len(msg.checkpoint_file) != 1:
        raise RLTuneError(f"{path} holds {len(msg.checkpoint_file)} checkpoint files; a Magenta bundle holds one")
    return Bundle(gid, msg.generator_details.description, msg.bundle_details.description,
                  bytes(msg.checkpoint_file[0]), bytes(msg.metagraph_file))


def write_bundle(path, checkpoint: bytes, metagraph: bytes, description: str,
                 generator_id: str = "basic_rnn", generator_description: str = "Melody RNN with one-hot encoding."):
    """Write a ``GeneratorBundle`` atomically (temporary file, then rename)."""
    from note_seq.protobuf import generator_pb2

    msg = generator_pb2.GeneratorBundle()
    msg.generator_details.id = generator_id
    msg.generator_details.description = generator_description
    msg.bundle_details.description = description
    msg.checkpoint_file.append(checkpoint)
    msg.metagraph_file = metagraph
    atomic_write_bytes(path, msg.SerializeToString())


def read_checkpoint_variables(prefix) -> dict[str, np.ndarray]:
    from rltune._tf import tf
    try:
        reader = tf.train.load_checkpoint(str(prefix))
        return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    except Exception as e:  # noqa: BLE001 - TensorFlow raises many kinds on bad files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RLTuneError(f"cannot read checkpoint {prefix}: {first}") from None


def bundle_variables(bundle: Bundle) -> dict[str, np.ndarray]:
    with tempfile.TemporaryDirectory(prefix="rltune-bundle-") as d:
        ckpt = os.path.join(d, "model.ckpt")
        with open(ckpt, "wb") as f:
            f.write(bundle.checkpoint)
        return read_checkpoint_variables(ckpt)


# Variable layouts: (name, scope, LSTM cell pattern with the layer number and part, fc weight names, fc bias names)
_MAGENTA_CELL = r"rnn/multi_rnn_cell/cell_(\d+)/(?:attention_cell_wrapper/)?(?:basic_lstm_cell|lstm_cell)/(kernel|bias)"
_ATTENTION = "rnn/multi_rnn_cell/cell_0/attention_cell_wrapper/"
ATTENTION_VARIABLES = {"in_kernel": "kernel", "in_bias": "bias", "query_kernel": "attention/kernel",
                       "query_bias": "attention/bias", "attn_w": "attention/attn_w", "attn_v": "attention/attn_v",
                       "out_kernel": "attn_output_projection/kernel", "out_bias": "attn_output_projection/bias"}
_LAYOUTS = (
    ("RL Tuner Note RNN (TF 1.x)", "rnn_model/", _MAGENTA_CELL, ("fully_connected/weights",),
     ("fully_connected/bias", "fully_connected/biases")),
    ("RL Tuner Note RNN (pre-1.0 names)", "rnn_model/", r"RNN/MultiRNNCell/Cell(\d+)/(?:LSTMCell|BasicLSTMCell)/(W_0|B)",
     ("fully_connected/weights",), ("fully_connected/bias", "fully_connected/biases")),
    ("Magenta basic_rnn", "", _MAGENTA_CELL, ("fully_connected/weights",), ("fully_connected/biases", "fully_connected/bias")),
)


def _network(variables, scope, cell_pattern, fc_w_names, fc_b_names, layout, source):
    from rltune.note_rnn import NoteRNNWeights
    cells: dict[int, dict[str, np.ndarray]] = {}
    for name, value in variables.items():
        m = re.fullmatch(re.escape(scope) + cell_pattern, name)
        if m:
            part = {"W_0": "kernel", "B": "bias"}.get(m.group(2), m.group(2))
            cells.setdefault(int(m.group(1)), {})[part] = value
    fc_w = next((variables[scope + n] for n in fc_w_names if scope + n in variables), None)
    fc_b = next((variables[scope + n] for n in fc_b_names if scope + n in variables), None)
    if not cells or fc_w is None or fc_b is None:
        return None
    if sorted(cells) != list(range(len(cells))) or any(set(c) != {"kernel", "bias"} for c in cells.values()):
        raise RLTuneError(f"{source}: incomplete LSTM layers in a {layout} layout")
    layers = [(cells[i]["kernel"], cells[i]["bias"]) for i in range(len(cells))]
    for i, (k, b) in enumerate(layers):
        if k.ndim != 2 or k.shape[1] % 4 or b.shape != (k.shape[1],):
            raise RLTuneError(f"{source}: layer {i} kernel {k.shape} / bias {b.shape} are not LSTM shapes")
        if i > 0 and k.shape[0] - k.shape[1] // 4 != layers[i - 1][0].shape[1] // 4:
            raise RLTuneError(f"{source}: layer {i} input does not match layer {i - 1} output")
    attention = None
    if any(n.startswith(scope + _ATTENTION) for n in variables):
        missing = [v for v in ATTENTION_VARIABLES.values() if scope + _ATTENTION + v not in variables]
        if missing:
            raise RLTuneError(f"{source}: incomplete attention wrapper (no {_ATTENTION}{missing[0]})")
        attention = {k: variables[scope + _ATTENTION + v] for k, v in ATTENTION_VARIABLES.items()}
    w = NoteRNNWeights(layers, fc_w, fc_b, attention=attention)
    if fc_w.shape != (w.layer_sizes[-1], fc_b.shape[0]):
        raise RLTuneError(f"{source}: fully connected weights {fc_w.shape} do not fit the last LSTM layer")
    return w


def weights_from_variables(variables: dict[str, np.ndarray], source: str = "checkpoint", configuration: str | None = None,
                           metagraph: bytes | None = None):
    """Recognise a variable layout and build :class:`NoteRNNWeights` from it: (weights, layout name).

    ``configuration``: the melody_rnn configuration (a bundle's generator id); None: inferred from
    the sizes. ``metagraph``: where the attention length is read, and what the checkpoint must fit."""
    for layout, scope, cell, fc_w, fc_b in _LAYOUTS:
        w = _network(variables, scope, cell, fc_w, fc_b, layout, source)
        if w is not None:
            return configure(w, configuration, metagraph, source), layout
    found = ", ".join(f"{n} {list(v.shape)}" for n, v in sorted(variables.items())[:8]) or "no variables"
    more = f" (+{len(variables) - 8} more)" if len(variables) > 8 else ""
    raise RLTuneError(f"{source}: variables match no Note RNN layout (Magenta basic_rnn or RL Tuner); found {found}{more}")


def configure(w, configuration: str | None, metagraph: bytes | None, source: str):
    """Set the weights' configuration (encoder) and attention length, checking that they fit."""
    from rltune.encoders import ENCODERS
    if configuration is None:
        sizes = {(cls.input_size, cls.num_classes, cls.name == "attention_rnn"): name for name, cls in ENCODERS.items()}
        configuration = sizes.get((w.input_size, w.num_classes, w.attention is not None))
        if configuration is None:
            raise RLTuneError(f"{source}: a model of {w.input_size} inputs and {w.num_classes} classes"
                              f"{' with attention' if w.attention else ''} is none of Magenta's melody configurations "
                              f"(basic_rnn 38/38, lookback_rnn 121/40, attention_rnn 74/40 with attention)")
    enc = ENCODERS[configuration]
    if (w.input_size, w.num_classes) != (enc.input_size, enc.num_classes):
        raise RLTuneError(f"{source}: a {configuration} model has {enc.input_size} inputs and {enc.num_classes} classes; "
                          f"its checkpoint has {w.input_size} and {w.num_classes}")
    if (configuration == "attention_rnn") != (w.attention is not None):
        raise RLTuneError(f"{source}: a {configuration} model {'needs' if w.attention is None else 'has no'} attention "
                          f"variables; its checkpoint {'has none' if w.attention is None else 'has them'}")
    w.encoder = configuration
    widths = metagraph_state_widths(metagraph) if metagraph else None
    if widths is not None:
        lstm = [u for i, u in enumerate(w.layer_sizes) for _ in range(4 if i == 0 and w.attention else 2)]
        if len(widths) < len(lstm) or any(a != b for j, (a, b) in enumerate(zip(widths, lstm)) if not (w.attention and j == 3)):
            raise RLTuneError(f"{source}: the metagraph's state sizes {widths} do not fit the checkpoint's layers {w.layer_sizes}")
    if w.attention is not None:
        units = w.layer_sizes[0]
        if widths is None or widths[3] % units:
            raise RLTuneError(f"{source}: the attention length of this attention_rnn model cannot be found "
                              f"(no metagraph with its initial state beside the checkpoint)")
        w.attn_length = widths[3] // units
    return w


def metagraph_state_widths(metagraph: bytes) -> list[int] | None:
    """The widths of a Magenta generation graph's ``initial_state`` tensors, or None if unreadable."""
    from tensorflow.core.protobuf import meta_graph_pb2
    from rltune._tf import tf
    meta = meta_graph_pb2.MetaGraphDef()
    try:
        meta.ParseFromString(metagraph)
    except Exception:  # noqa: BLE001 - protobuf raises several kinds
        return None
    nodes = {n.name: n for n in meta.graph_def.node}
    widths = []
    for name in meta.collection_def["initial_state"].node_list.value:
        node = nodes.get(name.split(":")[0])
        if node is None:
            return None
        if node.op in ("Placeholder", "PlaceholderWithDefault"):
            widths.append(node.attr["shape"].shape.dim[-1].size)
            continue
        dims = nodes.get(node.input[0].split(":")[0]) if node.op == "Fill" and node.input else None
        if dims is not None and dims.op == "ConcatV2":
            dims = nodes.get(dims.input[1].split(":")[0])
        if dims is None or dims.op != "Const":
            return None
        widths.append(int(np.ravel(tf.make_ndarray(dims.attr["value"].tensor))[-1]))
    return widths or None


def scoped_networks(variables: dict[str, np.ndarray], source: str = "checkpoint", main=None) -> dict:
    """Extra Note RNNs stored under a scope next to the main one (``reward_rnn/`` in exported G policies);
    copies of the main network's architecture, so they take its configuration and attention length."""
    scopes = {m.group(1) for n in variables if (m := re.fullmatch(r"(.+/)" + _MAGENTA_CELL, n))} - {"rnn_model/"}
    nets = {}
    for scope in sorted(scopes):
        w = _network(variables, scope, _MAGENTA_CELL, ("fully_connected/weights",),
                     ("fully_connected/biases", "fully_connected/bias"), "Magenta basic_rnn", source)
        if w is not None:
            w.encoder = main.encoder if main is not None else configure(w, None, None, source).encoder
            w.attn_length = main.attn_length if main is not None and w.attention else 0
            nets[scope.rstrip("/")] = w
    return nets


def resolve_checkpoint(path) -> str:
    """A checkpoint prefix from a prefix or a folder (its latest checkpoint)."""
    from rltune._tf import tf
    p = Path(path)
    if p.is_dir():
        latest = tf.train.latest_checkpoint(str(p))
        if latest is None:
            candidates = sorted(p.glob("*.index")) or sorted(p.glob("*.ckpt"))
            if not candidates:
                raise RLTuneError(f"no TensorFlow checkpoint in folder {p}")
            latest = str(candidates[-1].with_suffix("")) if candidates[-1].suffix == ".index" else str(candidates[-1])
        return latest
    if p.exists() or Path(str(p) + ".index").exists():
        return str(p)
    raise RLTuneError(f"checkpoint not found: {p}")


@dataclass
class LoadedModel:
    weights: object  # NoteRNNWeights
    source: str
    kind: str  # "bundle" or "checkpoint"
    layout: str
    bundle: Bundle | None = None
    extra: dict | None = None  # scope -> NoteRNNWeights (e.g. the Reward RNN of an exported G policy)


def load_weights(path) -> LoadedModel:
    """Read Note RNN weights from a .mag bundle, a checkpoint prefix or folder."""
    p = Path(path)
    if not p.exists() and not Path(str(p) + ".index").exists():
        raise RLTuneError(f"model not found: {p}")
    if p.is_file() and p.suffix == ".mag":
        return _load_bundle(p)
    prefix = resolve_checkpoint(p)
    try:
        variables = read_checkpoint_variables(prefix)
    except RLTuneError:
        if p.is_file():  # a bundle without the .mag suffix?
            try:
                return _load_bundle(p)
            except RLTuneError:
                pass
        raise
    meta = Path(prefix + ".meta")
    w, layout = weights_from_variables(variables, source=prefix, metagraph=meta.read_bytes() if meta.is_file() else None)
    return LoadedModel(w, prefix, "checkpoint", layout, extra=scoped_networks(variables, prefix, w))


def _load_bundle(p: Path) -> LoadedModel:
    bundle = read_bundle(p)
    variables = bundle_variables(bundle)
    w, layout = weights_from_variables(variables, source=str(p), configuration=bundle.generator_id,
                                       metagraph=bundle.metagraph or None)
    return LoadedModel(w, str(p), "bundle", layout, bundle=bundle, extra=scoped_networks(variables, str(p), w))


def bundle_info(path) -> dict:
    """What a bundle holds: ids, descriptions and the architecture inferred from its checkpoint."""
    bundle = read_bundle(path)
    variables = bundle_variables(bundle)
    weights, layout = weights_from_variables(variables, source=str(path), configuration=bundle.generator_id,
                                             metagraph=bundle.metagraph or None)
    return {
        "bundle": str(path),
        "generator_id": bundle.generator_id,
        "generator_description": bundle.generator_description,
        "bundle_description": bundle.bundle_description,
        "layout": layout,
        "architecture": weights.architecture(),
        "variables": {k: list(v.shape) for k, v in sorted(variables.items())},
        "checkpoint_bytes": len(bundle.checkpoint),
        "metagraph_bytes": len(bundle.metagraph),
    }


def unpack_bundle(path, output_dir) -> dict:
    """Write a bundle's checkpoint (``model.ckpt``, V1, TensorFlow-readable),
    metagraph (``model.ckpt.meta``) and ``bundle.json``; returns the info dict."""
    import json
    from rltune.outputs import staged_dir
    info = bundle_info(path)
    bundle = read_bundle(path)
    with staged_dir(output_dir) as tmp:
        (tmp / "model.ckpt").write_bytes(bundle.checkpoint)
        if bundle.metagraph:
            (tmp / "model.ckpt.meta").write_bytes(bundle.metagraph)
        (tmp / "checkpoint").write_text('model_checkpoint_path: "model.ckpt"\nall_model_checkpoint_paths: "model.ckpt"\n')
        (tmp / "bundle.json").write_text(json.dumps(info, indent=2) + "\n")
    info["files"] = ["model.ckpt", "model.ckpt.meta", "checkpoint", "bundle.json"] if bundle.metagraph else \
        ["model.ckpt", "checkpoint", "bundle.json"]
    info["output_dir"] = str(output_dir)
    return info
