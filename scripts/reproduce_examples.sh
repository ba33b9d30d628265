#!/usr/bin/env bash
# Full reproductions of the Keras 1 examples, one `rnncli train configs/NAME.yaml` each (the configs' own epochs),
# then a markdown table of the measured results (also written to $OUT/results.md) plus sample outputs.
#
#   scripts/reproduce_examples.sh                 # every example, runs in runs/examples/NAME
#   scripts/reproduce_examples.sh addition char_lm
#   OUT=/tmp/ex RNNCLI=.venv/bin/rnncli scripts/reproduce_examples.sh sunspots_gru
#
# Wall time is measured around the whole `rnncli train` process (start-up, XLA compilation, checkpoints included).
set -euo pipefail
cd "$(dirname "$0")/.."
RNNCLI=${RNNCLI:-rnncli}
PYTHON=${PYTHON:-python}
if [ -x .venv/bin/rnncli ] && [ "$RNNCLI" = rnncli ] && ! command -v rnncli >/dev/null; then RNNCLI=.venv/bin/rnncli; fi
if [ -x .venv/bin/python ] && [ "$PYTHON" = python ]; then PYTHON=.venv/bin/python; fi
OUT=${OUT:-runs/examples}
mkdir -p "$OUT"
NAMES=("$@")
[ ${#NAMES[@]} -eq 0 ] && NAMES=(stateful_cosine addition char_lm digits_irnn masked_classification bidirectional sunspots_gru series_forecast ragged_classifier stateful_series store_forecast reverse_seq2seq)

for name in "${NAMES[@]}"; do
  echo "== $name" >&2
  start=$(date +%s.%N)
  "$RNNCLI" train "configs/$name.yaml" -o "$OUT/$name" --force --no-progress 2> "$OUT/$name.log"
  end=$(date +%s.%N)
  "$PYTHON" -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$start" "$end" > "$OUT/$name.wall"
  case $name in
    addition)
      "$RNNCLI" predict "$OUT/addition" --input datasets/addition_val.npz --output "$OUT/addition_pred.npy" 2>/dev/null
      "$PYTHON" scripts/addition_samples.py datasets/addition_val.npz "$OUT/addition_pred.npy" -n 10 \
        > "$OUT/addition_samples.txt" ;;
    char_lm)
      for t in 0.2 0.5 1.0; do
        "$RNNCLI" generate "$OUT/char_lm" --prime "def format(self, text):" --length 400 --temperature $t --seed 1 \
          > "$OUT/char_lm_T$t.txt"
      done ;;
  esac
done

"$PYTHON" scripts/examples_table.py "$OUT" "${NAMES[@]}" | tee "$OUT/results.md"
