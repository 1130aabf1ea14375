"""Quickstart: train a tiny policy with SPPO through the real verl pipeline on CPU.

    python -m sppo_lab.quickstart.run [--out runs/quickstart_graded] [--steps 80] [-- extra hydra overrides]
    python -m sppo_lab.quickstart.run --task addition [--out runs/quickstart] [--steps 150]

The default task is the graded chain-of-thought task (``sppo_lab.graded``: running sums of 2-10 terms, responses up
to 128 tokens, five levels of difficulty visible in the prompt), which shows what SPPO is for: long responses with a
final-answer reward, and prompts whose difficulty a prompt-only critic can learn. Its policy (~0.6 M parameters)
starts from the committed warm-start checkpoint (checked against its SHA-256 sums;
``lab/sppo_lab/graded/warm_start/README.md``), a fresh tiny critic (hidden 64, 1 layer) is built from config, and
``python -m sppo.main platform=cpu`` (verl's trainer, Ray, FSDP2 on gloo, the ``hf`` rollout) trains with one
response per prompt. verl validates each level every 20 steps at the training temperature (16 samples a held-out
prompt), and SPPO logs there how well the critic's σ(V) ranks the held-out prompts (``val-critic/*``). After
training the latest checkpoint is measured per level as the warm-up was (``sppo_lab.graded.evaluate``).

``--task addition``: "What is a+b?" with a tiny policy (~0.3 M parameters) given partial skill by a short supervised
warm-up (reported separately); 6-token answers and equally hard prompts, so the critic has nothing to rank.

Writes ``metrics.json`` (per-step metrics + summary) and ``reward_curve.png`` (what a reader should see is written
on it) under ``--out``. Resumes from the latest checkpoint if ``--out`` already has one.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

from sppo.cli_errors import UserError, write_json_atomic
from sppo_lab.launch import launch_training, read_metrics

VAL_KEY = "val-core/sppo_addition/acc/mean@4"  # verl: mean success of 4 samples per held-out prompt
TASKS = ("addition", "graded")
GRADED_VAL_PER_LEVEL = 8  # held-out prompts per level in verl's validation (x 16 samples = 128 a level)
DEFAULT_TASK = "graded"


def val_keys(task_name: str) -> dict[str, str]:
    """verl's validation metric of each held-out group: one for a+b, one per level (data_source) for graded."""
    if task_name == "addition":
        return {"all": VAL_KEY}
    from sppo_lab.graded.task import LEVELS, data_source

    n = TASK_SETTINGS["graded"]["val_samples"]
    return {f"k{k}": f"val-core/{data_source(k)}/acc/mean@{n}" for k in LEVELS}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m sppo_lab.quickstart.run", description=__doc__.splitlines()[0])
    p.add_argument(
        "--task",
        choices=TASKS,
        default=DEFAULT_TASK,
        help="the graded chain-of-thought task (default) or a+b ('addition')",
    )
    p.add_argument(
        "--out", help="output directory (models, data, checkpoints, metrics); default runs/quickstart[_graded]"
    )
    p.add_argument("--steps", type=int, help="SPPO training steps (default: graded 80, addition 150)")
    p.add_argument("--estimator", default="sppo", help="algorithm.adv_estimator (sppo, or a verl baseline)")
    p.add_argument("--n", type=int, default=1, help="responses per prompt (rollout.n); SPPO uses 1")
    p.add_argument("--batch", type=int, default=16, help="prompts per step")
    p.add_argument("--save-freq", type=int, default=50, help="checkpoint every N steps (resume on rerun)")
    p.add_argument(
        "--test-freq", type=int, help="validate every N steps (default: graded 20; addition before and after training)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("overrides", nargs="*", help="extra hydra overrides for sppo.main (after --)")
    args = p.parse_args(argv)
    defaults = TASK_SETTINGS[args.task]
    if args.steps is None:
        args.steps = defaults["steps"]
    if args.test_freq is None:
        args.test_freq = defaults["test_freq"]
    if args.test_freq is not None and args.test_freq < 1:
        p.error("--test-freq must be positive")
    if args.steps < 1 or args.batch < 1 or args.n < 1:
        p.error("--steps, --batch and --n must be positive")
    if args.out is None:
        args.out = "runs/quickstart" if args.task == "addition" else "runs/quickstart_graded"
    return args


def prepare(out: Path, seed: int, task_name: str) -> dict:
    """Models and data (idempotent: reuses what an earlier run of the same task built in ``out``)."""
    import torch

    info_path = out / "warmup.json"
    if info_path.exists():
        info = json.loads(info_path.read_text())
        built = info.get("task", "addition")  # a+b runs did not record their task before 2026-12
        if built != task_name:
            raise UserError(f"{out} holds a run of --task {built}; use another --out for --task {task_name}")
        return info
    if task_name == "graded":
        return prepare_graded(out, seed)

    from sppo_lab.quickstart import task, warmup
    from sppo_lab.tiny import build_char_tokenizer, build_critic, build_policy, save

    torch.set_num_threads(1)
    tokenizer = build_char_tokenizer()
    policy = build_policy(tokenizer, seed=seed)
    train_pairs, val_pairs = task.split_pairs(seed=seed)
    print("[quickstart] supervised warm-up of the tiny policy (partial skill, not the RL result) ...", flush=True)
    t0 = time.time()
    loss = warmup.warm_up(policy, tokenizer, task.all_pairs(), seed=seed)
    info = {
        "task": "addition",
        "warmup_seconds": round(time.time() - t0, 1),
        "warmup_loss": loss,
        "warmup_val_success_hf": warmup.success_rate(policy, tokenizer, val_pairs, seed=seed),
        "policy_path": save(policy, tokenizer, out / "models" / "policy"),
        "critic_path": save(build_critic(tokenizer, seed=seed), tokenizer, out / "models" / "critic"),
    }
    info["train_file"], info["val_file"] = task.write_parquets(out / "data", seed=seed)
    write_json_atomic(info_path, info)
    print(
        f"[quickstart] warm-up done in {info['warmup_seconds']} s, held-out success {info['warmup_val_success_hf']:.2f}"
    )
    return info


def prepare_graded(out: Path, seed: int) -> dict:
    """The graded task: the committed warm-start policy (checksum-verified), a fresh critic, the parquets."""
    import torch

    from sppo_lab.graded import task as graded_task
    from sppo_lab.graded import warm_start
    from sppo_lab.tiny import build_critic, save

    torch.set_num_threads(1)
    policy_path = warm_start.install(out / "models" / "policy")
    report = json.loads((warm_start.verify() / "warmup_report.json").read_text())
    levels = {f"k{k}": r["success"] for k, r in report["levels"].items()}
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(policy_path)
    info = {
        "task": "graded",
        "warmup_seconds": report["warmup_seconds"],
        "warmup_val_success_hf": sum(levels.values()) / len(levels),
        "warmup_levels_hf": levels,
        "warm_start": str(warm_start.WARM_START_DIR),
        "policy_path": policy_path,
        "critic_path": save(build_critic(tokenizer, seed=seed), tokenizer, out / "models" / "critic"),
    }
    info["train_file"], info["val_file"] = graded_task.write_parquets(
        out / "data", val_per_level=GRADED_VAL_PER_LEVEL, seed=0
    )
    write_json_atomic(out / "warmup.json", info)
    print(
        "[quickstart] graded task: committed warm-start policy (warm-up "
        f"{report['warmup_seconds']:.0f} s when it was made), held-out success by level "
        + ", ".join(f"{k} {v:.2f}" for k, v in levels.items()),
        flush=True,
    )
    return info


# Per task: prompt / response limits (tokens), the actor's learning rate, the samples per held-out prompt in verl's
# validation, and the default steps and validation interval (test_freq None: before and after training only). The
# graded policy is larger and its responses 10-20x longer: at 3e-4 plain policy-gradient runs collapsed
# (docs/graded_task.md); its 16 samples a prompt give the per-prompt success rates against which the critic's
# held-out ranking (val-critic/*) is measured, every 20 steps (the critic ranks the prompts by step 20). 80 steps
# keep a fresh clone's graded quickstart, set-up included, at about 12 minutes on 2 cores.
TASK_SETTINGS = {
    "addition": {
        "max_prompt_length": 32,
        "max_response_length": 6,
        "actor_lr": "3e-4",
        "val_samples": 4,
        "steps": 150,
        "test_freq": None,
    },
    "graded": {
        "max_prompt_length": 64,
        "max_response_length": 128,
        "actor_lr": "2e-5",
        "val_samples": 16,
        "steps": 80,
        "test_freq": 20,
    },
}


def trainer_overrides(args: argparse.Namespace, info: dict, out: Path) -> list[str]:
    b = args.batch
    task_name = args.task
    settings = TASK_SETTINGS[task_name]
    reward_module = "sppo_lab.quickstart.reward" if task_name == "addition" else "sppo_lab.graded.reward"
    return [
        "platform=cpu",
        f"algorithm.adv_estimator={args.estimator}",
        f"data.train_files={info['train_file']}",
        f"data.val_files={info['val_file']}",
        f"data.train_batch_size={b}",
        f"data.max_prompt_length={settings['max_prompt_length']}",
        f"data.max_response_length={settings['max_response_length']}",
        f"data.seed={args.seed}",
        f"actor_rollout_ref.model.path={info['policy_path']}",
        f"critic.model.path={info['critic_path']}",
        f"reward.custom_reward_function.path=pkg://{reward_module}",
        f"actor_rollout_ref.rollout.n={args.n}",
        "actor_rollout_ref.rollout.temperature=1.0",
        "actor_rollout_ref.rollout.val_kwargs.temperature=1.0",
        "actor_rollout_ref.rollout.val_kwargs.do_sample=True",
        f"actor_rollout_ref.rollout.val_kwargs.n={settings['val_samples']}",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={b}",
        # Micro-batches of b sequences whatever n is: on CPU a micro-batch is packed into one row (remove-padding)
        # whose sdpa mask is quadratic in its total length, so one micro-batch of b * n sequences made an N = 8 step
        # ~4x dearer per sample than an N = 1 step (flash-attn varlen on GPU has no such cost).
        f"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu={b}",
        f"actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu={b}",
        f"actor_rollout_ref.actor.optim.lr={settings['actor_lr']}",
        "actor_rollout_ref.actor.use_kl_loss=False",
        "actor_rollout_ref.actor.entropy_coeff=0.0",
        f"critic.ppo_mini_batch_size={b}",
        f"critic.ppo_micro_batch_size_per_gpu={b}",
        "critic.optim.lr=1e-3",
        f"trainer.total_training_steps={args.steps}",
        f"trainer.test_freq={getattr(args, 'test_freq', None) or args.steps}",
        "trainer.val_before_train=True",
        f"trainer.save_freq={args.save_freq}",
        "trainer.resume_mode=auto",
        f"trainer.default_local_dir={out / 'checkpoints'}",
        "trainer.project_name=sppo_quickstart"
        if task_name == "addition"
        else "trainer.project_name=sppo_quickstart_graded",
        f"trainer.experiment_name={args.estimator}",
        "trainer.logger=[console,file]",
        f"sppo.calibration_log={out / 'calibration.jsonl'}",
        *args.overrides,
    ]


def _keep_earlier_metrics(path: Path) -> None:
    if path.exists() and path.stat().st_size > 0:
        n = len(list(path.parent.glob(path.name + ".part*")))
        path.rename(path.with_name(f"{path.name}.part{n}"))


def _progress(metrics_path: Path, total: int, stop: threading.Event, t0: float) -> None:
    printed: set[int] = set()
    while not stop.wait(2.0):
        for row in read_metrics(metrics_path):
            d = row["data"]
            if "critic/score/mean" not in d or row["step"] in printed:
                continue
            printed.add(row["step"])
            print(
                f"[quickstart] step {row['step']:>4}/{total}  reward {d.get('critic/score/mean', float('nan')):.3f}  "
                f"bce {d.get('critic/bce_loss', float('nan')):.3f}  sigmoid(V) {d.get('critic/sigmoid_v_mean', float('nan')):.3f}"
                f"  elapsed {time.time() - t0:5.0f} s",
                flush=True,
            )


def train(args: argparse.Namespace, info: dict, out: Path) -> int:
    metrics_path = out / "metrics.jsonl"
    log_path = out / "train.log"
    _keep_earlier_metrics(metrics_path)
    print(f"[quickstart] training through verl (log: {log_path}) ...", flush=True)
    t0 = time.time()
    stop = threading.Event()
    watcher = threading.Thread(target=_progress, args=(metrics_path, args.steps, stop, t0), daemon=True)
    watcher.start()
    try:
        # in the terminal's process group: a Ctrl-C reaches the run itself, which reports it and exits
        code = launch_training(
            trainer_overrides(args, info, out), metrics_path, log_path, own_session=False, who="[quickstart]"
        )
    finally:
        stop.set()
        watcher.join()
    if code != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-15:]
        print("\n".join(tail), file=sys.stderr)
        print(f"[quickstart] training failed (exit {code}); full log: {log_path}", file=sys.stderr)
    return code


