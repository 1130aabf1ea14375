#!/usr/bin/env bash
# "When does SPPO's critic pay?" (docs/critic_pays.md): every measurement of the study, part by part, resumable.
# A finished run leaves a small record under benchmarks/results/critic_pays/<mix>/runs/ and is skipped when the
# script runs again (commit the records: another machine then continues where this one stopped).
#
#   bash run_scripts/run_critic_pays.sh                                # all parts, in this order
#   PARTS="checkpoints variance" bash run_scripts/run_critic_pays.sh   # some parts
#
# Parts:
#   checkpoints   one SPPO run per mix saving every 20 steps (also the sweep's sppo lr 2e-5 seed 100 run)
#   variance      gradient variance under each baseline on the warm start and those checkpoints (no Ray)
#   sweep_u main_u sweep_graded main_graded    the lr sweep (7 arms x 4 lrs x 2 seeds, collapsed lrs not run on the
#                 second seed), then 8 seeds (0-7) of every arm at its best lr
#   confirm_u     the confirmatory phase: SPPO, A = R and GRPO (equal time) on 8 fresh seeds (8-15)
#   report        tables, JSON and figures from the records; pass@k and entropy from the run folders (sharpening)
# Env: PARTS, NICE (default 0; the runs measure time: give them the machine), PYTHON (default .venv/bin/python),
#      WORK (run folders, default runs/critic_pays). About 3.5 min a run on 2 idle cores: a sweep
#      ~2 h, a main phase ~3.5 h (two `comparison run` commands with disjoint --seeds side by side: ~2 min a run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-.venv/bin/python}
NICE=${NICE:-0}
WORK=${WORK:-runs/critic_pays}
PARTS=${PARTS:-checkpoints variance sweep_u main_u confirm_u sweep_graded main_graded report}
for part in $PARTS; do
  case "$part" in
    checkpoints|variance|sweep_u|main_u|confirm_u|sweep_graded|main_graded|report) ;;
    *) echo "run_critic_pays.sh: unknown part '$part' (allowed: checkpoints variance sweep_u main_u confirm_u sweep_graded main_graded report)" >&2
       exit 2 ;;
  esac
done
run() { echo "[critic-pays] $*"; nice -n "$NICE" "$@"; }
CMP=(-m sppo_lab.critic_pays.comparison run --work "$WORK")
ckpt() { echo "$WORK/$1/runs/sppo__lr2e-5__seed100/checkpoints/global_step_$2"; }
for part in $PARTS; do
  case "$part" in
    checkpoints)
      for mix in u_shaped graded; do
        run "$PYTHON" "${CMP[@]}" --mix "$mix" --phase sweep --arms sppo --seeds 100 --lrs 2e-5 --checkpoint-run
      done ;;
    variance)
      for mix in u_shaped graded; do
        run "$PYTHON" -m sppo_lab.critic_pays.gradient_variance --mix "$mix" --work "$WORK" \
          --checkpoints warm "$(ckpt "$mix" 20)" "$(ckpt "$mix" 40)" "$(ckpt "$mix" 60)"
      done ;;
    sweep_u) run "$PYTHON" "${CMP[@]}" --mix u_shaped --phase sweep ;;
    main_u) run "$PYTHON" "${CMP[@]}" --mix u_shaped --phase main ;;
    confirm_u) run "$PYTHON" "${CMP[@]}" --mix u_shaped --phase confirm ;;
    sweep_graded) run "$PYTHON" "${CMP[@]}" --mix graded --phase sweep ;;
    main_graded) run "$PYTHON" "${CMP[@]}" --mix graded --phase main ;;
    report) run "$PYTHON" -m sppo_lab.critic_pays.report --work "$WORK" ;;
  esac
done
