#!/usr/bin/env bash
# How tests/data/magenta/attention_rnn_tiny.mag was made: Magenta 2.1.4's own tools in the
# oracle venv (../shared/magenta-oracle/setup.sh) on the first 300 held-out melodies of
# the shipped default bundle's dataset (tests/data/heldout_melodies.npz).
#   bash scripts/make_attention_fixture.sh OUT_DIR
set -euo pipefail
OUT=${1:?usage: make_attention_fixture.sh OUT_DIR}
V=${MAGENTA_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/rltune-magenta-venv}/bin
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$OUT"
python - "$OUT/notes.tfrecord" <<'PY'
import sys
import numpy as np
from rltune.data import write_sequences
from rltune.melodies import events_to_sequence
d = np.load("tests/data/heldout_melodies.npz")
starts = np.concatenate([[0], np.cumsum(d["lengths"])[:-1]])
seqs = [events_to_sequence(d["events"][s:s + n], title=f"heldout {i}") for i, (s, n) in enumerate(zip(starts, d["lengths"])) if i < 300]
write_sequences(seqs, sys.argv[1])
PY
HP="batch_size=16,rnn_layer_sizes=[24,16],attn_length=10"
"$V/melody_rnn_create_dataset" --config=attention_rnn --input="$OUT/notes.tfrecord" --output_dir="$OUT/seqex" --eval_ratio=0
"$V/melody_rnn_train" --config=attention_rnn --run_dir="$OUT/run" --sequence_example_file="$OUT/seqex/training_melodies.tfrecord" \
  --hparams="$HP" --num_training_steps=40
"$V/melody_rnn_generate" --config=attention_rnn --run_dir="$OUT/run" --hparams="$HP" --bundle_file="$OUT/attention_rnn_tiny.mag" \
  --save_generator_bundle --bundle_description="attention_rnn, layers [24, 16], attn_length 10, 40 steps of melody_rnn_train on 300 held-out melodies of rltune's default dataset"
