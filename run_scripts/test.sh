#!/usr/bin/env bash
# The whole test suite, on a fresh CPU machine: sets up .venv if missing (bash uv_verl.sh --cpu), then pytest.
#
#   bash run_scripts/test.sh              # default suite (unit + end-to-end verl runs on CPU)
#   bash run_scripts/test.sh -m slow      # the long scenario tests only
#   bash run_scripts/test.sh tests/core   # any pytest arguments
#
# SPPO_TEST_WORKERS=N runs N pytest-xdist workers (default 0: one process). Every test that starts Ray then runs on
# one worker, one at a time (tests/conftest.py puts them in one xdist group), and the other workers take the rest.
# On 2 cores this is not the default: measured here, the second worker slows each real verl run enough that Ray's
# fixed start-up deadlines (30 s for a node to register, its agents' port files) are missed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import sppo, sppo_lab, scipy, verl, pytest_timeout, xdist, gymnasium, Box2D, mujoco, ruff" 2>/dev/null; then
  bash uv_verl.sh --cpu
fi
# uv_verl.sh installs uv at user level when it is missing, possibly in a folder this shell's PATH lacks (~/.local/bin on
# a fresh machine); the wheel test (tests/layout/test_packages.py) builds with it. Sourcing only defines its functions.
# shellcheck source=../uv_verl.sh
source uv_verl.sh
find_uv || true
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
exec .venv/bin/python -m pytest -p no:cacheprovider -n "${SPPO_TEST_WORKERS:-0}" --dist loadgroup "$@"
