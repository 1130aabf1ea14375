"""The fair comparison: SPPO against critic-free and group baselines, each arm at its own tuned learning rate.

    python -m sppo_lab.critic_pays.comparison run --mix u_shaped --phase sweep    # 7 arms x the mix's SWEEP_LRS x 2 seeds
    python -m sppo_lab.critic_pays.comparison run --mix u_shaped --phase main     # 8 arms x 8 seeds, tuned lrs
    python -m sppo_lab.critic_pays.comparison run --mix u_shaped --phase confirm  # CONFIRM_ARMS x 8 fresh seeds
    python -m sppo_lab.critic_pays.report --mix u_shaped                          # tables, JSON, figures

Every run is ``python -m sppo.main platform=cpu`` (verl's trainer, Ray, FSDP2, the ``hf`` rollout) on a mix of
the graded task (``sppo_lab.critic_pays.mixes``), from the mix's committed warm start, 16 prompts a step, held-out
validation after the last step (16 samples of 8 prompts a level). The N = 1 arms run ``--steps`` training steps
(equal updates). GRPO (N = 8, mini-batches of a quarter of the step so the clip acts) runs two budgets: ``grpo``
as many steps as take SPPO's 60 steps' time (equal time) and ``grpo_updates`` as many optimizer updates as SPPO's
(equal updates: 60 / 4 = 15 steps). GRPO's cost per step relative to SPPO's comes from a calibration measured side by
side (``time_calibration.json``: SPPO and GRPO runs alternated on one machine, median step seconds), so the budget is
a fixed number of steps that does not depend on the machine's load while a run trains. Arms of one seed share the
prompt order (``data.seed``)
and the critic's initial weights: common random numbers where the harness allows (generation sampling is not
seeded across arms).

Each finished run writes a small record (per-step reward, clip fraction, step seconds, critic metrics; held-out
success per level) to ``benchmarks/results/critic_pays/<mix>/runs/``. Records are the resume point: a run whose
record exists is skipped, so committing them lets another machine continue. Run folders (logs, checkpoints) go to
``--work`` (default ``runs/critic_pays``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sppo.cli_errors import OneLineParser, UserError, guarded, positive_int, write_text_atomic
from sppo_lab.critic_pays import mixes
from sppo_lab.graded import task
from sppo_lab.launch import launch_training, read_metrics
from sppo_lab.paths import RESULTS
from sppo_lab.run_records import exit_status, run_and_record

PROG = "python -m sppo_lab.critic_pays.comparison"
REWARD_KEY = "critic/score/mean"
BATCH = 16
VAL_PER_LEVEL = 8
VAL_SAMPLES = 16
PREFIT_STEPS = 10  # trainer.critic_warmup: steps 1..9 train the critic only, on rollouts of the initial policy
SWEEP_SEEDS = (100, 101)  # tuning seeds, disjoint from the main seeds (no winner's curse in the comparison)
MAIN_SEEDS = tuple(range(8))
# Confirmatory phase, fixed after the main phase's Holm-corrected family found no difference: the two arms that led
# SPPO there (A = R at equal updates, GRPO at equal time) against SPPO on 8 fresh seeds, a family of 2
CONFIRM_SEEDS = tuple(range(8, 16))
CONFIRM_ARMS = ("sppo", "no_baseline", "grpo")
# Each mix's lr grid. u_shaped: 1.5e-4 added when 6e-5 won over 2e-5 for the SPPO arms (the edge), 4e-4 when 1.5e-4
# won over 6e-5. graded (swept after u_shaped): first the two lrs every u_shaped arm chose from (2e-5 lost for every
# arm there), then 4e-4 when 1.5e-4 led for every arm on both seeds (the edge again).
SWEEP_LRS: dict[str, tuple[str, ...]] = {
    "u_shaped": ("2e-5", "6e-5", "1.5e-4", "4e-4"),
    "graded": ("6e-5", "1.5e-4", "4e-4"),
}
# an lr whose held-out success on the first sweep seed is this far below the arm's best lr on that seed (a collapse)
# is not run on the second sweep seed: it cannot be chosen
PRUNE_MARGIN = 0.25
CALIBRATION_STEPS = 12  # per calibration run; the first 2 steps (warm-up) are left out of the median
CALIBRATION_ROUNDS = 2  # SPPO, GRPO, SPPO, GRPO: the machine's state drifts over both alike


GRPO_MINI_BATCHES = 4


@dataclass(frozen=True)
class Arm:
    name: str
    estimator: str
    n: int = 1
    overrides: tuple[str, ...] = ()
    budget: str = "steps"  # "steps": --steps; "time": SPPO's time for --steps; "updates": SPPO's optimizer updates
    extra_steps: int = 0  # steps that make no actor update (critic pre-fit)
    lr_of: str = ""  # an arm that is another budget of the same method takes that arm's tuned lr (no sweep of its own)
    what: str = ""


ARMS: dict[str, Arm] = {
    a.name: a
    for a in (
        Arm("sppo", "sppo", what="A = R − σ(V(s_p)), the prompt-only BCE critic"),
        Arm("sppo_whiten", "sppo", overrides=("algorithm.sppo.whiten=true",), what="SPPO, advantages whitened"),
        Arm(
            "sppo_prefit",
            "sppo",
            overrides=(f"trainer.critic_warmup={PREFIT_STEPS}",),
            extra_steps=PREFIT_STEPS - 1,
            what=f"SPPO whose critic trains alone for {PREFIT_STEPS - 1} steps first (verl's trainer.critic_warmup)",
        ),
        Arm(
            "reinforce_pp",
            "reinforce_plus_plus_baseline",
            what="verl's REINFORCE++ baseline at N = 1: the token-weighted batch-whitened reward, no critic",
        ),
        Arm("no_baseline", "no_baseline", what="A = R, no baseline at all"),
        Arm(
            "grpo",
            "grpo",
            n=8,
            overrides=(f"actor_rollout_ref.actor.ppo_mini_batch_size={BATCH // GRPO_MINI_BATCHES}",),
            budget="time",
            what=f"GRPO, 8 samples a prompt, {GRPO_MINI_BATCHES} optimizer updates a step, SPPO's training time",
        ),
        Arm(
            "grpo_updates",
            "grpo",
            n=8,
            overrides=(f"actor_rollout_ref.actor.ppo_mini_batch_size={BATCH // GRPO_MINI_BATCHES}",),
            budget="updates",
            lr_of="grpo",
            what="GRPO as above, as many optimizer updates as SPPO (at GRPO's tuned lr)",
        ),
        Arm("gae", "gae", what="token-level PPO with GAE (the same small critic, per token)"),
    )
}


def run_name(arm: str, lr: str, seed: int) -> str:
    return f"{arm}__lr{lr}__seed{seed}"


DEFAULT_RESULTS = RESULTS / "critic_pays"


def records_dir(mix: str, results: Path = DEFAULT_RESULTS) -> Path:
    return Path(results) / mix / "runs"


def load_records(mix: str, results: Path = DEFAULT_RESULTS) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(records_dir(mix, results).glob("*.json"))]


def prepare_base(work: Path, mix: str, seed: int) -> dict:
    """The mix's warm-start policy, a fresh critic of this seed and the mix's parquets (idempotent)."""
    import torch

    from sppo_lab.tiny import build_critic, save

    base = work / mix / "base"
    info_path = base / f"seed{seed}.json"
    if info_path.exists():
        return json.loads(info_path.read_text())
    torch.set_num_threads(1)
    policy = base / "policy"
    if not (policy / "config.json").exists():
        mixes.install_warm_start(mix, policy)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(policy)
    critic = base / f"critic_seed{seed}"
    if not (critic / "config.json").exists():
        save(build_critic(tokenizer, seed=seed), tokenizer, critic)
    data = base / "data"
    if not (data / "val.parquet").exists():
        mixes.write_parquets(mix, data, val_per_level=VAL_PER_LEVEL)
    info = {
        "policy": str(policy),
        "critic": str(critic),
        "train": str(data / "train.parquet"),
        "val": str(data / "val.parquet"),
    }
    info_path.write_text(json.dumps(info))
    return info


def overrides(arm: Arm, lr: str, seed: int, info: dict, run_dir: Path, steps: int, save_freq: int) -> list[str]:
    b = BATCH
    out = [
        "platform=cpu",
        f"algorithm.adv_estimator={arm.estimator}",
        f"data.train_files={info['train']}",
        f"data.val_files={info['val']}",
        f"data.train_batch_size={b}",
        "data.max_prompt_length=64",
        f"data.max_response_length={mixes.MAX_RESPONSE_LENGTH}",
        f"data.seed={seed}",
        f"actor_rollout_ref.model.path={info['policy']}",
        f"critic.model.path={info['critic']}",
        "reward.custom_reward_function.path=pkg://sppo_lab.graded.reward",
        f"actor_rollout_ref.rollout.n={arm.n}",
        "actor_rollout_ref.rollout.temperature=1.0",
        "actor_rollout_ref.rollout.val_kwargs.temperature=1.0",
        "actor_rollout_ref.rollout.val_kwargs.do_sample=True",
        f"actor_rollout_ref.rollout.val_kwargs.n={VAL_SAMPLES}",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={b}",
        # micro-batches of b sequences for every arm: on CPU a packed micro-batch's sdpa mask is quadratic in its
        # length (benchmarks/README.md), so N = 8 steps would otherwise be dearer per sample than N = 1 steps
        f"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu={b}",
        f"actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu={b}",
        f"actor_rollout_ref.actor.optim.lr={lr}",
        "actor_rollout_ref.actor.use_kl_loss=False",
        "actor_rollout_ref.actor.entropy_coeff=0.0",
        f"critic.ppo_mini_batch_size={b}",
        f"critic.ppo_micro_batch_size_per_gpu={b}",
        "critic.optim.lr=1e-3",
        f"trainer.total_training_steps={steps}",
        f"trainer.test_freq={steps}",
        "trainer.val_before_train=False",  # the warm start's held-out success is the same for every arm
        f"trainer.save_freq={save_freq}",
        "trainer.resume_mode=disable",
        f"trainer.default_local_dir={run_dir / 'checkpoints'}",
        "trainer.project_name=sppo_critic_pays",
        f"trainer.experiment_name={arm.name}",
        "trainer.logger=[console,file]",
        *arm.overrides,  # later keys win in hydra: an arm's mini-batch replaces the default above
    ]
    return out


def summarize_run(rows: list[dict], mix: str) -> dict:
    """The small record of one run: per-step series and the final held-out success per level."""
    steps = [r for r in rows if REWARD_KEY in r["data"]]

    def series(key: str) -> list[float | None]:
        return [r["data"].get(key) for r in steps]

    val = {}
    for r in rows:
        for k in mixes.levels(mix):
            key = f"val-core/{task.data_source(k)}/acc/mean@{VAL_SAMPLES}"
            if key in r["data"]:
                val[str(k)] = r["data"][key]
    return {
        "steps": len(steps),
        "actor_updates_steps": sum("actor/pg_loss" in r["data"] for r in steps),
        "train_seconds": round(sum(r["data"].get("timing_s/step", 0.0) for r in steps), 2),
        "reward": series(REWARD_KEY),
        "step_s": series("timing_s/step"),
        "clipfrac": series("actor/pg_clipfrac"),
        "response_length": series("response_length/mean"),
        "critic_explained_var": series("critic/explained_var"),
        "critic_sigmoid_v_mean": series("critic/sigmoid_v_mean"),
        "val_after": val,
        "val_after_mix": sum(mixes.MIXES[mix][int(k)] * v for k, v in val.items()) if val else None,
    }


def calibration_path(mix: str, results: Path = DEFAULT_RESULTS) -> Path:
    return Path(results) / mix / "time_calibration.json"


def budget_steps(arm: Arm, steps: int, calibration: dict | None) -> int:
    """Training steps of ``arm`` for a budget of ``steps`` SPPO steps (one optimizer update each)."""
    if arm.budget == "steps":
        return steps + arm.extra_steps
    if arm.budget == "updates":  # each GRPO step makes GRPO_MINI_BATCHES optimizer updates
        return max(1, round(steps / GRPO_MINI_BATCHES))
    if calibration is None:
        raise UserError(f"{arm.name}: its equal-time budget needs the time calibration first")
    return max(1, round(steps / calibration["grpo_over_sppo"]))


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def calibrate(mix: str, work: Path, results: Path = DEFAULT_RESULTS) -> dict:
    """GRPO's training seconds per step over SPPO's, measured side by side (idempotent: the file is the result)."""
    path = calibration_path(mix, results)
    if path.exists():
        return json.loads(path.read_text())
    step_s: dict[str, list[float]] = {"sppo": [], "grpo": []}
    for rnd in range(CALIBRATION_ROUNDS):
        for name in step_s:
            print(f"[critic-pays] {mix} time calibration: {name}, round {rnd + 1}/{CALIBRATION_ROUNDS}", flush=True)
            run_dir = work / mix / "calibration" / f"{name}_{rnd}"
            record = launch(ARMS[name], "2e-5", SWEEP_SEEDS[0], mix, work, CALIBRATION_STEPS, -1, run_dir=run_dir)
            step_s[name] += [t for t in record["step_s"][2:] if t is not None]
    sppo_s, grpo_s = median(step_s["sppo"]), median(step_s["grpo"])
    out = {
        "mix": mix,
        "how": f"{CALIBRATION_ROUNDS} rounds of SPPO then GRPO, {CALIBRATION_STEPS} steps each, one machine; "
        "median training seconds per step without each run's first 2 steps",
        "sppo_step_s": round(sppo_s, 3),
        "grpo_step_s": round(grpo_s, 3),
        "grpo_over_sppo": round(grpo_s / sppo_s, 3),
        "step_s": step_s,
        "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
    }
    write_text_atomic(path, json.dumps(out, indent=1) + "\n")
    return out


def launch(
    arm: Arm,
    lr: str,
    seed: int,
    mix: str,
    work: Path,
    total: int,
    save_freq: int,
    run_dir: Path | None = None,
) -> dict:
    """One real ``sppo.main`` run of ``total`` training steps; returns its record."""
    info = prepare_base(work, mix, seed)
    run_dir = run_dir or work / mix / "runs" / run_name(arm.name, lr, seed)
    if run_dir.exists():
        shutil.rmtree(run_dir)  # an unfinished earlier attempt: its times would not be comparable
    run_dir.mkdir(parents=True)
    metrics, log_path = run_dir / "metrics.jsonl", run_dir / "train.log"
    t0 = time.time()
    shown = 0

    def progress() -> None:
        nonlocal shown
        steps_done = [r for r in read_metrics(metrics) if REWARD_KEY in r["data"]]
        if len(steps_done) >= shown + 10:
            shown = len(steps_done)
            print(
                f"  [{mix} {arm.name} lr {lr} seed {seed}] step {shown}/{total} "
                f"reward {steps_done[-1]['data'][REWARD_KEY]:.3f} wall {time.time() - t0:.0f} s",
                flush=True,
            )

    code = launch_training(
        overrides(arm, lr, seed, info, run_dir, total, save_freq),
        metrics,
        log_path,
        on_poll=progress,
        who="  [critic-pays]",
    )
    if code != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
        raise RuntimeError(f"{arm.name} lr {lr} seed {seed} failed (exit {code}); log {log_path}:\n{tail}")
    return {
        "mix": mix,
        "arm": arm.name,
        "estimator": arm.estimator,
        "n": arm.n,
        "lr": lr,
        "seed": seed,
        "batch": BATCH,
        "budget": {"kind": arm.budget, "steps": total},
        "wall_s": round(time.time() - t0, 1),
        "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
        **summarize_run(read_metrics(metrics), mix),
    }


def pruned_lrs(records: list[dict], arm: str, lrs: tuple[str, ...]) -> set[str]:
    """The lrs of the grid ``lrs`` at which ``arm`` collapsed on the first sweep seed (``PRUNE_MARGIN`` below its
    best lr of the grid there; a record at an lr off the grid counts for nothing)."""
    first = {
        r["lr"]: r["val_after_mix"]
        for r in records
        if r["arm"] == arm and r["lr"] in lrs and r["seed"] == SWEEP_SEEDS[0] and r.get("val_after_mix") is not None
    }
    best = max(first.values(), default=0.0)
    return {lr for lr, v in first.items() if v < best - PRUNE_MARGIN}


def pruning_grid(mix: str, lrs: list[str] | None) -> tuple[str, ...]:
    """The lrs a collapse is judged against: the mix's grid and any ``--lrs`` (a column added with ``--lrs`` collapses
    against the lrs already swept)."""
    return tuple(dict.fromkeys((*SWEEP_LRS[mix], *(lrs or ()))))


def best_lr(
    records: list[dict],
    arm: str,
    lrs: tuple[str, ...],
    seeds: tuple[int, ...],
    pruned: set[str] | frozenset[str] = frozenset(),
) -> str | None:
    """The lr of ``arm`` with the highest mean held-out success (mix-weighted) over ``seeds``, ties to the smaller
    lr; None until every lr of ``lrs`` not in ``pruned`` has a record for every seed."""
    by_lr: dict[str, list[float]] = {}
    for r in records:
        if r["arm"] == arm and r["seed"] in seeds and r.get("val_after_mix") is not None:
            by_lr.setdefault(r["lr"], []).append(r["val_after_mix"])
    complete = {lr: v for lr, v in by_lr.items() if lr in lrs and len(v) == len(seeds) and lr not in pruned}
    if not set(complete) | set(pruned) >= set(lrs):
        return None
    return max(sorted(complete, key=float), key=lambda lr: sum(complete[lr]) / len(complete[lr]))


def best_lrs(records: list[dict], lrs: tuple[str, ...]) -> dict[str, str]:
    """Per arm, :func:`best_lr` over the sweep seeds, a pruned lr counting as done; arms whose sweep is incomplete
    are left out; an arm with ``lr_of`` takes that arm's."""
    out = {}
    for arm in ARMS:
        if ARMS[arm].lr_of:
            continue
        lr = best_lr(records, arm, lrs, SWEEP_SEEDS, pruned_lrs(records, arm, lrs))
        if lr is not None:
            out[arm] = lr
    for arm in ARMS.values():
        if arm.lr_of in out:
            out[arm.name] = out[arm.lr_of]
    return out


