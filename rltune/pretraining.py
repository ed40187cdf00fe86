"""Train a Note RNN on melodies (teacher forcing) and write a Magenta bundle.

The loss is Magenta's: next-event cross-entropy over every real step of
padded, masked batches; Adam with global-norm clipping. Batches are drawn from
length buckets so little time goes to padding. Work files (dataset cache,
checkpoints, TensorBoard scalars, metrics) live in a work folder beside the
output bundle; ``resume`` continues from its last checkpoint.
"""
from __future__ import annotations

import json
from rltune.outputs import on_sigterm_interrupt, restore_sigterm
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
    from rltune._tf import use_one_thread_per_op
    from rltune.magenta_graph import write_note_rnn_bundle
    from rltune.outputs import check_writable
    from rltune.runs import write_json

    config.validate()
    use_one_thread_per_op()
    output = Path(output)
    if output.suffix != ".mag":
        raise RLTuneError(f"the output {output} must end in .mag")
    check_writable(output)
    if output.exists() and not (force or resume):
        raise RLTuneError(f"{output} exists; pass --force to overwrite it")
    work = Path(work_dir) if work_dir else work_dir_for(output)
    report = reporter or (lambda kind, **kw: None)
    t_start = time.time()
    ds = _dataset(inputs, config, work, resume, report)
    trainer = Pretrainer(ds, config, work, resume, report)
    trainer.train()
    last = trainer.history[-1]
    desc = description or (f"rltune pretrain: basic_rnn {trainer.net.layer_sizes}, {trainer.step} steps, batch "
                           f"{config.batch_size}, {ds.summary()['train_melodies']} training melodies; held-out "
                           f"log-perplexity {last['log_perplexity']:.4f}, accuracy {last['accuracy']:.4f}")
    write_note_rnn_bundle(output, trainer.net.get_weights(), desc)
    result = PretrainResult(str(output), trainer.step, trainer.interrupted, trainer.events_per_s(), last,
                            trainer.history, ds.summary(), time.time() - t_start)
    write_json(work / "result.json", result.to_dict())
    return result


def _dataset(inputs, config: PretrainConfig, work: Path, resume: bool, report):
    """The work folder's cached dataset when resuming, else one built from ``inputs``."""
    from rltune.data import build_dataset, find_music_files, load_dataset, save_dataset
    cache = work / "dataset.npz"
    if resume and cache.exists():
        ds = load_dataset(cache)
    else:
        if not inputs:
            raise RLTuneError("give at least one input file or folder")
        report("dataset_start", files=len(find_music_files(inputs)))
        ds = build_dataset(inputs, config.eval_ratio, config.seed, progress=lambda: report("file_done"))
        work.mkdir(parents=True, exist_ok=True)
        save_dataset(ds, cache)
    report("dataset", summary=ds.summary())
    return ds


class Pretrainer:
    """Teacher-forced training of a Note RNN, with checkpoints and evaluations in a work folder."""

    def __init__(self, ds, config: PretrainConfig, work: Path, resume: bool, report):
        from rltune._tf import tf
        from rltune.note_rnn import NoteRNN, NoteRNNWeights, random_weights
        from rltune.optim import Adam
        from rltune.runs import CheckpointDir
        self.ds, self.config, self.work, self.report = ds, config, work, report
        self.checkpoints = CheckpointDir(work / "checkpoints")
        self.step, arrays = 0, None
        if resume and self.checkpoints.steps():
            self.step, arrays = self.checkpoints.load(what="pretraining work folder")
            weights = NoteRNNWeights.from_arrays("model", arrays)
            config.layers = weights.layer_sizes
        else:
            weights = random_weights(config.layers, seed=config.seed)
        self.net = NoteRNN(weights, name="note_rnn", trainable=True)
        self.opt = Adam(self.net.weight_variables, config.learning_rate, clip_norm=config.clip_norm, clip="global")
        if arrays is not None:
            self.opt.load_state(arrays)
        self.batches = Batches(ds.train, config.batch_size, config.max_length, np.random.default_rng(config.seed))
        self.writer = tf.summary.create_file_writer(str(work / "tb"))
        history = work / "history.json"
        self.history = json.loads(history.read_text()) if resume and history.exists() else []
        self.events, self.seconds, self.interrupted = 0, 0.0, False
        self._train_step = tf.function(self._train_step_eager, reduce_retracing=True)

    def _train_step_eager(self, x, y, mask):
        from rltune._tf import tf
        with tf.GradientTape() as tape:
            logits = self.net.sequence_logits(x, dropout=self.config.dropout, training=True)
            ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
            loss = tf.reduce_sum(ce * mask) / tf.reduce_sum(mask)
        self.opt.apply(tape.gradient(loss, self.net.weight_variables))
        correct = tf.cast(tf.equal(tf.cast(tf.argmax(logits, -1), tf.int32), y), tf.float32)
        return loss, tf.reduce_sum(correct * mask) / tf.reduce_sum(mask)

    def train(self):
        """Steps until ``config.steps``; Ctrl-C (or SIGTERM) stops and keeps what was trained."""
        previous = on_sigterm_interrupt()
        try:
            self.report("train_start", step=self.step, steps=self.config.steps)
            while self.step < self.config.steps:
                self.train_one_batch()
                if self.step % self.config.eval_every == 0 or self.step == self.config.steps:
                    self.evaluate()
                    self.save()
        except KeyboardInterrupt:
            self.interrupted = True
            self.report("interrupted", step=self.step)
        finally:
            restore_sigterm(previous)
        if not self.history or self.history[-1]["step"] != self.step:
            self.evaluate()
        self.save()

    def train_one_batch(self):
        from rltune._tf import tf
        x, y, mask = self.batches()
        t0 = time.perf_counter()
        loss, acc = self._train_step(tf.constant(x), tf.constant(y), tf.constant(mask))
        loss, acc = float(loss), float(acc)
        if self.step > 0 or not self.history:  # the first call traces; keep it out of the speed figure
            self.seconds += time.perf_counter() - t0
            self.events += int(mask.sum())
        self.step += 1
        if not np.isfinite(loss):
            raise RLTuneError(f"the loss became {loss} at step {self.step}; try a lower --learning-rate")
        with self.writer.as_default():
            tf.summary.scalar("train/loss", loss, step=self.step)
            tf.summary.scalar("train/accuracy", acc, step=self.step)
        self.report("step", step=self.step, loss=loss, accuracy=acc, perplexity=float(np.exp(loss)))

    def evaluate(self) -> dict:
        from rltune._tf import tf
        r = evaluate_log_perplexity(self.net, self.ds.eval or self.ds.train[:256], max_length=self.config.max_length)
        r["step"] = self.step
        self.history.append(r)
        with self.writer.as_default():
            tf.summary.scalar("eval/log_perplexity", r["log_perplexity"], step=self.step)
            tf.summary.scalar("eval/accuracy", r["accuracy"], step=self.step)
        self.report("eval", **r)
        return r

    def save(self):
        from rltune.runs import write_json
        self.work.mkdir(parents=True, exist_ok=True)
        self.checkpoints.save(self.step, {**self.net.get_weights().to_arrays("model"), **self.opt.state()}, keep=2)
        write_json(self.work / "history.json", self.history)

    def events_per_s(self) -> float:
        """Real (unpadded) training events per second of training computation."""
        return self.events / self.seconds if self.seconds else 0.0
