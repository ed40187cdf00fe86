"""The RL Tuner training loop, vectorised.

``num_envs`` compositions advance in lockstep. One acting step is a compiled
TensorFlow function (Q network and Reward RNN one step ahead, epsilon-greedy
or Boltzmann choice, log p of the choice); the rules score the whole batch in
numpy; one compiled learning function stores the transitions in a replay
buffer held in TensorFlow variables and runs as many DQN updates as the replay
ratio asks for (``replay_ratio * num_envs / minibatch_size`` per acting step,
the fraction carried over), each followed by a soft target update.

Faithful to the original (``magenta/models/rl_tuner/rl_tuner.py``):
transitions store the Q network's state before and after the step (for G,
the frozen Reward RNN's log p(.|s') instead of its state: the same numbers,
computed once while acting rather than at every replay); the target network is evaluated at the Q
network's next state; a composition's last step bootstraps like any other;
random notes are drawn from indices 0..36 (``randint(0, 37)``). Unlike the
original's Boltzmann mode, the action stored is the one actually played.
"""
from __future__ import annotations

import math
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rltune import runs
from rltune._tf import tf
from rltune.algorithms import get_algorithm
from rltune.config import TrainConfig, to_toml
from rltune.encoding import NUM_CLASSES
from rltune.errors import RLTuneError
from rltune.note_rnn import NoteRNN
from rltune.optim import Adam
from rltune.policy import RANDOM_NOTE_CLASSES, Policy
from rltune.rules import Rules, load_user_rule


class ReplayBuffer(tf.Module):
    """Transitions in TensorFlow variables, written as a ring, sampled uniformly."""

    def __init__(self, capacity: int, q_state: int, prior_width: int):
        super().__init__(name="replay")
        self.capacity = capacity
        self.obs = tf.Variable(tf.zeros([capacity], tf.int32), trainable=False)
        self.action = tf.Variable(tf.zeros([capacity], tf.int32), trainable=False)
        self.reward = tf.Variable(tf.zeros([capacity]), trainable=False)
        self.state = tf.Variable(tf.zeros([capacity, q_state]), trainable=False)
        self.next_state = tf.Variable(tf.zeros([capacity, q_state]), trainable=False)
        # G's target needs log p(.|s') from the frozen Reward RNN: computed once while acting, stored here
        self.next_log_prior = tf.Variable(tf.zeros([capacity, max(prior_width, 1)]), trainable=False)
        self.uses_prior = prior_width > 0
        self.position = tf.Variable(0, trainable=False)
        self.size = tf.Variable(0, trainable=False)

    def add(self, obs, action, reward, state, next_state, next_log_prior):
        n = tf.shape(obs)[0]
        idx = (self.position + tf.range(n)) % self.capacity
        self.obs.scatter_nd_update(idx[:, None], obs)
        self.action.scatter_nd_update(idx[:, None], action)
        self.reward.scatter_nd_update(idx[:, None], reward)
        self.state.scatter_nd_update(idx[:, None], state)
        self.next_state.scatter_nd_update(idx[:, None], next_state)
        if self.uses_prior:
            self.next_log_prior.scatter_nd_update(idx[:, None], next_log_prior)
        self.position.assign((self.position + n) % self.capacity)
        self.size.assign(tf.minimum(self.size + n, self.capacity))


def _flat(state):
    return tf.concat(state, axis=1)


def _unflat(flat, net: NoteRNN):
    sizes = [u for u in net.layer_sizes for _ in (0, 1)]
    return tuple(tf.split(flat, sizes, axis=1))


@dataclass
class Counters:
    env_steps: int = 0
    updates: int = 0
    compositions: int = 0


