"""The shipped default Note RNN: loads, and beats the Magenta-trained fixture on held-out melodies.

tests/data/heldout_melodies.npz holds the 884 melodies that scripts/build_default_bundle.py
held out (music21 corpus, Magenta's basic_rnn pipeline); the bundle never trained on them.
"""
import numpy as np

import rltune
from helpers import ROOT
from rltune.pretraining import evaluate_log_perplexity

DEFAULT = ROOT / "bundles" / "default_note_rnn.mag"


def _heldout():
    z = np.load(ROOT / "tests" / "data" / "heldout_melodies.npz")
    return [m.astype(np.int64) for m in np.split(z["events"], np.cumsum(z["lengths"])[:-1])]


def test_default_bundle_is_the_paper_size():
    info = rltune.bundle_info(DEFAULT)
    assert info["generator_id"] == "basic_rnn" and info["architecture"]["layer_sizes"] == [100]
    assert "rltune pretrain" in info["bundle_description"]


def test_default_beats_the_fixture_on_heldout_melodies(fixture_bundle):
    mels = _heldout()
    ours = evaluate_log_perplexity(rltune.load_note_rnn(DEFAULT), mels)
    theirs = evaluate_log_perplexity(rltune.load_note_rnn(fixture_bundle), mels)
    assert ours["events"] == theirs["events"] > 100_000
    assert ours["log_perplexity"] < theirs["log_perplexity"] - 0.1, (ours, theirs)


def test_default_is_used_when_no_model_is_given():
    from rltune.loading import default_bundle
    assert default_bundle().resolve() == DEFAULT.resolve()
