# shellcheck shell=bash
# Shared settings of the experiment scripts run_scripts/run_*.sh (sourced by them, never run directly).
#
# An experiment = COMMON (every run) + ENGINE (verl's engine: FSDP, or Megatron with model_engine=megatron among the
# overrides) + one column of the paper's table (DS15B or R1_7B) + one algorithm (ALGO_SPPO, ALGO_GAE, ALGO_GRPO,
# ALGO_RLOO, ALGO_REMAX) + the script's own overrides + its "$@".
# Later overrides win, so any value below can be changed from the command line:
#     bash run_scripts/run_ds1.5B_GRPO.sh trainer.total_training_steps=10 data.train_batch_size=64
#
# Environment (defaults in brackets; relative paths are taken from the directory you call from):
#   MODEL_PATH         policy checkpoint dir or hub id [deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B | -7B]
#   CRITIC_MODEL_PATH  critic checkpoint [MODEL_PATH; the small-critic script: ...-Qwen-1.5B]
#   DATA_DIR           train parquet + offline_eval/ [<repo>/data]
#   CKPT_DIR           checkpoints go to $CKPT_DIR/$PROJECT_NAME/$EXPERIMENT_NAME [<repo>/checkpoints]
#   PROJECT_NAME [SPPO]   EXPERIMENT_NAME [script name without run_ and .sh]
#   N_GPUS_PER_NODE [4]   NNODES [1]   (multi-node: start Ray first, see docs/running.md)
#   SAVE_FREQ, TEST_FREQ [per model size, below]   MAX_CKPT_TO_KEEP [2]
#   WANDB_API_KEY      set: trainer.logger=[console,wandb]; unset: [console]
#   WANDB_MODE=offline also [console,wandb], key or not: wandb writes the run under $WANDB_DIR/wandb/ without
#                      contacting its servers (nodes without internet; `wandb sync` it later, docs/running.md)
#   PYTHON             the interpreter [<repo>/.venv/bin/python if present, else python; as the eval scripts]
#   SPPO_DRY_RUN=1     compose + validate + print the config and a summary, start nothing (sppo/tools/dry_run.py);
#                      SPPO_DRY_RUN_JSON=path also writes the resolved config as JSON
#   SPPO_SMOKE=1       a real-size smoke run before a long job: 3 steps at the script's models, lengths and batches, a
#                      checkpoint and a validation (64 held-out prompts) at step 3, into SMOKE_DIR
#                      [<repo>/runs/smoke/<experiment>]: nvidia_smi.csv (memory every second, the GPUs in use),
#                      metrics.jsonl (verl's file logger), ckpt/, and a per-GPU peak summary at the end (smoke_run below)
#
# Paper: "SPPO: Sequence-Level PPO for Long-Horizon Reasoning Tasks" (Wang et al., ACL 2026), official
# hyper-parameter table (arXiv 2604.08865, "Implementation details"). "paper:" marks a value from that table;
# "official script:" a value the paper does not state but its released run scripts use; "ours:" our choice.
# Keys are verl 0.9.1's (verl/trainer/config/_generated_ppo_trainer.yaml).

set -euo pipefail

SPPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

_abs() {  # _abs PATH: PATH made absolute against the caller's working directory
  case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac
}

