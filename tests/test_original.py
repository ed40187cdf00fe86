"""rltune's DQN update against the original RL Tuner's graph, and the `original` preset."""
import subprocess

import numpy as np
import pytest

from helpers import FIXTURES, ROOT, assert_user_error, invoke

PAPER_CHECKPOINT = FIXTURES / "rl_tuner" / "note_rnn_paper_format"
ORACLE_UPDATE = ROOT / "tests" / "oracle" / "rl_tuner_update.py"
NAMES = {"kernel_0": "rnn/multi_rnn_cell/cell_0/lstm_cell/kernel", "bias_0": "rnn/multi_rnn_cell/cell_0/lstm_cell/bias",
         "fc_weights": "fully_connected/weights", "fc_bias": "fully_connected/bias"}
SCOPES = {"q": "q_network", "target": "target_q_network", "reward": "reward_rnn"}


def minibatch(n=32, seed=0):
    """A minibatch as the original stores it: LSTM states [c, h] of plausible size, rewards near log p."""
    rng = np.random.default_rng(seed)

    def states():
        c = rng.normal(size=(n, 100)) * 0.8
        return np.concatenate([c, np.tanh(c) * rng.uniform(0, 1, size=(n, 100))], axis=1).astype(np.float32)
    return {"observations": rng.integers(0, 38, n), "actions": rng.integers(0, 38, n),
            "next_observations": rng.integers(0, 38, n), "rewards": (rng.normal(size=n) - 2).astype(np.float32),
            "states": states(), "next_states": states(), "reward_next_states": states()}


