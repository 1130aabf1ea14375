#!/usr/bin/env bash
# The paper's validation set (AIME24 repeated 8x + MATH500): generate, then score.
#
#   MODEL=checkpoints/SPPO/ds1.5B_PPO_SEQUENCE_shuffle bash run_scripts/eval_official_val.sh
#   MODEL=ckpt/global_step_500 OUT=runs/eval/step500 bash run_scripts/eval_official_val.sh --max-tokens 4096
#
# Runs exactly:
#   $PYTHON -m sppo.eval generate --model "$MODEL" --benchmarks official_val \
#       --data-dir "$DATA_DIR/offline_eval" --k "$K" --out "$OUT" "$@"
#   $PYTHON -m sppo.eval score "$OUT"
# Environment (defaults in brackets; relative paths are taken from the directory you call from):
#   MODEL     HF model dir, verl checkpoint (training dir, global_step_N[/actor]) or hf://ORG/NAME
#             [hf://deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B]
#   DATA_DIR  holds offline_eval/*.parquet, as for the training scripts [<repo>/data]
#             (write it with: python -m sppo.data.prepare aime24 math500 --out data)
#   OUT       output folder [runs/eval/official_val]
#   K         samples per row [1]: AIME24's 8 repeats give avg@8, MATH500 avg@1
#   PYTHON    [<repo>/.venv/bin/python if present, else python]
# Extra arguments go to `generate` (--temperature, --top-p, --max-tokens, --backend, --seed, ...).
# Resumable: run the same command again after an interruption. See docs/evaluation.md.
set -euo pipefail
SPPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -x "$SPPO_ROOT/.venv/bin/python" ]; then PYTHON=${PYTHON:-$SPPO_ROOT/.venv/bin/python}; else PYTHON=${PYTHON:-python}; fi
MODEL=${MODEL:-hf://deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B}
DATA_DIR=${DATA_DIR:-$SPPO_ROOT/data}
OUT=${OUT:-runs/eval/official_val}
K=${K:-1}
export PYTHONPATH="$SPPO_ROOT${PYTHONPATH:+:$PYTHONPATH}" TOKENIZERS_PARALLELISM=false
"$PYTHON" -m sppo.eval generate --model "$MODEL" --benchmarks official_val --data-dir "$DATA_DIR/offline_eval" \
    --k "$K" --out "$OUT" "$@"
"$PYTHON" -m sppo.eval score "$OUT"
