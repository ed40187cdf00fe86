"""Bundle and checkpoint I/O: Magenta ``.mag`` bundles, Magenta basic_rnn
checkpoints and RL Tuner (paper-format) Note RNN checkpoints.

Layer sizes are always read from the variables' shapes.
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

SUPPORTED_GENERATORS = ("basic_rnn",)


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
_MAGENTA_CELL = r"rnn/multi_rnn_cell/cell_(\d+)/(?:basic_lstm_cell|lstm_cell)/(kernel|bias)"
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
    w = NoteRNNWeights(layers, fc_w, fc_b)
    if fc_w.shape != (w.layer_sizes[-1], fc_b.shape[0]):
        raise RLTuneError(f"{source}: fully connected weights {fc_w.shape} do not fit the last LSTM layer")
    return w


def weights_from_variables(variables: dict[str, np.ndarray], source: str = "checkpoint"):
    """Recognise a variable layout and build :class:`NoteRNNWeights` from it: (weights, layout name)."""
    for layout, scope, cell, fc_w, fc_b in _LAYOUTS:
        w = _network(variables, scope, cell, fc_w, fc_b, layout, source)
        if w is not None:
            return w, layout
    found = ", ".join(f"{n} {list(v.shape)}" for n, v in sorted(variables.items())[:8]) or "no variables"
    more = f" (+{len(variables) - 8} more)" if len(variables) > 8 else ""
    raise RLTuneError(f"{source}: variables match no Note RNN layout (Magenta basic_rnn or RL Tuner); found {found}{more}")


def scoped_networks(variables: dict[str, np.ndarray], source: str = "checkpoint") -> dict:
    """Extra Note RNNs stored under a scope next to the main one (``reward_rnn/`` in exported G policies)."""
    scopes = {m.group(1) for n in variables if (m := re.fullmatch(r"(.+/)" + _MAGENTA_CELL, n))} - {"rnn_model/"}
    nets = {}
    for scope in sorted(scopes):
        w = _network(variables, scope, _MAGENTA_CELL, ("fully_connected/weights",),
                     ("fully_connected/biases", "fully_connected/bias"), "Magenta basic_rnn", source)
        if w is not None:
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
    w, layout = weights_from_variables(variables, source=prefix)
    return LoadedModel(w, prefix, "checkpoint", layout, extra=scoped_networks(variables, prefix))


def _load_bundle(p: Path) -> LoadedModel:
    bundle = read_bundle(p)
    variables = bundle_variables(bundle)
    w, layout = weights_from_variables(variables, source=str(p))
    return LoadedModel(w, str(p), "bundle", layout, bundle=bundle, extra=scoped_networks(variables, str(p)))


def bundle_info(path) -> dict:
    """What a bundle holds: ids, descriptions and the architecture inferred from its checkpoint."""
    bundle = read_bundle(path)
    variables = bundle_variables(bundle)
    weights, layout = weights_from_variables(variables, source=str(path))
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
