"""The GPU check's driver on CPU: the skip line, stages in subprocesses (ok, crash, timeout), the report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sppo_lab.gpu_check import cuda_driver, driver
from sppo_lab.gpu_check import report as R
from tests.conftest import REPO
from tests.gpu_check.test_report import position_after_three_batches

pytestmark = pytest.mark.timeout(240)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the check would run")
def test_gpu_check_sh_without_cuda_prints_one_skip_line_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    default_report = REPO / "runs" / "gpu_check" / "report.json"
    before = default_report.stat().st_mtime_ns if default_report.exists() else None
    env = dict(os.environ, OUT=str(out))
    proc = subprocess.run(["bash", "run_scripts/gpu_check.sh"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=180)  # fmt: skip
    assert proc.returncode == 0
    lines = (proc.stdout + proc.stderr).splitlines()
    assert lines == [driver.SKIP_LINE], lines
    assert "skipped" in lines[0] and "passed" not in lines[0].lower()
    assert list(out.iterdir()) == []  # no report claims anything
    after = default_report.stat().st_mtime_ns if default_report.exists() else None
    assert after == before


def _stage(tmp_path: Path, name: str, code: str) -> driver.Stage:
    result = tmp_path / "stages" / f"{name}.json"
    return driver.Stage(name, [sys.executable, "-c", code.replace("RESULT", repr(str(result)))], result, 30,
                        tmp_path / "logs" / f"{name}.log")  # fmt: skip


WRITE_OK = (
    "from sppo_lab.gpu_check import report as R; "
    "R.write_json(R.stage_result('engine', [R.assertion('packed_eq_padded', True, max_abs_diff=0.0)], train_tokens_per_s=5.0), RESULT)"
)


def test_run_stage_reads_the_result_of_a_stage(tmp_path):
    res = driver.run_stage(_stage(tmp_path, "engine", WRITE_OK), timeout=60)
    assert res["assertions"] == [R.assertion("packed_eq_padded", True, max_abs_diff=0.0)]
    assert res["measured"]["train_tokens_per_s"] == 5.0 and res["measured"]["returncode"] == 0


def test_run_stage_turns_a_crash_into_a_failing_assertion(tmp_path):
    res = driver.run_stage(_stage(tmp_path, "eval", "import sys; print('boom'); sys.exit(3)"), timeout=60)
    [a] = res["assertions"]
    assert a["name"] == "eval.completed" and a["passed"] is False
    assert a["measured"]["returncode"] == 3 and a["measured"]["timed_out"] is False
    assert "boom" in a["measured"]["error"]


def test_run_stage_stops_a_stage_at_its_timeout_and_keeps_its_partial_result(tmp_path):
    code = WRITE_OK + "; import time; time.sleep(60)"
    res = driver.run_stage(_stage(tmp_path, "engine", code), timeout=8)
    names = [(a["name"], a["passed"]) for a in res["assertions"]]
    assert names == [("packed_eq_padded", True), ("engine.completed", False)]
    assert res["assertions"][-1]["measured"]["timed_out"] is True
    assert res["measured"]["stage_seconds"] < 40


def test_driver_writes_the_report_even_when_a_stage_fails(tmp_path, monkeypatch, capsys):
    stages = {"engine": _stage(tmp_path, "engine", WRITE_OK),
              "e2e_small": _stage(tmp_path, "e2e_small", "raise SystemExit(1)")}  # fmt: skip
    monkeypatch.setattr(driver, "build_stages", lambda device, workdir, names, budget_s=0: [stages[n] for n in names])
    out = tmp_path / "report.json"
    rc = driver.main(["--device", "cpu", "--out", str(out), "--workdir", str(tmp_path / "work")])
    assert rc == 1
    rep = json.loads(out.read_text())
    assert rep["passed"] is False and rep["failed"] == ["e2e_small.completed"]
    assert [a["name"] for a in rep["assertions"]] == ["engine.packed_eq_padded", "e2e_small.completed"]
    assert rep["tokens_per_s"] == {"engine_train": 5.0, "engine_infer": None, "e2e_small_perf/throughput": None}
    assert rep["memory"]["nvidia_smi_peak_mib"] is None and rep["device"] == "cpu"
    assert "FAILED" in capsys.readouterr().out

    monkeypatch.setattr(driver, "build_stages", lambda device, workdir, names, budget_s=0: [stages["engine"]])
    assert (
        driver.main(["--device", "cpu", "--out", str(out), "--stages", "engine", "--workdir", str(tmp_path / "w")]) == 0
    )
    assert json.loads(out.read_text())["passed"] is True


def test_summarize_collects_memory_and_throughput():
    stages = [
        R.stage_result("engine", [R.assertion("a", True)], max_memory_allocated_gb=1.25, train_tokens_per_s=1000.0,
                       infer_tokens_per_s=5000.0),
        R.stage_result("e2e_same", [R.assertion("b", True)], peak_memory_gb_by_role={"actor": 2.0, "critic": 1.0},
                       throughput_tokens_per_s_per_gpu=300.0),
        R.stage_result("eval", [R.assertion("c", True)], vllm={"tokens_per_s": 900.0}, hf={"tokens_per_s": 90.0}),
    ]  # fmt: skip
    stages[0]["measured"]["stage_seconds"] = 41.5
    stages[1]["measured"]["stage_seconds"] = 300.25
    rep = driver.summarize(stages, 2048.0, "cuda", "H200", 12.0, {"engine": 150.0, "e2e_same": 540.0, "eval": 240.0},
                           ["GPU-1234"])  # fmt: skip
    assert rep["passed"] is True and rep["gpu"] == "H200"
    assert rep["memory"] == {"nvidia_smi_peak_mib": 2048.0, "nvidia_smi_gpus": ["GPU-1234"],
                             "engine_max_memory_allocated_gb": 1.25,
                             "perf/max_memory_allocated_gb": {"e2e_same": {"actor": 2.0, "critic": 1.0}}}  # fmt: skip
    # each stage's seconds beside its cap (the eval stage here wrote no time)
    assert rep["stage_seconds"] == {"engine": 41.5, "e2e_same": 300.25, "eval": None}
    assert rep["stage_budget_s"] == {"engine": 150.0, "e2e_same": 540.0, "eval": 240.0}
    assert rep["tokens_per_s"] == {"engine_train": 1000.0, "engine_infer": 5000.0, "e2e_same_perf/throughput": 300.0,
                                   "eval_vllm": 900.0, "eval_hf": 90.0}  # fmt: skip


def test_eval_stage_uses_the_newest_checkpoint(tmp_path):
    assert driver.trained_checkpoint(tmp_path) == tmp_path / "e2e_same" / "ckpt" / "global_step_3"
    (tmp_path / "e2e_small" / "ckpt" / "global_step_2" / "actor").mkdir(parents=True)
    assert driver.trained_checkpoint(tmp_path) == tmp_path / "e2e_small" / "ckpt" / "global_step_2"
    (tmp_path / "e2e_same" / "ckpt" / "global_step_3" / "actor").mkdir(parents=True)
    assert driver.trained_checkpoint(tmp_path) == tmp_path / "e2e_same" / "ckpt" / "global_step_3"


def test_stage_budgets_fit_a_ten_minute_command_and_scale_with_budget_s():
    assert driver.STAGE_BUDGET_S == {"engine": 150, "e2e_same": 540, "e2e_small": 480, "eval": 240, "e2e_megatron": 540}
    assert driver.TOTAL_BUDGET_S == 1950 and max(driver.STAGE_BUDGET_S.values()) < 600
    assert driver.stage_caps() == {name: float(cap) for name, cap in driver.STAGE_BUDGET_S.items()}
    assert driver.stage_caps(3900)["e2e_same"] == 1080  # a slow node: --budget-s doubles every cap
    caps = {s.name: s.cap_s for s in driver.build_stages("cuda", Path("/w"), list(driver.ALL_STAGES))}
    assert caps == driver.stage_caps()


def test_build_stages_cuda_commands_and_budget(tmp_path):
    stages = driver.build_stages("cuda", tmp_path, list(driver.ALL_STAGES), budget_s=470)
    assert [s.name for s in stages] == list(driver.ALL_STAGES)
    assert sum(s.cap_s for s in stages) == pytest.approx(470)
    engine, same, small, ev, megatron = (s.command for s in stages)
    assert megatron[1:3] == ["-m", "sppo_lab.gpu_check.e2e_megatron"]
    assert megatron[megatron.index("--root") + 1] == str(tmp_path)
    assert engine[1:3] == ["-m", "sppo_lab.gpu_check.engine_check"] and engine[engine.index("--device") + 1] == "cuda"
    assert same[same.index("--critic") + 1] == "same" and small[small.index("--critic") + 1] == "small"
    assert ev[ev.index("--model") + 1] == str(tmp_path / "e2e_same" / "ckpt" / "global_step_3")
    assert ev[ev.index("--data") + 1] == str(tmp_path / "task" / "eval.parquet")
    # each e2e stage splits its own cap between its two launches (e2e.py); the stage runner kills it 10 s later
    assert same[same.index("--timeout") + 1] == f"{stages[1].cap_s - 10:.0f}"
    with pytest.raises(ValueError):
        driver.build_stages("cuda", tmp_path, ["nope"])


@pytest.mark.filterwarnings("ignore:'set_vital' is deprecated")
def test_dataloader_position_with_worker_processes(tmp_path):
    """verl's dataloader has workers (data.dataloader_num_workers): its state is a snapshot plus the steps since."""
    assert position_after_three_batches(tmp_path, workers=2) == 3


