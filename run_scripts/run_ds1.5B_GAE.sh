#!/usr/bin/env bash
# Baseline: token-level PPO (GAE, a critic over all tokens) on DeepSeek-R1-Distill-Qwen-1.5B / DeepScaleR.
# Same data, budget and hyper-parameters as the SPPO run of this size.
#
#   bash run_scripts/run_ds1.5B_GAE.sh [hydra overrides]  # GPU node: docs/running.md
#   SPPO_DRY_RUN=1 bash run_scripts/run_ds1.5B_GAE.sh     # check + print the config, start nothing
#
# Settings: run_scripts/common.sh (COMMON + the ds1.5B column + ALGO_GAE); environment variables there.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
sppo_launch ds1.5B gae "$@"
