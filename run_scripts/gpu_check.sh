#!/usr/bin/env bash
# The one-command GPU check (issue 12): at most ~8 minutes on ONE GPU, no downloads (tiny models built from
# config, the bundled task). Engine-level remove-padding critic checks, sppo.main end to end with vLLM
# (same-size and smaller critic, checkpoint + resume), vLLM vs HF evaluation; a JSON report of every assertion,
# per-role peak memory, the nvidia-smi peak and tokens/s.
#
#   bash run_scripts/gpu_check.sh                       # report: $OUT/report.json or runs/gpu_check/report.json
#   bash run_scripts/gpu_check.sh --out my_report.json --stages engine e2e_same
#
# Without CUDA it prints one line saying it was skipped and exits 0. Exit 1 if any assertion failed.
# See docs/running.md, "GPU check", and lab/sppo_lab/gpu_check/.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
exec "$PY" -m sppo_lab.gpu_check "$@"
