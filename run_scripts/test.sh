#!/usr/bin/env bash
# The whole test suite, on a fresh CPU machine: sets up .venv if missing (bash uv_verl.sh --cpu), then pytest.
#
#   bash run_scripts/test.sh              # default suite (unit + end-to-end verl runs on CPU)
#   bash run_scripts/test.sh -m slow      # the long scenario tests only
#   bash run_scripts/test.sh tests/core   # any pytest arguments
#
# Two pytest-xdist workers share the 2 cores (SPPO_TEST_WORKERS, default 2; 0 runs in one process): a real verl run
# leaves one core mostly idle while its Ray workers start one by one, and the other worker fills it. Every test that
# starts Ray runs on one worker, one at a time (tests/conftest.py puts them in one xdist group).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import sppo, verl, pytest_timeout, xdist, gymnasium, Box2D, mujoco, ruff" 2>/dev/null; then
  SPPO_EXTRAS=control bash uv_verl.sh --cpu
fi
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
exec .venv/bin/python -m pytest -p no:cacheprovider -n "${SPPO_TEST_WORKERS:-2}" --dist loadgroup "$@"