def plan(
    phase: str,
    mix: str,
    arms: list[str] | None,
    seeds: list[int] | None,
    results: Path = DEFAULT_RESULTS,
    lrs: list[str] | None = None,
) -> list[tuple[str, str, int]]:
    """(arm, lr, seed) of every run of the phase, SPPO first and the N = 8 arms last in each seed; the sweep leaves
    out the arms that take another arm's lr; ``confirm`` is the main phase's runs for ``CONFIRM_ARMS`` on
    ``CONFIRM_SEEDS``."""
    if phase == "confirm":
        arms, seeds = arms or list(CONFIRM_ARMS), seeds or list(CONFIRM_SEEDS)
    arms = arms or list(ARMS)
    order = sorted(arms, key=lambda a: (a != "sppo", ARMS[a].n > 1))
    if phase == "sweep":
        swept = [a for a in order if not ARMS[a].lr_of]
        records = load_records(mix, results)
        pruned = {a: pruned_lrs(records, a, pruning_grid(mix, lrs)) for a in swept}
        return [
            (a, lr, s)
            for s in (seeds or SWEEP_SEEDS)
            for lr in (lrs or SWEEP_LRS[mix])
            for a in swept
            if s == SWEEP_SEEDS[0] or lr not in pruned[a]
        ]
    best = best_lrs(load_records(mix, results), SWEEP_LRS[mix])
    missing = [a for a in arms if a not in best]
    if missing:
        raise UserError(f"--phase {phase}: the lr sweep is not finished for {', '.join(missing)} (run --phase sweep)")
    return [(a, best[a], s) for s in (seeds or MAIN_SEEDS) for a in order]  # main and confirm


