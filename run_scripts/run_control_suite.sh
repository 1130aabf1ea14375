#!/usr/bin/env bash
# Run the whole control-suite grid (envs x algos x horizons x seeds) from the warm starts, then
# write the report.
#
#   bash run_scripts/run_control_suite.sh                     # full grid: 5 x 3 x {1000,200,500} x 5 seeds
#   HORIZONS="1000" bash run_scripts/run_control_suite.sh     # a part of it (same OUT: one report)
#   HORIZONS="1000,200 500"                                   # the default: stage 1 = H 1000 and 200
#                                                             # interleaved seed by seed, stage 2 = H 500
#   OUT=/tmp/ctl SEEDS=2 ENVS="cartpole mountaincar" ALGOS="sppo ppo" bash run_scripts/run_control_suite.sh
#
# Per stage, first the warm start of every (env, seed) is built (or read from $OUT/warmstart)
# and its success measured at that H on 100 held-out episodes (python -m sppo_lab.control warmstart);
# then every run starts its actor from that warm start (--set warm_start=$OUT/warmstart), so all
# algorithms of a seed start from the identical policy.
# Jobs are single (env, algo, H, seed) runs, JOBS at a time. Resumable: warm starts are cached,
# every (env, algo, H, seed) writes its own result file atomically and finished ones are skipped,
# so re-running after an interruption continues where it stopped. Stages run in the order of HORIZONS (H = 1000 and 200 first by default).
# Env vars: OUT (results dir, default runs/control), REPORT_DIR (default $OUT/report),
# HORIZONS (stages, default "1000,200 500"), SEEDS (default 5), ENVS, ALGOS, JOBS (parallel processes,
# default 2), EVAL_EPISODES (default 32), NICE (default 15), PYTHON (default .venv/bin/python),
# WARM (1: start from the warm starts, default; 0: random init), WARM_EPISODES (default 100),
# SETTINGS (--set overrides of every run, default "update_epochs=10"),
# REPORT (1: write the report at the end, default; 0: skip),
# STEPS_<env>_H<h> (step budget of a run, equal for every algorithm of (env, H); defaults below;
# STEPS_<env> applies to every H not listed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-.venv/bin/python}
OUT=${OUT:-runs/control}
REPORT_DIR=${REPORT_DIR:-$OUT/report}
HORIZONS=${HORIZONS:-"1000,200 500"}   # stages: comma-joined horizons share a stage
ALL_H=${HORIZONS//,/ }
SEEDS=${SEEDS:-5}
ENVS=${ENVS:-"pendulum cartpole mountaincar lunarlander hopper"}   # slowest first
ALGOS=${ALGOS:-"sppo ppo grpo"}
JOBS=${JOBS:-2}
EVAL_EPISODES=${EVAL_EPISODES:-32}
NICE=${NICE:-15}
WARM=${WARM:-1}
WARM_EPISODES=${WARM_EPISODES:-100}
# Settings of every run on top of the defaults (--set key=value ...): from a warm start, 10
# epochs per batch (CleanRL's MuJoCo PPO value) instead of 4 learn more per environment step at
# almost no extra wall time (the rollouts dominate); the same for all three algorithms.
SETTINGS=${SETTINGS:-"update_epochs=10"}
# Environment-step budget per run, the same for every algorithm of (env, H). Chosen so that the
# whole grid (225 runs) takes about 80-90 minutes on 2 shared CPU cores (see docs/control_suite.md).
# H = 1000 gets the most: its failed episodes are 1000 steps long, so 48k steps are only about
# 4-6 iterations of 16 episodes there.
STEPS_cartpole_H200=${STEPS_cartpole_H200:-16000}
STEPS_cartpole_H500=${STEPS_cartpole_H500:-32000}
STEPS_cartpole_H1000=${STEPS_cartpole_H1000:-48000}
STEPS_mountaincar_H200=${STEPS_mountaincar_H200:-16000}
STEPS_mountaincar_H500=${STEPS_mountaincar_H500:-32000}
STEPS_mountaincar_H1000=${STEPS_mountaincar_H1000:-48000}
STEPS_pendulum_H200=${STEPS_pendulum_H200:-16000}
STEPS_pendulum_H500=${STEPS_pendulum_H500:-160000}
STEPS_pendulum_H1000=${STEPS_pendulum_H1000:-320000}
STEPS_lunarlander_H200=${STEPS_lunarlander_H200:-12000}
STEPS_lunarlander_H500=${STEPS_lunarlander_H500:-24000}
STEPS_lunarlander_H1000=${STEPS_lunarlander_H1000:-32000}
STEPS_hopper_H200=${STEPS_hopper_H200:-12000}
STEPS_hopper_H500=${STEPS_hopper_H500:-24000}
STEPS_hopper_H1000=${STEPS_hopper_H1000:-32000}

mkdir -p "$OUT/logs"
budget() {  # budget of (env, H): STEPS_<env>_H<h>, else STEPS_<env>
  local var="STEPS_$1_H$2" fallback="STEPS_$1"
  if [ -n "${!var:-}" ]; then echo "${!var}"; elif [ -n "${!fallback:-}" ]; then echo "${!fallback}"; fi
}
total=0
for h in $ALL_H; do
  for env in $ENVS; do
    if [ -z "$(budget "$env" "$h")" ]; then
      echo "[grid] no step budget for env '$env' at H=$h (set STEPS_${env}_H$h)" >&2
      exit 2
    fi
    for algo in $ALGOS; do total=$((total + SEEDS)); done
  done
done

count_done() {
  local n=0 h env algo s
  for h in $ALL_H; do for env in $ENVS; do for algo in $ALGOS; do
    for ((s = 0; s < SEEDS; s++)); do
      [ -f "$OUT/${env}__${algo}__H${h}__seed${s}.json" ] && n=$((n + 1))
    done
  done; done; done
  echo "$n"
}

SET_ARGS="--set eval_episodes=$EVAL_EPISODES"
for kv in $SETTINGS; do SET_ARGS="$SET_ARGS --set $kv"; done
[ "$WARM" = 1 ] && SET_ARGS="$SET_ARGS --set warm_start=$OUT/warmstart"

start=$(date +%s)
echo "[grid] $total runs ($(count_done) already done) -> $OUT; $JOBS parallel; logs in $OUT/logs"
export PYTHON OUT SEEDS EVAL_EPISODES NICE ALL_H ENVS ALGOS start total SET_ARGS WARM_EPISODES
export -f count_done

warm_job() {  # build (or read) the warm start of (env, seed) and measure it at H
  local env=$1 seed=$2 h=$3
  local log="$OUT/logs/warmstart_${env}__seed${seed}.log"
  nice -n "$NICE" "$PYTHON" -m sppo_lab.control warmstart --env "$env" --first-seed "$seed" --seeds 1 \
    --out "$OUT/warmstart" --horizons "$h" --episodes "$WARM_EPISODES" >> "$log" 2>&1 \
    || { echo "[grid] FAILED: warm start $env seed=$seed H=$h (see $log)"; return 1; }
  tail -n 1 "$log"
}
run_job() {  # one (env, algo, H, seed); skipped inside when its result exists
  local env=$1 algo=$2 h=$3 steps=$4 seed=$5
  local log="$OUT/logs/${env}__${algo}__H${h}__seed${seed}.log"
  # shellcheck disable=SC2086
  nice -n "$NICE" "$PYTHON" -m sppo_lab.control run --env "$env" --algo "$algo" --horizon "$h" \
    --first-seed "$seed" --seeds 1 --steps "$steps" --out "$OUT" $SET_ARGS \
    >> "$log" 2>&1 || { echo "[grid] FAILED: $env $algo H=$h seed=$seed (see $log)"; return 1; }
  local el=$(( $(date +%s) - start ))
  printf '[grid] %3d/%d done  %-12s %-5s H=%-5s seed=%d elapsed %dm%02ds\n' "$(count_done)" "$total" \
    "$env" "$algo" "$h" "$seed" $((el / 60)) $((el % 60))
}
export -f warm_job run_job

# One stage after the other (in the order of HORIZONS): the warm-start measurements at its
# horizons, then its runs, seed by seed (so that a stopped grid has the same seeds in every cell).
status=0
for stage in $HORIZONS; do
  hs=${stage//,/ }
  if [ "$WARM" = 1 ]; then
    for h in $hs; do for env in $ENVS; do for ((s = 0; s < SEEDS; s++)); do echo "$env $s $h"; done; done; done \
      | xargs -P "$JOBS" -L 1 bash -c 'warm_job "$@"' _ || { status=1; continue; }
  fi
  for ((s = 0; s < SEEDS; s++)); do for h in $hs; do for env in $ENVS; do
    steps=$(budget "$env" "$h")
    for algo in $ALGOS; do echo "$env $algo $h $steps $s"; done
  done; done; done | xargs -P "$JOBS" -L 1 bash -c 'run_job "$@"' _ || status=$?
done

el=$(( $(date +%s) - start ))
echo "[grid] finished $(count_done)/$total runs in $((el / 60))m$((el % 60))s (exit $status)"
if [ "${REPORT:-1}" = 1 ]; then
  "$PYTHON" -m sppo_lab.control report "$OUT" --out "$REPORT_DIR"
fi
exit $status
