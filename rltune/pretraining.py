"""Train a Note RNN on melodies (teacher forcing) and write a Magenta bundle.

The loss is Magenta's: next-event cross-entropy over every real step of
padded, masked batches; Adam with global-norm clipping. Batches are drawn from
length buckets so little time goes to padding. Work files (dataset cache,
checkpoints, TensorBoard scalars, metrics) live in a work folder beside the
output bundle; ``resume`` continues from its last checkpoint.
"""
from __future__ import annotations

import json
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rltune.config import PretrainConfig
from rltune.errors import RLTuneError


@dataclass
class PretrainResult:
    output: str
    steps: int
    interrupted: bool
    train_events_per_s: float
    eval: dict
    history: list
    dataset: dict
    seconds: float

    def to_dict(self):
        return self.__dict__.copy()


def work_dir_for(output) -> Path:
    out = Path(output)
    return out.with_name(out.stem + ".pretrain")


class Batches:
    """Batches of exactly ``batch_size`` melodies, every melody drawn equally often,
    with lengths bucketed so that little time goes to padding.

    Melodies come from an endless stream of random permutations (so a set smaller
    than a batch fills it by cycling, as Magenta's input queue does); each pool of
    ``pool_batches`` batches is sorted by length, cut into batches, and the
    batches are served in random order."""

    def __init__(self, melodies, batch_size: int, max_length: int, rng: np.random.Generator, pool_batches: int = 16):
        self.mels = [m[:max_length + 1] for m in melodies if len(m) >= 2]
        if not self.mels:
            raise RLTuneError("no melody of at least 2 steps to train on")
        self.lengths = np.array([len(m) for m in self.mels])
        self.batch_size, self.rng, self.pool_batches = batch_size, rng, pool_batches
        self._stream = np.zeros(0, np.int64)
        self._ready: list[np.ndarray] = []

    def next_indices(self) -> np.ndarray:
        if not self._ready:
            need = self.batch_size * self.pool_batches
            while len(self._stream) < need:
                self._stream = np.concatenate([self._stream, self.rng.permutation(len(self.mels))])
            pool, self._stream = self._stream[:need], self._stream[need:]
            pool = pool[np.argsort(self.lengths[pool], kind="stable")]
            batches = pool.reshape(self.pool_batches, self.batch_size)
            self._ready = [batches[i] for i in self.rng.permutation(self.pool_batches)]
        return self._ready.pop()

    def __call__(self):
        return pad([self.mels[i] for i in self.next_indices()])


def pad(melodies):
    t = max(len(m) for m in melodies) - 1
    x = np.zeros((len(melodies), t), np.int32)
    y = np.zeros((len(melodies), t), np.int32)
    mask = np.zeros((len(melodies), t), np.float32)
    for i, m in enumerate(melodies):
        n = len(m) - 1
        x[i, :n], y[i, :n], mask[i, :n] = m[:-1], m[1:], 1.0
    return x, y, mask


def evaluate_log_perplexity(net, melodies, batch_size=128, max_length=512) -> dict:
    """Mean cross-entropy (nats per event) and accuracy of next-event prediction."""
    from rltune._tf import tf
    mels = sorted((m[:max_length + 1] for m in melodies if len(m) >= 2), key=len)
    total_ce, total_correct, total = 0.0, 0.0, 0.0
    fn = _eval_fn(net)
    for i in range(0, len(mels), batch_size):
        x, y, mask = pad(mels[i:i + batch_size])
        ce, correct = fn(tf.constant(x), tf.constant(y), tf.constant(mask))
        total_ce += float(ce)
        total_correct += float(correct)
        total += float(mask.sum())
    if not total:
        return {"log_perplexity": float("nan"), "accuracy": float("nan"), "events": 0}
    return {"log_perplexity": total_ce / total, "accuracy": total_correct / total, "events": int(total)}


def _eval_fn(net):
    from rltune._tf import tf

    @tf.function(reduce_retracing=True)
    def fn(x, y, mask):
        logits = net.sequence_logits(x)
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
        correct = tf.cast(tf.equal(tf.cast(tf.argmax(logits, -1), tf.int32), y), tf.float32)
        return tf.reduce_sum(ce * mask), tf.reduce_sum(correct * mask)
    return fn