DATA_DIR=$(_abs "${DATA_DIR:-$SPPO_ROOT/data}")
CKPT_DIR=$(_abs "${CKPT_DIR:-$SPPO_ROOT/checkpoints}")
PROJECT_NAME=${PROJECT_NAME:-SPPO}
EXPERIMENT_NAME=${EXPERIMENT_NAME:-$(basename "$0" .sh)}
EXPERIMENT_NAME=${EXPERIMENT_NAME#run_}
N_GPUS_PER_NODE=${N_GPUS_PER_NODE:-4}  # paper: 1 node x 4 GPUs
NNODES=${NNODES:-1}
MAX_CKPT_TO_KEEP=${MAX_CKPT_TO_KEEP:-2}
if [ -n "${WANDB_API_KEY:-}" ] || [ "${WANDB_MODE:-}" = offline ]; then LOGGER='[console,wandb]'; else LOGGER='[console]'; fi

# --- verl's engine: FSDP (model_engine=dp, verl's default) or Megatron (model_engine=megatron) ----------------------
# The shared settings name each engine's own keys: where the engine config lives (fsdp_config / fsdp or megatron), the
# constant-lr key (FSDP's lr_scheduler_type, Megatron's lr_decay_style) and activation recompute (FSDP: the model's
# enable_gradient_checkpointing; Megatron ignores it and reads megatron.override_transformer_config.recompute_*).
# Megatron keeps verl's layout defaults, TP = PP = CP = 1: 4 data-parallel ranks, as FSDP; set the sizes on the
# command line for both roles (the critic shares the actor's process and its parallel groups: sppo/megatron.py).
engine_keys() {  # engine_keys ENGINE: ACTOR_ENGINE, CRITIC_ENGINE and ENGINE (the engine-specific overrides)
  case "$1" in
    dp)
      ACTOR_ENGINE=fsdp_config CRITIC_ENGINE=fsdp
      ENGINE=(
        actor_rollout_ref.actor.optim.lr_scheduler_type=constant   # paper: constant lr
        critic.optim.lr_scheduler_type=constant
      )
      ;;
    megatron)
      ACTOR_ENGINE=megatron CRITIC_ENGINE=megatron
      ENGINE=(
        actor_rollout_ref.actor.optim.lr_decay_style=constant      # paper: constant lr (Megatron's scheduler key)
        critic.optim.lr_decay_style=constant
        # paper: gradient checkpointing, as Megatron spells it (full recompute of every layer)
        actor_rollout_ref.actor.megatron.override_transformer_config.recompute_granularity=full
        actor_rollout_ref.actor.megatron.override_transformer_config.recompute_method=uniform
        actor_rollout_ref.actor.megatron.override_transformer_config.recompute_num_layers=1
        critic.megatron.override_transformer_config.recompute_granularity=full
        critic.megatron.override_transformer_config.recompute_method=uniform
        critic.megatron.override_transformer_config.recompute_num_layers=1
      )
      ;;
    *) echo "sppo_launch: model_engine=$1: the scripts map their settings for dp (FSDP) and megatron" >&2; return 2 ;;
  esac
}

# --- every experiment --------------------------------------------------------------------------------
common_overrides() {  # COMMON, after engine_keys
COMMON=(
  # validation: AIME24 repeated 8x (240 rows, i.e. 8 samples per problem) and MATH500 (paper)
  "data.val_files=['$DATA_DIR/offline_eval/math__aime_repeated_8x_240.parquet','$DATA_DIR/offline_eval/math__math_500.parquet']"
  data.shuffle=True                                      # official script ("_shuffle" in the 1.5B name)
  reward.custom_reward_function.path=pkg://sppo.reward   # ours: boxed answer + math-verify, 0/1
  reward.custom_reward_function.name=compute_score
  # PPO surrogate: one epoch, clip 0.2, token-mean, no KL anywhere, no entropy bonus (paper)
  actor_rollout_ref.actor.ppo_epochs=1
  actor_rollout_ref.actor.clip_ratio=0.2
  actor_rollout_ref.actor.clip_ratio_low=0.2
  actor_rollout_ref.actor.clip_ratio_high=0.2
  actor_rollout_ref.actor.loss_agg_mode=token-mean
  actor_rollout_ref.actor.use_kl_loss=False
  algorithm.use_kl_in_reward=False
  actor_rollout_ref.actor.entropy_coeff=0
  # optimiser: constant lr (the engine's own key, ENGINE below), no warm-up (paper); the lr values are per model size
  actor_rollout_ref.actor.optim.lr_warmup_steps_ratio=0
  critic.optim.lr_warmup_steps_ratio=0
  # critic weight decay: paper silent, official script keeps verl's default
  critic.optim.weight_decay=0.01
  # efficiency (paper): gradient checkpointing, remove-padding and torch.compile on the actor
  actor_rollout_ref.model.enable_gradient_checkpointing=True
  actor_rollout_ref.model.use_remove_padding=True
  actor_rollout_ref.actor.use_torch_compile=True
  critic.model.enable_gradient_checkpointing=True
  # ours: remove-padding on the critic too. The official critic could not use it (a known defect of the
  # release); ours reads prompt-only, unpadded sequences either way, and verl's GAE critic supports it.
  critic.model.use_remove_padding=True
  "critic.$CRITIC_ENGINE.param_offload=False"      # official script: the critic is never offloaded
  "critic.$CRITIC_ENGINE.optimizer_offload=False"
  # rollout: vLLM, temperature 0.6 for training and validation, sampling in both (paper)
  actor_rollout_ref.rollout.name=vllm
  actor_rollout_ref.rollout.gpu_memory_utilization=0.8   # paper; both columns below lower it for vLLM 0.24
  actor_rollout_ref.rollout.do_sample=True
  actor_rollout_ref.rollout.temperature=0.6
  actor_rollout_ref.rollout.val_kwargs.do_sample=True
  actor_rollout_ref.rollout.val_kwargs.temperature=0.6
  actor_rollout_ref.rollout.val_kwargs.n=1               # ours: the AIME file already repeats each problem 8x
  actor_rollout_ref.rollout.enforce_eager=True           # official script: no CUDA graphs (saves memory)
  # schedule and bookkeeping
  trainer.critic_warmup=0                                # paper
  trainer.val_before_train=True                          # official script
  trainer.project_name="$PROJECT_NAME"
  trainer.experiment_name="$EXPERIMENT_NAME"
  trainer.logger="$LOGGER"
  trainer.n_gpus_per_node="$N_GPUS_PER_NODE"
  trainer.nnodes="$NNODES"
  # checkpoints + automatic resume from the newest one in default_local_dir (ours: official wrote to ./)
  trainer.default_local_dir="$CKPT_DIR/$PROJECT_NAME/$EXPERIMENT_NAME"
  trainer.resume_mode=auto
  trainer.max_actor_ckpt_to_keep="$MAX_CKPT_TO_KEEP"
  trainer.max_critic_ckpt_to_keep="$MAX_CKPT_TO_KEEP"
)
}

