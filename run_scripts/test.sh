#!/usr/bin/env bash
# The whole test suite, on a fresh CPU machine: sets up .venv if missing (bash uv_verl.sh --cpu), then pytest.
#
#   bash run_scripts/test.sh              # default suite (unit + end-to-end verl runs on CPU)
#   bash run_scripts/test.sh -m slow      # the long scenario tests only
#   bash run_scripts/test.sh tests/core   # any pytest arguments
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import sppo, verl, pytest_timeout, gymnasium, Box2D, mujoco, ruff" 2>/dev/null; then
  SPPO_EXTRAS=control bash uv_verl.sh --cpu
fi
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
