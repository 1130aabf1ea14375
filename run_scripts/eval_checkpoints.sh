#!/usr/bin/env bash
# Evaluate every checkpoint of a training run (RUN_DIR/global_step_N), then compare them: the
# score-vs-step curve of the paper's efficiency plot, from offline evaluations.
#
#   RUN_DIR=checkpoints/SPPO/ds1.5B_PPO_SEQUENCE_shuffle bash run_scripts/eval_checkpoints.sh
#   RUN_DIR=checkpoints/SPPO/R1-7B_DAPO_GRPO BENCHMARKS=all5 K=4 bash run_scripts/eval_checkpoints.sh --max-tokens 8192
#
# Runs exactly, for each RUN_DIR/global_step_N in step order:
#   $PYTHON -m sppo.eval generate --model "$RUN_DIR/global_step_N" --benchmarks $BENCHMARKS \
#       --data-dir "$DATA_DIR/offline_eval" --k "$K" --out "$OUT/global_step_N" "$@"
#   $PYTHON -m sppo.eval score "$OUT/global_step_N" --no-plots
# then
#   $PYTHON -m sppo.eval compare "$OUT" --out "$OUT/compare"
# Environment (defaults in brackets; relative paths are taken from the directory you call from):
#   RUN_DIR     (required) the run's checkpoint folder, trainer.default_local_dir
#   BENCHMARKS  [official_val]   DATA_DIR [<repo>/data]   K [1]
#   OUT         [runs/eval/<RUN_DIR name>]; merged models go to $OUT/global_step_N/model_hf
#   PYTHON      [<repo>/.venv/bin/python if present, else python]
# Extra arguments go to `generate`. Resumable: finished steps are skipped by generate's own resume.
set -euo pipefail
SPPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -x "$SPPO_ROOT/.venv/bin/python" ]; then PYTHON=${PYTHON:-$SPPO_ROOT/.venv/bin/python}; else PYTHON=${PYTHON:-python}; fi
: "${RUN_DIR:?set RUN_DIR to the checkpoint folder of the training run (trainer.default_local_dir)}"
BENCHMARKS=${BENCHMARKS:-official_val}
DATA_DIR=${DATA_DIR:-$SPPO_ROOT/data}
OUT=${OUT:-runs/eval/$(basename "$RUN_DIR")}
K=${K:-1}
export PYTHONPATH="$SPPO_ROOT${PYTHONPATH:+:$PYTHONPATH}" TOKENIZERS_PARALLELISM=false
steps=$(find "$RUN_DIR" -maxdepth 1 -type d -name 'global_step_*' | sed 's/.*global_step_//' | sort -n)
[ -n "$steps" ] || { echo "eval_checkpoints.sh: no global_step_N folder in $RUN_DIR" >&2; exit 2; }
for step in $steps; do
  # shellcheck disable=SC2086  # BENCHMARKS is a list of names
  "$PYTHON" -m sppo.eval generate --model "$RUN_DIR/global_step_$step" --benchmarks $BENCHMARKS \
      --data-dir "$DATA_DIR/offline_eval" --k "$K" --out "$OUT/global_step_$step" "$@"
  "$PYTHON" -m sppo.eval score "$OUT/global_step_$step" --no-plots
done
"$PYTHON" -m sppo.eval compare "$OUT" --out "$OUT/compare"
