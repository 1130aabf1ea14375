#!/usr/bin/env bash
# SPPO on DeepSeek-R1-Distill-Qwen-7B / DAPO-17k (dedup): the paper's 7B run, with a same-size 7B critic.
#
#   bash run_scripts/run_R1-7B_DAPO_SEQUENCE.sh [hydra overrides]  # GPU node: docs/running.md
#   SPPO_DRY_RUN=1 bash run_scripts/run_R1-7B_DAPO_SEQUENCE.sh     # check + print the config, start nothing
#
# Settings: run_scripts/common.sh (COMMON + the R1-7B column + ALGO_SPPO); environment variables there.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
sppo_launch R1-7B sppo "$@"
