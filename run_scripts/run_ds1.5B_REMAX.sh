#!/usr/bin/env bash
# Baseline: ReMax (one sample + one greedy baseline per prompt, no critic) on
# DeepSeek-R1-Distill-Qwen-1.5B / DeepScaleR.
# Same prompts per step and steps as the SPPO run of this size; verl's legacy trainer (trainer.use_v1=False).
#
#   bash run_scripts/run_ds1.5B_REMAX.sh [hydra overrides]  # GPU node: docs/running.md
#   SPPO_DRY_RUN=1 bash run_scripts/run_ds1.5B_REMAX.sh     # check + print the config, start nothing
#
# Settings: run_scripts/common.sh (COMMON + the ds1.5B column + ALGO_REMAX); environment variables there.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
sppo_launch ds1.5B remax "$@"
