"""Unit tests of the training loop's parts: schedules, replay buffer, config, pretraining batches."""
import tomllib
from dataclasses import fields

import numpy as np
import pytest

from rltune.config import TrainConfig, defaults, load_toml, to_toml
from rltune.errors import RLTuneError


def test_epsilon_anneals_linearly_then_stays():
    from rltune.training import epsilon_at
    cfg = TrainConfig(epsilon=0.1, exploration_steps=1000)
    assert epsilon_at(0, cfg) == 1.0
    assert epsilon_at(500, cfg) == pytest.approx(0.55)
    assert epsilon_at(1000, cfg) == pytest.approx(0.1)
    assert epsilon_at(10**9, cfg) == pytest.approx(0.1)
    assert all(epsilon_at(s, cfg) >= epsilon_at(s + 100, cfg) for s in range(0, 1200, 100))


def test_update_schedule_carries_the_fraction_and_waits_for_learning_starts():
    from rltune.training import UpdateSchedule
    sched = UpdateSchedule(TrainConfig(replay_ratio=6.4, minibatch_size=1024, learning_starts=1000))
    assert sched.updates(512, 512) == 0  # before learning starts: nothing, no credit
    counts = [sched.updates(1024 + 512 * i, 512) for i in range(100)]
    assert set(counts) <= {3, 4} and sum(counts) == int(100 * 512 * 6.4 / 1024)  # 3.2 per step on average
    small = UpdateSchedule(TrainConfig(replay_ratio=6.4, minibatch_size=32, learning_starts=0))
    assert [small.updates(i, 1) for i in range(1, 11)] == [0, 0, 0, 0, 1, 0, 0, 0, 0, 1]  # 32 every 5 steps


def test_replay_buffer_is_a_ring_and_samples_what_it_holds():
    from rltune._tf import tf
    from rltune.replay import ReplayBuffer
    buf = ReplayBuffer(capacity=10, state_size=2, prior_width=3)
    for start in (0, 6):  # 6 + 6 transitions into 10 slots: the oldest two are overwritten
        n = 6
        ids = tf.range(start, start + n)
        buf.add(obs=ids, action=ids, next_obs=ids + 1, reward=tf.cast(ids, tf.float32), state=tf.zeros([n, 2]),
                next_state=tf.ones([n, 2]), next_log_prior=tf.fill([n, 3], 0.5))
    assert int(buf.size) == 10 and int(buf.position) == 2
    np.testing.assert_array_equal(buf.obs.numpy(), [10, 11, 2, 3, 4, 5, 6, 7, 8, 9])
    idx = buf.sample_indices(5000, tf.constant([1, 2], tf.int64))
    counts = np.bincount(idx.numpy(), minlength=10)
    assert counts.min() > 350 and counts.max() < 650  # uniform over the filled slots
    batch = buf.gather(tf.constant([0, 9]))
    np.testing.assert_array_equal(batch["reward"].numpy(), [10.0, 9.0])
    np.testing.assert_array_equal(batch["next_obs"].numpy(), [11, 10])
    assert batch["next_log_prior"].shape == (2, 3) and batch["reward_next_state"] is None
    half = ReplayBuffer(capacity=10, state_size=2)
    half.add(obs=tf.range(3), action=tf.range(3), next_obs=tf.range(3), reward=tf.zeros(3), state=tf.zeros([3, 2]),
             next_state=tf.zeros([3, 2]))
    assert half.sample_indices(1000, tf.constant([0, 0], tf.int64)).numpy().max() <= 2
    assert half.gather(tf.constant([0]))["next_log_prior"] is None