# --- DeepSeek-R1-Distill-Qwen-1.5B on DeepScaleR (paper table, column 1) ------------------------------
ds15b() {
  MODEL_PATH=${MODEL_PATH:-deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B}
  CRITIC_MODEL_PATH=${CRITIC_MODEL_PATH:-$MODEL_PATH}    # paper: critic = the same 1.5B
  MEGATRON_TP=1                                          # ours (model_engine=megatron): 4 data-parallel ranks, as FSDP
  SIZE=(
    "data.train_files=['$DATA_DIR/deepscaler-math.parquet']"
    data.train_batch_size=256                            # paper: train batch 256
    actor_rollout_ref.actor.ppo_mini_batch_size=128      # paper: actor mini-batch 128
    critic.ppo_mini_batch_size=128                       # paper: critic mini-batch 128
    data.max_prompt_length=1024                          # paper
    data.max_response_length=8192                        # paper
    data.filter_overlong_prompts=True                    # official script: drop prompts over 1024 tokens
    data.truncation=error
    actor_rollout_ref.actor.optim.lr=1e-6                # paper: 1e-6 constant
    actor_rollout_ref.actor.optim.weight_decay=0.01      # paper
    critic.optim.lr=5e-6                                 # paper
    actor_rollout_ref.rollout.tensor_model_parallel_size=1   # paper: vLLM TP 1
    "actor_rollout_ref.actor.$ACTOR_ENGINE.param_offload=False"  # paper: offload only for 7B
    "actor_rollout_ref.actor.$ACTOR_ENGINE.optimizer_offload=False"
    # micro-batches (official script; paper silent): fixed sizes, no dynamic batching
    actor_rollout_ref.actor.use_dynamic_bsz=False
    actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2
    actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=2
    actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=2  # used only if a KL term is switched on
    critic.ppo_micro_batch_size_per_gpu=1
    # vLLM limits (official script): prompt + response, and the scheduler's token budget per step
    actor_rollout_ref.rollout.max_model_len=9216
    actor_rollout_ref.rollout.max_num_batched_tokens=24576
    # ours: vLLM at 0.7 of the device, not the paper's 0.8. vLLM 0.24 (pinned) requests gpu_memory_utilization x
    # total memory whatever the trainer holds, and the never-offloaded actor and critic keep 9.3 GiB/GPU of fp32
    # weights and Adam states, plus SPPO's critic forward while vLLM is awake at every validation: 0.8 gives a
    # planner peak of 76.0 GiB = 95% of 80 GiB, 0.7 gives 68.0 GiB = 85%. Each TP-1 replica gets 64 sequences per
    # training step (185 at a validation); 0.7's 50 GiB KV cache holds ~205 full-length ones at once.
    # Every 1.5B script shares it (same rollout budget for all methods; GRPO/RLOO's 512 per replica queue a bit more).
    actor_rollout_ref.rollout.gpu_memory_utilization=0.7
    # paper: 2000 steps. "500 in the lr schedule": the official script set optim.total_training_steps=500,
    # but verl 0.9.1 overwrites that key from trainer.total_training_steps, and with a constant lr and no
    # warm-up the schedule's length has no effect, so it is not set here.
    trainer.total_training_steps=2000
    trainer.total_epochs=100                             # ours: an upper bound; the step count stops first
    trainer.test_freq="${TEST_FREQ:-10}"                 # official script
    # ours: official saved every 2 steps with no limit (~50 GB per save); every 20, keeping MAX_CKPT_TO_KEEP
    trainer.save_freq="${SAVE_FREQ:-20}"
  )
}