def test_nvidia_smi_samples_the_gpu_in_use_only():
    assert driver.smi_gpu_ids("3,5", None) == ["3"]  # CUDA device 0 is the first visible one
    assert driver.smi_gpu_ids("GPU-ab12,GPU-cd34", None) == ["GPU-ab12"]
    assert driver.smi_gpu_ids(None, None) == ["0"] and driver.smi_gpu_ids("", None) == ["0"]
    assert driver.smi_gpu_ids("3", "6f1c2d3e-0000-1111-2222-333344445555") == [
        "GPU-6f1c2d3e-0000-1111-2222-333344445555"
    ]
    assert driver.smi_gpu_ids(None, "GPU-6f1c2d3e-0000-1111-2222-333344445555") == [
        "GPU-6f1c2d3e-0000-1111-2222-333344445555"
    ]
    assert driver.smi_gpu_ids("2", "<not a uuid>") == ["2"]  # an unexpected form: the visible index instead
    assert driver.smi_command(["3"]) == [
        "nvidia-smi",
        "--query-gpu=memory.used",
        "--format=csv",
        "-lms",
        "500",
        "-i",
        "3",
    ]


def fake_nvidia_smi(bin_dir: Path, lines: str) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    smi = bin_dir / "nvidia-smi"
    smi.write_text(f"#!/usr/bin/env bash\nprintf '%s' '{lines}'\n")
    smi.chmod(0o755)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the check would run")
