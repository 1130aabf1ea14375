#!/usr/bin/env bash
# Beyond the paper, measured (docs/beyond_the_paper.md, "Measurements"): issue 28's critic warm start, truncation-aware
# critic target, adaptive normalisation and adaptive N against plain SPPO N = 1 (adaptive N also against GRPO N = 4 and
# REINFORCE++ N = 1 at equal generated samples, tokens recorded) on the critic-pays u_shaped mix, part by part,
# resumable. A finished run leaves a record under benchmarks/results/beyond_the_paper/u_shaped/runs/<phase>/ and is
# skipped when the script runs again (commit the records: another machine then continues where this one stopped).
#
#   bash run_scripts/run_beyond_the_paper.sh                               # all parts, in this order
#   PARTS="sweep main" bash run_scripts/run_beyond_the_paper.sh            # some parts
#
# Parts:
#   warmstart_check  the warm-start target: plain SPPO, warm start, verl's critic warm-up; 3 seeds x 20 actor steps
#   sweep            every arm (10) at 2 lrs (6e-5, 1.5e-4) on the 2 sweep seeds, 60 base steps (40 runs)
#   main             every arm at its tuned lr on 8 seeds (80 runs)
#   report           comparison.json, comparison.md, comparison.png from the records
# Env: PARTS, NICE (default 0: the runs measure time; each run's own session gets the same niceness,
#      sppo_lab.launch.share_niceness), PYTHON (default .venv/bin/python), WORK (run folders, default
#      runs/beyond_the_paper). On 2 otherwise idle cores: warmstart_check ~0.3 h, sweep ~2.8 h, main ~5.6 h.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-.venv/bin/python}
NICE=${NICE:-0}
WORK=${WORK:-runs/beyond_the_paper}
PARTS=${PARTS:-warmstart_check sweep main report}
for part in $PARTS; do
  case "$part" in
    warmstart_check|sweep|main|report) ;;
    *) echo "run_beyond_the_paper.sh: unknown part '$part' (allowed: warmstart_check sweep main report)" >&2
       exit 2 ;;
  esac
done
run() { echo "[beyond] $*"; nice -n "$NICE" "$@"; }
for part in $PARTS; do
  case "$part" in
    warmstart_check|sweep|main) run "$PYTHON" -m sppo_lab.beyond_the_paper.run --phase "$part" --work "$WORK" ;;
    report) run "$PYTHON" -m sppo_lab.beyond_the_paper.report ;;
  esac
done
