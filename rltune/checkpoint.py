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


def atomic_write_bytes(path, data: bytes):
    path = Path(path)
    check_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def check_writable(path):
    """Fail early, with one line, when ``path``'s folder cannot take a file."""
    parent = Path(path).parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RLTuneError(f"cannot create folder {parent}: {e.strerror}") from None
    if not os.access(parent, os.W_OK):
        raise RLTuneError(f"cannot write to {parent}: permission denied")


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


# Variable layouts: (LSTM kernel/bias pattern with the layer number as group 1, fc weights, fc bias names)
_LAYOUTS = (
    ("Magenta basic_rnn", r"(?:.*/)?rnn/multi_rnn_cell/cell_(\d+)/(?:basic_lstm_cell|lstm_cell)/(kernel|bias)",
     ("fully_connected/weights",), ("fully_connected/biases", "fully_connected/bias")),
    ("RL Tuner Note RNN (TF 1.x)", r"rnn_model/rnn/multi_rnn_cell/cell_(\d+)/(?:lstm_cell|basic_lstm_cell)/(kernel|bias)",
     ("rnn_model/fully_connected/weights",), ("rnn_model/fully_connected/bias", "rnn_model/fully_connected/biases")),
    ("RL Tuner Note RNN (pre-1.0 names)", r"rnn_model/RNN/MultiRNNCell/Cell(\d+)/(?:LSTMCell|BasicLSTMCell)/(W_0|B)",
     ("rnn_model/fully_connected/weights",), ("rnn_model/fully_connected/bias", "rnn_model/fully_connected/biases")),
)


def weights_from_variables(variables: dict[str, np.ndarray], source: str = "checkpoint"):
    """Recognise a variable layout and build :class:`NoteRNNWeights` from it."""
    from rltune.note_rnn import NoteRNNWeights

    for layout, pattern, fc_w_names, fc_b_names in _LAYOUTS:
        cells: dict[int, dict[str, np.ndarray]] = {}
        for name, value in variables.items():
            m = re.fullmatch(pattern, name)
            if m and not name.endswith(("/Adam", "/Adam_1")):
                part = {"W_0": "kernel", "B": "bias"}.get(m.group(2), m.group(2))
                cells.setdefault(int(m.group(1)), {})[part] = value
        fc_w = next((variables[n] for n in fc_w_names if n in variables), None)
        fc_b = next((variables[n] for n in fc_b_names if n in variables), None)
        if layout == "Magenta basic_rnn" and any(n.startswith("rnn_model/") for n in variables):
            continue
        if not cells or fc_w is None or fc_b is None:
            continue
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
        return w, layout
    found = ", ".join(f"{n} {list(v.shape)}" for n, v in sorted(variables.items())[:8]) or "no variables"
    more = f" (+{len(variables) - 8} more)" if len(variables) > 8 else ""
    raise RLTuneError(f"{source}: variables match no Note RNN layout (Magenta basic_rnn or RL Tuner); found {found}{more}")


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
    return LoadedModel(w, prefix, "checkpoint", layout)


def _load_bundle(p: Path) -> LoadedModel:
    bundle = read_bundle(p)
    w, layout = weights_from_variables(bundle_variables(bundle), source=str(p))
    return LoadedModel(w, str(p), "bundle", layout, bundle=bundle)


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
