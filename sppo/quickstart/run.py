"""Quickstart: train a tiny policy with SPPO through the real verl pipeline on CPU.

    python -m sppo.quickstart.run [--out runs/quickstart] [--steps 150] [-- extra hydra overrides]

Builds a tiny Qwen2 policy (~0.3 M parameters) and a smaller critic from config, gives the policy partial
skill with a short supervised warm-up (reported separately), then runs ``python -m sppo.main platform=cpu``
(verl's trainer, Ray, FSDP2 on gloo, the ``hf`` rollout) with validation on held-out prompts before and
after training at the training temperature. Writes ``metrics.json`` (per-step metrics + summary) and
``reward_curve.png`` under ``--out``. Resumes from the latest checkpoint if ``--out`` already has one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

VAL_KEY = "val-core/sppo_addition/acc/mean@4"  # verl: mean success of 4 samples per held-out prompt


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m sppo.quickstart.run", description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/quickstart", help="output directory (models, data, checkpoints, metrics)")
    p.add_argument("--steps", type=int, default=150, help="SPPO training steps")
    p.add_argument("--estimator", default="sppo", help="algorithm.adv_estimator (sppo, or a verl baseline)")
    p.add_argument("--n", type=int, default=1, help="responses per prompt (rollout.n); SPPO uses 1")
    p.add_argument("--batch", type=int, default=16, help="prompts per step")
    p.add_argument("--save-freq", type=int, default=50, help="checkpoint every N steps (resume on rerun)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("overrides", nargs="*", help="extra hydra overrides for sppo.main (after --)")
    args = p.parse_args(argv)
    if args.steps < 1 or args.batch < 1 or args.n < 1:
        p.error("--steps, --batch and --n must be positive")
    return args


def prepare(out: Path, seed: int) -> dict:
    """Models and data (idempotent: reuses what an earlier run built)."""
    import torch

    from sppo.quickstart import task, warmup
    from sppo.tiny import build_char_tokenizer, build_critic, build_policy, save

    info_path = out / "warmup.json"
    if info_path.exists():
        return json.loads(info_path.read_text())
    torch.set_num_threads(1)
    tokenizer = build_char_tokenizer()
    policy = build_policy(tokenizer, seed=seed)
    train_pairs, val_pairs = task.split_pairs(seed=seed)
    print("[quickstart] supervised warm-up of the tiny policy (partial skill, not the RL result) ...", flush=True)
    t0 = time.time()
    loss = warmup.warm_up(policy, tokenizer, task.all_pairs(), seed=seed)
    info = {
        "warmup_seconds": round(time.time() - t0, 1),
        "warmup_loss": loss,
        "warmup_val_success_hf": warmup.success_rate(policy, tokenizer, val_pairs, seed=seed),
        "policy_path": save(policy, tokenizer, out / "models" / "policy"),
        "critic_path": save(build_critic(tokenizer, seed=seed), tokenizer, out / "models" / "critic"),
    }
    info["train_file"], info["val_file"] = task.write_parquets(out / "data", seed=seed)
    info_path.write_text(json.dumps(info, indent=2))
    print(
        f"[quickstart] warm-up done in {info['warmup_seconds']} s, held-out success {info['warmup_val_success_hf']:.2f}"
    )
    return info


def trainer_overrides(args: argparse.Namespace, info: dict, out: Path) -> list[str]:
    b = args.batch
    return [
        "platform=cpu",
        f"algorithm.adv_estimator={args.estimator}",
        f"data.train_files={info['train_file']}",
        f"data.val_files={info['val_file']}",
        f"data.train_batch_size={b}",
        "data.max_prompt_length=32",
        "data.max_response_length=6",
        f"data.seed={args.seed}",
        f"actor_rollout_ref.model.path={info['policy_path']}",
        f"critic.model.path={info['critic_path']}",
        "reward.custom_reward_function.path=pkg://sppo.quickstart.reward",
        f"actor_rollout_ref.rollout.n={args.n}",
        "actor_rollout_ref.rollout.temperature=1.0",
        "actor_rollout_ref.rollout.val_kwargs.temperature=1.0",
        "actor_rollout_ref.rollout.val_kwargs.do_sample=True",
        "actor_rollout_ref.rollout.val_kwargs.n=4",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={b}",
        f"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu={b * args.n}",
        f"actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu={b * args.n}",
        "actor_rollout_ref.actor.optim.lr=3e-4",
        "actor_rollout_ref.actor.use_kl_loss=False",
        "actor_rollout_ref.actor.entropy_coeff=0.0",
        f"critic.ppo_mini_batch_size={b}",
        f"critic.ppo_micro_batch_size_per_gpu={b * args.n}",
        "critic.optim.lr=1e-3",
        f"trainer.total_training_steps={args.steps}",
        f"trainer.test_freq={args.steps}",
        "trainer.val_before_train=True",
        f"trainer.save_freq={args.save_freq}",
        "trainer.resume_mode=auto",
        f"trainer.default_local_dir={out / 'checkpoints'}",
        "trainer.project_name=sppo_quickstart",
        f"trainer.experiment_name={args.estimator}",
        "trainer.logger=[console,file]",
        f"sppo.calibration_log={out / 'calibration.jsonl'}",
        *args.overrides,
    ]


def read_metrics(path: Path) -> list[dict]:
    """Rows of verl's file logger, including earlier (interrupted) attempts kept as ``<name>.partN``.

    verl's file logger truncates its file when a run starts, so ``train`` moves an earlier file aside first;
    for a step logged by several attempts (a resumed run repeats steps after the last checkpoint), the
    latest attempt wins.
    """
    parts = sorted(path.parent.glob(path.name + ".part*"), key=lambda p: int(p.suffix[len(".part") :]))
    by_step: dict[tuple[int, bool], dict] = {}
    for part in [*parts, path]:
        if not part.exists():
            continue
        for line in part.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line being written
            by_step[(row["step"], "critic/score/mean" in row["data"])] = row
    return [by_step[k] for k in sorted(by_step)]


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
    env = dict(
        os.environ, VERL_FILE_LOGGER_PATH=str(metrics_path), PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false"
    )
    cmd = [sys.executable, "-m", "sppo.main", *trainer_overrides(args, info, out)]
    print(f"[quickstart] training through verl (log: {log_path}) ...", flush=True)
    t0 = time.time()
    stop = threading.Event()
    watcher = threading.Thread(target=_progress, args=(metrics_path, args.steps, stop, t0), daemon=True)
    watcher.start()
    with open(log_path, "ab") as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    stop.set()
    watcher.join()
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-15:]
        print("\n".join(tail), file=sys.stderr)
        print(f"[quickstart] training failed (exit {proc.returncode}); full log: {log_path}", file=sys.stderr)
    return proc.returncode


def summarize(args: argparse.Namespace, info: dict, out: Path, wall: float) -> dict:
    rows = read_metrics(out / "metrics.jsonl")
    steps = [r for r in rows if "critic/score/mean" in r["data"]]
    vals = [(r["step"], r["data"][VAL_KEY]) for r in rows if VAL_KEY in r["data"]]
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
    (out / "metrics.json").write_text(json.dumps({"summary": summary, "steps": rows}, indent=1))
    from sppo.quickstart.plot import plot_reward_curve

    plot_reward_curve(steps, vals, out / "reward_curve.png", title=f"{args.estimator} on a+b (tiny Qwen2, CPU)")
    return summary


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    info = prepare(out, args.seed)
    code = train(args, info, out)
    if code != 0:
        return code
    summary = summarize(args, info, out, time.time() - t0)
    print(json.dumps(summary, indent=1))
    print(f"[quickstart] wrote {out / 'metrics.json'} and {out / 'reward_curve.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
