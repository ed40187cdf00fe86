"""The input encodings and output classes of Magenta's three melody_rnn configurations.

Whatever a model's classes, rltune sees melodies as the 38 events of note-seq's
``MelodyOneHotEncoding(48, 84)`` (0 hold, 1 rest, 2..37 MIDI 48..83). An
encoder turns the events played so far into the model's input vector and maps
between the model's classes and events:

* ``basic_rnn`` (``MelodyOneHotEncoding``): input one-hot of the last event
  (38), classes = events;
* ``lookback_rnn`` (``LookbackEventSequenceEncoderDecoder``, lookbacks of 1 and
  2 bars, 5 counter bits): input 121 = the last event, the event that followed
  each lookback, a binary step counter, is-repeating flags; classes 40 = the 38
  events and "repeat the event 1 / 2 bars ago";
* ``attention_rnn`` (``KeyMelodyEncoderDecoder``, 7 counter bits): input 74 =
  the sounding pitch, note/silence, attack, direction, repeating flags, counter,
  bar start, the melody's and its last three notes' major-key histograms;
  classes 40 = 36 pitches, hold, rest and the two lookback classes.

Everything is TensorFlow over the batch: the encoder's state (the last 33
events and what the key-melody inputs track) is a tuple of float32 [B, k]
tensors that travels with the LSTM state, so a network's state says all its
next step needs, replay stores it as it stores the LSTM state, and compiled
loops carry it. :meth:`Encoder.observe` appends an event; :meth:`features` is
the input for the last event observed; :meth:`resolve` turns a class into the
event it plays; :meth:`label` is the class Magenta's ``events_to_label`` gives
an event (so log p(event) is the probability Magenta's log-likelihood gives).
A test compares these with note-seq's own encoders, event by event.
"""
from __future__ import annotations

import numpy as np

NUM_EVENTS = 38
HOLD, REST = 0, 1
MIN_PITCH = 48
LOOKBACKS = (16, 32)  # note-seq's DEFAULT_LOOKBACK_DISTANCES: one and two bars of 16 steps
WINDOW = LOOKBACKS[-1] + 1  # events kept: enough for the flags of the longest lookback
EMPTY = -1.0  # a window slot before the melody's start
# NOTE_KEYS of note-seq as a matrix: pitch class p is in major key k
MAJOR_KEY_OF = np.array([[float((p - k) % 12 in (0, 2, 4, 5, 7, 9, 11)) for k in range(12)] for p in range(12)], np.float32)


def _tf():
    from rltune._tf import tf
    return tf


class Encoder:
    name = ""
    input_size = NUM_EVENTS
    num_classes = NUM_EVENTS
    class_layout = "0 hold, 1 rest, 2.. MIDI 48.."  # what the model's class indices mean
    state_widths: tuple = ()  # widths of the float32 [B, k] state tensors

    def initial(self, batch) -> tuple:
        return ()

    def observe(self, state: tuple, events) -> tuple:
        return state

    def features(self, state: tuple, events):
        """The input vector [B, input_size] for ``events`` just observed (``state`` already holds them)."""
        tf = _tf()
        return tf.one_hot(events, NUM_EVENTS)

    def resolve(self, state: tuple, classes):
        """The events [B] the model's classes [B] play, after the events in ``state``."""
        return classes

    def label(self, state: tuple, events):
        """Magenta's class for ``events`` [B] played after the events in ``state``."""
        return events

    def event_class(self, events):
        """The plain (non-lookback) class of each event."""
        return events

    def clean(self, melodies: np.ndarray) -> np.ndarray:
        """As note-seq's ``Melody(events)`` does: rests before the first note become holds."""
        melodies = np.array(melodies, copy=True)
        started = np.maximum.accumulate(melodies >= 2, axis=1)
        melodies[(~started) & (melodies == REST)] = HOLD
        return melodies


class OneHot(Encoder):
    name = "basic_rnn"


