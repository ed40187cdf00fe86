"""The RL Tuner training loop, vectorised: ``num_envs`` compositions in lockstep.

Read :meth:`Trainer.play_batch` top to bottom, as CleanRL's ``dqn.py``: prime
a batch of compositions; for each of their steps, act (a compiled step of
the Q network and the Reward RNN), score the notes with the rules (numpy,
over the batch), store the transitions and learn (one compiled call: the
updates the replay ratio asks for, each followed by a soft target update).
After each batch: log, evaluate, checkpoint (:meth:`Trainer.after_batch`).

The networks and compiled functions are in :mod:`rltune.tuner`, the replay
buffer in :mod:`rltune.replay`, priming in :mod:`rltune.priming`, the run
folder in :mod:`rltune.runs`; what differs between Q, Psi and G is in
:mod:`rltune.algorithms`.
"""
from __future__ import annotations

import math
from rltune.outputs import on_sigterm_interrupt, restore_sigterm
import time
from pathlib import Path

import numpy as np

from rltune._tf import tf
from rltune.config import TrainConfig
from rltune.errors import RLTuneError
from rltune.priming import Primers
from rltune.rules import Rules, load_user_rule
from rltune.runs import Run
from rltune.tuner import Counters, RLTuner


class Callback:
    """What the training loop tells its caller (stable-baselines3 style); override what you need.
    Raising ``KeyboardInterrupt`` from a hook stops training as Ctrl-C does."""

    def on_start(self, step: int, total: int):
        pass

    def on_batch(self, step: int, total: int, loss: float, epsilon: float, reward: float, steps_per_s: float):
        pass

    def on_evaluation(self, point: dict):
        pass

    def on_interrupt(self, step: int):
        pass


def epsilon_at(step: int, config: TrainConfig) -> float:
    """The original's linear_annealing from 1.0 to ``epsilon`` over ``exploration_steps``."""
    if step >= config.exploration_steps:
        return config.epsilon
    return 1.0 - step * (1.0 - config.epsilon) / config.exploration_steps


class UpdateSchedule:
    """How many minibatch updates follow each acting step: ``replay_ratio`` transitions per
    environment step, in minibatches, once ``learning_starts`` steps are in the buffer; the
    fraction of an update left over carries to the next step."""

    def __init__(self, config: TrainConfig):
        self.per_step = config.replay_ratio / config.minibatch_size
        # without replacement a minibatch needs that many transitions (the original waits for them)
        full = config.minibatch_size if config.replay_sampling == "without-replacement" else 1
        self.learning_starts = max(config.learning_starts, full)
        self.credit = 0.0

    def updates(self, env_steps: int, new_steps: int) -> int:
        if env_steps < self.learning_starts:
            return 0
        self.credit += self.per_step * new_steps
        n = int(self.credit)
        self.credit -= n
        return n


def build_rules(config: TrainConfig) -> Rules:
    return Rules(config.key, config.rules, dict(config.rule_weights), [load_user_rule(s) for s in config.user_rules])


def evaluate_policy(policy, rules: Rules, n: int, length: int, primers: Primers, seed: int) -> dict:
    """Sample ``n`` compositions; mean log p and (weighted) music-theory reward per composition."""
    primer, lengths = primers(n)
    out = policy.sample(primer, length, primer_lengths=lengths, seed=seed, predict_next=primers.predict_next)
    comps = out["events"].astype(np.int64)
    state = rules.new_state(n)
    r_mt = np.zeros(n)
    for t in range(length):
        r_mt += rules.step(comps[:, :t], comps[:, t], t, length, state)[0]
    return {"compositions": comps, "mean_log_p": float(out["log_p"].sum(axis=1).mean()),
            "mean_log_p_per_note": float(out["log_p"].mean()), "mean_music_theory_reward": float(r_mt.mean())}