def val_points(rows: list[dict], task_name: str) -> tuple[list[tuple[int, float]], dict[str, list[float]]]:
    """(step, held-out success) of each validation (graded: the mean over levels) and each group's values."""
    keys = val_keys(task_name)
    points, groups = [], {name: [] for name in keys}
    for r in rows:
        if all(key in r["data"] for key in keys.values()):
            values = {name: r["data"][key] for name, key in keys.items()}
            points.append((r["step"], sum(values.values()) / len(values)))
            for name, v in values.items():
                groups[name].append(v)
    return points, groups


def summarize(args: argparse.Namespace, info: dict, out: Path, wall: float) -> dict:
    task_name = args.task
    rows = read_metrics(out / "metrics.jsonl")
    steps = [r for r in rows if "critic/score/mean" in r["data"]]
    vals, groups = val_points(rows, task_name)
    summary = {
        "estimator": args.estimator,
        "steps": len(steps),
        "wall_seconds": round(wall, 1),
        "val_success_before": vals[0][1] if vals else None,
        "val_success_after": vals[-1][1] if len(vals) > 1 else None,
        "train_reward_first": steps[0]["data"]["critic/score/mean"] if steps else None,
        "train_reward_last10": (sum(r["data"]["critic/score/mean"] for r in steps[-10:]) / len(steps[-10:]))
        if steps
        else None,
        **{k: info[k] for k in ("warmup_seconds", "warmup_val_success_hf")},
    }
    if summary["val_success_before"] is not None and summary["val_success_after"] is not None:
        summary["val_improvement"] = summary["val_success_after"] - summary["val_success_before"]
    if task_name == "graded":
        summary["task"] = "graded"
        summary["val_levels_before"] = {k: v[0] for k, v in groups.items() if v}
        summary["val_levels_after"] = {k: v[-1] for k, v in groups.items() if len(v) > 1}
        summary["warmup_levels_hf"] = info.get("warmup_levels_hf")
        summary["final_levels_hf"] = graded_final_levels(out)
    critic_rows = [r for r in rows if "val-critic/prompts" in r["data"]]
    if critic_rows:  # SPPO: the critic's held-out ranking quality at each validation (sppo/critic_quality.py)
        summary["critic_heldout"] = [
            {
                "step": r["step"],
                **{k.removeprefix("val-critic/"): v for k, v in r["data"].items() if k.startswith("val-critic/")},
            }
            for r in critic_rows
        ]
    from sppo_lab.quickstart.plot import critic_headline, plot_reward_curve, success_headline

    # what the figure's panels say, also printed at the end of the run
    summary["headlines"] = [success_headline(vals)] + ([critic_headline(critic_rows)] if critic_rows else [])
    write_json_atomic(out / "metrics.json", {"summary": summary, "steps": rows}, indent=1)
    task_title = "a+b" if task_name == "addition" else "the graded task"
    responses = f"{args.n} response{'s' if args.n > 1 else ''} per prompt"
    plot_reward_curve(
        steps,
        vals,
        out / "reward_curve.png",
        title=f"{args.estimator} on {task_title}, {responses} (tiny Qwen2 through verl on CPU)",
        critic_rows=critic_rows,
    )
    return summary


def graded_final_levels(out: Path) -> dict | None:
    """Per-level held-out success of the latest checkpoint, measured as the warm-up was (HF generate)."""
    from sppo_lab.graded.evaluate import evaluate_model

    checkpoints = out / "checkpoints"
    if not (checkpoints / "latest_checkpointed_iteration.txt").is_file():
        return None
    print("[quickstart] measuring the trained policy per level (HF generate, as the warm-up) ...", flush=True)
    levels = evaluate_model(checkpoints)
    write_json_atomic(out / "final_levels.json", levels, indent=1)
    return {f"k{k}": r["success"] for k, r in levels.items()}


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    from sppo_lab.graded.warm_start import WarmStartError

    try:
        info = prepare(out, args.seed, args.task)
    except (UserError, WarmStartError) as exc:
        print(f"python -m sppo_lab.quickstart.run: error: {exc}", file=sys.stderr)
        return 2
    code = train(args, info, out)
    if code != 0:
        return code
    summary = summarize(args, info, out, time.time() - t0)
    print(json.dumps(summary, indent=1))
    for line in summary["headlines"]:
        print("[quickstart] " + line.replace("\n", ": "), flush=True)
    print(f"[quickstart] wrote {out / 'metrics.json'} and {out / 'reward_curve.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
