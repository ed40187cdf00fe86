"""Each learning target against a plain numpy computation."""
import numpy as np
import pytest

from rltune.algorithms import ALGORITHMS, get_algorithm
from rltune.errors import RLTuneError


def _lse(x):
    m = x.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]


@pytest.fixture
def batch():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(16, 38)).astype(np.float32) * 3
    logits = rng.normal(size=(16, 38)).astype(np.float32)
    log_prior = logits - _lse(logits)[:, None]
    return values, log_prior


def test_q_target_is_max(batch):
    values, _ = batch
    np.testing.assert_allclose(get_algorithm("q").target(values, None).numpy(), values.max(1), rtol=1e-6)


def test_psi_target_is_logsumexp(batch):
    values, _ = batch
    np.testing.assert_allclose(get_algorithm("psi").target(values, None).numpy(), _lse(values), rtol=1e-5)


def test_g_target_is_logsumexp_with_prior(batch):
    values, log_prior = batch
    np.testing.assert_allclose(get_algorithm("g").target(values, log_prior).numpy(), _lse(values + log_prior), rtol=1e-5)


def test_rewards_and_policies():
    assert get_algorithm("q").reward_uses_log_p and get_algorithm("psi").reward_uses_log_p
    assert not get_algorithm("g").reward_uses_log_p and not get_algorithm("rl-only").reward_uses_log_p
    assert get_algorithm("g").policy_adds_prior and not get_algorithm("psi").policy_adds_prior
    v, p = np.ones((2, 38), np.float32), np.zeros((2, 38), np.float32) - 2
    np.testing.assert_allclose(get_algorithm("g").action_scores(v, p), v + p)
    assert set(ALGORITHMS) == {"q", "psi", "g", "rl-only"}
    with pytest.raises(RLTuneError, match="unknown algorithm"):
        get_algorithm("sarsa")
