"""SPPO on verl's Megatron engine, end to end on one GPU: two steps with checkpoints, then a resume.

    python -m sppo_lab.gpu_check.e2e_megatron --root WORK --out e2e_megatron.json [--timeout S]

The e2e stage's run (``sppo_lab.gpu_check.e2e``: the bundled task, vLLM TP 1 at 0.3, batch 16, prompt/response 64,
validation after step 2, a smaller critic) with ``model_engine=megatron`` at TP = PP = CP = 1: Megatron's
actor (parameter + optimizer offload) and value engine, with THD packing (remove-padding) and full recompute on
both roles. It uses the legacy ``mbridge`` backend (``megatron.vanilla_mbridge=True``): verl 0.9.1's default,
Megatron-Bridge (pinned 0.5.2, not on PyPI; every release >= 0.4 needs Python >= 3.12), cannot be installed on this
project's Python 3.11 stack, while mbridge 0.15.1 is already in the GPU lock.

Run 1: steps 1-2, a checkpoint after each. Run 2 (``trainer.resume_mode=auto``): step 3 with the actor update off
(``trainer.critic_warmup=100``) and no critic epoch (``critic.ppo_epochs=0``), then a checkpoint. Assertions: both
runs exit 0 with the expected steps; validation ran through vLLM; SPPO's critic logged a finite ``critic/bce_loss``
(its BCE through verl's loss hook on the Megatron value engine); training changed both models (step 2's Hugging
Face export != step 1's); step 3's actor and critic weights EQUAL step 2's (the resume restored them; Megatron's
checkpoint manager writes weights as a Hugging Face export through the bridge, optimizer states as Megatron
distributed checkpoints, which this stage does not compare); the tracker says 3.

Without megatron-core (``SPPO_MEGATRON=1 bash uv_verl.sh`` installs it) the stage writes a result with one
assertion-free ``skipped`` line and exits 0: nothing was checked, and the report says so.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

from sppo_lab.gpu_check import report as R
from sppo_lab.gpu_check.e2e import (
    _finite_losses,
    _log_text,
    _steps,
    _val_keys,
    overrides,
    resume,
    resume_check,
    run_main,
    trained_checks,
)

STAGE = "e2e_megatron"
SKIP_REASON = (
    "megatron-core is not installed: the Megatron stage was skipped, nothing was checked "
    "(SPPO_MEGATRON=1 bash uv_verl.sh installs it; verl's Megatron engine also needs Transformer Engine)"
)
_FSDP_ONLY = "actor_rollout_ref.actor.fsdp_config."


def megatron_available() -> bool:
    return importlib.util.find_spec("megatron") is not None and importlib.util.find_spec("megatron.core") is not None


def megatron_overrides(task: dict, out: Path, steps: int) -> list[str]:
    """The CUDA e2e run's overrides on Megatron: the FSDP engine keys replaced by Megatron's own."""
    keep = [o for o in overrides(task, out, "cuda", "small", steps) if not o.startswith(_FSDP_ONLY)]
    recompute = [
        f"{role}.megatron.override_transformer_config.{key}={value}"
        for role in ("actor_rollout_ref.actor", "critic")
        for key, value in (
            ("recompute_granularity", "full"),
            ("recompute_method", "uniform"),
            ("recompute_num_layers", 1),
        )
    ]
    return [
        *keep,
        "model_engine=megatron",
        "trainer.experiment_name=critic_small_megatron",
        "actor_rollout_ref.actor.megatron.param_offload=True",
        "actor_rollout_ref.actor.megatron.optimizer_offload=True",
        "actor_rollout_ref.actor.megatron.vanilla_mbridge=True",
        "critic.megatron.vanilla_mbridge=True",
        "actor_rollout_ref.actor.optim.lr_decay_style=constant",
        "critic.optim.lr_decay_style=constant",
        *recompute,
    ]


def hf_weights(step_dir: Path, role: str) -> dict[str, Any]:
    """The role's weights as Megatron's checkpoint manager exports them (``*.safetensors`` under the role's folder)."""
    from safetensors.torch import load_file

    files = sorted((step_dir / role).rglob("*.safetensors"))
    if not files:
        listing = sorted(str(p.relative_to(step_dir)) for p in (step_dir / role).rglob("*"))[:20]
        raise FileNotFoundError(f"no *.safetensors under {step_dir / role} (found: {listing})")
    state: dict[str, Any] = {}
    for f in files:
        state.update(load_file(str(f)))
    return state


def run(root: str | Path, timeout: float = 450.0, warmup_steps: int = 150) -> dict[str, Any]:
    """Train two steps on Megatron, resume one; returns the stage result ``e2e_megatron``."""
    if not megatron_available():
        print(f"{STAGE}: skipped: {SKIP_REASON}")
        return R.stage_result(STAGE, [], skipped=SKIP_REASON)
    from sppo_lab.gpu_check.task import prepare

    started = time.monotonic()
    root = Path(root)
    task = prepare(root / "task", "cuda", warmup_steps)
    out = root / STAGE
    deadline = started + timeout
    checks: list[dict[str, Any]] = []

    first = run_main(megatron_overrides(task, out, 2) + ["trainer.val_before_train=False", "trainer.test_freq=2"],
                     out / "train", (deadline - time.monotonic()) / 2)  # fmt: skip
    checks.append(R.assertion("train_ran", first["returncode"] == 0 and _steps(first["rows"]) == [1, 2],
                              returncode=first["returncode"], timed_out=first["timed_out"], steps=_steps(first["rows"]),
                              seconds=first["seconds"], log=first["log"]))  # fmt: skip
    used_vllm = R.rollout_server_in_log(_log_text(first["log"]), "cuda")
    checks.append(R.assertion("validation_ran", bool(_val_keys(first["rows"])) and used_vllm,
                              rollout_seen_in_log=used_vllm, val_metrics=_val_keys(first["rows"])[:8]))  # fmt: skip
    finite = _finite_losses(first["rows"])
    checks.append(R.assertion("losses_finite", all(finite.values()), **finite))

    ckpt = out / "ckpt"
    states: dict[str, dict[str, Any]] = {}
    try:
        for step in (1, 2):
            for role in ("actor", "critic"):
                states[f"{role}_{step}"] = hf_weights(ckpt / f"global_step_{step}", role)
        checks += trained_checks(states)
    except (FileNotFoundError, OSError, RuntimeError) as exc:
        checks.append(R.assertion("checkpoints_saved", False, error=str(exc)))

    second = resume(first, megatron_overrides(task, out, 3), out / "resume", deadline)
    checks.append(resume_check(second))
    for role in ("actor", "critic"):
        try:
            cmp = R.compare_states(states.get(f"{role}_2", {}), hf_weights(ckpt / "global_step_3", role))
        except (FileNotFoundError, OSError, RuntimeError) as exc:
            cmp = {"equal": False, "error": str(exc)}
        checks.append(R.assertion(f"{role}_resumed_weights_equal", cmp["equal"], **cmp))
    latest = ckpt / "latest_checkpointed_iteration.txt"
    checks.append(R.assertion("latest_checkpoint_is_3", latest.is_file() and latest.read_text().strip() == "3"))

    rows = first["rows"]
    return R.stage_result(
        STAGE,
        checks,
        peak_memory_gb_by_role=R.peak_memory_by_role(rows),
        throughput_tokens_per_s_per_gpu=R.mean_metric(rows, "perf/throughput"),
        step_seconds=R.mean_metric(rows, "timing_s/step"),
        train_seconds=first["seconds"],
        resume_seconds=second["seconds"],
        total_s=time.monotonic() - started,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sppo_lab.gpu_check.e2e_megatron", description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True, help="work directory (the task is written under ROOT/task once)")
    p.add_argument("--out", required=True, help="write the stage result (JSON) here")
    p.add_argument("--timeout", type=float, default=450.0, help="seconds for both sppo.main runs together")
    p.add_argument("--warmup-steps", type=int, default=150, help="policy warm-up steps")
    args = p.parse_args(argv)
    result = run(args.root, args.timeout, args.warmup_steps)
    return R.finish_stage(result, args.out, f"{STAGE} (cuda)")


if __name__ == "__main__":
    sys.exit(main())