class _Window(Encoder):
    """Keeps the last WINDOW events (slot -1 the newest) and how many were played."""
    state_widths = (WINDOW, 1)

    def initial(self, batch):
        tf = _tf()
        return (tf.fill([batch, WINDOW], EMPTY), tf.zeros([batch, 1]))

    def observe(self, state, events):
        tf = _tf()
        window, n = state[0], state[1]
        window = tf.concat([window[:, 1:], tf.cast(events, tf.float32)[:, None]], axis=1)
        return (window, n + 1.0) + tuple(state[2:])

    @staticmethod
    def _back(window, d):
        """The event d steps before the newest (EMPTY before the start)."""
        return window[:, -1 - d]

    def _repeating(self, window):
        tf = _tf()
        now = window[:, -1]
        return [tf.cast(tf.logical_and(tf.equal(now, self._back(window, d)), self._back(window, d) >= 0), tf.float32)
                for d in LOOKBACKS]

    @staticmethod
    def _counter(n, bits):
        tf = _tf()
        count = tf.cast(n[:, 0], tf.int32)
        return [tf.where(tf.equal(tf.bitwise.bitwise_and(tf.bitwise.right_shift(count, i), 1), 1), 1.0, -1.0)
                for i in range(bits)]

    def _label_lookback(self, state, events, plain):
        """events_to_label: a hold in the first two bars is "repeat 2 bars ago" (which plays a hold
        there); else the farthest lookback it repeats; else its plain class."""
        tf = _tf()
        window, n = state[0], state[1][:, 0]
        ev = tf.cast(events, tf.float32)
        out = plain
        for i, d in enumerate(LOOKBACKS):  # nearer first, so the farther lookback wins
            before = window[:, -d]
            out = tf.where(tf.logical_and(before >= 0, tf.equal(ev, before)), NUM_EVENTS + i, out)
        early_hold = tf.logical_and(n < LOOKBACKS[-1], tf.equal(ev, float(HOLD)))
        return tf.where(early_hold, NUM_EVENTS + len(LOOKBACKS) - 1, out)

    def _resolve_lookback(self, state, classes, plain_event):
        tf = _tf()
        window, n = state[0], state[1][:, 0]
        out = plain_event
        for i, d in enumerate(LOOKBACKS):
            repeat = tf.where(n < d, float(HOLD), window[:, -d])
            out = tf.where(tf.equal(classes, NUM_EVENTS + i), tf.cast(repeat, tf.int32), out)
        return out


class Lookback(_Window):
    """note-seq's LookbackEventSequenceEncoderDecoder(MelodyOneHotEncoding(48, 84))."""
    name = "lookback_rnn"
    class_layout = "0 hold, 1 rest, 2-37 MIDI 48-83, 38/39 repeat 1/2 bars ago"
    counter_bits = 5
    input_size = NUM_EVENTS * (1 + len(LOOKBACKS)) + counter_bits + len(LOOKBACKS)  # 121
    num_classes = NUM_EVENTS + len(LOOKBACKS)  # 40

    def features(self, state, events):
        tf = _tf()
        window, n = state[0], state[1]
        parts = [tf.one_hot(events, NUM_EVENTS)]
        for d in LOOKBACKS:  # the event that followed the one d steps back (a hold before the start)
            follow = window[:, -d]
            parts.append(tf.one_hot(tf.cast(tf.where(follow >= 0, follow, float(HOLD)), tf.int32), NUM_EVENTS))
        parts.append(tf.stack(self._counter(n, self.counter_bits), axis=1))
        parts.append(tf.stack(self._repeating(window), axis=1))
        return tf.concat(parts, axis=1)

    def label(self, state, events):
        return self._label_lookback(state, events, events)

    def resolve(self, state, classes):
        return self._resolve_lookback(state, classes, classes)


