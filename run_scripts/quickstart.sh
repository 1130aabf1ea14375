#!/usr/bin/env bash
# Quickstart on a CPU machine: sets up .venv if missing, then trains a tiny policy with SPPO through the real verl
# pipeline on the graded chain-of-thought task (python -m sppo_lab.quickstart.run; about 12 minutes on 2 cores from
# a fresh clone, set-up included). Outputs: runs/quickstart_graded/{metrics.json,reward_curve.png}.
#
#   bash run_scripts/quickstart.sh [--steps 80] [--out runs/quickstart_graded] [-- hydra overrides]
#   bash run_scripts/quickstart.sh --task addition      # "What is a+b?" instead: runs/quickstart/
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import sppo, verl" 2>/dev/null; then
  bash uv_verl.sh --cpu
fi
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
exec .venv/bin/python -m sppo_lab.quickstart.run "$@"
