"""CPU support for verl, as an extension: loaded by ``sppo.verl_plugin`` only when ``VERL_PLATFORM=cpu``.

Nothing on the GPU path (vLLM, FSDP on CUDA) imports this package.
"""

from __future__ import annotations

_ACTIVE = False


def activate() -> None:
    """Register the CPU platform, CPU engines and the ``hf`` rollout backend; rebind CUDA-only helpers."""
    global _ACTIVE
    if _ACTIVE:
        return
    from sppo.cpu import hf_rollout, patches, platform  # noqa: F401  (platform registers itself)

    patches.register_cpu_engines()
    patches.use_gloo_process_groups()
    patches.load_critic_with_sdpa()
    hf_rollout.register()
    _ACTIVE = True
