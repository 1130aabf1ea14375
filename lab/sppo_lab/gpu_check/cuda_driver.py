"""GPUs that torch cannot use: nvidia-smi lists them, ``torch.cuda.is_available()`` is False. One line saying why.

torch 2.11.0 from PyPI (constraints/gpu.txt) is a CUDA 13.0 build: on an NVIDIA driver older than 580 it sees no GPU
at all, and a check that then prints "skipped" would pass on a node that cannot train. ``bash uv_verl.sh`` (its final
check) and ``bash run_scripts/gpu_check.sh`` both call :func:`unusable_gpus_line` and fail on its line. No torch
import here: the callers pass what torch says.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

SMI_QUERY = ["nvidia-smi", "--query-gpu=index,name,driver_version", "--format=csv,noheader"]
# the line of constraints/gpu.txt that states the driver torch's CUDA build needs
DRIVER_PIN = re.compile(r"nvidia-driver\s*>=\s*(\d+)")


def nvidia_smi_gpus(timeout: float = 30.0) -> list[dict[str, str]]:
    """The GPUs ``nvidia-smi`` lists (``index``, ``name``, ``driver``); [] without nvidia-smi or when it fails."""
    try:
        proc = subprocess.run(SMI_QUERY, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    if proc.returncode != 0:
        return []
    gpus = []
    for line in proc.stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 3 and parts[0].isdigit():
            gpus.append({"index": parts[0], "name": ", ".join(parts[1:-1]), "driver": parts[-1]})
    return gpus


def required_driver(constraints: Path) -> int | None:
    """The driver major version torch's CUDA build needs, from ``# nvidia-driver>=N`` in ``constraints`` (gpu.txt)."""
    try:
        match = DRIVER_PIN.search(Path(constraints).read_text())
    except OSError:
        return None
    return int(match.group(1)) if match else None


def _major(version: str) -> int | None:
    match = re.match(r"\s*(\d+)", version)
    return int(match.group(1)) if match else None


def unusable_gpus_line(
    gpus: list[dict[str, Any]],
    torch_version: str,
    torch_cuda: str | None,
    required: int | None,
    visible: str | None = None,
) -> str | None:
    """Why torch cannot use the GPUs nvidia-smi lists, in one line naming the driver needed; ``None`` without GPUs.

    Args:
        gpus: :func:`nvidia_smi_gpus`; the caller has found ``torch.cuda.is_available()`` False.
        torch_version, torch_cuda: ``torch.__version__`` and ``torch.version.cuda`` (None: a CPU build).
        required: the driver major version torch's CUDA build needs (:func:`required_driver`).
        visible: ``CUDA_VISIBLE_DEVICES`` (None: unset).
    """
    if not gpus:
        return None
    drivers = sorted({g["driver"] for g in gpus})
    base = (
        f"nvidia-smi lists {len(gpus)} GPU(s) (driver {', '.join(drivers)}) but torch {torch_version} "
        f"({'CUDA ' + torch_cuda if torch_cuda else 'a CPU build'}) cannot use them"
    )
    need = f"NVIDIA driver >= {required}" if required else f"an NVIDIA driver for CUDA {torch_cuda}"
    if not torch_cuda:
        return f"{base}: install the GPU stack (bash uv_verl.sh, not --cpu), which needs {need}"
    oldest = min((m for m in (_major(d) for d in drivers) if m is not None), default=None)
    if required and oldest is not None and oldest < required:
        return f"{base}: the driver is too old, torch's CUDA {torch_cuda} build needs {need}"
    if visible is not None and visible.strip() in ("", "-1"):
        return f"{base}: CUDA_VISIBLE_DEVICES={visible!r} hides them (torch's CUDA {torch_cuda} build needs {need})"
    if required is None:
        return (
            f"{base}: torch's CUDA {torch_cuda} build needs {need}; check the driver (nvidia-smi's 'CUDA Version') and "
            "that this process may open /dev/nvidia*"
        )
    return (
        f"{base}, although torch's CUDA {torch_cuda} build needs {need}: check that this process may open /dev/nvidia* "
        "(a container's device access) and torch.cuda's own warning"
    )
