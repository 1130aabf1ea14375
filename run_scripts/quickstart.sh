#!/usr/bin/env bash
# Quickstart on a CPU machine: sets up .venv if missing, then trains a tiny policy with SPPO through the
# real verl pipeline (python -m sppo_lab.quickstart.run). Outputs: runs/quickstart/{metrics.json,reward_curve.png}.
#
#   bash run_scripts/quickstart.sh [--steps 150] [--out runs/quickstart] [-- hydra overrides]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import sppo, verl" 2>/dev/null; then
  bash uv_verl.sh --cpu
fi
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
exec .venv/bin/python -m sppo_lab.quickstart.run "$@"