# --- DeepSeek-R1-Distill-Qwen-7B on DAPO-17k dedup (paper table, column 2) ----------------------------
r1_7b() {
  MODEL_PATH=${MODEL_PATH:-deepseek-ai/DeepSeek-R1-Distill-Qwen-7B}
  CRITIC_MODEL_PATH=${CRITIC_MODEL_PATH:-$MODEL_PATH}    # paper: 7B critic (1.5B in the small-critic script)
  # ours (model_engine=megatron): tensor parallel 2 for both roles. Megatron keeps bf16 weights and an fp32 gradient
  # buffer whole on each TP x PP shard: at TP 1 the 7B actor's update needs ~85 GiB per GPU (the planner), at TP 2
  # ~58 GiB. TP 2 divides the KV heads of both models (7B: 4, 1.5B: 2), so the 1.5B small critic can share it (the
  # critic must: it shares the actor's process and Megatron's parallel groups, sppo/megatron.py).
  MEGATRON_TP=2
  SIZE=(
    "data.train_files=['$DATA_DIR/dapo-math-17k_dedup.parquet']"
    data.train_batch_size=512                            # paper: train batch 512
    actor_rollout_ref.actor.ppo_mini_batch_size=32       # paper: actor mini-batch 32
    critic.ppo_mini_batch_size=32                        # paper: critic mini-batch 32
    data.max_prompt_length=2048                          # paper
    data.max_response_length=8192                        # paper
    data.filter_overlong_prompts=False                   # paper: long prompts are truncated on the left
    data.truncation=left
    actor_rollout_ref.actor.optim.lr=1e-6                # paper: 1e-6 constant
    actor_rollout_ref.actor.optim.weight_decay=0.1       # paper
    critic.optim.lr=1e-5                                 # paper
    actor_rollout_ref.rollout.tensor_model_parallel_size=4   # paper: vLLM TP 4
    "actor_rollout_ref.actor.$ACTOR_ENGINE.param_offload=True"   # paper: actor param + optimizer offload
    "actor_rollout_ref.actor.$ACTOR_ENGINE.optimizer_offload=True"
    # micro-batches (official script; paper silent)
    actor_rollout_ref.actor.use_dynamic_bsz=False
    actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=1
    actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=1
    actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=1  # used only if a KL term is switched on
    critic.ppo_micro_batch_size_per_gpu=1
    # vLLM limits. Official script: max_model_len 20480; prompts are cut to 2048 and responses to 8192, so
    # 10240 is the longest sequence and the larger value changes nothing (ours: state the real bound).
    actor_rollout_ref.rollout.max_model_len=10240
    actor_rollout_ref.rollout.max_num_batched_tokens=32768  # official script
    # ours: vLLM at 0.58 of the device, not the paper's 0.8. vLLM 0.24 (pinned) requests gpu_memory_utilization
    # x total memory for itself whatever the trainer holds (vllm/v1/worker/utils.py request_memory) and wakes up at
    # that size for every rollout, while the non-offloaded 7B critic keeps 19.8 GiB/GPU of fp32 weights and Adam
    # states, and SPPO's critic forward at every validation (2.3 GiB: all-gather + one micro-batch) runs while vLLM
    # is awake: 0.8 needs ~88 GiB on an 80 GB GPU (OOM at the first rollout after a critic update), 0.6 gives a
    # planner peak of 72.1 GiB = 90.1%. 0.58 leaves ~40 GiB of KV cache/GPU, more than max_num_seqs 256 x
    # max_model_len 10240 need (35 GiB), so the rollout runs as many sequences at once; planner peak 70.4 GiB = 88%
    # (python -m sppo.tools.plan_memory, docs/running.md "Memory planner"). Every 7B script shares it: same rollout
    # budget for all methods.
    actor_rollout_ref.rollout.gpu_memory_utilization=0.58
    trainer.total_training_steps=200                     # paper: 200 steps
    trainer.total_epochs=100                             # ours: an upper bound; the step count stops first
    trainer.test_freq="${TEST_FREQ:-2}"                  # official script
    trainer.save_freq="${SAVE_FREQ:-10}"                 # official script
  )
}

