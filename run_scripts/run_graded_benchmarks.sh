#!/usr/bin/env bash
# Every measurement of the graded chain-of-thought task (docs/graded_task.md), one part after the other. Each part
# resumes where it stopped (finished benchmark runs are kept), so it may be run in pieces.
#
#   bash run_scripts/run_graded_benchmarks.sh                       # all parts
#   PARTS="time_to_target" SEEDS="0 1" bash run_scripts/run_graded_benchmarks.sh
#
# Parts (PARTS, default all four, in this order):
#   time_to_target  SPPO (N=1), GRPO (N=8), RLOO (N=8), PPO (GAE), REINFORCE++ (N=1, critic-free) and SPPO with
#                   critic-guided prompt selection, equal budgets of training-step time (BUDGET_S, default 300 s),
#                   seeds SEEDS (default 0-4) -> $OUT/time_to_target (JSON, Markdown, plots)
#                   the plain SPPO runs are also validated every SPPO_TEST_FREQ (default 20) steps: the critic's
#                   held-out quality over training, per seed (validation lies outside the budget)
#   modes           SPPO in verl's sync, colocate_async and separate_async trainer modes, 3 seeds -> $OUT/trainer_modes
#   critic_quality  one SPPO run of 120 steps validated every 20 steps, 16 samples a held-out prompt: the critic's
#                   held-out Spearman / Pearson / AUC and per-level σ(V) vs success over training -> $OUT/critic_quality
#   tail_effect     the token critic V(s_t) vs SPPO's V(s_p) along graded responses -> $OUT/tail_effect
# Env: OUT (default benchmarks/results/graded), SEEDS, BUDGET_S, PARTS, NICE (default 0), PYTHON (default .venv/bin/python),
#      SPPO_TEST_FREQ
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-.venv/bin/python}
OUT=${OUT:-benchmarks/results/graded}
SEEDS=${SEEDS:-"0 1 2 3 4"}
BUDGET_S=${BUDGET_S:-300}
SPPO_TEST_FREQ=${SPPO_TEST_FREQ:-20}
PARTS=${PARTS:-"time_to_target modes critic_quality tail_effect"}
NICE=${NICE:-0}
# shellcheck disable=SC2206
seeds=($SEEDS)

for part in $PARTS; do
  case "$part" in
    time_to_target|modes|critic_quality|tail_effect) ;;
    *) echo "run_graded_benchmarks.sh: unknown part '$part' (allowed: time_to_target modes critic_quality tail_effect)" >&2
       exit 2 ;;
  esac
done
mkdir -p "$OUT"

run() { echo "[graded] $*"; nice -n "$NICE" "$@"; }

for part in $PARTS; do
  case "$part" in
    time_to_target)
      run "$PYTHON" -m sppo_lab.benchmarks.bench_time_to_target --task graded --budget-s "$BUDGET_S" --seeds "${seeds[@]}" \
        --methods sppo grpo rloo gae reinforce_pp sppo_select --sppo-test-freq "$SPPO_TEST_FREQ" \
        --out "$OUT/time_to_target" ;;
    modes)
      run "$PYTHON" -m sppo_lab.benchmarks.bench_time_to_target --task graded --budget-s "$BUDGET_S" --seeds "${seeds[@]:0:3}" \
        --methods sppo sppo_colocate_async sppo_separate_async --out "$OUT/trainer_modes" ;;
    critic_quality)
      run "$PYTHON" -m sppo_lab.quickstart.run --task graded --steps 120 --test-freq 20 --save-freq 60 \
        --out "$OUT/critic_quality" ;;
    tail_effect)
      run "$PYTHON" -m sppo_lab.analysis tail-effect --format graded --out "$OUT/tail_effect" ;;
  esac
done
