#!/usr/bin/env bash
# SPPO on DeepSeek-R1-Distill-Qwen-1.5B / DeepScaleR, asynchronous: the 1.5B run of
# run_ds1.5B_PPO_SEQUENCE_shuffle.sh in verl's colocate_async trainer mode (ours, not in the paper).
# Generation does not wait for the step's batch to finish: the rollout keeps generating the next batch, is
# aborted at each weight update and resumes those partial responses with the new weights. SPPO suits it: one
# response per prompt (no group has to finish together) and V(prompt) needs no response. The samples' policy lag
# is logged as training/off_policy/trajectory_staleness/{mean,max}; docs/running.md "Trainer modes".
#
#   bash run_scripts/run_ds1.5B_PPO_SEQUENCE_async.sh [hydra overrides]  # GPU node: docs/running.md
#   SPPO_DRY_RUN=1 bash run_scripts/run_ds1.5B_PPO_SEQUENCE_async.sh     # check + print the config, start nothing
#
# Settings: run_scripts/common.sh (COMMON + the ds1.5B column + ALGO_SPPO) + the two lines below.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
sppo_launch ds1.5B sppo \
  trainer.v1.trainer_mode=colocate_async \
  trainer.v1.colocate_async.num_warmup_batches=1 \
  "$@"
