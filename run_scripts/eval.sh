#!/usr/bin/env bash
# Evaluate one model on a benchmark suite: generate, then score.
#
#   MODEL=checkpoints/SPPO/ds1.5B_PPO_SEQUENCE_shuffle bash run_scripts/eval.sh            # the paper's validation set
#   SUITE=all5 MODEL=checkpoints/SPPO/R1-7B_DAPO_SEQUENCE K=4 bash run_scripts/eval.sh --tensor-parallel-size 4
#   MODEL=ckpt/global_step_500 OUT=runs/eval/step500 bash run_scripts/eval.sh --max-tokens 4096
#
# Runs exactly:
#   $PYTHON -m sppo.eval generate --model "$MODEL" --benchmarks "$SUITE" \
#       --data-dir "$DATA_DIR/offline_eval" --k "$K" --out "$OUT" "$@"
#   $PYTHON -m sppo.eval score "$OUT"
# Environment (defaults in brackets; relative paths are taken from the directory you call from):
#   SUITE     official_val: the paper's validation set, AIME24 repeated 8x + MATH500 (AIME24's 8 repeats give
#             avg@8); all5: the paper's 5-benchmark table, AIME24, AIME25, AMC23, MATH500, Minerva (the headline
#             is the row "mean of 5 (paper)") [official_val]
#   MODEL     HF model dir, verl checkpoint (training dir, global_step_N[/actor]) or hf://ORG/NAME
#             [hf://deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B]
#   DATA_DIR  holds offline_eval/*.parquet, as for the training scripts [<repo>/data]
#             (write it with: python -m sppo.data.prepare aime24 aime25 amc23 math500 minerva --out data)
#   OUT       output folder [runs/eval/$SUITE]
#   K         samples per row [1]
#   PYTHON    [<repo>/.venv/bin/python if present, else python]
# Extra arguments go to `generate` (--temperature, --top-p, --max-tokens, --backend, --seed, ...).
# Resumable: run the same command again after an interruption. See docs/evaluation.md.
set -euo pipefail
SPPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -x "$SPPO_ROOT/.venv/bin/python" ]; then PYTHON=${PYTHON:-$SPPO_ROOT/.venv/bin/python}; else PYTHON=${PYTHON:-python}; fi
SUITE=${SUITE:-official_val}
MODEL=${MODEL:-hf://deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B}
DATA_DIR=${DATA_DIR:-$SPPO_ROOT/data}
OUT=${OUT:-runs/eval/$SUITE}
K=${K:-1}
export PYTHONPATH="$SPPO_ROOT${PYTHONPATH:+:$PYTHONPATH}" TOKENIZERS_PARALLELISM=false
"$PYTHON" -m sppo.eval generate --model "$MODEL" --benchmarks "$SUITE" --data-dir "$DATA_DIR/offline_eval" \
    --k "$K" --out "$OUT" "$@"
"$PYTHON" -m sppo.eval score "$OUT"