def test_gpus_torch_cannot_use_fail_the_check_in_one_line_naming_the_driver(tmp_path):
    """nvidia-smi lists GPUs (driver 550, older than the 580 a CUDA 13 torch needs) but torch sees none: not a skip."""
    fake_nvidia_smi(tmp_path / "bin", "0, NVIDIA H100 80GB HBM3, 550.54.15\n1, NVIDIA H100 80GB HBM3, 550.54.15\n")
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, OUT=str(out), PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    env.pop("CUDA_VISIBLE_DEVICES", None)
    proc = subprocess.run(["bash", "run_scripts/gpu_check.sh"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=180)  # fmt: skip
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"gpu_check: FAILED: nvidia-smi lists 2 GPU(s) (driver 550.54.15) but torch {torch.__version__} (a CPU build) "
        "cannot use them: install the GPU stack (bash uv_verl.sh, not --cpu), which needs NVIDIA driver >= 580"
    ]
    assert list(out.iterdir()) == []


def test_nvidia_smi_gpus_reads_the_query_and_survives_a_failing_nvidia_smi(tmp_path, monkeypatch):
    fake_nvidia_smi(tmp_path / "bin", "0, NVIDIA A100-SXM4-80GB, 575.51.03\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    assert cuda_driver.nvidia_smi_gpus() == [{"index": "0", "name": "NVIDIA A100-SXM4-80GB", "driver": "575.51.03"}]
    (tmp_path / "bin" / "nvidia-smi").write_text("#!/usr/bin/env bash\necho 'NVIDIA-SMI has failed' ; exit 9\n")
    assert cuda_driver.nvidia_smi_gpus() == []
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert cuda_driver.nvidia_smi_gpus() == []