class RLTuner(tf.Module):
    """Q network, target Q network, frozen Reward RNN, optimizer and replay buffer."""

    def __init__(self, weights, config: TrainConfig, reward_weights=None, target_weights=None):
        super().__init__(name="rl_tuner")
        self.config = config
        self.algo = get_algorithm(config.algo)
        self.q = NoteRNN(weights, name="q_network", trainable=True)
        self.target = NoteRNN(target_weights or weights, name="target_q_network", trainable=False)
        self.reward_rnn = NoteRNN(reward_weights or weights, name="reward_rnn", trainable=False)
        self.opt = Adam(self.q.weight_variables, config.learning_rate, clip_norm=config.clip_norm, clip="each")
        prior_width = NUM_CLASSES if self.algo.needs_prior_at_next_state else 0
        self.buffer = ReplayBuffer(config.replay_size, self.q.state_size, prior_width)
        self._policy = Policy.tuned(self.algo.name, self.q, self.reward_rnn)

    # -- acting ---------------------------------------------------------------
    @tf.function(reduce_retracing=True)
    def act(self, obs, q_state, r_state, epsilon, boltzmann, seed):
        values, new_q = self.q.step(obs, q_state)
        r_logits, new_r = self.reward_rnn.step(obs, r_state)
        log_prior = tf.nn.log_softmax(r_logits)
        scores = self.algo.action_scores(values, log_prior)
        n = tf.shape(obs)[0]
        s1, s2, s3 = (tf.random.experimental.stateless_fold_in(seed, i) for i in range(3))
        greedy = tf.cast(tf.argmax(scores, axis=1), tf.int32)
        random_note = tf.random.stateless_uniform([n], s1, 0, RANDOM_NOTE_CLASSES, tf.int32)
        explore = tf.random.stateless_uniform([n], s2) < epsilon
        sampled = tf.cast(tf.random.stateless_categorical(scores, 1, s3)[:, 0], tf.int32)
        action = tf.where(boltzmann, sampled, tf.where(explore, random_note, greedy))
        log_p = tf.gather(log_prior, action, batch_dims=1)
        if self.algo.needs_prior_at_next_state:  # log p(.|s') for G's target, from the frozen Reward RNN
            next_logits, _ = self.reward_rnn.step(action, new_r)
            next_log_prior = tf.nn.log_softmax(next_logits)
        else:
            next_log_prior = tf.zeros([n, 1])
        return action, log_p, new_q, new_r, next_log_prior

    def prime(self, primer, lengths):
        """Zero states fed with primer[:, :len-1]; returns (q state, reward state, first observation)."""
        (q_state, r_state), last = self._policy._prime(primer, lengths)
        return q_state, r_state, last

    # -- learning -------------------------------------------------------------
    def _update(self, idx):
        b = self.buffer
        obs, action, reward = tf.gather(b.obs, idx), tf.gather(b.action, idx), tf.gather(b.reward, idx)
        state = _unflat(tf.gather(b.state, idx), self.q)
        next_state = _unflat(tf.gather(b.next_state, idx), self.q)
        next_values, _ = self.target.step(action, next_state)
        next_log_prior = None
        if self.algo.needs_prior_at_next_state:
            next_log_prior = tf.gather(b.next_log_prior, idx)
        target = tf.stop_gradient(reward + self.config.discount * self.algo.target(next_values, next_log_prior))
        with tf.GradientTape() as tape:
            values, _ = self.q.step(obs, state)
            q_sa = tf.gather(values, action, batch_dims=1)
            loss = tf.reduce_mean(tf.square(q_sa - target))
        grads = tape.gradient(loss, self.q.weight_variables)
        self.opt.apply(grads)
        rate = self.config.target_update_rate
        for t, s in zip(self.target.weight_variables, self.q.weight_variables):
            t.assign_sub(rate * (t - s))
        return loss, tf.reduce_mean(target)

    @tf.function(reduce_retracing=True)
    def store_and_learn(self, obs, action, reward, state, next_state, next_log_prior, num_updates, seed):
        self.buffer.add(obs, action, reward, _flat(state), _flat(next_state), next_log_prior)
        loss_sum, target_sum = tf.constant(0.0), tf.constant(0.0)
        size = self.buffer.size
        for i in tf.range(num_updates):
            idx = tf.random.stateless_uniform([self.config.minibatch_size], tf.random.experimental.stateless_fold_in(seed, i),
                                              0, size, tf.int32)
            loss, target = self._update(idx)
            loss_sum += loss
            target_sum += target
        n = tf.maximum(tf.cast(num_updates, tf.float32), 1.0)
        return loss_sum / n, target_sum / n

    # -- state ----------------------------------------------------------------
    def policy(self, name="policy") -> Policy:
        """The live sampling policy (its networks are the ones being trained)."""
        self._policy.name = name
        return self._policy

    def arrays(self, counters: Counters) -> dict:
        return {**runs.weights_to_arrays("q", self.q.get_weights()),
                **runs.weights_to_arrays("target", self.target.get_weights()),
                **runs.weights_to_arrays("reward", self.reward_rnn.get_weights()),
                **self.opt.state(),
                "env_steps": np.array(counters.env_steps), "updates": np.array(counters.updates),
                "compositions": np.array(counters.compositions)}


