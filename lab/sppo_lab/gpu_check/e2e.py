"""End to end: ``python -m sppo.main`` for two steps with checkpoints, then a resume whose weights equal them.

    python -m sppo_lab.gpu_check.e2e --device cuda --critic same  --root WORK --out e2e_same.json
    python -m sppo_lab.gpu_check.e2e --device cpu  --critic small --root WORK --out e2e_small.json

CUDA: one GPU, vLLM rollout (TP 1, gpu_memory_utilization 0.3, enforce_eager), remove-padding and gradient
checkpointing on both models, actor torch.compile, actor parameter + optimizer offload, FSDP2, validation
through vLLM after step 2, batch 16, prompt/response length 64. CPU (``--device cpu``,
for development and the CPU test): ``platform=cpu`` (hf rollout, gloo, fp32), critic remove-padding on.

Run 1: steps 1-2, a checkpoint after each. Run 2 (resume, ``trainer.resume_mode=auto``): step 3 with the
actor update off (``trainer.critic_warmup=100``) and no critic epoch (``critic.ppo_epochs=0``), then a
checkpoint. Assertions: both runs exit 0 with the expected steps; validation ran, through the rollout server
(vLLM's on CUDA: a line of verl's vLLMHttpServer actor in the log, not the word "vllm" of the echoed overrides);
training changed both models (step 2 != step 1); step 3's actor and critic weights AND optimizer states (AdamW
moments, steps, param groups) EQUAL step 2's, and the dataloader is one batch further (the resume restored all of
it; a fresh start would give the initial weights, an empty optimizer and the first batch); every loss finite.
Measured: per-role peak memory from verl's ``perf/max_memory_allocated_gb``, ``perf/throughput`` (tokens/s/GPU),
step times. Each ``sppo.main`` runs in its own subprocess (its own Ray cluster) with a timeout: after the task is
built, the first launch gets half of the stage's remaining time and the resume the rest (at least that half); metrics
come from verl's file logger (``VERL_FILE_LOGGER_PATH``), as in tests/conftest.py.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sppo_lab.gpu_check import report as R
from sppo_lab.paths import REPO


def overrides(task: dict, out: Path, device: str, critic: str, steps: int) -> list[str]:
    """The training run's hydra overrides (``out/ckpt`` holds the checkpoints)."""
    batch, prompt_len, response_len = (16, 64, 64) if device == "cuda" else (8, 32, 4)
    common = [
        "algorithm.adv_estimator=sppo",
        f"data.train_files={task['train']}",
        f"data.val_files={task['val']}",
        f"data.train_batch_size={batch}",
        f"data.max_prompt_length={prompt_len}",
        f"data.max_response_length={response_len}",
        f"actor_rollout_ref.model.path={task['policy']}",
        f"critic.model.path={task['critic_' + critic]}",
        "reward.custom_reward_function.path=pkg://sppo_lab.quickstart.reward",
        "actor_rollout_ref.rollout.n=1",
        "actor_rollout_ref.rollout.temperature=1.0",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={batch}",
        f"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu={batch}",
        f"actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu={batch}",
        "actor_rollout_ref.actor.optim.lr=1e-4",
        f"critic.ppo_mini_batch_size={batch}",
        f"critic.ppo_micro_batch_size_per_gpu={batch}",
        "critic.optim.lr=1e-3",
        "critic.model.use_remove_padding=True",
        f"trainer.total_training_steps={steps}",
        "trainer.save_freq=1",
        f"trainer.default_local_dir={out / 'ckpt'}",
        "trainer.project_name=sppo_gpu_check",
        f"trainer.experiment_name=critic_{critic}",
        "trainer.logger=[console,file]",
        "trainer.resume_mode=auto",
        # Ray on a shared node: logical CPUs for TransferQueue's and the agent loop's actors (see verl-on-cpu.md)
        "ray_kwargs.ray_init.num_cpus=32",
        "transfer_queue.backend.SimpleStorage.num_data_storage_units=1",
        "reward.num_workers=1",
        "actor_rollout_ref.rollout.agent.num_workers=1",
    ]
    if device == "cuda":
        return [
            *common,
            "trainer.n_gpus_per_node=1",
            "trainer.nnodes=1",
            "actor_rollout_ref.rollout.name=vllm",
            "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
            "actor_rollout_ref.rollout.gpu_memory_utilization=0.3",
            "actor_rollout_ref.rollout.enforce_eager=True",
            "actor_rollout_ref.model.use_remove_padding=True",
            "actor_rollout_ref.model.enable_gradient_checkpointing=True",
            "critic.model.enable_gradient_checkpointing=True",
            "actor_rollout_ref.actor.use_torch_compile=True",
            "actor_rollout_ref.actor.fsdp_config.use_torch_compile=True",
            "actor_rollout_ref.actor.fsdp_config.param_offload=True",
            "actor_rollout_ref.actor.fsdp_config.optimizer_offload=True",
        ]
    return ["platform=cpu", *common]


