#!/usr/bin/env bash
# Baseline: ReMax (one sample + one greedy baseline per prompt, no critic) on
# DeepSeek-R1-Distill-Qwen-7B / DAPO-17k (dedup).
# Same prompts per step and steps as the SPPO run of this size; verl's legacy trainer (trainer.use_v1=False).
#
#   bash run_scripts/run_R1-7B_DAPO_REMAX.sh [hydra overrides]  # GPU node: docs/running.md
#   SPPO_DRY_RUN=1 bash run_scripts/run_R1-7B_DAPO_REMAX.sh     # check + print the config, start nothing
#
# Settings: run_scripts/common.sh (COMMON + the R1-7B column + ALGO_REMAX); environment variables there.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
sppo_launch R1-7B remax "$@"