def epsilon_at(step: int, config: TrainConfig) -> float:
    """The original's linear_annealing from 1.0 to ``epsilon`` over ``exploration_steps``."""
    if step >= config.exploration_steps:
        return config.epsilon
    return 1.0 - step * (1.0 - config.epsilon) / config.exploration_steps


class Primers:
    """Where each composition starts: a random note, a MIDI primer, or a dataset prefix."""

    def __init__(self, config: TrainConfig, rng: np.random.Generator):
        self.config, self.rng = config, rng
        self.melody = None
        self.melodies = None
        if config.priming == "midi":
            from rltune.melodies import primer_from_midi
            self.melody, _ = primer_from_midi(config.primer_midi)
        elif config.priming == "dataset":
            from rltune.data import sequence_melodies, read_sequences
            from collections import Counter
            path = Path(config.primer_dataset)
            if not path.is_file():
                raise RLTuneError(f"primer dataset not found: {path}")
            try:
                seqs = read_sequences(path)
            except Exception as e:  # noqa: BLE001
                raise RLTuneError(f"cannot read primer dataset {path}: {type(e).__name__}") from None
            from rltune.keys import Key
            major_pc = Key.parse(config.key).major_pc
            stats = Counter()
            self.melodies = [m for s in seqs for m in sequence_melodies(s, stats, strict=False, transpose_to_key=major_pc)
                             if len(m) >= 2]
            if not self.melodies:
                raise RLTuneError(f"primer dataset {path} holds no usable melody")

    def __call__(self, n: int):
        if self.melody is not None:
            return np.tile(self.melody, (n, 1)), np.full(n, len(self.melody), np.int32)
        if self.melodies is not None:
            picks = self.rng.integers(0, len(self.melodies), n)
            lengths = np.array([self.rng.integers(1, min(len(self.melodies[i]), 64) + 1) for i in picks], np.int32)
            out = np.zeros((n, lengths.max()), np.int64)
            for j, (i, l) in enumerate(zip(picks, lengths)):
                out[j, :l] = self.melodies[i][:l]
            return out, lengths
        return self.rng.integers(0, RANDOM_NOTE_CLASSES, size=(n, 1)), np.ones(n, np.int32)


def build_rules(config: TrainConfig) -> Rules:
    return Rules(config.key, config.rules, dict(config.rule_weights),
                 [load_user_rule(spec) for spec in config.user_rules])


def evaluate_policy(policy: Policy, rules: Rules, n: int, length: int, primers: Primers, seed: int,
                    greedy: bool = False) -> dict:
    """Sample ``n`` compositions; mean log p and music-theory reward per composition, and the compositions."""
    primer, lengths = primers(n)
    out = policy.sample(primer, length, primer_lengths=lengths, seed=seed, greedy=greedy)
    comps = out["events"].astype(np.int64)
    state = rules.new_state(n)
    r_mt = np.zeros(n)
    for t in range(length):
        r, _ = rules.step(comps[:, :t], comps[:, t], t, length, state)
        r_mt += r
    return {"compositions": comps, "mean_log_p": float(out["log_p"].sum(axis=1).mean()),
            "mean_log_p_per_note": float(out["log_p"].mean()), "mean_music_theory_reward": float(r_mt.mean())}


def check_run_dir(run_dir, resume: bool, force: bool):
    """Refuse a folder that holds another run (or other files) unless resuming or forced."""
    run_dir = Path(run_dir)
    if resume:
        if not runs.is_run(run_dir):
            raise RLTuneError(f"--resume: {run_dir} is not an rltune run folder (no {runs.RUN_FILE})")
        return
    if run_dir.exists() and not run_dir.is_dir():
        raise RLTuneError(f"{run_dir} is a file, not a run folder")
    if run_dir.exists() and any(run_dir.iterdir()) and not force:
        what = "another run" if runs.is_run(run_dir) else "other files"
        raise RLTuneError(f"{run_dir} already holds {what}; pass --resume to continue it or --force to replace it")


def prepare_run_dir(run_dir: Path, resume: bool, force: bool):
    check_run_dir(run_dir, resume, force)
    if resume:
        return
    if run_dir.exists() and any(run_dir.iterdir()):
        if runs.is_run(run_dir):
            for name in ("checkpoints", "samples", "tb"):
                shutil.rmtree(run_dir / name, ignore_errors=True)
            for name in ("run.json", "history.json", "summary.json", "config.toml", "rewards.png"):
                (run_dir / name).unlink(missing_ok=True)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RLTuneError(f"cannot create run folder {run_dir}: {e.strerror}") from None


