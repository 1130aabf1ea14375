"""Run the missing runs of one phase of the beyond-the-paper study (resumable: a run with a record is skipped).

    python -m sppo_lab.beyond_the_paper.run --phase warmstart_check       # 3 arms x 3 seeds, 20 actor-update steps
    python -m sppo_lab.beyond_the_paper.run --phase sweep                 # 11 arms x 2 lrs x 2 seeds, 60 steps
    python -m sppo_lab.beyond_the_paper.run --phase main                  # 11 arms x 8 seeds at their tuned lrs
    python -m sppo_lab.beyond_the_paper.run --phase main --list           # print the plan, run nothing

Each run is ``sppo_lab.critic_pays.comparison.launch`` (``python -m sppo.main platform=cpu``: verl's trainer, Ray,
FSDP2, the hf rollout) from the mix's committed warm start; its record goes to
``<results>/<mix>/runs/<phase>/<arm>__lr<lr>__seed<seed>.json`` and its run folder (logs, metrics) to
``<work>/<mix>/<phase>/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sppo.cli_errors import OneLineParser, UserError, guarded, positive_int
from sppo_lab.beyond_the_paper import budget, plan, records
from sppo_lab.beyond_the_paper.arms import ARMS
from sppo_lab.critic_pays import comparison as cmp
from sppo_lab.critic_pays import mixes
from sppo_lab.run_records import exit_status, run_and_record

PROG = "python -m sppo_lab.beyond_the_paper.run"


def run_one(name: str, lr: str, seed: int, phase: str, steps: int, mix: str, work: Path) -> dict:
    """One real run through the harness; its study record."""
    arm = ARMS[name]
    run_dir = work / mix / phase / cmp.run_name(name, lr, seed)
    base = cmp.launch(
        plan.harness_arm(arm, steps), lr, seed, mix, work, budget.total_steps(arm, steps), -1, run_dir=run_dir
    )
    rows = cmp.read_metrics(run_dir / "metrics.jsonl")
    return records.study_record(base, rows, arm, phase, steps, mix)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--phase", choices=list(plan.PHASES), required=True)
    parser.add_argument("--mix", choices=list(mixes.MIXES), default="u_shaped")
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), help="default: the phase's arms")
    parser.add_argument("--seeds", nargs="+", type=int, help="default: the phase's seeds")
    parser.add_argument(
        "--lrs", nargs="+", help="learning rates (check and sweep; main: the sweep grid to choose from)"
    )
    parser.add_argument("--steps", type=positive_int, help="base actor-update steps (default: the phase's)")
    parser.add_argument("--work", default="runs/beyond_the_paper", help="run folders: logs, metrics")
    parser.add_argument("--results", default=str(plan.DEFAULT_RESULTS), help="run records (the resume point)")
    parser.add_argument("--list", action="store_true", help="print the runs still to do and exit")
    argv = sys.argv[1:] if argv is None else argv

    def body() -> int:
        args = parser.parse_args(argv)
        phase = plan.PHASES[args.phase]
        steps = args.steps or phase.steps
        if args.lrs:
            for lr in args.lrs:
                try:
                    if float(lr) <= 0:
                        raise ValueError
                except ValueError:
                    raise UserError(f"{PROG}: error: --lrs {lr}: expected a positive number") from None
        work, results = Path(args.work).resolve(), Path(args.results).resolve()
        folder = plan.records_dir(args.mix, phase.name, results)
        sweep_records = plan.load_records(args.mix, "sweep", results) if phase.lrs is None else None
        todo = plan.plan(phase, args.arms, args.seeds, args.lrs, sweep_records)
        for name, _, _ in todo:
            budget.total_steps(ARMS[name], steps)  # a budget that does not divide: one line before anything runs
        left = plan.pending(todo, folder, steps)
        if args.list:
            done = [r for p in plan.PHASES for r in plan.load_records(args.mix, p, results)]
            estimate, unknown = 0.0, 0
            for name, lr, seed in left:
                total = budget.total_steps(ARMS[name], steps)
                seconds = plan.estimated_seconds(done, name, total)
                estimate += seconds or 0.0
                unknown += seconds is None
                print(f"{name} lr {lr} seed {seed}: {total} steps" + (f", ≈ {seconds / 60:.0f} min" if seconds else ""))
            print(f"{len(left)} of {len(todo)} runs left ({phase.name}, {args.mix}, base steps {steps})")
            if left and not unknown:
                print(
                    f"≈ {estimate / 3600:.1f} h one run at a time, from the walls of the {len(done)} records so far "
                    "(launch and validation included, measured beside whatever else ran then)"
                )
            return 0
        folder.mkdir(parents=True, exist_ok=True)
        failed = []
        for i, (name, lr, seed) in enumerate(left):
            run_and_record(
                "beyond",
                f"{args.mix} {phase.name}: {name} lr {lr} seed {seed} ({i + 1}/{len(left)})",
                folder / f"{cmp.run_name(name, lr, seed)}.json",
                lambda name=name, lr=lr, seed=seed: run_one(name, lr, seed, phase.name, steps, args.mix, work),
                lambda r: (
                    f"held-out {r['val_after_mix']:.3f}, {r['steps']} steps, "
                    f"{r['generated_tokens_total']:.0f} generated tokens, wall {r['wall_s']:.0f} s"
                ),
                failed,
            )
        return exit_status("beyond", failed)

    return guarded(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
