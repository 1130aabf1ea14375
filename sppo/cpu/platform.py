"""A CPU platform for verl (verl 0.9.1 ships cuda / npu / rocm only).

Registered with verl's own ``PlatformRegistry`` and selected by ``VERL_PLATFORM=cpu``. Ray still sees
the workers' slots as logical "GPU" resources: verl's ``ResourcePoolManager`` hard-codes ``use_gpu=True``
and counts only GPU/NPU, so a CPU run starts Ray with ``num_gpus=N`` logical GPUs.
"""

from __future__ import annotations

import os
import types
from contextlib import contextmanager
from typing import Any

import psutil
import torch
from verl.plugin.platform.platform_base import PlatformBase
from verl.plugin.platform.platform_manager import PlatformRegistry


def _cpu_device_module() -> types.ModuleType:
    """The subset of the ``torch.cuda`` namespace verl calls, answered for the host CPU."""
    mod = types.ModuleType("sppo_cpu_device")
    noop = lambda *args, **kwargs: None  # noqa: E731
    for name in (
        "empty_cache",
        "synchronize",
        "set_device",
        "ipc_collect",
        "manual_seed",
        "manual_seed_all",
        "reset_peak_memory_stats",
        "set_per_process_memory_fraction",
        "reset_max_memory_allocated",
    ):
        setattr(mod, name, noop)
    rss = lambda *args, **kwargs: psutil.Process().memory_info().rss  # noqa: E731
    for name in ("memory_allocated", "memory_reserved", "max_memory_allocated", "max_memory_reserved"):
        setattr(mod, name, rss)
    mod.is_available = lambda: True
    mod.device_count = lambda: 1
    mod.current_device = lambda: torch.device("cpu")
    mod.get_device_name = lambda *args, **kwargs: "cpu"
    mod.mem_get_info = lambda *args, **kwargs: (psutil.virtual_memory().available, psutil.virtual_memory().total)
    mod.get_rng_state = lambda *args, **kwargs: torch.get_rng_state()
    mod.set_rng_state = lambda state, *args, **kwargs: torch.set_rng_state(state)

    class _Stream:
        def __init__(self, *args, **kwargs):
            pass

        def synchronize(self):
            return None

        def wait_stream(self, *args, **kwargs):
            return None

    @contextmanager
    def _stream(*args, **kwargs):
        yield

    mod.Stream = _Stream
    mod.Event = _Stream
    mod.current_stream = lambda *args, **kwargs: _Stream()
    mod.stream = _stream
    return mod


_DEVICE_MODULE = _cpu_device_module()


@PlatformRegistry.register("cpu")
class PlatformCPU(PlatformBase):
    """verl platform for CPU-only machines: gloo collectives, host memory as 'device' memory."""

    @property
    def device_name(self) -> str:
        return "cpu"

    @property
    def vendor_name(self) -> str:
        return "cpu"

    @property
    def device_module(self) -> types.ModuleType:
        return _DEVICE_MODULE

    def is_available(self) -> bool:
        return True

    def is_platform_available(self, use_smi_check: bool = False) -> bool:
        # never auto-detected: only VERL_PLATFORM=cpu selects it
        return os.environ.get("VERL_PLATFORM", "").strip().lower() == "cpu"

    def current_device(self):
        return torch.device("cpu")

    def device_count(self) -> int:
        return 1

    def set_device(self, device_index: int) -> None:
        return None

    def synchronize(self, device_index: int | None = None) -> None:
        return None

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def set_allocator_settings(self, settings: str) -> None:
        return None

    def empty_cache(self) -> None:
        return None

    def get_device_capability(self, device_index: int = 0) -> tuple[int | None, int | None]:
        return None, None

    def communication_backend_name(self) -> str:
        return "gloo"

    def visible_devices_envvar(self) -> str:
        return "CUDA_VISIBLE_DEVICES"

    def ray_resource_name(self) -> str:
        return "GPU"  # logical GPUs: see module docstring

    def ray_noset_envvars(self) -> list[str]:
        return ["RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"]

    def is_ipc_supported(self) -> bool:
        return False

    @contextmanager
    def nvtx_range(self, msg: str):
        yield

    def profiler_start(self) -> None:
        return None

    def profiler_stop(self) -> None:
        return None

    def cudart(self) -> Any:
        return None