class Trainer:
    """One training segment of a run: from its counters to ``config.steps`` (or a time limit)."""

    def __init__(self, run: Run, tuner: RLTuner, counters: Counters, callback: Callback | None = None,
                 primers: Primers | None = None):
        self.run, self.tuner, self.counters = run, tuner, counters
        self.config = cfg = tuner.config
        self.callback = callback or Callback()
        self.rules = build_rules(cfg)
        self.primers = (primers or Primers(cfg, np.random.default_rng(0))).reseeded(
            np.random.default_rng(cfg.seed + counters.env_steps))
        self.eval_primers = self.primers.reseeded(np.random.default_rng(cfg.seed + 1))
        self.schedule = UpdateSchedule(cfg)
        self.history = run.history()
        self.writer = tf.summary.create_file_writer(str(run.tensorboard_dir))
        self.start_step, self.seconds, self.learn_seconds = counters.env_steps, 0.0, 0.0
        self.loss, self.epsilon, self.recent = float("nan"), 1.0, []
        self.last_eval = None
        self.interrupted = self.stopped_for_time = False

    # -- the loop -------------------------------------------------------------
    def train(self) -> dict:
        """Play batches until ``steps``; Ctrl-C (or SIGTERM) stops after saving. Returns the final evaluation."""
        cfg, c = self.config, self.counters
        if not self.history or self.history[-1]["step"] != c.env_steps:
            self.evaluate()
        self.save()  # a good checkpoint exists from the segment's start
        self.callback.on_start(c.env_steps, cfg.steps)
        previous = on_sigterm_interrupt()
        t0 = time.time()
        try:
            while c.env_steps < cfg.steps:
                if cfg.time_limit and time.time() - t0 > cfg.time_limit:
                    self.stopped_for_time = True
                    break
                self.play_batch()
                self.seconds = time.time() - t0
                self.after_batch()
        except KeyboardInterrupt:
            self.interrupted = True
            self.callback.on_interrupt(c.env_steps)
        finally:
            restore_sigterm(previous)
            self.seconds = time.time() - t0
        final = self.evaluate()
        self.save()
        return final

    def play_batch(self):
        """One batch of compositions, step by step: act, score, store and learn."""
        cfg, tuner, c = self.config, self.tuner, self.counters
        B, T = cfg.num_envs, cfg.length
        q_state, r_state, obs = tuner.prime(*self.primers(B), predict_next=self.primers.predict_next)
        compositions, leap = np.zeros((B, T), np.int64), self.rules.new_state(B)
        total_reward = np.zeros(B)
        boltzmann = tf.constant(cfg.exploration == "boltzmann")
        for t in range(T):
            # 1. act: every composition plays one note
            self.epsilon = epsilon_at(c.env_steps, cfg)
            seed = tf.constant([cfg.seed * 1_000_003 + c.env_steps, t], tf.int64)
            step = tuner.act(obs, q_state, r_state, tf.constant(self.epsilon, tf.float32), boltzmann, seed)
            # 2. score: the rules over the batch, plus log p(a|s) where the algorithm's reward has it
            played = step["event"].numpy()
            r_mt, _ = self.rules.step(compositions, played, t, T, leap)
            compositions[:, t] = played
            reward = tuner.algo.reward(step["log_p"].numpy(), cfg.reward_scaler * r_mt)
            total_reward += reward
            c.env_steps += B
            # 3. store, and 4. learn (each update followed by the soft target update)
            n_updates = self.schedule.updates(c.env_steps, B)
            t_learn = time.perf_counter()
            loss, target = tuner.store_and_learn(obs, step, tf.constant(reward, tf.float32), q_state, n_updates,
                                                 tf.constant([cfg.seed * 1_000_003 + c.env_steps, 7], tf.int64))
            if n_updates:
                self.check_loss(float(loss), float(target))
                self.learn_seconds += time.perf_counter() - t_learn
                c.updates += n_updates
            obs, q_state, r_state = step["event"], step["q_state"], step["r_state"]
        c.compositions += B
        self.recent = (self.recent + [float(total_reward.mean())])[-20:]

    def after_batch(self):
        """5. log; 6. evaluate and checkpoint on their cadence."""
        cfg, step = self.config, self.counters.env_steps
        steps_per_s = (step - self.start_step) / max(self.seconds, 1e-9)
        self.callback.on_batch(step, cfg.steps, self.loss, self.epsilon, float(np.mean(self.recent)), steps_per_s)
        with self.writer.as_default():
            tf.summary.scalar("train/loss", self.loss, step=step)
            tf.summary.scalar("train/composition_reward", self.recent[-1], step=step)
            tf.summary.scalar("train/epsilon", self.epsilon, step=step)
        previous = step - cfg.num_envs * cfg.length
        if step // cfg.eval_every > previous // cfg.eval_every:
            self.evaluate()
        if step // cfg.checkpoint_every > previous // cfg.checkpoint_every:
            self.save()

    def check_loss(self, loss: float, target: float):
        self.loss = loss
        if not (math.isfinite(loss) and math.isfinite(target)):
            raise RLTuneError(f"the loss became {loss} at step {self.counters.env_steps}; the last good checkpoint is kept "
                              f"in {self.run.checkpoints.path} (try a lower --learning-rate or --reward-scaler)")

    # -- records --------------------------------------------------------------
    def evaluate(self) -> dict:
        step = self.counters.env_steps
        if self.last_eval and self.last_eval[0] == step:
            return self.last_eval[1]
        r = evaluate_policy(self.tuner.policy, self.rules, self.config.eval_compositions, self.config.length,
                            self.eval_primers, seed=step)
        point = {"step": step, **{k: r[k] for k in ("mean_log_p", "mean_music_theory_reward", "mean_log_p_per_note")},
                 "seconds": self.seconds}
        self.history = [h for h in self.history if h["step"] < step] + [point]
        with self.writer.as_default():
            tf.summary.scalar("eval/mean_log_p", point["mean_log_p"], step=step)
            tf.summary.scalar("eval/mean_music_theory_reward", point["mean_music_theory_reward"], step=step)
        self.callback.on_evaluation(point)
        self.last_eval = (step, r)
        return r

    def save(self):
        step = self.counters.env_steps
        self.run.checkpoints.save(step, self.tuner.arrays(self.counters))
        self.run.save_progress(self.history, step, self.segment())

    def segment(self) -> dict:
        steps = self.counters.env_steps - self.start_step
        return {"start_step": self.start_step, "end_step": self.counters.env_steps, "seconds": round(self.seconds, 3),
                "learn_seconds": round(self.learn_seconds, 3), "env_steps_per_s": steps / self.seconds if self.seconds else 0.0,
                "interrupted": self.interrupted, "stopped_for_time_limit": self.stopped_for_time}


