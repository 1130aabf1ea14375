"""GPUs that torch cannot use: the one line of uv_verl.sh's check and the GPU check (sppo_lab.gpu_check.cuda_driver)."""

from __future__ import annotations

from sppo_lab.gpu_check.cuda_driver import required_driver, unusable_gpus_line
from tests.conftest import REPO

H100 = "NVIDIA H100 80GB HBM3"


def gpus(driver: str, n: int = 4) -> list[dict[str, str]]:
    return [{"index": str(i), "name": H100, "driver": driver} for i in range(n)]


def test_the_driver_torch_needs_is_read_from_the_gpu_pins(tmp_path):
    assert required_driver(REPO / "constraints" / "gpu.txt") == 580  # torch 2.11.0 from PyPI: a CUDA 13.0 build
    pins = tmp_path / "gpu.txt"
    pins.write_text("torch==2.9.0\n# nvidia-driver >= 525\n")
    assert required_driver(pins) == 525
    pins.write_text("torch==2.9.0\n")
    assert required_driver(pins) is None
    assert required_driver(tmp_path / "missing.txt") is None


def test_a_driver_older_than_torchs_cuda_needs():
    line = unusable_gpus_line(gpus("550.54.15"), "2.11.0+cu130", "13.0", 580)
    assert line == (
        "nvidia-smi lists 4 GPU(s) (driver 550.54.15) but torch 2.11.0+cu130 (CUDA 13.0) cannot use them: the driver "
        "is too old, torch's CUDA 13.0 build needs NVIDIA driver >= 580"
    )


def test_hidden_gpus_and_a_new_enough_driver_still_fail_naming_the_driver():
    assert unusable_gpus_line(gpus("580.65.06", 1), "2.11.0", "13.0", 580, visible="") == (
        "nvidia-smi lists 1 GPU(s) (driver 580.65.06) but torch 2.11.0 (CUDA 13.0) cannot use them: "
        "CUDA_VISIBLE_DEVICES='' hides them (torch's CUDA 13.0 build needs NVIDIA driver >= 580)"
    )
    assert "CUDA_VISIBLE_DEVICES='-1' hides them" in unusable_gpus_line(gpus("590.1"), "2.11.0", "13.0", 580, "-1")
    line = unusable_gpus_line(gpus("590.10"), "2.11.0", "13.0", 580, visible="0,1")
    assert line.endswith(
        "cannot use them, although torch's CUDA 13.0 build needs NVIDIA driver >= 580: check that this process may "
        "open /dev/nvidia* (a container's device access) and torch.cuda's own warning"
    )


def test_no_gpus_is_not_a_failure_and_a_cpu_torch_is_named():
    assert unusable_gpus_line([], "2.11.0", "13.0", 580) is None
    assert unusable_gpus_line(gpus("550.1", 2), "2.13.0+cpu", None, 580) == (
        "nvidia-smi lists 2 GPU(s) (driver 550.1) but torch 2.13.0+cpu (a CPU build) cannot use them: install the GPU "
        "stack (bash uv_verl.sh, not --cpu), which needs NVIDIA driver >= 580"
    )
    # no pin to read: the CUDA version is named instead of a driver number
    assert unusable_gpus_line(gpus("550.1"), "2.11.0", "13.0", None).endswith(
        ": torch's CUDA 13.0 build needs an NVIDIA driver for CUDA 13.0; check the driver (nvidia-smi's 'CUDA Version') "
        "and that this process may open /dev/nvidia*"
    )
    mixed = [{"index": "0", "name": H100, "driver": "575.1"}, {"index": "1", "name": H100, "driver": "550.2"}]
    assert "(driver 550.2, 575.1)" in unusable_gpus_line(mixed, "2.11.0", "13.0", 580)
