#!/usr/bin/env bash
# SPPO on DeepSeek-R1-Distill-Qwen-7B / DAPO-17k (dedup) with the decoupled small critic: a 1.5B critic
# (same Qwen2.5 tokenizer) for the 7B policy. Everything else as run_R1-7B_DAPO_SEQUENCE.sh.
#
#   bash run_scripts/run_R1-7B_DAPO_SEQUENCE_small_critic.sh [hydra overrides]  # GPU node: docs/running.md
#   SPPO_DRY_RUN=1 bash run_scripts/run_R1-7B_DAPO_SEQUENCE_small_critic.sh     # check + print the config, start nothing
#
# Settings: run_scripts/common.sh (COMMON + the R1-7B column + ALGO_SPPO); environment variables there.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
CRITIC_MODEL_PATH=${CRITIC_MODEL_PATH:-deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B}  # the only difference
sppo_launch R1-7B sppo "$@"