def train(model, run_dir, config: TrainConfig, *, resume: bool = False, force: bool = False, reporter=None) -> dict:
    """Tune ``model`` (a Note RNN path; None: the shipped default) into ``run_dir``; returns the summary."""
    from rltune.checkpoint import load_weights
    from rltune.loading import default_bundle
    from rltune.melodies import events_to_sequence, write_midi
    from rltune.plotting import plot_rewards

    report = reporter or (lambda kind, **kw: None)
    run_dir = Path(run_dir)
    if resume and runs.is_run(run_dir):
        from rltune.config import load_toml
        saved = load_toml(TrainConfig, run_dir / "config.toml")
        keep = {"steps": config.steps, "time_limit": config.time_limit}
        config = TrainConfig(**{**saved, **keep})
        model = runs.read_run(run_dir).get("model")
    config.validate()
    check_run_dir(run_dir, resume, force)
    rules = build_rules(config)
    model_path = Path(model) if model else default_bundle()
    counters = Counters()
    history = []
    if resume:
        step, arrays = runs.load_checkpoint(run_dir)
        tuner = RLTuner(runs.weights_from_arrays("q", arrays), config,
                        reward_weights=runs.weights_from_arrays("reward", arrays),
                        target_weights=runs.weights_from_arrays("target", arrays))
        tuner.opt.load_state(arrays)
        counters = Counters(int(arrays["env_steps"]), int(arrays["updates"]), int(arrays["compositions"]))
        if (run_dir / "history.json").exists():
            import json
            history = json.loads((run_dir / "history.json").read_text())
    else:
        tuner = RLTuner(load_weights(model_path).weights, config)
    rng = np.random.default_rng(config.seed + counters.env_steps)
    primers = Primers(config, rng)  # reads primer files: fail before the run folder is touched
    eval_primers = Primers(config, np.random.default_rng(config.seed + 1))
    prepare_run_dir(run_dir, resume, force)
    if not resume:
        (run_dir / "config.toml").write_text(to_toml(config.to_dict()))
    meta = {"algorithm": config.algo, "model": str(model_path), "rules": config.rules, "key": config.key,
            "reward_scaler": config.reward_scaler, "rltune_version": __import__("rltune").__version__}
    runs.write_json(run_dir / runs.RUN_FILE, {**meta, "env_steps": counters.env_steps})

    policy = tuner.policy(run_dir.name)
    B, T = config.num_envs, config.length
    writer = tf.summary.create_file_writer(str(run_dir / "tb"))
    boltzmann = tf.constant(config.exploration == "boltzmann")
    seed_base = config.seed * 1_000_003

    last_eval = {}

    def evaluate():
        if last_eval.get("step") == counters.env_steps:  # already evaluated at this step
            return last_eval["result"]
        r = evaluate_policy(policy, rules, config.eval_compositions, T, eval_primers, seed=counters.env_steps)
        point = {"step": counters.env_steps, "mean_log_p": r["mean_log_p"], "mean_music_theory_reward": r["mean_music_theory_reward"],
                 "mean_log_p_per_note": r["mean_log_p_per_note"], "seconds": time.time() - t_start}
        history.append(point)
        with writer.as_default():
            tf.summary.scalar("eval/mean_log_p", point["mean_log_p"], step=counters.env_steps)
            tf.summary.scalar("eval/mean_music_theory_reward", point["mean_music_theory_reward"], step=counters.env_steps)
        report("eval", **point)
        last_eval.update(step=counters.env_steps, result=r)
        return r

    def save():
        runs.save_checkpoint(run_dir, counters.env_steps, tuner.arrays(counters))
        runs.write_json(run_dir / "history.json", history)
        runs.write_json(run_dir / runs.RUN_FILE, {**meta, "env_steps": counters.env_steps})
        plot_rewards({k: [h[k] for h in history] for k in ("step", "mean_log_p", "mean_music_theory_reward")},
                     run_dir / "rewards.png", title=f"{config.algo} on {model_path.name}")

    t_start = time.time()
    if not history:
        evaluate()
        save()  # a good checkpoint exists from the start
    next_eval = (counters.env_steps // config.eval_every + 1) * config.eval_every
    next_ckpt = (counters.env_steps // config.checkpoint_every + 1) * config.checkpoint_every
    update_credit = 0.0
    loss = target_mean = float("nan")
    recent = []
    interrupted = stopped_for_time = False
    learn_seconds, start_steps = 0.0, counters.env_steps
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    report("start", step=counters.env_steps, steps=config.steps)
    t_loop = time.time()
    try:
        while counters.env_steps < config.steps:
            if config.time_limit and time.time() - t_loop > config.time_limit:
                stopped_for_time = True
                break
            primer, lengths = primers(B)
            q_state, r_state, obs = tuner.prime(tf.constant(primer, tf.int32), tf.constant(lengths))
            comps = np.zeros((B, T), np.int64)
            leap = rules.new_state(B)
            comp_rewards = np.zeros(B)
            for t in range(T):
                eps = epsilon_at(counters.env_steps, config)
                seed = tf.constant([seed_base + counters.env_steps, t], tf.int64)
                action, log_p, new_q, new_r, next_prior = tuner.act(obs, q_state, r_state, tf.constant(eps, tf.float32),
                                                                    boltzmann, seed)
                a = action.numpy()
                r_mt, _ = rules.step(comps, a, t, T, leap)
                comps[:, t] = a
                reward = config.reward_scaler * r_mt
                if tuner.algo.reward_uses_log_p:
                    reward = reward + log_p.numpy()
                comp_rewards += reward
                counters.env_steps += B
                n_updates = 0
                if counters.env_steps >= config.learning_starts:
                    update_credit += config.replay_ratio * B / config.minibatch_size
                    n_updates = int(update_credit)
                    update_credit -= n_updates
                t0 = time.perf_counter()
                l, tm = tuner.store_and_learn(obs, action, tf.constant(reward, tf.float32), q_state, new_q, next_prior,
                                              tf.constant(n_updates), tf.constant([seed_base + counters.env_steps, 7], tf.int64))
                if n_updates:
                    loss, target_mean = float(l), float(tm)
                    learn_seconds += time.perf_counter() - t0
                    counters.updates += n_updates
                    if not (math.isfinite(loss) and math.isfinite(target_mean)):
                        raise RLTuneError(f"the loss became {loss} at step {counters.env_steps}; the last good checkpoint "
                                          f"is kept in {run_dir / runs.CKPT_DIR} (try a lower --learning-rate or --reward-scaler)")
                obs, q_state, r_state = action, new_q, new_r
            counters.compositions += B
            recent = (recent + [float(comp_rewards.mean())])[-20:]
            elapsed = time.time() - t_loop
            report("progress", step=counters.env_steps, steps=config.steps, loss=loss, epsilon=eps,
                   reward=float(np.mean(recent)), steps_per_s=(counters.env_steps - start_steps) / max(elapsed, 1e-9))
            with writer.as_default():
                tf.summary.scalar("train/loss", loss, step=counters.env_steps)
                tf.summary.scalar("train/composition_reward", float(comp_rewards.mean()), step=counters.env_steps)
                tf.summary.scalar("train/epsilon", eps, step=counters.env_steps)
            if counters.env_steps >= next_eval:
                evaluate()
                next_eval += config.eval_every
            if counters.env_steps >= next_ckpt:
                save()
                next_ckpt += config.checkpoint_every
    except KeyboardInterrupt:
        interrupted = True
        report("interrupted", step=counters.env_steps)
    finally:
        signal.signal(signal.SIGTERM, previous)
    train_seconds = time.time() - t_loop
    final = evaluate()
    save()
    from rltune.metrics import table_row_values
    table = table_row_values(final["compositions"], key=config.key, rules=config.rules)
    samples = run_dir / "samples"
    samples.mkdir(exist_ok=True)
    for i, ev in enumerate(final["compositions"][:config.num_samples]):
        write_midi(events_to_sequence(ev, key=config.key, title=f"{config.algo} sample {i + 1}"), samples / f"sample_{i + 1:02d}.mid")
    summary = {
        **meta, "run_dir": str(run_dir), "env_steps": counters.env_steps, "updates": counters.updates,
        "compositions": counters.compositions, "train_seconds": train_seconds,
        "env_steps_per_s": (counters.env_steps - start_steps) / max(train_seconds, 1e-9),
        "learn_seconds": learn_seconds, "interrupted": interrupted, "stopped_for_time_limit": stopped_for_time,
        "final_eval": {k: v for k, v in final.items() if k != "compositions"}, "final_table": table,
        "final_loss": loss, "config": config.to_dict(),
    }
    runs.write_json(run_dir / "summary.json", summary)
    return summary
