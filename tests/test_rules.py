"""The rules equal the original RL Tuner's, term by term (golden fixture)."""
import numpy as np
import pytest

from rltune import rules as R
from rltune.errors import RLTuneError
from rltune.keys import Key


def test_all_terms_equal_the_original(golden_rewards):
    assert tuple(golden_rewards["reward_terms"]) == R.TERMS
    terms = R.reward_terms(golden_rewards["compositions"])
    assert terms.shape == (3000, 32, 9)
    assert np.abs(terms - golden_rewards["rewards"]).max() <= 1e-9
    assert np.abs(terms.sum(-1) - golden_rewards["total_reward"]).max() <= 1e-9


def test_incremental_steps_equal_the_batch(golden_rewards):
    """What training calls step by step gives the same terms as reward_terms."""
    comps = golden_rewards["compositions"][:500]
    rules = R.Rules()
    state = rules.new_state(len(comps))
    for t in range(comps.shape[1]):
        r, terms = rules.step(comps, comps[:, t], t, comps.shape[1], state)
        np.testing.assert_allclose(terms, golden_rewards["rewards"][:500, t], atol=1e-9)
        np.testing.assert_allclose(r, golden_rewards["total_reward"][:500, t], atol=1e-9)


def test_key_moves_scale_tonic_and_intervals(golden_rewards):
    """Compositions moved up a fifth score in G as the originals do in C (autocorrelation aside:
    it reads raw indices, and holds/rests do not move)."""
    comps = golden_rewards["compositions"]
    real = comps >= 2
    fits = ~((comps + 7 >= 38) & real).any(axis=1)
    src = comps[fits]
    moved = np.where(src >= 2, src + 7, src)
    idx = [i for i, n in enumerate(R.TERMS) if n != "autocorrelation"]
    c = R.reward_terms(src, key="C")[..., idx]
    g = R.reward_terms(moved, key="G")[..., idx]
    assert len(src) > 500
    np.testing.assert_allclose(g, c, atol=1e-9)
    assert not np.allclose(R.reward_terms(moved, key="C")[..., idx], c)


def test_key_names():
    assert Key.parse("C").tonic_index == 14 and not Key.parse("C").minor
    assert Key.parse("Am").tonic_index == 23  # the original's A_MINOR_TONIC
    assert Key.parse("F#m").minor and Key.parse("F#m").tonic_pc == 6
    assert Key.parse("Eb").tonic_pc == 3
    c = Key.parse("C").in_key
    assert sorted(np.flatnonzero(c)) == [0, 1, 2, 4, 6, 7, 9, 11, 13, 14, 16, 18, 19, 21, 23, 25, 26, 28, 30, 31, 33, 35, 37]
    assert (Key.parse("Am").in_key == c).all()
    for bad in ("H", "C##", "", "Cmaj7"):
        with pytest.raises(RLTuneError, match="unknown key"):
            Key.parse(bad)


def test_corrected_rules_swap_holds_and_rests(golden_rewards):
    comps = golden_rewards["compositions"]
    comps = comps[(comps >= 2).any(axis=1)]  # the unique-max rule reads raw indices when there are no notes
    swapped = np.where(comps == 0, 1, np.where(comps == 1, 0, comps))
    idx = [i for i, n in enumerate(R.TERMS) if n != "autocorrelation"]
    np.testing.assert_allclose(R.reward_terms(swapped, rules="corrected")[..., idx],
                               R.reward_terms(comps, rules="paper")[..., idx], atol=1e-9)


def test_paper_quirk_swaps_rest_and_hold():
    """A run of index 1 (a true rest): the corrected rules penalise a rest repeated more than
    once (from step 3); the paper's rules take it for a hold and allow five (from step 6)."""
    comp = np.array([[14] + [1] * 31])
    first = {r: int(np.argmax(R.reward_terms(comp, rules=r)[0, :, 2] < 0)) for r in ("paper", "corrected")}
    assert first == {"paper": 6, "corrected": 3}


def test_weights_and_user_rules():
    comps = np.random.default_rng(0).integers(0, 38, size=(64, 32))

    def prefer_high(history, action, t, length):
        return (action > 30).astype(float)

    rules = R.Rules(weights={"repeating": 0.5, "prefer_high": 2.0}, user_rules=[("prefer_high", prefer_high)])
    plain = R.Rules()
    s1, s2 = rules.new_state(64), plain.new_state(64)
    for t in range(32):
        r, terms = rules.step(comps, comps[:, t], t, 32, s1)
        r0, terms0 = plain.step(comps, comps[:, t], t, 32, s2)
        expected = r0 - 0.5 * terms0[:, 2] + 2.0 * (comps[:, t] > 30)
        np.testing.assert_allclose(r, expected, atol=1e-12)
        assert terms.shape == (64, 10)


def test_bad_user_rules_are_named():
    comps = np.zeros((4, 32), int)

    def boom(h, a, t, n):
        raise ValueError("nope")

    def wrong_shape(h, a, t, n):
        return np.zeros(3)

    for fn, msg in ((boom, "raised ValueError"), (wrong_shape, "returned shape")):
        rules = R.Rules(user_rules=[(fn.__name__, fn)])
        with pytest.raises(RLTuneError, match=fn.__name__) as e:
            rules.step(comps, comps[:, 0], 0, 32, rules.new_state(4))
        assert msg in str(e.value)
    with pytest.raises(RLTuneError, match="unknown rule"):
        R.Rules(weights={"nonsense": 1.0})
    with pytest.raises(RLTuneError, match="cannot load user rule"):
        R.load_user_rule("no_such_module_xyz:fn")
    with pytest.raises(RLTuneError):
        R.parse_weights(["repeating"])
