"""rltune's TensorFlow encoders against note-seq's own (lookback_rnn, attention_rnn), event by event."""
import numpy as np
import pytest

from helpers import DATA


def melodies():
    """Real melodies (with bar-long repeats), random ones, and ones opening with rests and holds."""
    d = np.load(DATA / "heldout_melodies.npz")
    starts = np.concatenate([[0], np.cumsum(d["lengths"])[:-1]])
    real = [d["events"][s:s + 80] for s, n in zip(starts, d["lengths"]) if n >= 80][:6]
    rng = np.random.default_rng(0)
    rand = [rng.integers(0, 38, 80) for _ in range(3)]
    opening = [np.concatenate([[1, 1, 0, 1], r[:76]]) for r in real[:2]] + [np.concatenate([[0] * 40, real[2][:40]])]
    return np.stack(real + rand + opening)


def note_seq_melody(row):
    import note_seq
    return note_seq.Melody([-2 if e == 0 else -1 if e == 1 else 46 + int(e) for e in row], steps_per_bar=16,
                           steps_per_quarter=4)


@pytest.mark.parametrize("name", ["lookback_rnn", "attention_rnn"])
def test_inputs_labels_and_classes_match_note_seq(name):
    import note_seq
    from rltune._tf import tf
    from rltune.encoders import get_encoder
    theirs = {"lookback_rnn": note_seq.LookbackEventSequenceEncoderDecoder(note_seq.MelodyOneHotEncoding(48, 84)),
              "attention_rnn": note_seq.KeyMelodyEncoderDecoder(48, 84)}[name]
    ours = get_encoder(name)
    assert (ours.input_size, ours.num_classes) == (theirs.input_size, theirs.num_classes)
    mel = ours.clean(melodies())
    state = ours.initial(len(mel))
    objs = [note_seq_melody(row) for row in mel]
    for t in range(mel.shape[1]):
        events = tf.constant(mel[:, t], tf.int32)
        if t > 0:  # the label of the event about to be appended, and the event each class plays
            labels = ours.label(state, events).numpy()
            assert list(labels) == [theirs.events_to_label(m, t) for m in objs], t
            for c in range(ours.num_classes):
                played = ours.resolve(state, tf.fill([len(mel)], c)).numpy()
                expected = [theirs.class_index_to_event(c, list(m)[:t]) for m in objs]
                assert [46 + e if e >= 2 else e for e in played] == [e if e >= 0 else e + 2 for e in expected], (t, c)
        state = ours.observe(state, events)
        got = ours.features(state, events).numpy()
        want = np.array([theirs.events_to_input(m, t) for m in objs])
        np.testing.assert_array_equal(got, want, err_msg=f"{name} step {t}")
