"""Rebindings of verl internals that assume CUDA, applied only on the CPU platform.

Each one is the smallest change that lets verl's real code path run on CPU; they touch verl
internals, which is why verl is pinned exactly (constraints/cpu.txt).
"""

from __future__ import annotations

import functools


def register_cpu_engines() -> None:
    """verl registers its FSDP engines for devices cuda/npu only; reuse the same classes for cpu."""
    from verl.workers.engine import EngineRegistry
    from verl.workers.engine.fsdp import transformer_impl  # noqa: F401  (fills the registry)

    for backends in EngineRegistry._engines.values():
        for registry in backends.values():
            if "cpu" not in registry and "cuda" in registry:
                registry["cpu"] = registry["cuda"]


def use_gloo_process_groups() -> None:
    """verl's default backend string "cpu:gloo,{device}:{ccl}" names cpu twice on CPU: use "cpu:gloo"."""
    import verl.utils.distributed as dist_utils
    import verl.workers.engine_workers as engine_workers

    original = dist_utils.initialize_global_process_group_ray
    if getattr(original, "_sppo_cpu", False):
        return

    @functools.wraps(original)
    def init_gloo(timeout_second=None, backend=None):
        return original(timeout_second=timeout_second, backend="cpu:gloo")

    init_gloo._sppo_cpu = True
    dist_utils.initialize_global_process_group_ray = init_gloo
    engine_workers.initialize_global_process_group_ray = init_gloo


def load_critic_with_sdpa() -> None:
    """verl's critic loader hard-codes flash_attention_2 (CUDA only); load the same head with sdpa."""
    import verl.utils.model as model_utils

    if getattr(model_utils.load_valuehead_model, "_sppo_cpu", False):
        return

    def load_valuehead_model(local_path, torch_dtype, model_config, trust_remote_code):
        from transformers import AutoModelForTokenClassification

        return AutoModelForTokenClassification.from_pretrained(
            pretrained_model_name_or_path=local_path,
            torch_dtype=torch_dtype,
            config=model_config,
            attn_implementation="sdpa",
            trust_remote_code=trust_remote_code,
        )

    load_valuehead_model._sppo_cpu = True
    model_utils.load_valuehead_model = load_valuehead_model
