"""Dry run: check a composed training config, print it and a one-screen summary, start nothing.

    SPPO_DRY_RUN=1 bash run_scripts/run_R1-7B_DAPO_SEQUENCE.sh           # any run script
    python -m sppo.main sppo.dry_run=true [hydra overrides]               # the same, by hand
    SPPO_DRY_RUN=1 SPPO_DRY_RUN_JSON=cfg.json bash run_scripts/X.sh       # also write {config, summary, warnings}

``sppo.main.run`` calls :func:`dry_run` after SPPO's ``check_config`` and verl's ``validate_config``;
it never starts Ray. Errors raise ``SPPOConfigError`` with one line (``sppo: error: ...``, exit 2):
batch sizes that do not split into whole mini-/micro-batches per GPU, a vLLM tensor-parallel size that
does not divide the GPUs, missing data files or local checkpoints, an estimator the trainer cannot run.
Warnings (no GPU visible here, too few training rows, ...) are printed and do not stop the dry run.

Environment: ``SPPO_DRY_RUN_JSON`` (path), ``SPPO_DRY_RUN_ALLOW_MISSING=1`` (missing files become
warnings; ``python -m sppo.plan_memory --script`` uses it), ``SPPO_DRY_RUN_QUIET=1`` (no YAML dump),
``SPPO_GPU_MEM_GIB`` (device memory for the memory estimate when no GPU is visible; default 80).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from sppo.config_checks import SPPO_ESTIMATORS, SPPOConfigError
from sppo.critic_batching import critic_batching, critic_sp_size, describe

# Estimators whose baseline comes from the other samples of the same prompt: they need N >= 2.
GROUP_ESTIMATORS = ("grpo", "rloo", "grpo_vectorized", "rloo_vectorized", "grpo_passk", "opo", "gdpo")

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _flag(name: str) -> bool:
    return os.environ.get(name, "0") not in ("", "0")


def _files(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, ListConfig)):
        return [str(v) for v in value]
    return [str(value)]


def _is_remote(path: str) -> bool:
    return "://" in path


def _is_local_model(path: str) -> bool:
    """A model path that names a local directory (as opposed to a hub id such as org/name)."""
    return (
        path.startswith(("/", "./", "../", "~")) or os.path.exists(os.path.expanduser(path)) or not _HUB_ID.match(path)
    )


def _critic_on(config: DictConfig) -> bool:
    from verl.trainer.ppo.utils import need_critic

    return bool(need_critic(config))


def _ref_on(config: DictConfig) -> bool:
    from verl.trainer.ppo.utils import need_reference_policy

    return bool(need_reference_policy(config))


# --- checks ---------------------------------------------------------------------------------------------------


def check_batches(config: DictConfig) -> None:
    """Prompts per step -> mini-batches -> per-GPU micro-batches must all divide evenly (non-dynamic batching).

    verl scales every mini-batch by N (rollout.n) and splits it over the data-parallel ranks
    (GPUs / Ulysses SP size); each rank's share must then split into whole micro-batches.
    """
    arr = config.actor_rollout_ref
    n = int(arr.rollout.n)
    gpus = int(config.trainer.n_gpus_per_node) * int(config.trainer.nnodes)
    tbs = int(config.data.train_batch_size)
    if (tbs * n) % gpus:
        raise SPPOConfigError(
            f"data.train_batch_size x rollout.n = {tbs} x {n} = {tbs * n} sequences per step do not split over "
            f"{gpus} GPUs (trainer.n_gpus_per_node x trainer.nnodes)"
        )
    roles = [("actor_rollout_ref.actor", arr.actor, actor_sp_size(config), "fsdp_config")]
    if _critic_on(config):
        roles.append(("critic", config.critic, critic_sp_size(config), "fsdp"))
    for name, sec, sp, engine_key in roles:
        if gpus % sp:
            raise SPPOConfigError(
                f"{name}.{engine_key}.ulysses_sequence_parallel_size={sp} does not divide the {gpus} GPUs"
            )
        dp = gpus // sp
        mini = int(sec.ppo_mini_batch_size)
        if mini <= 0 or tbs % mini:
            raise SPPOConfigError(
                f"data.train_batch_size={tbs} is not a multiple of {name}.ppo_mini_batch_size={mini}: "
                "each step must split into whole mini-batches"
            )
        if (mini * n) % dp:
            raise SPPOConfigError(
                f"{name}.ppo_mini_batch_size x rollout.n = {mini} x {n} = {mini * n} sequences do not split over "
                f"{dp} data-parallel ranks"
            )
        if sec.get("use_dynamic_bsz", False):
            continue
        micro = sec.get("ppo_micro_batch_size_per_gpu", None)
        if micro is None and sec.get("ppo_micro_batch_size", None) is not None:
            micro = int(sec.ppo_micro_batch_size) // dp
        if micro is None or int(micro) <= 0:
            raise SPPOConfigError(
                f"set {name}.ppo_micro_batch_size_per_gpu (or {name}.use_dynamic_bsz=True with "
                f"{name}.ppo_max_token_len_per_gpu)"
            )
        per_gpu = mini * n // dp
        if per_gpu % int(micro):
            raise SPPOConfigError(
                f"{name}: {per_gpu} sequences per GPU per mini-batch ({name}.ppo_mini_batch_size={mini} x n={n} / "
                f"{dp} ranks) are not a multiple of {name}.ppo_micro_batch_size_per_gpu={int(micro)}"
            )


def actor_sp_size(config: DictConfig) -> int:
    """The actor's Ulysses size as verl's engine sees it: ``actor.fsdp_config.ulysses_sequence_parallel_size``,
    or the deprecated ``actor.ulysses_sequence_parallel_size`` when > 1 (verl's ActorConfig copies it over)."""
    actor = config.actor_rollout_ref.actor
    deprecated = int(actor.get("ulysses_sequence_parallel_size", 1) or 1)
    return deprecated if deprecated > 1 else int(actor.get("fsdp_config", {}).get("ulysses_sequence_parallel_size", 1) or 1)


def check_sequence_parallel_keys(config: DictConfig) -> None:
    """verl 0.9.1's critic engine reads only ``critic.fsdp.ulysses_sequence_parallel_size``; the deprecated
    top-level key would be silently ignored (unlike the actor's, which verl copies over)."""
    deprecated = int(config.critic.get("ulysses_sequence_parallel_size", 1) or 1)
    if deprecated > 1 and deprecated != critic_sp_size(config):
        raise SPPOConfigError(
            f"critic.ulysses_sequence_parallel_size={deprecated} is not read by verl 0.9.1's critic engine; "
            f"set critic.fsdp.ulysses_sequence_parallel_size={deprecated} instead"
        )


def check_parallelism(config: DictConfig) -> None:
    """vLLM's tensor-parallel groups must tile the GPUs and fit inside one node."""
    tp = int(config.actor_rollout_ref.rollout.tensor_model_parallel_size)
    per_node = int(config.trainer.n_gpus_per_node)
    gpus = per_node * int(config.trainer.nnodes)
    if tp <= 0 or gpus % tp or per_node % tp:
        raise SPPOConfigError(
            f"actor_rollout_ref.rollout.tensor_model_parallel_size={tp} must divide the GPUs per node "
            f"(trainer.n_gpus_per_node={per_node}) and the total ({gpus})"
        )


def check_estimator(config: DictConfig) -> None:
    """Estimator-specific needs that verl only discovers mid-run."""
    est = str(config.algorithm.adv_estimator)
    n = int(config.actor_rollout_ref.rollout.n)
    if est in GROUP_ESTIMATORS and n < 2:
        raise SPPOConfigError(
            f"algorithm.adv_estimator={est} compares samples of the same prompt: set actor_rollout_ref.rollout.n >= 2"
        )
    if est == "remax" and config.trainer.get("use_v1", True):
        raise SPPOConfigError(
            "algorithm.adv_estimator=remax needs trainer.use_v1=False: verl 0.9.1's v1 trainer does not generate "
            "ReMax's greedy baseline (its legacy trainer does)"
        )
    if est in SPPO_ESTIMATORS and not config.trainer.get("use_v1", True):
        raise SPPOConfigError("algorithm.adv_estimator=sppo runs on verl's v1 trainer: remove trainer.use_v1=False")


def check_gpus(config: DictConfig, dry_run: bool = True) -> list[str]:
    """GPUs asked per node vs CUDA devices visible here. No GPU at all: a warning in a dry run."""
    if str(config.trainer.get("device", "cuda")) == "cpu":
        return []
    per_node = int(config.trainer.n_gpus_per_node)
    nnodes = int(config.trainer.nnodes)
    visible = visible_gpus()
    if visible == 0:
        message = (
            f"no CUDA device is visible here; the run needs {per_node} GPU(s) per node x {nnodes} node(s) "
            f"= {per_node * nnodes}"
        )
        if dry_run:
            return [message]
        raise SPPOConfigError(message)
    if visible < per_node:
        raise SPPOConfigError(
            f"trainer.n_gpus_per_node={per_node} but this node sees {visible} CUDA device(s) "
            "(check CUDA_VISIBLE_DEVICES or lower trainer.n_gpus_per_node)"
        )
    return []


def flash_attn_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("flash_attn") is not None


def check_flash_attn(config: DictConfig, dry_run: bool = True) -> list[str]:
    """On GPU, verl 0.9.1 loads every value model with ``attn_implementation="flash_attention_2"``
    (verl/utils/model.py ``load_valuehead_model``, upstream #5210); without flash-attn the critic fails to load
    mid-start-up with a message that says to install trl. Say what is really missing, before anything starts."""
    if str(config.trainer.get("device", "cuda")) == "cpu" or not _critic_on(config) or flash_attn_installed():
        return []
    message = (
        "the critic needs flash-attn on GPU (verl 0.9.1 loads value models with flash_attention_2) and it is not "
        "installed: run `bash uv_verl.sh` (installs flash-attn==2.8.3) or `pip install flash-attn==2.8.3 "
        "--no-build-isolation` in this environment"
    )
    if dry_run or visible_gpus() == 0:  # a launch from a GPU-less Ray head: its GPU nodes may have it
        return [message]
    raise SPPOConfigError(message)


def check_files(config: DictConfig, allow_missing: bool = False) -> list[str]:
    """Train/validation parquet files and local model checkpoints must exist (remote URLs and hub ids are
    not checked)."""
    missing = []
    for key in ("data.train_files", "data.val_files"):
        for path in _files(OmegaConf.select(config, key)):
            if not _is_remote(path) and not os.path.exists(os.path.expanduser(path)):
                missing.append(f"{key}: {path}")
    models = [("actor_rollout_ref.model.path", config.actor_rollout_ref.model.path)]
    if _critic_on(config):
        models.append(("critic.model.path", config.critic.model.path))
    for key, path in models:
        path = str(path)
        if not _is_remote(path) and _is_local_model(path) and not os.path.exists(os.path.expanduser(path)):
            missing.append(f"{key}: {path}")
    if not missing:
        return []
    message = (
        f"missing: {'; '.join(missing)} (prepare data with `python -m sppo.data.prepare all --out data/` "
        "or point DATA_DIR / MODEL_PATH at them)"
    )
    if allow_missing:
        return [message]
    raise SPPOConfigError(message)


def check_config_resources(config: DictConfig, dry_run: bool = True) -> list[str]:
    """All checks above; returns warnings, raises ``SPPOConfigError`` on the first error.

    ``dry_run=False`` (a real launch) turns what must hold on this node into errors: flash-attn on a GPU node.
    GPUs not visible here stay a warning in both modes (the launch may come from a GPU-less Ray head)."""
    check_estimator(config)
    check_sequence_parallel_keys(config)
    check_batches(config)
    check_parallelism(config)
    warnings = check_files(config, allow_missing=_flag("SPPO_DRY_RUN_ALLOW_MISSING"))
    warnings += check_gpus(config, dry_run=True)
    warnings += check_flash_attn(config, dry_run=dry_run)
    return warnings


def validate_with_verl(config: DictConfig) -> None:
    """verl's own ``validate_config``, its assertion / ValueError turned into one ``SPPOConfigError`` line.

    ``sppo.main`` may already have run it; it is repeated here so that a dry run reached before verl's check
    still reports verl's objections in the ``sppo: error:`` form.
    """
    from verl.utils.config import validate_config

    try:
        validate_config(config=config, use_reference_policy=_ref_on(config), use_critic=_critic_on(config))
    except (AssertionError, ValueError) as exc:
        text = str(exc).strip().splitlines()
        raise SPPOConfigError(f"verl's validate_config: {text[0] if text else type(exc).__name__}") from exc


def visible_gpus() -> int:
    try:
        import torch

        return int(torch.cuda.device_count())
    except Exception:  # noqa: BLE001 - no usable CUDA runtime counts as no GPU
        return 0


# --- summary --------------------------------------------------------------------------------------------------


def _train_rows(config: DictConfig) -> int | None:
    """Rows of the training parquet files (metadata only), or None when unknown."""
    total = 0
    try:
        import pyarrow.parquet as pq

        for path in _files(config.data.train_files):
            total += pq.ParquetFile(os.path.expanduser(path)).metadata.num_rows
    except Exception:  # noqa: BLE001 - remote or missing files: unknown
        return None
    return total


def _device_gib() -> float:
    """Memory of the first visible GPU in GiB; SPPO_GPU_MEM_GIB (default 80) where none is visible."""
    if visible_gpus():
        import torch

        return torch.cuda.get_device_properties(0).total_memory / 1024**3
    return float(os.environ.get("SPPO_GPU_MEM_GIB", "80"))


def summarize(config: DictConfig) -> tuple[dict, list[str]]:
    """The facts a person checks before launching, as a dict, plus warnings found while collecting them."""
    warnings: list[str] = []
    arr = config.actor_rollout_ref
    est = str(config.algorithm.adv_estimator)
    n = int(arr.rollout.n)
    tbs = int(config.data.train_batch_size)
    per_node, nnodes = int(config.trainer.n_gpus_per_node), int(config.trainer.nnodes)
    gpus = per_node * nnodes
    prompt, response = int(config.data.max_prompt_length), int(config.data.max_response_length)
    critic = _critic_on(config)
    sppo = est in SPPO_ESTIMATORS
    a_mini = int(arr.actor.ppo_mini_batch_size)

    def micro(sec: Any) -> Any:
        if sec.get("use_dynamic_bsz", False):
            return f"dynamic, <= {sec.get('ppo_max_token_len_per_gpu')} tokens"
        return sec.get("ppo_micro_batch_size_per_gpu", None)

    fsdp = arr.actor.get("fsdp_config", {})
    summary: dict[str, Any] = {
        "estimator": est,
        "samples_per_prompt": n,
        "roles": {
            "actor": {
                "model": str(arr.model.path),
                "strategy": str(arr.actor.strategy),
                "param_offload": bool(fsdp.get("param_offload", False)),
                "optimizer_offload": bool(fsdp.get("optimizer_offload", False)),
                "lr": float(arr.actor.optim.lr),
                "weight_decay": float(arr.actor.optim.weight_decay),
            },
            "rollout": {
                "engine": str(arr.rollout.name),
                "tensor_parallel": int(arr.rollout.tensor_model_parallel_size),
                "gpu_memory_utilization": float(arr.rollout.gpu_memory_utilization),
                "temperature": float(arr.rollout.temperature),
                "val_temperature": float(arr.rollout.val_kwargs.temperature),
            },
            "critic": (
                {
                    "model": str(config.critic.model.path),
                    "reads": "prompt only (sequence-level V(prompt))" if sppo else "prompt + response (token-level)",
                    "lr": float(config.critic.optim.lr),
                    "mini_batch": int(config.critic.ppo_mini_batch_size),
                    # what applies (sppo/critic_batching.py): verl 0.9.1 drops the critic's own batching keys
                    "micro_batch_per_gpu": describe(critic_batching(config), "prompt" if sppo else "sequence"),
                    "forward_micro_batch_per_gpu": describe(
                        critic_batching(config, training=False), "prompt" if sppo else "sequence"
                    ),
                    "ulysses_sequence_parallel": critic_sp_size(config),
                }
                if critic
                else None
            ),
            "ref": _ref_on(config),
        },
        "gpus": {"per_node": per_node, "nnodes": nnodes, "total": gpus, "visible_here": visible_gpus()},
        "batch": {
            "prompts_per_step": tbs,
            "sequences_per_step": tbs * n,
            "actor_mini_batch_prompts": a_mini,
            "actor_mini_batch_sequences": a_mini * n,
            "actor_updates_per_step": tbs // a_mini if a_mini else None,
            "actor_micro_batch_per_gpu": micro(arr.actor),
        },
        "lengths": {"prompt": prompt, "response": response, "truncation": str(config.data.get("truncation", ""))},
        # upper bound: every response runs to max_response_length
        "max_generated_tokens_per_step": tbs * n * response,
        "steps": config.trainer.get("total_training_steps", None),
        "total_epochs": int(config.trainer.total_epochs),
        "train_files": _files(config.data.train_files),
        "val_files": _files(config.data.val_files),
        "checkpoints": {
            "dir": str(config.trainer.default_local_dir),
            "save_freq": int(config.trainer.save_freq),
            "resume_mode": str(config.trainer.resume_mode),
        },
        "test_freq": int(config.trainer.test_freq),
        "logger": [str(x) for x in _files(config.trainer.logger)],
        "trainer": "v1 (sync)" if config.trainer.get("use_v1", True) else "legacy (main_ppo_v0)",
    }
    if est == "remax":
        summary["greedy_baseline_tokens_per_step"] = tbs * response

    rows = _train_rows(config)
    summary["train_rows"] = rows
    if rows is not None:
        per_epoch = rows // tbs
        summary["steps_per_epoch"] = per_epoch
        steps = summary["steps"]
        if per_epoch == 0:
            warnings.append(f"the training files hold {rows} rows, fewer than data.train_batch_size={tbs}")
        elif steps is not None and per_epoch * summary["total_epochs"] < int(steps):
            warnings.append(
                f"trainer.total_epochs={summary['total_epochs']} x {per_epoch} steps/epoch stops before "
                f"trainer.total_training_steps={steps}"
            )
    if "wandb" in summary["logger"] and not os.environ.get("WANDB_API_KEY"):
        warnings.append("trainer.logger includes wandb but WANDB_API_KEY is not set")
    if summary["checkpoints"]["save_freq"] <= 0:
        warnings.append("trainer.save_freq <= 0: no checkpoints, so the run cannot resume")

    try:
        from sppo import plan_memory

        container = OmegaConf.to_container(config, resolve=True)
        p = plan_memory.from_config(container, device_gib=_device_gib())
        result = plan_memory.plan(p)
        summary["memory_estimate"] = {
            "peak_gib": round(result.peak_gib, 1),
            "peak_fraction": round(result.peak_fraction, 3),
            "peak_phase": result.peak_phase,
            "device_gib": round(result.device_gib, 1),
        }
        if result.peak_fraction > 1:
            warnings.append(
                f"estimated peak GPU memory {result.peak_gib:.0f} GiB > {result.device_gib:.0f} GiB "
                f"({result.peak_phase}); see python -m sppo.plan_memory"
            )
    except Exception:  # noqa: BLE001 - unknown architecture (e.g. a tiny test model): no estimate
        summary["memory_estimate"] = None
    return summary, warnings


def format_summary(s: dict, warnings: list[str]) -> str:
    """One screen: roles, models, GPUs, batch sizes, N, token budget, schedule, outputs."""
    r = s["roles"]
    a, ro, c, b = r["actor"], r["rollout"], r["critic"], s["batch"]
    n, resp = s["samples_per_prompt"], s["lengths"]["response"]
    offload = "+".join(k for k in ("param", "optimizer") if a[f"{k}_offload"]) or "none"
    critic = "none"
    if c:
        critic = (
            f"{c['model']}  [reads {c['reads']}, lr {c['lr']:g}, mini-batch {c['mini_batch']}, "
            f"micro-batches: update {c['micro_batch_per_gpu']}, forward {c['forward_micro_batch_per_gpu']}, "
            f"Ulysses SP {c['ulysses_sequence_parallel']}]"
        )
    tokens = f"<= {s['max_generated_tokens_per_step']:,} generated per step ({b['prompts_per_step']} x {n} x {resp})"
    if "greedy_baseline_tokens_per_step" in s:
        tokens += f" + {s['greedy_baseline_tokens_per_step']:,} greedy baseline"
    epochs = f"<= {s['total_epochs']} epochs"
    if s.get("steps_per_epoch"):
        epochs += f", {s['steps_per_epoch']} steps/epoch on {s['train_rows']} rows"
    ck = s["checkpoints"]
    lines = [
        "=" * 100,
        f"SPPO dry run: {s['estimator']} on verl's {s['trainer']} trainer (nothing started)",
        (f"  actor    {a['model']}  [{a['strategy']}, offload: {offload}, lr {a['lr']:g}, wd {a['weight_decay']:g}]"),
        (
            f"  rollout  {ro['engine']}, TP {ro['tensor_parallel']}, gpu_memory_utilization "
            f"{ro['gpu_memory_utilization']:g}, temperature {ro['temperature']:g} (val {ro['val_temperature']:g}), "
            f"N = {n} per prompt"
        ),
        f"  critic   {critic}",
        f"  ref      {'on (KL term)' if r['ref'] else 'none (no KL)'}",
        (
            f"  GPUs     {s['gpus']['nnodes']} node(s) x {s['gpus']['per_node']} = {s['gpus']['total']} "
            f"(visible here: {s['gpus']['visible_here']})"
        ),
        (
            f"  batch    {b['prompts_per_step']} prompts x N {n} = {b['sequences_per_step']} sequences/step; "
            f"actor mini-batch {b['actor_mini_batch_prompts']} prompts = {b['actor_mini_batch_sequences']} "
            f"sequences ({b['actor_updates_per_step']} updates/step), micro {b['actor_micro_batch_per_gpu']}/GPU"
        ),
        f"  lengths  prompt {s['lengths']['prompt']} (truncation {s['lengths']['truncation']}), response {resp}",
        f"  tokens   {tokens}",
        f"  schedule {s['steps']} steps ({epochs}), validation every {s['test_freq']} steps",
        f"  data     train {', '.join(s['train_files'])}",
        f"           val   {', '.join(s['val_files'])}",
        (
            f"  output   checkpoints {ck['dir']} every {ck['save_freq']} steps, resume {ck['resume_mode']}; "
            f"logger {s['logger']}"
        ),
    ]
    m = s.get("memory_estimate")
    if m:
        lines.append(
            f"  memory   ~{m['peak_gib']:g} GiB per GPU = {100 * m['peak_fraction']:.0f}% of {m['device_gib']:g} GiB "
            f"at peak ({m['peak_phase']}); details: python -m sppo.plan_memory --script <this script>"
        )
    lines += [f"warning: {w}" for w in warnings]
    lines.append("=" * 100)
    return "\n".join(lines)


def _to_container(config: DictConfig) -> Any:
    try:
        return OmegaConf.to_container(config, resolve=True)
    except Exception:  # noqa: BLE001 - an interpolation that cannot resolve outside verl's workers
        return OmegaConf.to_container(config, resolve=False)


def dry_run(config: DictConfig) -> None:
    """Check ``config``, print it resolved and the summary, optionally write JSON; never starts Ray."""
    warnings = check_config_resources(config, dry_run=True)
    validate_with_verl(config)
    summary, more = summarize(config)
    warnings += more
    resolved = _to_container(config)
    if not _flag("SPPO_DRY_RUN_QUIET"):
        print(OmegaConf.to_yaml(OmegaConf.create(resolved)))
    print(format_summary(summary, warnings))
    out = os.environ.get("SPPO_DRY_RUN_JSON", "")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(
            json.dumps({"config": resolved, "summary": summary, "warnings": warnings}, indent=1, default=str)
        )
        print(f"dry run: resolved config written to {out}", file=sys.stderr)