def test_sampling_without_replacement_is_uniform_and_distinct():
    """random.sample's law: k distinct slots, every slot equally likely, from a full or a nearly empty buffer."""
    from rltune._tf import tf
    from rltune.replay import distinct_uniform
    for n, capacity in ((40, 100_000), (32, 64), (1000, 1000)):
        counts = np.zeros(n)
        for i in range(300):
            idx = distinct_uniform(32, tf.constant(n), capacity, tf.constant([i, 3], tf.int64)).numpy()
            assert len(set(idx)) == 32 and idx.min() >= 0 and idx.max() < n
            counts += np.bincount(idx, minlength=n)
        expected = 300 * 32 / n
        assert np.abs(counts - expected).max() < 5 * np.sqrt(expected) + 1e-9, (n, counts.min(), counts.max())


def test_config_toml_round_trip(tmp_path):
    cfg = TrainConfig(algo="psi", reward_scaler=0.3, rule_weights={"repeating": 0.5, "my.rule": 2.0},
                      user_rules=["a.py:f"], primer_midi='C:\\odd "name".mid', time_limit=1.5)
    path = tmp_path / "config.toml"
    path.write_text(to_toml(cfg.to_dict()))
    assert TrainConfig(**load_toml(TrainConfig, path)) == cfg
    assert tomllib.loads(to_toml(TrainConfig().to_dict())) == TrainConfig().to_dict()
    (tmp_path / "bad.toml").write_text("reward_scalar = 1\n")
    with pytest.raises(RLTuneError, match="unknown setting 'reward_scalar'"):
        load_toml(TrainConfig, tmp_path / "bad.toml")


def test_every_setting_is_declared_once_with_help():
    assert set(defaults(TrainConfig)) == {f.name for f in fields(TrainConfig)}
    assert all(f.metadata.get("help") for f in fields(TrainConfig))
    resumable = {f.name for f in fields(TrainConfig) if f.metadata["resumable"]}
    assert resumable == {"steps", "time_limit", "eval_every", "eval_compositions", "checkpoint_every", "num_samples"}


def test_resumed_config_takes_only_resumable_changes():
    saved = TrainConfig(algo="g", steps=1000)
    assert saved.resumed_with({"steps": 5000, "eval_every": 10}).steps == 5000
    assert saved.resumed_with({"algo": "g"}).algo == "g"
    with pytest.raises(RLTuneError, match="--algo cannot change when resuming"):
        saved.resumed_with({"algo": "q"})
    with pytest.raises(RLTuneError, match="--rule-weight|--rule-weights"):
        saved.resumed_with({"rule_weights": {"key": 2.0}})


@pytest.mark.parametrize("field, value, needle", [
    ("time_limit", float("nan"), "--time-limit must be a finite number"),
    ("reward_scaler", float("inf"), "--reward-scaler must be a finite number"),
    ("steps", 1.5, "--steps must be a number (a whole number)"),
    ("algo", 3, "--algo must be a str"),
])
def test_config_rejects_nonsense_naming_the_option(field, value, needle):
    with pytest.raises(RLTuneError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig(**{field: value}).validate()


def test_pretraining_batches_are_full_and_fair():
    from rltune.pretraining import Batches
    rng = np.random.default_rng(0)
    melodies = [np.arange(n) % 38 for n in rng.integers(2, 300, 21)]
    small = Batches(melodies, batch_size=64, max_length=512, rng=rng)
    seen = np.concatenate([small.next_indices() for _ in range(200)])
    assert len(seen) == 200 * 64  # batches hold --batch-size melodies even from 21
    counts = np.bincount(seen, minlength=21)
    assert counts.min() >= counts.max() - 64  # every melody equally often (up to one pool's rounding)
    big = [np.arange(n) % 38 for n in rng.integers(2, 500, 1000)]
    batches = Batches(big, batch_size=32, max_length=512, rng=rng)
    idx = [batches.next_indices() for _ in range(32 * 50)]
    counts = np.bincount(np.concatenate(idx), minlength=1000)
    assert counts.min() >= 48 and counts.max() <= 52  # shortest and longest included, as often as the rest
    spread = np.mean([np.ptp(batches.lengths[i]) for i in idx])
    assert spread < 0.25 * np.ptp(batches.lengths)  # still bucketed by length
