#!/usr/bin/env bash
# Baseline: RLOO with N = 8 samples per prompt (no critic) on DeepSeek-R1-Distill-Qwen-7B / DAPO-17k (dedup).
# Same prompts per step and steps as the SPPO run of this size, hence 8x the generated tokens.
#
#   bash run_scripts/run_R1-7B_DAPO_RLOO.sh [hydra overrides]  # GPU node: docs/running.md
#   SPPO_DRY_RUN=1 bash run_scripts/run_R1-7B_DAPO_RLOO.sh     # check + print the config, start nothing
#
# Settings: run_scripts/common.sh (COMMON + the R1-7B column + ALGO_RLOO); environment variables there.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
sppo_launch R1-7B rloo "$@"
