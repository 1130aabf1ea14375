#!/usr/bin/env bash
# The one-command GPU check (issues 12, 27): at most ~24 minutes on ONE GPU (each stage under 10), no downloads (tiny
# models built from config, the bundled task). Engine-level remove-padding critic checks, sppo.main end to end with
# vLLM (same-size and smaller critic, checkpoint + resume of weights, optimizer and dataloader), vLLM (eager) vs HF
# evaluation; a JSON report of every assertion, each stage's seconds and budget, per-role peak memory, the nvidia-smi
# peak of the GPU in use and tokens/s.
#
#   bash run_scripts/gpu_check.sh                       # report: $OUT/report.json or runs/gpu_check/report.json
#   bash run_scripts/gpu_check.sh --out my_report.json --stages engine e2e_same
#
# Without CUDA it prints one line saying it was skipped and exits 0, unless nvidia-smi lists GPUs that torch cannot
# use: then one "gpu_check: FAILED: ..." line naming the NVIDIA driver needed, exit 1. Exit 1 if any assertion failed.
# See docs/running.md, "GPU check", and lab/sppo_lab/gpu_check/.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
exec "$PY" -m sppo_lab.gpu_check "$@"