# --- algorithms (baselines: "same data and budget" = same prompts per step, same steps) ------------------
ALGO_SPPO=(   # the sequence-level critic V(prompt) and A = R - sigmoid(V), one response per prompt (paper)
  algorithm.adv_estimator=sppo
  actor_rollout_ref.rollout.n=1
  critic.enable=True
)
ALGO_GAE=(    # token-level PPO: a critic over all tokens, GAE
  algorithm.adv_estimator=gae
  actor_rollout_ref.rollout.n=1
  critic.enable=True
  algorithm.gamma=1.0                                    # ours (paper silent): verl's defaults, no discount
  algorithm.lam=1.0
)
ALGO_GRPO=(   # paper: N = 8 samples per prompt, group-normalised advantage, no critic
  algorithm.adv_estimator=grpo
  actor_rollout_ref.rollout.n=8
  critic.enable=False
  algorithm.norm_adv_by_std_in_grpo=True
)
ALGO_RLOO=(   # paper: N = 8, leave-one-out baseline, no critic
  algorithm.adv_estimator=rloo
  actor_rollout_ref.rollout.n=8
  critic.enable=False
)
ALGO_REMAX=(  # one sample + one greedy baseline response per prompt, no critic
  algorithm.adv_estimator=remax
  actor_rollout_ref.rollout.n=1
  critic.enable=False
  # verl 0.9.1's v1 trainer does not generate ReMax's greedy baseline; its legacy trainer does.
  trainer.use_v1=False
)

# --- SPPO_SMOKE=1: three real-size steps before a long job (docs/running.md "Smoke run") ---------------------------
# Everything the first hours of the real run do, once: model loading, vLLM start-up, rollout at full length, the
# actor and critic updates (Adam states created), a weight sync, a checkpoint of real size (disk space, save time), a
# validation with SPPO's critic forward while vLLM is awake. Fresh each time (no resume), in its own directory.
smoke_overrides() {
  SMOKE_DIR=$(_abs "${SMOKE_DIR:-$SPPO_ROOT/runs/smoke/$EXPERIMENT_NAME}")
  SMOKE=(
    trainer.total_training_steps=3
    trainer.save_freq=3                      # one checkpoint, at the last step
    trainer.test_freq=3                      # one validation, at the last step
    trainer.val_before_train=False
    data.val_max_samples=64                  # of each held-out file: the validation path, not its full cost
    trainer.resume_mode=disable              # never resumes (nor is resumed by) the real run
    "trainer.default_local_dir=$SMOKE_DIR/ckpt"
    trainer.max_actor_ckpt_to_keep=1
    trainer.max_critic_ckpt_to_keep=1
    "trainer.experiment_name=${EXPERIMENT_NAME}_smoke"
    "trainer.logger=[console,file]"           # verl's file logger: $SMOKE_DIR/metrics.jsonl
  )
}