def run_main(args: list[str], out: Path, timeout: float) -> dict[str, Any]:
    """``python -m sppo.main ARGS`` in a subprocess; ``{"returncode", "timed_out", "log", "rows", "seconds"}``."""
    out.mkdir(parents=True, exist_ok=True)
    metrics = out / "metrics.jsonl"
    if metrics.exists():
        metrics.unlink()
    env = dict(os.environ, VERL_FILE_LOGGER_PATH=str(metrics), PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    env.pop("VERL_PLATFORM", None)
    started = time.monotonic()
    log_path = out / "run.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "sppo.main", *args], cwd=REPO, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        timed_out = False
        try:
            proc.wait(timeout=max(1.0, timeout))
        except subprocess.TimeoutExpired:
            timed_out = True
            R.stop_process_group(proc, wait_s=10)
    return {
        "returncode": proc.returncode,
        "timed_out": timed_out,
        "log": str(log_path),
        "rows": R.read_metrics_jsonl(metrics),
        "seconds": time.monotonic() - started,
    }


def _steps(rows: list[dict]) -> list[int]:
    return [r["step"] for r in rows if "critic/score/mean" in r.get("data", {}) or "actor/pg_loss" in r.get("data", {})]


def _val_keys(rows: list[dict]) -> list[str]:
    return sorted({k for r in rows for k in r.get("data", {}) if k.startswith("val-")})


def _finite_losses(rows: list[dict]) -> dict[str, bool]:
    out = {}
    for key in ("critic/bce_loss", "actor/pg_loss"):
        values = [r["data"][key] for r in rows if isinstance(r.get("data", {}).get(key), (int, float))]
        out[key] = bool(values) and all(math.isfinite(v) for v in values)
    return out


def _log_text(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def trained_checks(states: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One check a role: its weights at step 2 (``states["<role>_2"]``) differ from those at step 1."""
    checks = []
    for role in ("actor", "critic"):
        cmp = R.compare_states(states[f"{role}_1"], states[f"{role}_2"])
        checks.append(R.assertion(f"{role}_trained", not cmp["equal"] and cmp["tensors"] > 0, **cmp))
    return checks


def resume(first: dict[str, Any], step_3_overrides: list[str], out: Path, deadline: float) -> dict[str, Any]:
    """Resume the training run for step 3 with neither update (the critic in warm-up, no critic epochs), so the
    checkpoint it saves must equal step 2's; skipped when the training run failed (nothing to resume from: do not
    spend the budget on it)."""
    if first["returncode"] != 0 or first["timed_out"]:
        return {"returncode": None, "timed_out": False, "log": None, "rows": [], "seconds": 0.0,
                "skipped": "the training run failed"}  # fmt: skip
    no_updates = ["trainer.critic_warmup=100", "critic.ppo_epochs=0", "trainer.val_before_train=False",
                  "trainer.test_freq=-1"]  # fmt: skip
    return run_main(step_3_overrides + no_updates, out, deadline - time.monotonic())


def resume_check(second: dict[str, Any]) -> dict[str, Any]:
    return R.assertion("resume_ran", second["returncode"] == 0 and _steps(second["rows"]) == [3],
                       returncode=second["returncode"], timed_out=second["timed_out"], steps=_steps(second["rows"]),
                       seconds=second["seconds"], log=second["log"], skipped=second.get("skipped"))  # fmt: skip


def run(
    device: str, critic: str, root: str | Path, timeout: float = 300.0, warmup_steps: int | None = None
) -> dict[str, Any]:
    """Train two steps, resume one; returns the stage result ``e2e_<critic>``."""
    from sppo_lab.gpu_check.task import prepare

    stage = f"e2e_{critic}"
    started = time.monotonic()
    root = Path(root)
    task = prepare(
        root / "task", device, warmup_steps if warmup_steps is not None else (150 if device == "cuda" else 0)
    )
    out = root / stage
    deadline = started + timeout
    checks: list[dict[str, Any]] = []

    # validation once, after step 2 (through vLLM on CUDA); half of what is left, the resume gets the rest
    first = run_main(overrides(task, out, device, critic, 2) + ["trainer.val_before_train=False", "trainer.test_freq=2"],
                     out / "train", (deadline - time.monotonic()) / 2)  # fmt: skip
    log1 = _log_text(first["log"])
    checks.append(R.assertion("train_ran", first["returncode"] == 0 and _steps(first["rows"]) == [1, 2],
                              returncode=first["returncode"], timed_out=first["timed_out"], steps=_steps(first["rows"]),
                              seconds=first["seconds"], log=first["log"]))  # fmt: skip
    val_keys = _val_keys(first["rows"])
    rollout = "vllm" if device == "cuda" else "hf"
    used_rollout = R.rollout_server_in_log(log1, device)
    checks.append(R.assertion("validation_ran", bool(val_keys) and used_rollout, rollout=rollout,
                              rollout_seen_in_log=used_rollout, val_metrics=val_keys[:8]))  # fmt: skip
    checks.append(
        R.assertion("losses_finite", all(_finite_losses(first["rows"]).values()), **_finite_losses(first["rows"]))
    )

    ckpt = out / "ckpt"
    states: dict[str, dict[str, Any]] = {}
    try:
        for step in (1, 2):
            states[f"actor_{step}"] = R.load_fsdp_model_state(ckpt / f"global_step_{step}", "actor")
            states[f"critic_{step}"] = R.load_fsdp_model_state(ckpt / f"global_step_{step}", "critic")
        for role in ("actor", "critic"):
            states[f"{role}_optim_2"] = R.load_fsdp_optim_state(ckpt / "global_step_2", role)
        checks += trained_checks(states)
    except (FileNotFoundError, OSError, RuntimeError) as exc:
        checks.append(R.assertion("checkpoints_saved", False, error=str(exc)))

    second = resume(first, overrides(task, out, device, critic, 3), out / "resume", deadline)
    checks.append(resume_check(second))
    # neither update ran at step 3: a restored model and optimizer are saved again unchanged
    for role in ("actor", "critic"):
        for what, key, load in (("weights", f"{role}_2", R.load_fsdp_model_state),
                                ("optimizer", f"{role}_optim_2", R.load_fsdp_optim_state)):  # fmt: skip
            try:
                cmp = R.compare_states(states.get(key, {}), load(ckpt / "global_step_3", role))
            except (FileNotFoundError, OSError, RuntimeError) as exc:
                cmp = {"equal": False, "error": str(exc)}
            checks.append(R.assertion(f"{role}_resumed_{what}_equal", cmp["equal"], **cmp))
    # the dataloader went on from where step 2 left it: exactly one more batch (a fresh start would be at 1)
    try:
        before, after = (R.load_dataloader_position(ckpt / f"global_step_{step}") for step in (2, 3))
    except (FileNotFoundError, OSError, RuntimeError) as exc:
        before = after = None
        checks.append(R.assertion("dataloader_resumed", False, error=str(exc)))
    else:
        checks.append(R.assertion("dataloader_resumed", before is not None and after == before + 1,
                                  batches_at_step_2=before, batches_at_step_3=after))  # fmt: skip
    latest = ckpt / "latest_checkpointed_iteration.txt"
    checks.append(R.assertion("latest_checkpoint_is_3", latest.is_file() and latest.read_text().strip() == "3"))

    rows = first["rows"]
    measured = {
        "device": device,
        "critic": critic,
        "critic_path": task[f"critic_{critic}"],
        "peak_memory_gb_by_role": R.peak_memory_by_role(rows),
        "peak_memory_gb_by_role_resume": R.peak_memory_by_role(second["rows"]),
        "throughput_tokens_per_s_per_gpu": R.mean_metric(rows, "perf/throughput"),
        "step_seconds": R.mean_metric(rows, "timing_s/step"),
        "train_seconds": first["seconds"],
        "resume_seconds": second["seconds"],
        "total_s": time.monotonic() - started,
    }
    return R.stage_result(stage, checks, **measured)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sppo_lab.gpu_check.e2e", description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--critic", choices=("same", "small"), default="same")
    p.add_argument("--root", required=True, help="work directory (the task is written under ROOT/task once)")
    p.add_argument("--out", required=True, help="write the stage result (JSON) here")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds for both sppo.main runs together")
    p.add_argument(
        "--warmup-steps", type=int, default=None, help="policy warm-up steps (default: 150 on CUDA, 0 on CPU)"
    )
    args = p.parse_args(argv)
    result = run(args.device, args.critic, args.root, args.timeout, args.warmup_steps)
    return R.finish_stage(result, args.out, f"{result['stage']} ({args.device})")


if __name__ == "__main__":
    sys.exit(main())
