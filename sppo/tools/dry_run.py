"""Dry run: check a composed training config, print it and a one-screen summary, start nothing.

    SPPO_DRY_RUN=1 bash run_scripts/run_R1-7B_DAPO_SEQUENCE.sh           # any run script
    python -m sppo.main sppo.dry_run=true [hydra overrides]               # the same, by hand
    SPPO_DRY_RUN=1 SPPO_DRY_RUN_JSON=cfg.json bash run_scripts/X.sh       # also write {config, summary, warnings}

``sppo.main.run`` calls :func:`dry_run` after SPPO's ``check_config``; it runs the launch checks
(sppo/launch_checks.py: one-line ``sppo: error: ...``, exit 2) and verl's ``validate_config``, then prints the
summary. It never starts Ray. Warnings (no GPU visible here, too few training rows, ...) do not stop it.

Environment: ``SPPO_DRY_RUN_JSON`` (path), ``SPPO_DRY_RUN_ALLOW_MISSING=1`` (missing files become
warnings; ``python -m sppo.tools.plan_memory --script`` uses it), ``SPPO_DRY_RUN_QUIET=1`` (no YAML dump),
``SPPO_GPU_MEM_GIB`` (device memory for the memory estimate when no GPU is visible; default 80).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from omegaconf import DictConfig, OmegaConf

from sppo.config_checks import SPPO_ESTIMATORS, SPPOConfigError, trainer_options
from sppo.critic_batching import critic_batching, critic_sp_size, describe
from sppo.launch_checks import (
    as_list,
    env_flag,
    launch_checks,
    trainer_mode,
    validate_with_verl,
    visible_gpus,
)
from sppo.megatron import describe_engine, engine_summary, megatron_sizes
from sppo.options import TrainerOptions
from sppo.roles import critic_on, ref_on

# --- summary --------------------------------------------------------------------------------------------------


def _train_rows(config: DictConfig) -> int | None:
    """Rows of the training parquet files (metadata only), or None when unknown."""
    total = 0
    try:
        import pyarrow.parquet as pq

        for path in as_list(config.data.train_files):
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


def summarize(config: DictConfig, options: TrainerOptions | None = None) -> tuple[dict, list[str]]:
    """The facts a person checks before launching, as a dict, plus warnings found while collecting them.

    ``options``: the ``sppo.*`` options ``check_config`` returned (None: parsed here)."""
    warnings: list[str] = []
    arr = config.actor_rollout_ref
    est = str(config.algorithm.adv_estimator)
    n = int(arr.rollout.n)
    tbs = int(config.data.train_batch_size)
    per_node, nnodes = int(config.trainer.n_gpus_per_node), int(config.trainer.nnodes)
    gpus = per_node * nnodes
    prompt, response = int(config.data.max_prompt_length), int(config.data.max_response_length)
    critic = critic_on(config)
    sppo = est in SPPO_ESTIMATORS
    a_mini = int(arr.actor.ppo_mini_batch_size)

    def micro(sec: Any) -> Any:
        if sec.get("use_dynamic_bsz", False):
            return f"dynamic, <= {sec.get('ppo_max_token_len_per_gpu')} tokens"
        return sec.get("ppo_micro_batch_size_per_gpu", None)

    mg = megatron_sizes(config, "actor")
    fsdp = arr.actor.get("fsdp_config", {}) if mg is None else {}
    mode = trainer_mode(config)
    summary: dict[str, Any] = {
        "estimator": est,
        "samples_per_prompt": n,
        "roles": {
            "actor": {
                "model": str(arr.model.path),
                "strategy": str(arr.actor.strategy),
                "param_offload": bool(fsdp.get("param_offload", False)) if mg is None else mg.param_offload,
                "optimizer_offload": bool(fsdp.get("optimizer_offload", False)) if mg is None else mg.optimizer_offload,
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
            "ref": ref_on(config),
        },
        "engine": engine_summary(config),
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
        "train_files": as_list(config.data.train_files),
        "val_files": as_list(config.data.val_files),
        "checkpoints": {
            "dir": str(config.trainer.default_local_dir),
            "save_freq": int(config.trainer.save_freq),
            "resume_mode": str(config.trainer.resume_mode),
        },
        "test_freq": int(config.trainer.test_freq),
        "logger": [str(x) for x in as_list(config.trainer.logger)],
        "trainer": f"v1 ({mode})" if mode else "legacy (main_ppo_v0)",
        "trainer_mode": mode,
    }
    if est == "remax":
        summary["greedy_baseline_tokens_per_step"] = tbs * response
    options = options or trainer_options(config)
    summary["adaptive_n"] = None
    if sppo and options.adaptive_n.enable:
        budget = options.adaptive_n.samples_per_step(tbs)
        summary["adaptive_n"] = {
            "budget": budget,
            "max_n": options.adaptive_n.max_n,
            "rule": options.adaptive_n.rule,
            "prior_strength": options.adaptive_n.prior_strength,
        }
        summary["batch"]["sequences_per_step"] = budget
        if a_mini:
            summary["batch"]["actor_mini_batch_sequences"] = budget // (tbs // a_mini)
        summary["max_generated_tokens_per_step"] = budget * response
    summary["critic_options"] = _critic_options(config, options) if sppo else []

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
    if summary["checkpoints"]["save_freq"] <= 0:
        warnings.append("trainer.save_freq <= 0: no checkpoints, so the run cannot resume")

    try:
        from sppo.tools import plan_memory

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
                f"({result.peak_phase}); see python -m sppo.tools.plan_memory"
            )
    except Exception:  # noqa: BLE001 - unknown architecture (e.g. a tiny test model): no estimate
        summary["memory_estimate"] = None
    return summary, warnings


def _critic_options(config: DictConfig, options: Any) -> list[str]:
    """One phrase per issue-28 option that is on (adaptive N has its own line)."""
    out = []
    norm = options.adaptive_norm
    if norm.enable:
        out.append(
            f"adaptive normalisation ({'whiten' if norm.center else 'scale'} until the critic/explained_var average "
            f"(decay {norm.ema_decay:g}) reaches {norm.threshold:g})"
        )
    trunc = options.truncation
    if trunc.mode != "none" or trunc.penalty:
        out.append(f"truncated responses: critic target {trunc.mode}, advantage penalty {trunc.penalty:g}")
    if options.critic_warmstart.epochs:
        steps = int(config.trainer.get("critic_warmup", 0) or 0) - 1
        out.append(
            f"critic warm start: {options.critic_warmstart.epochs} epochs over all rollouts of warm-up steps 1..{steps}"
        )
    return out


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
    adaptive = s.get("adaptive_n")
    if adaptive:
        shape = f"{adaptive['budget']} samples x {resp}"
        sampling = (
            f"adaptive N: {adaptive['budget']} samples/step ({adaptive['budget'] / b['prompts_per_step']:g} per "
            f"prompt), 1..{adaptive['max_n']} per prompt by the critic's uncertainty (rule {adaptive['rule']}), "
            f"group baseline kappa {adaptive['prior_strength']:g}"
        )
        per_prompt = f"N = 1..{adaptive['max_n']} per prompt (adaptive N)"
        batch = (
            f"{b['prompts_per_step']} prompts -> {b['sequences_per_step']} sequences/step (adaptive N); actor "
            f"mini-batch ~{b['actor_mini_batch_sequences']} sequences ({b['actor_updates_per_step']} updates/step as "
            f"configured), micro {b['actor_micro_batch_per_gpu']}/GPU"
        )
    else:
        shape = f"{b['prompts_per_step']} x {n} x {resp}"
        per_prompt = f"N = {n} per prompt"
        batch = (
            f"{b['prompts_per_step']} prompts x N {n} = {b['sequences_per_step']} sequences/step; "
            f"actor mini-batch {b['actor_mini_batch_prompts']} prompts = {b['actor_mini_batch_sequences']} "
            f"sequences ({b['actor_updates_per_step']} updates/step), micro {b['actor_micro_batch_per_gpu']}/GPU"
        )
    tokens = f"<= {s['max_generated_tokens_per_step']:,} generated per step ({shape})"
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
            f"{per_prompt}"
        ),
        f"  critic   {critic}",
        *([f"  options  {'; '.join(s['critic_options'])}"] if s.get("critic_options") else []),
        f"  ref      {'on (KL term)' if r['ref'] else 'none (no KL)'}",
        f"  engine   {describe_engine(s['engine'])}",
        (
            f"  GPUs     {s['gpus']['nnodes']} node(s) x {s['gpus']['per_node']} = {s['gpus']['total']} "
            f"(visible here: {s['gpus']['visible_here']})"
        ),
        f"  batch    {batch}",
        f"  lengths  prompt {s['lengths']['prompt']} (truncation {s['lengths']['truncation']}), response {resp}",
        *([f"  sampling {sampling}"] if adaptive else []),
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
            f"at peak ({m['peak_phase']}); details: python -m sppo.tools.plan_memory --script <this script>"
        )
    lines += [f"warning: {w}" for w in warnings]
    lines.append("=" * 100)
    return "\n".join(lines)


def _to_container(config: DictConfig) -> Any:
    try:
        return OmegaConf.to_container(config, resolve=True)
    except Exception:  # noqa: BLE001 - an interpolation that cannot resolve outside verl's workers
        return OmegaConf.to_container(config, resolve=False)


def dry_run(config: DictConfig, options: TrainerOptions | None = None) -> None:
    """Check ``config``, print it resolved and the summary, optionally write JSON; never starts Ray.

    ``options``: the ``sppo.*`` options ``check_config`` returned (sppo.main passes them; None: parsed here)."""
    out = os.environ.get("SPPO_DRY_RUN_JSON", "")
    if out:
        from sppo.cli_errors import UserError, check_output_file

        try:
            check_output_file(out, flag="SPPO_DRY_RUN_JSON")
        except UserError as exc:
            raise SPPOConfigError(str(exc)) from None
    options = options or trainer_options(config)
    warnings = launch_checks(config, dry_run=True, options=options)
    validate_with_verl(config)
    summary, more = summarize(config, options)
    warnings += more
    resolved = _to_container(config)
    if not env_flag("SPPO_DRY_RUN_QUIET"):
        print(OmegaConf.to_yaml(OmegaConf.create(resolved)))
    print(format_summary(summary, warnings))
    if out:
        from sppo.cli_errors import write_text_atomic

        write_text_atomic(
            out, json.dumps({"config": resolved, "summary": summary, "warnings": warnings}, indent=1, default=str)
        )
        print(f"dry run: resolved config written to {out}", file=sys.stderr)