class KeyMelody(_Window):
    """note-seq's KeyMelodyEncoderDecoder(48, 84): the attention_rnn configuration's encoder.

    State beyond the window: the sounding pitch (-1 none), attack flag, direction (+1, -1, 0
    unknown), the last three distinct pitches (oldest first, -1 empty) and the pitch-class
    counts of every note played."""
    name = "attention_rnn"
    class_layout = "0-35 MIDI 48-83, 36 hold, 37 rest, 38/39 repeat 1/2 bars ago"
    counter_bits = 7
    note_range = 36
    input_size = note_range + 2 + 1 + 1 + len(LOOKBACKS) + counter_bits + 1 + 12 + 12  # 74
    num_classes = note_range + 2 + len(LOOKBACKS)  # 40
    state_widths = (WINDOW, 1, 1, 1, 1, 3, 12)

    def initial(self, batch):
        tf = _tf()
        return super().initial(batch) + (tf.fill([batch, 1], -1.0), tf.zeros([batch, 1]), tf.zeros([batch, 1]),
                                         tf.fill([batch, 3], -1.0), tf.zeros([batch, 12]))

    def observe(self, state, events):
        tf = _tf()
        window, n, note, attack, direction, last3, counts = super().observe(state, events)
        ev = tf.cast(events, tf.float32)[:, None]
        is_note = ev >= 2
        pitch = ev + (MIN_PITCH - 2)
        attack = tf.where(is_note, 1.0, tf.where(tf.equal(ev, float(HOLD)), 0.0, attack))
        note = tf.where(is_note, pitch, tf.where(tf.equal(ev, float(REST)), -1.0, note))
        newest = last3[:, -1:]
        direction = tf.where(tf.logical_and(is_note, newest >= 0),
                             tf.where(pitch > newest, 1.0, tf.where(pitch < newest, -1.0, direction)), direction)
        # the last three distinct pitches: drop an earlier copy of this pitch, append it
        keep = tf.logical_and(last3 >= 0, tf.not_equal(last3, pitch))
        merged = tf.concat([tf.where(keep, last3, -1.0), pitch], axis=1)
        valid = tf.concat([keep, tf.ones_like(is_note)], axis=1)
        order = tf.argsort(tf.cast(valid, tf.int32) * 8 + tf.range(4)[None, :], axis=1, stable=True)
        compact = tf.gather(merged, order, batch_dims=1)[:, 1:]
        last3 = tf.where(is_note, compact, last3)
        pitch_class = tf.one_hot(tf.cast(tf.math.floormod(pitch[:, 0], 12.0), tf.int32), 12)
        counts = counts + tf.where(is_note, pitch_class, 0.0)
        return window, n, note, attack, direction, last3, counts

    def features(self, state, events):
        tf = _tf()
        window, n, note, attack, direction, last3, counts = state
        sounding = note[:, 0] >= 0
        pitch_hot = tf.one_hot(tf.cast(tf.where(sounding, note[:, 0] - MIN_PITCH, -1.0), tf.int32), self.note_range)
        keys = tf.constant(MAJOR_KEY_OF)

        def top_keys(pc_counts):
            hist = tf.matmul(pc_counts, keys)
            return tf.cast(tf.equal(hist, tf.reduce_max(hist, axis=1, keepdims=True)), tf.float32)
        last3_counts = tf.reduce_sum(tf.one_hot(tf.cast(tf.math.floormod(tf.where(last3 >= 0, last3, 0.0), 12.0), tf.int32), 12)
                                     * tf.cast(last3 >= 0, tf.float32)[:, :, None], axis=1)
        at_bar = tf.cast(tf.equal(tf.math.floormod(n, 16.0), 0.0), tf.float32)
        parts = [pitch_hot, tf.cast(sounding, tf.float32)[:, None], 1.0 - tf.cast(sounding, tf.float32)[:, None],
                 attack, direction, tf.stack(self._repeating(window), axis=1),
                 tf.stack(self._counter(n, self.counter_bits), axis=1), at_bar, top_keys(counts), top_keys(last3_counts)]
        return tf.concat(parts, axis=1)

    def event_class(self, events):
        tf = _tf()
        return tf.where(events >= 2, events - 2, tf.where(tf.equal(events, HOLD), self.note_range, self.note_range + 1))

    def label(self, state, events):
        return self._label_lookback(state, events, self.event_class(events))

    def resolve(self, state, classes):
        tf = _tf()
        plain = tf.where(classes < self.note_range, classes + 2,
                         tf.where(tf.equal(classes, self.note_range), HOLD, REST))
        return self._resolve_lookback(state, classes, plain)


ENCODERS = {cls.name: cls for cls in (OneHot, Lookback, KeyMelody)}


def get_encoder(name: str) -> Encoder:
    from rltune.errors import RLTuneError
    if name not in ENCODERS:
        raise RLTuneError(f"unknown melody encoding {name!r}: rltune reads {', '.join(ENCODERS)}")
    return ENCODERS[name]()
