"""The phases of the study, the runs of a phase, what is left of them (records are the resume point), and each arm's
learning rate.

* ``warmstart_check``: the issue's warm-start target, cheaply: plain SPPO, the warm start (10 and 20 critic-only
  steps) and verl's critic warm-up alone, 3 seeds, 20 actor-update steps at one lr (``CHECK_LR``; the critic's
  held-out ranking before the first actor update does not depend on the actor's lr, and the reference's step-20
  value depends on it only through the policy the critic tracks).
* ``sweep``: every arm at ``SWEEP_LRS`` on the critic-pays sweep seeds (100, 101), 60 base steps. The grid is the
  middle of the critic-pays grid: on this mix every arm of that sweep did better at 6e-5 than at 2e-5, and every arm
  collapsed at 4e-4 (held-out success 0.03-0.28 on seed 100, against 0.57 at the warm start).
* ``main``: every arm at its own tuned lr (highest mean held-out success over both sweep seeds; ties to the smaller
  lr) on the critic-pays main seeds 0..7.

Arms of one seed share the prompt order and the critic's initial weights (the harness's common random numbers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sppo.cli_errors import UserError
from sppo_lab.beyond_the_paper import budget
from sppo_lab.beyond_the_paper.arms import ARMS, STUDY_ARMS, StudyArm
from sppo_lab.critic_pays import comparison as cmp
from sppo_lab.paths import RESULTS

DEFAULT_RESULTS = RESULTS / "beyond_the_paper"
SWEEP_LRS = ("6e-5", "1.5e-4")
CHECK_LR = "1.5e-4"  # the critic-pays sweep's best so far for sppo and sppo_prefit on this mix (seed 100)


@dataclass(frozen=True)
class Phase:
    name: str
    arms: tuple[str, ...]
    steps: int  # base actor-update steps (``budget.py``)
    seeds: tuple[int, ...]
    lrs: tuple[str, ...] | None  # None: each arm's tuned lr from the sweep


PHASES: dict[str, Phase] = {
    p.name: p
    for p in (
        Phase(
            "warmstart_check",
            ("sppo", "sppo_warmstart", "sppo_warmstart_long", "sppo_critic_warmup"),
            20,
            (0, 1, 2),
            (CHECK_LR,),
        ),
        Phase("sweep", STUDY_ARMS, 60, cmp.SWEEP_SEEDS, SWEEP_LRS),
        Phase("main", STUDY_ARMS, 60, cmp.MAIN_SEEDS, None),
    )
}


def records_dir(mix: str, phase: str, results: Path = DEFAULT_RESULTS) -> Path:
    return Path(results) / mix / "runs" / phase


def load_records(mix: str, phase: str, results: Path = DEFAULT_RESULTS) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(records_dir(mix, phase, results).glob("*.json"))]


def estimated_seconds(records: list[dict], arm: str, steps: int) -> float | None:
    """The wall seconds a run of ``arm`` with ``steps`` trained steps should take, from the records so far (measured
    beside whatever else ran then): the mean of that arm's records with those steps; else the least-squares line
    wall = launch + steps x seconds-per-step through all records; None without two step counts to fit it."""
    timed = [(r["steps"], r["wall_s"]) for r in records if r.get("wall_s") and r.get("steps")]
    own = [r["wall_s"] for r in records if r.get("arm") == arm and r.get("steps") == steps and r.get("wall_s")]
    if own:
        return sum(own) / len(own)
    if len({x for x, _ in timed}) < 2:
        return None
    mx, my = sum(x for x, _ in timed) / len(timed), sum(y for _, y in timed) / len(timed)
    slope = sum((x - mx) * (y - my) for x, y in timed) / sum((x - mx) ** 2 for x, _ in timed)
    return my + slope * (steps - mx)


def harness_arm(arm: StudyArm, steps: int) -> cmp.Arm:
    """The critic-pays harness's arm: this arm's overrides, then its validation cadence (later keys win)."""
    return cmp.Arm(
        name=arm.name,
        estimator=arm.estimator,
        n=arm.n,
        overrides=(
            *arm.overrides,
            f"trainer.test_freq={budget.validation_every(arm, steps)}",
            f"trainer.val_before_train={budget.validates_before_training(arm)}",
        ),
        what=arm.what,
    )


def best_lrs(records: list[dict], arms: tuple[str, ...], lrs: tuple[str, ...], seeds: tuple[int, ...]) -> dict:
    """arm -> the lr with the highest mean held-out success (mix-weighted) over ``seeds``; ties to the smaller lr.
    An arm is left out until every lr has a record for every seed."""
    chosen = {arm: cmp.best_lr(records, arm, lrs, seeds) for arm in arms}
    return {arm: lr for arm, lr in chosen.items() if lr is not None}


def plan(
    phase: Phase,
    arms: list[str] | None = None,
    seeds: list[int] | None = None,
    lrs: list[str] | None = None,
    sweep_records: list[dict] | None = None,
) -> list[tuple[str, str, int]]:
    """(arm, lr, seed) of every run of ``phase``, seed by seed (a finished seed is a complete paired comparison),
    arms in ``ARMS`` order (the plain reference first)."""
    chosen = [a for a in ARMS if a in (arms or phase.arms)]
    seeds = list(seeds or phase.seeds)
    if phase.lrs is not None:
        grid = list(lrs or phase.lrs)
        return [(a, lr, s) for s in seeds for lr in grid for a in chosen]
    sweep = PHASES["sweep"]
    best = best_lrs(sweep_records or [], tuple(chosen), tuple(lrs or sweep.lrs), sweep.seeds)
    missing = [a for a in chosen if a not in best]
    if missing:
        raise UserError(f"--phase main: the lr sweep is not finished for {', '.join(missing)} (run --phase sweep)")
    return [(a, best[a], s) for s in seeds for a in chosen]


def pending(todo: list[tuple[str, str, int]], folder: Path, steps: int) -> list[tuple[str, str, int]]:
    """The runs of ``todo`` without a record in ``folder``. A record made with another base budget is an error: its
    numbers would be mixed with this budget's."""
    left = []
    for name, lr, seed in todo:
        path = folder / f"{cmp.run_name(name, lr, seed)}.json"
        if not path.exists():
            left.append((name, lr, seed))
            continue
        made = json.loads(path.read_text()).get("base_steps")
        if made != steps:
            raise UserError(f"{path} was made with --steps {made}, this run plans {steps}: use another --results")
    return left