# -- entry points -------------------------------------------------------------
def train(model, run_dir, config: TrainConfig, *, force: bool = False, callback: Callback | None = None) -> dict:
    """Tune ``model`` (a Note RNN path; None: the shipped default) into a new run folder; the summary."""
    from rltune._tf import use_one_thread_per_op
    from rltune.checkpoint import load_weights
    from rltune.loading import default_bundle
    use_one_thread_per_op()  # measured: 29,633 env steps/s against 25,136 with TensorFlow's default pools
    config.validate()
    build_rules(config)  # user rules load, weights name real rules
    Run.check_new(run_dir, force)
    model_path = Path(model) if model else default_bundle()
    weights = load_weights(model_path).weights
    primers = Primers(config, np.random.default_rng(0))  # primer files read: fail before the folder is touched
    created = not Path(run_dir).exists()
    with Run(run_dir).lock():
        run = Run.create(run_dir, config, model_path, force=force)
        try:
            return _train_segment(run, RLTuner(config, {"q": weights}), Counters(), callback, primers)
        except RLTuneError:
            run.discard_if_unstarted(created)
            raise


def resume(run_dir, overrides: dict | None = None, *, step: int | None = None, model=None,
           callback: Callback | None = None) -> dict:
    """Continue a run from its newest readable checkpoint (or ``step``); ``overrides`` may change
    only the resumable settings (steps, time limit, evaluation and checkpoint cadence)."""
    from rltune._tf import use_one_thread_per_op
    use_one_thread_per_op()
    run = Run.open(run_dir)
    if model is not None and Path(model).resolve() != run.model.resolve():
        raise RLTuneError(f"the model cannot change when resuming (run {run.path} was tuned from {run.model})")
    with run.lock():
        config = run.config.resumed_with(overrides or {}, where=f"run {run.path}").validate()
        at, arrays = run.load_checkpoint(step)
        counters = Counters(**{k: int(arrays[k]) for k in vars(Counters())})
        if counters.env_steps >= config.steps:
            return {**_summary_head(run), "env_steps": counters.env_steps, "already_done": True, "steps": config.steps}
        run.save_config(config)
        return _train_segment(run, RLTuner.from_arrays(config, arrays), counters, callback)


def _train_segment(run: Run, tuner: RLTuner, counters: Counters, callback, primers: Primers | None = None) -> dict:
    from rltune.melodies import events_to_sequence, write_midi
    from rltune.metrics import table_row_values
    run.start_segment(counters.env_steps)
    trainer = Trainer(run, tuner, counters, callback, primers)
    final = trainer.train()
    cfg = tuner.config
    run.samples_dir.mkdir(exist_ok=True)
    for i, ev in enumerate(final["compositions"][:cfg.num_samples]):
        write_midi(events_to_sequence(ev, key=cfg.key, title=f"{cfg.algo} sample {i + 1}"), run.samples_dir / f"sample_{i + 1:02d}.mid")
    segments = run.meta.get("segments", [])
    seconds = sum(s["seconds"] for s in segments)
    trained = sum(s["end_step"] - s["start_step"] for s in segments)
    summary = {**_summary_head(run), "env_steps": counters.env_steps, "updates": counters.updates,
               "compositions": counters.compositions, "train_seconds": seconds,
               "env_steps_per_s": trained / seconds if seconds else 0.0,
               "learn_seconds": sum(s["learn_seconds"] for s in segments), "segments": segments,
               "this_segment": trainer.segment(), "interrupted": trainer.interrupted,
               "stopped_for_time_limit": trainer.stopped_for_time, "already_done": False,
               "final_eval": {k: v for k, v in final.items() if k != "compositions"},
               "final_table": table_row_values(final["compositions"], key=cfg.key, rules=cfg.rules),
               "final_loss": trainer.loss, "config": cfg.to_dict()}
    run.write_summary(summary)
    return summary


def _summary_head(run: Run) -> dict:
    meta = run.meta
    return {"run_dir": str(run.path), **{k: meta.get(k) for k in ("algorithm", "model", "rules", "key", "reward_scaler")}}
