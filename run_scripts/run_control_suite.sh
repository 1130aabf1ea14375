#!/usr/bin/env bash
# Run the whole control-suite grid (envs x algos x horizons x seeds), then write the report.
#
#   bash run_scripts/run_control_suite.sh                     # H=1000 grid, 5 seeds -> runs/control
#   HORIZONS="200 500" bash run_scripts/run_control_suite.sh  # the horizon sweep (same OUT: one report)
#   OUT=/tmp/ctl SEEDS=2 ENVS="cartpole mountaincar" ALGOS="sppo ppo" bash run_scripts/run_control_suite.sh
#
# Resumable: every (env, algo, H, seed) writes its own result file atomically and finished ones
# are skipped, so re-running after an interruption continues where it stopped.
# Env vars: OUT (results dir, default runs/control), REPORT_DIR (default $OUT/report),
# HORIZONS (default "1000"), SEEDS (default 5), ENVS, ALGOS, JOBS (parallel processes, default 2),
# EVAL_EPISODES (default 32), NICE (default 15), PYTHON (default .venv/bin/python),
# REPORT (1: write the report at the end, default; 0: skip),
# STEPS_<env> (per-env step budget, equal for every algorithm; defaults below).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-.venv/bin/python}
OUT=${OUT:-runs/control}
REPORT_DIR=${REPORT_DIR:-$OUT/report}
HORIZONS=${HORIZONS:-1000}
SEEDS=${SEEDS:-5}
ENVS=${ENVS:-"hopper lunarlander mountaincar pendulum cartpole"}   # slowest first
ALGOS=${ALGOS:-"sppo ppo grpo"}
JOBS=${JOBS:-2}
EVAL_EPISODES=${EVAL_EPISODES:-32}
NICE=${NICE:-15}
# Environment-step budget per run, the same for every algorithm of an env. Chosen so that the
# H=1000 grid (5 envs x 3 algos x 5 seeds) takes about 40 minutes on 2 shared CPU cores.
STEPS_cartpole=${STEPS_cartpole:-200000}
STEPS_mountaincar=${STEPS_mountaincar:-150000}
STEPS_pendulum=${STEPS_pendulum:-150000}
STEPS_lunarlander=${STEPS_lunarlander:-100000}
STEPS_hopper=${STEPS_hopper:-100000}

mkdir -p "$OUT/logs"
total=0
jobfile=$(mktemp)
trap 'rm -f "$jobfile"' EXIT
for h in $HORIZONS; do
  for env in $ENVS; do
    steps_var="STEPS_$env"
    steps=${!steps_var:?"no step budget for env '$env' (set STEPS_$env)"}
    for algo in $ALGOS; do
      echo "$env $algo $h $steps" >> "$jobfile"
      total=$((total + SEEDS))
    done
  done
done

count_done() {
  local n=0 h env algo s
  for h in $HORIZONS; do for env in $ENVS; do for algo in $ALGOS; do
    for ((s = 0; s < SEEDS; s++)); do
      [ -f "$OUT/${env}__${algo}__H${h}__seed${s}.json" ] && n=$((n + 1))
    done
  done; done; done
  echo "$n"
}

start=$(date +%s)
echo "[grid] $total runs ($(count_done) already done) -> $OUT; $JOBS parallel; logs in $OUT/logs"
export PYTHON OUT SEEDS EVAL_EPISODES NICE HORIZONS ENVS ALGOS start total
export -f count_done

run_job() {
  local env=$1 algo=$2 h=$3 steps=$4
  local log="$OUT/logs/${env}__${algo}__H${h}.log"
  nice -n "$NICE" "$PYTHON" -m sppo.control run --env "$env" --algo "$algo" --horizon "$h" \
    --seeds "$SEEDS" --steps "$steps" --out "$OUT" --set "eval_episodes=$EVAL_EPISODES" \
    >> "$log" 2>&1 || { echo "[grid] FAILED: $env $algo H=$h (see $log)"; return 1; }
  local el=$(( $(date +%s) - start ))
  printf '[grid] %3d/%d done  %-12s %-5s H=%-5s elapsed %dm%02ds\n' "$(count_done)" "$total" \
    "$env" "$algo" "$h" $((el / 60)) $((el % 60))
}
export -f run_job

status=0
xargs -P "$JOBS" -L 1 bash -c 'run_job "$@"' _ < "$jobfile" || status=$?

el=$(( $(date +%s) - start ))
echo "[grid] finished $(count_done)/$total runs in $((el / 60))m$((el % 60))s (exit $status)"
if [ "${REPORT:-1}" = 1 ]; then
  "$PYTHON" -m sppo.control report "$OUT" --out "$REPORT_DIR"
fi
exit $status