def magenta_update(python, algorithm, batch, tmp):
    inp, out = tmp / f"{algorithm}_in.npz", tmp / f"{algorithm}_out.npz"
    np.savez(inp, algorithm=algorithm, checkpoint_dir=str(PAPER_CHECKPOINT),
             checkpoint_file=str(PAPER_CHECKPOINT / "note_rnn.ckpt"), **batch)
    p = subprocess.run([str(python), str(ORACLE_UPDATE), str(inp), str(out)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return dict(np.load(out))


def rltune_update(algorithm, g_prior, batch, jit):
    from rltune._tf import tf
    from rltune.checkpoint import load_weights
    from rltune.config import TrainConfig
    from rltune.tuner import RLTuner
    cfg = TrainConfig.from_settings({"preset": "original", "algo": algorithm, "g_prior": g_prior}).validate()
    tuner = RLTuner(cfg, {"q": load_weights(PAPER_CHECKPOINT).weights})
    c = tf.constant
    fed = {"obs": c(batch["observations"], tf.int32), "action": c(batch["actions"], tf.int32),
           "next_obs": c(batch["next_observations"], tf.int32), "reward": c(batch["rewards"]),
           "state": c(batch["states"]), "next_state": c(batch["next_states"]),
           "reward_next_state": c(batch["reward_next_states"]), "next_log_prior": None}
    if tuner.algo.needs_prior_at_next_state and not tuner.trains_prior:  # a frozen prior: stored while acting
        logits, _ = tuner.reward_rnn.step(fed["next_obs"], tuple(tf.split(fed["reward_next_state"], 2, axis=1)))
        fed["next_log_prior"] = tf.nn.log_softmax(logits)
    update = tf.function(tuner.update, jit_compile=True) if jit else tuner.update
    loss, targets = update(fed)
    weights = {name: getattr(tuner, attr).get_weights().to_arrays(name)
               for name, attr in (("q", "q"), ("target", "target"), ("reward", "reward_rnn"))}
    return float(loss), targets.numpy(), weights


@pytest.mark.slow
@pytest.mark.parametrize("algorithm,g_prior", [("q", "frozen"), ("psi", "frozen"), ("g", "trained"), ("g", "frozen")])
def test_one_update_matches_the_original_graph(magenta_python, tmp_path, algorithm, g_prior):
    """Same Note RNN, same minibatch: TD targets, loss, and every weight after one Adam step and one
    soft target update agree with Magenta 2.1.4's RLTuner graph within 1e-5 (compiled and eager)."""
    batch = minibatch(seed=len(algorithm) + len(g_prior))
    theirs = magenta_update(magenta_python, algorithm, batch, tmp_path)
    trained_by_original = {str(n).split("/")[0] for n in theirs["trainable"]}
    assert "reward_rnn" in trained_by_original  # the original lists the Reward RNN among its trainable variables
    for jit in (True, False):
        loss, targets, weights = rltune_update(algorithm, g_prior, batch, jit)
        np.testing.assert_allclose(targets, theirs["future_rewards"], atol=1e-5)  # r + 0.5 * target_vals
        assert abs(loss - float(theirs["loss"])) < 1e-5 * max(1.0, abs(loss))
        for net, scope in SCOPES.items():
            for ours, name in NAMES.items():
                key = f"{scope}/{name}"
                after = weights[net][f"{net}/{ours}"]
                if net == "reward" and g_prior == "frozen":
                    np.testing.assert_array_equal(after, theirs[f"before:{key}"])  # the paper's frozen prior
                    continue
                moved = np.abs(theirs[f"after:{key}"] - theirs[f"before:{key}"]).max()
                assert moved > 1e-6, key  # the step does move it (else the comparison says nothing)
                np.testing.assert_allclose(after, theirs[f"after:{key}"], atol=1e-5, err_msg=f"{key} jit={jit}")


def test_preset_original_dry_run_prints_the_resolved_config():
    import tomllib
    r = invoke("train", "--preset", "original", "--dry-run")
    assert r.exit_code == 0, r.stderr
    cfg = tomllib.loads(r.stdout)
    assert cfg["preset"] == "original" and cfg["algo"] == "q" and cfg["reward_scaler"] == 0.1
    assert cfg["steps"] == 1_000_000 and cfg["minibatch_size"] == 32 and cfg["replay_ratio"] == 6.4
    assert cfg["exploration"] == "boltzmann" and cfg["boltzmann_stores"] == "argmax"
    assert cfg["replay_sampling"] == "without-replacement" and cfg["rules"] == "paper" and cfg["rule_weights"] == {}
    assert cfg["g_prior"] == "frozen"  # q has no prior in its target
    r = invoke("train", "--preset", "original", "--exploration", "egreedy", "--algo", "g", "--reward-scaler", "0.5", "--dry-run")
    cfg = tomllib.loads(r.stdout)
    assert cfg["boltzmann_stores"] == "played" and cfg["exploration_steps"] == 500_000
    assert cfg["g_prior"] == "trained" and cfg["reward_scaler"] == 0.5  # options override the preset


def test_preset_bad_input():
    assert_user_error(invoke("train", "--preset", "nonsense", "--dry-run"), "unknown preset 'nonsense': choose one of original")
    assert_user_error(invoke("train", "--preset", "original", "--exploration", "egreedy", "--boltzmann-stores", "argmax",
                             "--dry-run"), "--boltzmann-stores argmax goes with --exploration boltzmann")
    assert_user_error(invoke("train", "--algo", "q", "--g-prior", "trained", "--dry-run"),
                      "--g-prior trained applies only to algorithms whose target uses the prior")
    assert_user_error(invoke("train", "--primer-mode", "nope", "--dry-run"), "unknown --primer-mode 'nope'")


def test_original_primer_mode_observes_the_most_probable_next_event():
    """--primer-mode original: the whole primer is fed and the model's argmax after it is observed."""
    import rltune
    from rltune._tf import tf
    from helpers import FIXTURE_BUNDLE
    policy = rltune.load_policy(FIXTURE_BUNDLE)
    primer = np.array([[16, 0, 18, 0, 20, 0], [30, 1, 1, 28, 0, 0]])
    lengths = np.array([6, 4])
    (_,), last = policy.prime(tf.constant(primer, tf.int32), tf.constant(lengths, tf.int32), tf.constant(True))
    probs = rltune.load_note_rnn(FIXTURE_BUNDLE).probabilities(primer)
    assert list(last.numpy()) == [int(np.argmax(probs[0, 5])), int(np.argmax(probs[1, 3]))]
    (_,), last = policy.prime(tf.constant(primer, tf.int32), tf.constant(lengths, tf.int32), tf.constant(False))
    assert list(last.numpy()) == [0, 28]  # continue: the primer's last event


def test_boltzmann_can_store_the_argmax_while_it_plays_a_sample():
    from rltune._tf import tf
    from rltune.checkpoint import load_weights
    from rltune.config import TrainConfig
    from rltune.tuner import RLTuner
    from helpers import FIXTURE_BUNDLE
    for stores in ("argmax", "played"):
        cfg = TrainConfig.from_settings({"preset": "original", "boltzmann_stores": stores}).validate()
        tuner = RLTuner(cfg, {"q": load_weights(FIXTURE_BUNDLE).weights})
        q_state, r_state, obs = tuner.prime(np.arange(2, 258)[:, None] % 37, np.ones(256, np.int32))
        step = tuner.act(obs, q_state, r_state, tf.constant(0.0), tf.constant(True), tf.constant([1, 2], tf.int64))
        values, _ = tuner.q.step(obs, q_state)
        played, stored = step["played"].numpy(), step["stored"].numpy()
        if stores == "argmax":
            np.testing.assert_array_equal(stored, np.argmax(values.numpy(), axis=1))
            assert (played != stored).mean() > 0.2  # sampled notes differ from the argmax often
        else:
            np.testing.assert_array_equal(stored, played)


@pytest.mark.slow
def test_a_preset_run_records_its_preset(tmp_path):
    import tomllib
    run = tmp_path / "run"
    r = invoke("train", "--preset", "original", "--checkpoint", PAPER_CHECKPOINT, "-o", run, "--steps", 4096, "--num-envs", 128,
               "--eval-every", 4096, "--eval-compositions", 32, "--num-samples", 1)
    assert r.exit_code == 0, r.stderr
    cfg = tomllib.loads((run / "config.toml").read_text())
    assert cfg["preset"] == "original" and cfg["minibatch_size"] == 32 and cfg["num_envs"] == 128
    import json
    summary = json.loads((run / "summary.json").read_text())
    assert summary["updates"] == int(4096 / 5)  # 128 / 5 per acting step of 128 compositions, from the first (a full minibatch)