def pretrain(inputs, output, config: PretrainConfig, *, resume: bool = False, force: bool = False,
             work_dir=None, reporter=None, description: str | None = None) -> PretrainResult:
    """Build the dataset, train, and write ``output`` (.mag). ``reporter`` gets progress events."""
    from rltune._tf import tf
    from rltune.runs import CheckpointDir, write_json
    from rltune.outputs import check_writable
    from rltune.data import build_dataset, load_dataset, save_dataset
    from rltune.magenta_graph import write_note_rnn_bundle
    from rltune.note_rnn import NoteRNN, NoteRNNWeights, random_weights
    from rltune.optim import Adam

    config.validate()
    output = Path(output)
    if output.suffix != ".mag":
        raise RLTuneError(f"the output {output} must end in .mag")
    check_writable(output)
    if output.exists() and not (force or resume):
        raise RLTuneError(f"{output} exists; pass --force to overwrite it")
    work = Path(work_dir) if work_dir else work_dir_for(output)
    report = reporter or (lambda kind, **kw: None)
    t_start = time.time()

    ds_cache = work / "dataset.npz"
    if resume and ds_cache.exists():
        ds = load_dataset(ds_cache)
    else:
        if not inputs:
            raise RLTuneError("give at least one input file or folder")
        from rltune.data import find_music_files
        n_files = len(find_music_files(inputs))
        report("dataset_start", files=n_files)
        ds = build_dataset(inputs, config.eval_ratio, config.seed, progress=lambda: report("file_done"))
        work.mkdir(parents=True, exist_ok=True)
        save_dataset(ds, ds_cache)
    report("dataset", summary=ds.summary())

    rng = np.random.default_rng(config.seed)
    state_arrays, step = None, 0
    checkpoints = CheckpointDir(work / "checkpoints")
    if resume and checkpoints.steps():
        step, state_arrays = checkpoints.load(what="pretraining work folder")
        weights = NoteRNNWeights.from_arrays("model", state_arrays)
        if weights.layer_sizes != config.layers:
            config.layers = weights.layer_sizes
    else:
        weights = random_weights(config.layers, seed=config.seed)
    net = NoteRNN(weights, name="note_rnn", trainable=True)
    opt = Adam(net.weight_variables, config.learning_rate, clip_norm=config.clip_norm, clip="global")
    if state_arrays is not None:
        opt.load_state(state_arrays)
    batches = Batches(ds.train, config.batch_size, config.max_length, rng)

    @tf.function(reduce_retracing=True)
    def train_step(x, y, mask):
        with tf.GradientTape() as tape:
            logits = net.sequence_logits(x, dropout=config.dropout, training=True)
            ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
            loss = tf.reduce_sum(ce * mask) / tf.reduce_sum(mask)
        grads = tape.gradient(loss, net.weight_variables)
        opt.apply(grads)
        correct = tf.cast(tf.equal(tf.cast(tf.argmax(logits, -1), tf.int32), y), tf.float32)
        return loss, tf.reduce_sum(correct * mask) / tf.reduce_sum(mask)

    writer = tf.summary.create_file_writer(str(work / "tb"))
    history = json.loads((work / "history.json").read_text()) if resume and (work / "history.json").exists() else []
    events_done, train_seconds, interrupted = 0, 0.0, False

    def save():
        work.mkdir(parents=True, exist_ok=True)
        checkpoints.save(step, {**net.get_weights().to_arrays("model"), **opt.state()}, keep=2)
        write_json(work / "history.json", history)

    def evaluate():
        r = evaluate_log_perplexity(net, ds.eval or ds.train[:256], max_length=config.max_length)
        r["step"] = step
        history.append(r)
        with writer.as_default():
            tf.summary.scalar("eval/log_perplexity", r["log_perplexity"], step=step)
            tf.summary.scalar("eval/accuracy", r["accuracy"], step=step)
        report("eval", **r)
        return r

    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        report("train_start", step=step, steps=config.steps)
        while step < config.steps:
            x, y, mask = batches()
            t0 = time.perf_counter()
            loss, acc = train_step(tf.constant(x), tf.constant(y), tf.constant(mask))
            loss, acc = float(loss), float(acc)
            if step > 0 or not history:  # the first call traces; keep it out of the speed figure
                train_seconds += time.perf_counter() - t0
                events_done += int(mask.sum())
            step += 1
            if not np.isfinite(loss):
                raise RLTuneError(f"the loss became {loss} at step {step}; try a lower --learning-rate")
            with writer.as_default():
                tf.summary.scalar("train/loss", loss, step=step)
                tf.summary.scalar("train/accuracy", acc, step=step)
            report("step", step=step, loss=loss, accuracy=acc, perplexity=float(np.exp(loss)))
            if step % config.eval_every == 0 or step == config.steps:
                evaluate()
                save()
    except KeyboardInterrupt:
        interrupted = True
        report("interrupted", step=step)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not history or history[-1]["step"] != step:
        evaluate()
    save()
    desc = description or (f"rltune pretrain: basic_rnn {net.layer_sizes}, {step} steps, batch {config.batch_size}, "
                           f"{ds.summary()['train_melodies']} training melodies; held-out log-perplexity "
                           f"{history[-1]['log_perplexity']:.4f}, accuracy {history[-1]['accuracy']:.4f}")
    write_note_rnn_bundle(output, net.get_weights(), desc)
    result = PretrainResult(str(output), step, interrupted, events_done / train_seconds if train_seconds else 0.0,
                            history[-1], history, ds.summary(), time.time() - t_start)
    write_json(work / "result.json", result.to_dict())
    return result
