#!/usr/bin/env bash
# SPPO on DeepSeek-R1-Distill-Qwen-1.5B / DeepScaleR: the paper's 1.5B run (one response per prompt,
# a sequence-level critic V(prompt) initialised from the same 1.5B model).
#
#   bash run_scripts/run_ds1.5B_PPO_SEQUENCE_shuffle.sh [hydra overrides]  # GPU node: docs/running.md
#   SPPO_DRY_RUN=1 bash run_scripts/run_ds1.5B_PPO_SEQUENCE_shuffle.sh     # check + print the config, start nothing
#
# Settings: run_scripts/common.sh (COMMON + the ds1.5B column + ALGO_SPPO); environment variables there.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
sppo_launch ds1.5B sppo "$@"