def main(argv=None) -> int:
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    run = sub.add_parser("run", help="run the missing runs of a phase (resumable)")
    run.add_argument("--mix", choices=list(mixes.MIXES), required=True)
    run.add_argument("--phase", choices=["sweep", "main", "confirm"], required=True)
    run.add_argument("--arms", nargs="+", choices=list(ARMS), help="default: every arm (confirm: CONFIRM_ARMS)")
    run.add_argument("--seeds", nargs="+", type=int)
    run.add_argument("--steps", type=positive_int, default=60, help="training steps of the N = 1 arms")
    run.add_argument("--work", default="runs/critic_pays", help="run folders: logs, checkpoints")
    run.add_argument("--results", default=str(DEFAULT_RESULTS), help="where the run records go (the resume point)")
    run.add_argument("--lrs", nargs="+", help="sweep learning rates (default: the mix's SWEEP_LRS)")
    run.add_argument(
        "--checkpoint-run",
        action="store_true",
        help="save checkpoints every 20 steps in SPPO's first sweep run (for sppo_lab.critic_pays.gradient_variance)",
    )
    argv = sys.argv[1:] if argv is None else argv

    def body() -> int:
        args = parser.parse_args(argv)
        work, results = Path(args.work).resolve(), Path(args.results).resolve()
        records_dir(args.mix, results).mkdir(parents=True, exist_ok=True)
        todo = plan(args.phase, args.mix, args.arms, args.seeds, results, args.lrs)
        if not todo:
            raise UserError(f"--phase {args.phase}: nothing to run for these arms and seeds")
        left = [t for t in todo if not (records_dir(args.mix, results) / f"{run_name(*t)}.json").exists()]
        calibration = None
        if any(ARMS[name].budget == "time" for name, _, _ in left):
            calibration = calibrate(args.mix, work, results)
        failed = []
        for i, (name, lr, seed) in enumerate(todo):
            out = records_dir(args.mix, results) / f"{run_name(name, lr, seed)}.json"
            if out.exists():
                continue
            if args.phase == "sweep" and seed != SWEEP_SEEDS[0]:
                # the plan saw the records of its start: a collapse on the first seed during this invocation counts too
                if lr in pruned_lrs(load_records(args.mix, results), name, pruning_grid(args.mix, args.lrs)):
                    print(f"[critic-pays] {args.mix} sweep: {name} lr {lr} collapsed on seed {SWEEP_SEEDS[0]}: skipped")
                    continue
            save = 20 if args.checkpoint_run and name == "sppo" and i == 0 else -1

            def make(name: str = name, lr: str = lr, seed: int = seed, save: int = save) -> dict:
                arm = ARMS[name]
                record = launch(arm, lr, seed, args.mix, work, budget_steps(arm, args.steps, calibration), save)
                if arm.budget == "time":
                    record["budget"]["grpo_over_sppo"] = calibration["grpo_over_sppo"]
                return record

            run_and_record(
                "critic-pays",
                f"{args.mix} {args.phase}: {name} lr {lr} seed {seed} ({i + 1}/{len(todo)})",
                out,
                make,
                lambda r: (
                    f"held-out {r['val_after_mix']:.3f}, {r['steps']} steps, "
                    f"{r['train_seconds']:.0f} s of training, wall {r['wall_s']:.0f} s"
                ),
                failed,
            )
        return exit_status("critic-pays", failed)

    return guarded(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
