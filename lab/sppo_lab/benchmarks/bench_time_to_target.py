"""Time to target: SPPO (N=1) vs GRPO (N=8), RLOO (N=8), ReMax, REINFORCE++ (N=1) and PPO (GAE), real pipeline.

    .venv/bin/python -m sppo_lab.benchmarks.bench_time_to_target [--task addition|graded] [--methods sppo grpo rloo gae remax]
        [--seeds 0 1 2] [--budget-s 120] [--targets 0.5 0.6 0.7] [--out benchmarks/results/time_to_target]

Every run is ``python -m sppo.main`` on a quickstart task (``--task addition``: a+b, tiny Qwen2 policy after the
quickstart's supervised warm-up; ``--task graded``: the graded chain-of-thought task from its committed warm start;
same prompt batch, same policy and critic models per seed) with an equal budget of
training-step time (``sppo.max_train_seconds``; validation and start-up excluded). ReMax runs on verl's
legacy trainer, which has no time budget: it gets the number of steps SPPO took in the same seed. Methods run
one after another (never in parallel: they would share the cores), in an order rotated per seed.

Per run it records verl's per-step metrics (reward, response lengths, ``timing_s/*``) and the peak RSS of
the run's whole process tree (driver, Ray, workers: sampled every 0.5 s). Reward is smoothed over the last
``--window-samples`` samples, so N=1 and N=8 methods are compared at equal statistical noise. Writes
``time_to_target.json``, ``time_to_target.md``, ``reward_vs_time.png`` and ``step_breakdown.png``.
A finished run keeps its ``run.json``, so an interrupted benchmark continues where it stopped.
With CUDA present the runs use ``platform=gpu`` and the table adds verl's peak GPU memory per role.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sppo_lab.benchmarks.time_to_target_report import summarize, write_report
from sppo_lab.paths import REPO

REWARD_KEY = "critic/score/mean"


@dataclass(frozen=True)
class Method:
    name: str
    estimator: str
    n: int
    legacy_trainer: bool = False  # verl 0.9.1's v1 trainer has no ReMax greedy baseline
    overrides: tuple[str, ...] = ()
    policy_sized_critic: bool = False  # the critic has the policy's size instead of the quickstart's small one


METHODS = {
    "sppo": Method("sppo", "sppo", 1),
    "grpo": Method("grpo", "grpo", 8),
    "rloo": Method("rloo", "rloo", 8),
    "gae": Method("gae", "gae", 1),
    "remax": Method("remax", "remax", 1, legacy_trainer=True),
    # issue 15: a critic-free N=1 baseline from verl's registry. With one sample per prompt RF++-baseline's group
    # mean is 0, so its advantage is the batch-whitened reward: REINFORCE with a batch baseline, no critic.
    "reinforce_pp": Method("reinforce_pp", "reinforce_plus_plus_baseline", 1),
    # issue 8: SPPO with critic-guided prompt selection (off by default), measured against plain SPPO
    "sppo_select": Method("sppo_select", "sppo", 1, overrides=("sppo.prompt_selection.enable=true",)),
    # the paper's memory comparison: SPPO with a critic as large as the policy (run beside sppo on a GPU)
    "sppo_samecritic": Method("sppo_samecritic", "sppo", 1, policy_sized_critic=True),
    # issue 16: SPPO in verl's asynchronous trainer modes (sync is "sppo"); weights synced every step in both
    "sppo_colocate_async": Method(
        "sppo_colocate_async", "sppo", 1, overrides=("trainer.v1.trainer_mode=colocate_async",)
    ),
    "sppo_separate_async": Method(
        "sppo_separate_async",
        "sppo",
        1,
        overrides=(
            "trainer.v1.trainer_mode=separate_async",
            "trainer.v1.separate_async.parameter_sync_step=1",
            "actor_rollout_ref.rollout.nnodes=1",
            "actor_rollout_ref.rollout.n_gpus_per_node=1",
            "ray_kwargs.ray_init.num_gpus=2",  # one logical slot for the trainer, one for the standalone replica
        ),
    ),
}
DEFAULT_METHODS = ["sppo", "grpo", "rloo", "gae", "remax"]
TASKS = ("addition", "graded")
# Training-reward targets per task: a+b starts near 0.35 and saturates at 0.55-0.65; the graded task starts at
# 0.35 and SPPO reached 0.6 in 120 steps (docs/graded_task.md).
DEFAULT_TARGETS = {"addition": [0.5, 0.6, 0.7], "graded": [0.4, 0.45, 0.5]}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", choices=TASKS, default="addition", help="a+b (default) or the graded task")
    p.add_argument("--methods", nargs="+", default=DEFAULT_METHODS, choices=list(METHODS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--budget-s", type=float, default=120.0, help="training-step seconds per run")
    p.add_argument("--max-steps", type=int, default=1000, help="step cap per run (the time budget normally ends it)")
    p.add_argument("--batch", type=int, default=16, help="prompts per step, every method")
    p.add_argument("--targets", nargs="+", type=float, help="reward targets (default: per task, DEFAULT_TARGETS)")
    p.add_argument("--window-samples", type=int, default=128, help="reward smoothing window, in samples")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "time_to_target"))
    p.add_argument(
        "--sppo-test-freq",
        type=int,
        help="validate the plain SPPO runs every N training steps as well (the critic's held-out quality over "
        "training; validation lies outside the time budget). Default: before training and after the last step only",
    )
    p.add_argument("--report-only", action="store_true", help="rebuild the report from finished runs")
    p.add_argument("overrides", nargs="*", help="extra hydra overrides for every run (after --)")
    args = p.parse_args(argv)
    args.targets = args.targets or DEFAULT_TARGETS[args.task]
    if not all(0 < t <= 1 for t in args.targets):
        p.error("--targets must lie in (0, 1]: they are success rates")
    if args.budget_s <= 0 or args.batch < 1 or args.max_steps < 1 or args.window_samples < 1:
        p.error("--budget-s, --batch, --max-steps and --window-samples must be positive")
    if args.sppo_test_freq is not None and args.sppo_test_freq < 1:
        p.error("--sppo-test-freq must be a positive number of steps")
    if args.task == "graded" and any(METHODS[m].policy_sized_critic for m in args.methods):
        p.error("sppo_samecritic builds a critic of the a+b policy's size: use it with --task addition")
    if "sppo" not in args.methods:
        p.error("--methods must include sppo: ratios are taken against it")
    return args


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def run_overrides(method: Method, args: argparse.Namespace, info: dict, run_dir: Path, steps: int) -> list[str]:
    from sppo_lab.quickstart.run import trainer_overrides

    qs_args = argparse.Namespace(
        task=args.task,
        estimator=method.estimator,
        n=method.n,
        batch=args.batch,
        steps=steps,
        save_freq=-1,
        seed=args.seed,
        overrides=[],
    )
    overrides = [
        o
        for o in trainer_overrides(qs_args, info, run_dir)
        if not o.startswith(("sppo.calibration_log=", "trainer.test_freq=", "trainer.resume_mode="))
    ]
    overrides[0] = "platform=gpu" if args.gpu else "platform=cpu"
    test_freq = args.sppo_test_freq if method.name == "sppo" and args.sppo_test_freq else 100000
    overrides += [
        f"trainer.test_freq={test_freq}",  # 100000: validate before training and after the last step only
        "trainer.resume_mode=disable",  # a benchmark run starts from the warmed-up models every time
    ]
    overrides += list(method.overrides)
    if method.policy_sized_critic:
        overrides = [o for o in overrides if not o.startswith("critic.model.path=")]
        overrides.append(f"critic.model.path={info['policy_sized_critic_path']}")
    if method.legacy_trainer:
        overrides.append("trainer.use_v1=False")
    else:
        overrides.append(f"sppo.max_train_seconds={args.budget_s}")
    return overrides + list(args.overrides)


class TreeMemorySampler(threading.Thread):
    """Peak of the summed RSS of a process and all its descendants (Ray's raylet, workers, ...)."""

    def __init__(self, pid: int, interval_s: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.interval_s, self.peak_bytes = pid, interval_s, 0
        self._halt = threading.Event()

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._halt.wait(self.interval_s):
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for proc in procs:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.peak_bytes = max(self.peak_bytes, total)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def policy_sized_critic(base: Path, seed: int) -> str:
    """A critic with the policy's architecture (vs the quickstart's hidden-64 one), built once per seed."""
    from sppo_lab.tiny import TinyQwen2, build_char_tokenizer, build_critic, save

    path = base / "models" / "critic_policy_size"
    if not (path / "config.json").exists():
        tokenizer = build_char_tokenizer()
        save(build_critic(tokenizer, TinyQwen2(), seed=seed), tokenizer, path)
    return str(path)


def launch(method: Method, args: argparse.Namespace, info: dict, run_dir: Path, steps: int) -> dict:
    """One real ``sppo.main`` run; returns its record (metrics rows, wall time, peak memory)."""
    from sppo_lab.launch import launch_training, read_metrics

    if run_dir.exists():
        shutil.rmtree(run_dir)  # an unfinished earlier attempt: its wall times would not be comparable
    run_dir.mkdir(parents=True)
    metrics_path, log_path = run_dir / "metrics.jsonl", run_dir / "train.log"
    t0 = time.time()
    shown = 0
    samplers: list[TreeMemorySampler] = []

    def started(proc) -> None:  # one memory sampler per attempt (a Ray start that timed out is relaunched)
        if samplers:
            samplers[-1].stop()
        samplers.append(TreeMemorySampler(proc.pid))
        samplers[-1].start()

    def progress() -> None:
        nonlocal shown
        rows = [r for r in read_metrics(metrics_path) if REWARD_KEY in r["data"]]
        if len(rows) > shown:
            shown, d = len(rows), rows[-1]["data"]
            spent = sum(r["data"].get("timing_s/step", 0.0) for r in rows)
            print(
                f"  [{method.name} seed {args.seed}] step {rows[-1]['step']:>4}  reward {d[REWARD_KEY]:.3f}  "
                f"train time {spent:6.1f}/{args.budget_s:.0f} s  wall {time.time() - t0:6.0f} s",
                flush=True,
            )

    overrides = run_overrides(method, args, info, run_dir, steps)
    try:
        code = launch_training(
            overrides, metrics_path, log_path, cwd=REPO, on_start=started, on_poll=progress, who="  [time-to-target]"
        )
    finally:
        if samplers:
            samplers[-1].stop()
    if code != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"{method.name} seed {args.seed} failed (exit {code}); log {log_path}:\n{tail}")
    return {
        "method": method.name,
        "task": args.task,
        "estimator": method.estimator,
        "n": method.n,
        "seed": args.seed,
        "batch": args.batch,
        "trainer": "legacy" if method.legacy_trainer else "v1",
        "launch_wall_s": round(time.time() - t0, 1),
        "peak_rss_gib": round(samplers[-1].peak_bytes / 2**30, 3) if samplers else None,
        "rows": read_metrics(metrics_path),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    args.gpu = _cuda()
    failed: list[str] = []
    if not args.report_only:
        from sppo_lab.quickstart.run import prepare

        for i, seed in enumerate(args.seeds):
            args.seed = seed
            info = prepare(out / f"seed{seed}" / "base", seed, args.task)  # once per seed, shared by all methods
            if any(METHODS[m].policy_sized_critic for m in args.methods):
                info["policy_sized_critic_path"] = policy_sized_critic(out / f"seed{seed}" / "base", seed)
            k = i % len(args.methods)
            order = args.methods[k:] + args.methods[:k]
            order.sort(key=lambda m: METHODS[m].legacy_trainer)  # ReMax needs SPPO's step count
            for name in order:
                run_dir = out / f"seed{seed}" / name
                if (run_dir / "run.json").exists():
                    print(f"[bench] {name} seed {seed}: done earlier, kept", flush=True)
                    continue
                steps = args.max_steps
                if METHODS[name].legacy_trainer:
                    sppo_run = json.loads((out / f"seed{seed}" / "sppo" / "run.json").read_text())
                    steps = sum(REWARD_KEY in r["data"] for r in sppo_run["rows"])
                print(
                    f"[bench] {name} seed {seed}: starting ({f'{steps} steps' if METHODS[name].legacy_trainer else f'{args.budget_s:.0f} s budget'})",
                    flush=True,
                )
                try:
                    record = launch(METHODS[name], args, info, run_dir, steps)
                except RuntimeError as err:  # keep the other runs going; a rerun retries this one
                    failed.append(f"{name} seed {seed}")
                    print(f"[bench] {err}", file=sys.stderr, flush=True)
                    continue
                (run_dir / "run.json").write_text(json.dumps(record))
                print(f"[bench] {name} seed {seed}: finished in {record['launch_wall_s']:.0f} s", flush=True)
    records = [json.loads(p.read_text()) for p in sorted(out.glob("seed*/*/run.json")) if p.parent.name in args.methods]
    if not records:
        print("[bench] no finished runs", file=sys.stderr)
        return 1
    summary = summarize(records, targets=args.targets, window_samples=args.window_samples)
    summary["machine"] = _machine(args.gpu)
    summary["gpu"] = args.gpu
    summary["date"] = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    summary["budget_s"] = args.budget_s
    summary["task"] = args.task
    write_report(summary, records, out, window_samples=args.window_samples)
    print((out / "time_to_target.md").read_text())
    if failed:
        print(f"[bench] failed runs (rerun to retry): {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _machine(gpu: bool) -> str:
    desc = f"{os.cpu_count()} CPU cores"
    if gpu:
        import torch

        desc += f", {torch.cuda.get_device_name(0)}"
    else:
        desc += ", no GPU"
    try:
        desc += f", load average {os.getloadavg()[0]:.1f} at report time"
    except OSError:
        pass
    return desc


if __name__ == "__main__":
    sys.exit(main())