# smoke_run CMD...: run CMD with nvidia-smi sampling the GPUs in use (CUDA_VISIBLE_DEVICES, else all) every second
# into $SMOKE_DIR/nvidia_smi.csv, then print each GPU's peak; exits with CMD's status.
smoke_run() {
  mkdir -p "$SMOKE_DIR"
  local log="$SMOKE_DIR/nvidia_smi.csv" smi_pid="" rc=0
  local -a ids=()
  [ -n "${CUDA_VISIBLE_DEVICES:-}" ] && ids=(-i "$CUDA_VISIBLE_DEVICES")
  export VERL_FILE_LOGGER_PATH="$SMOKE_DIR/metrics.jsonl"
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=timestamp,index,memory.used,memory.total --format=csv,noheader,nounits -lms 1000 \
      "${ids[@]}" >"$log" 2>/dev/null &
    smi_pid=$!
    trap "kill $smi_pid 2>/dev/null || true" EXIT  # also when the run is interrupted
  else
    echo "[smoke] nvidia-smi not found: no memory log" >&2
  fi
  echo "[smoke] $EXPERIMENT_NAME: 3 steps at real size; logs in $SMOKE_DIR" >&2
  "$@" || rc=$?
  if [ -n "$smi_pid" ]; then
    kill "$smi_pid" 2>/dev/null || true
    wait "$smi_pid" 2>/dev/null || true
    # per GPU index: the peak of memory.used against memory.total (MiB), from the samples taken
    awk -F', *' 'NF >= 4 && $3 ~ /^[0-9]+$/ { if ($3 > peak[$2]) peak[$2] = $3; total[$2] = $4; n++ }
      END { if (!n) { print "[smoke] no nvidia-smi samples"; exit }
            for (g in peak) printf "[smoke] GPU %s: peak %d of %d MiB (%.1f%%)\n", g, peak[g], total[g], 100 * peak[g] / total[g] }' \
      "$log" | sort | tee "$SMOKE_DIR/peak_memory.txt" >&2
  fi
  echo "[smoke] exit status $rc" >&2
  return "$rc"
}

# sppo_launch SIZE ALGO [overrides...]: SIZE is ds1.5B or R1-7B; ALGO is sppo, gae, grpo, rloo or remax.
sppo_launch() {
  local size=$1 algo=$2 engine=dp arg
  shift 2
  for arg in "$@"; do case "$arg" in model_engine=*) engine=${arg#model_engine=} ;; esac; done  # the last one wins
  engine_keys "$engine" || return 2
  common_overrides
  case "$size" in
    ds1.5B) ds15b ;;
    R1-7B) r1_7b ;;
    *) echo "sppo_launch: unknown size '$size' (ds1.5B, R1-7B)" >&2; return 2 ;;
  esac
  if [ "$engine" = megatron ]; then
    ENGINE+=(
      "actor_rollout_ref.actor.megatron.tensor_model_parallel_size=$MEGATRON_TP"
      "critic.megatron.tensor_model_parallel_size=$MEGATRON_TP"
    )
  fi
  local -a algo_args
  case "$algo" in
    sppo) algo_args=("${ALGO_SPPO[@]}") ;;
    gae) algo_args=("${ALGO_GAE[@]}") ;;
    grpo) algo_args=("${ALGO_GRPO[@]}") ;;
    rloo) algo_args=("${ALGO_RLOO[@]}") ;;
    remax) algo_args=("${ALGO_REMAX[@]}") ;;
    *) echo "sppo_launch: unknown algorithm '$algo' (sppo, gae, grpo, rloo, remax)" >&2; return 2 ;;
  esac
  # local checkpoints given relative to the caller's directory (hub ids are left as they are)
  [ -e "$MODEL_PATH" ] && MODEL_PATH=$(_abs "$MODEL_PATH")
  [ -e "$CRITIC_MODEL_PATH" ] && CRITIC_MODEL_PATH=$(_abs "$CRITIC_MODEL_PATH")
  cd "$SPPO_ROOT"
  export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
  if [ -z "${PYTHON:-}" ]; then
    if [ -x "$SPPO_ROOT/.venv/bin/python" ]; then PYTHON=$SPPO_ROOT/.venv/bin/python; else PYTHON=python; fi
  fi
  local -a SMOKE=()
  [ "${SPPO_SMOKE:-0}" = 1 ] && smoke_overrides
  local -a cmd=("$PYTHON" -m sppo.main
    "${COMMON[@]}" "${ENGINE[@]}" "${SIZE[@]}" "${algo_args[@]}"
    actor_rollout_ref.model.path="$MODEL_PATH"
    critic.model.path="$CRITIC_MODEL_PATH"
    "${SMOKE[@]}" "$@")
  if [ "${SPPO_SMOKE:-0}" = 1 ] && [ "${SPPO_DRY_RUN:-0}" != 1 ]; then
    echo "+ ${cmd[*]}" >&2
    smoke_run "${cmd[@]}"
    exit
  fi
  set -x
  exec "${cmd[@]}"
}
