#!/usr/bin/env bash
# SPPO on DeepSeek-R1-Distill-Qwen-1.5B / DeepScaleR, asynchronous on separate GPUs: the 1.5B run of
# run_ds1.5B_PPO_SEQUENCE_shuffle.sh in verl's separate_async trainer mode (ours, not in the paper).
# ROLLOUT_GPUS of the node's N_GPUS_PER_NODE GPUs run vLLM alone (standalone replicas, TP 1), the rest train; the
# rollout never waits for the update, and the trainer sends its weights every parameter_sync_step mini-batches over
# verl's NCCL checkpoint engine (needs cupy: bash uv_verl.sh installs cupy-cuda13x). The samples' policy lag is logged
# as training/off_policy/trajectory_staleness/{mean,max}; docs/running.md "Trainer modes".
#
#   bash run_scripts/run_ds1.5B_PPO_SEQUENCE_separate_async.sh [hydra overrides]  # GPU node: docs/running.md
#   ROLLOUT_GPUS=1 bash run_scripts/run_ds1.5B_PPO_SEQUENCE_separate_async.sh     # 1 GPU generates, 3 train
#   SPPO_DRY_RUN=1 bash run_scripts/run_ds1.5B_PPO_SEQUENCE_separate_async.sh     # check + print the config, start nothing
#
# Settings: run_scripts/common.sh (COMMON + the ds1.5B column + ALGO_SPPO) + the lines below. The batches are the
# sync run's (256 prompts, mini-batch 128), split over the trainer's GPUs: their count must divide 128 x micro-batch 2.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ROLLOUT_GPUS=${ROLLOUT_GPUS:-2}  # ours: half of the paper's 4-GPU node generates, half trains
TRAIN_GPUS=$((N_GPUS_PER_NODE - ROLLOUT_GPUS))
if [ "$ROLLOUT_GPUS" -lt 1 ] || [ "$TRAIN_GPUS" -lt 1 ]; then
  echo "run_ds1.5B_PPO_SEQUENCE_separate_async.sh: ROLLOUT_GPUS=$ROLLOUT_GPUS must leave 1 to $((N_GPUS_PER_NODE - 1)) of N_GPUS_PER_NODE=$N_GPUS_PER_NODE GPUs for the trainer" >&2
  exit 2
fi
sppo_launch ds1.5B sppo \
  trainer.v1.trainer_mode=separate_async \
  trainer.n_gpus_per_node="$TRAIN_GPUS" \
  actor_rollout_ref.rollout.nnodes=1 \
  actor_rollout_ref.rollout.n_gpus_per_node="$ROLLOUT_GPUS" \
  actor_rollout_ref.rollout.checkpoint_engine.backend=nccl \
  trainer.v1.separate_async.parameter_sync_step=2 \
  "$@"
