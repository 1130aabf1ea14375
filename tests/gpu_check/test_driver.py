"""The GPU check's driver on CPU: the skip line, stages in subprocesses (ok, crash, timeout), the report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sppo_lab.gpu_check import driver
from sppo_lab.gpu_check import report as R
from tests.conftest import REPO

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
    rep = driver.summarize(stages, 2048.0, "cuda", "H200", 12.0)
    assert rep["passed"] is True and rep["gpu"] == "H200"
    assert rep["memory"] == {"nvidia_smi_peak_mib": 2048.0, "engine_max_memory_allocated_gb": 1.25,
                             "perf/max_memory_allocated_gb": {"e2e_same": {"actor": 2.0, "critic": 1.0}}}  # fmt: skip
    assert rep["tokens_per_s"] == {"engine_train": 1000.0, "engine_infer": 5000.0, "e2e_same_perf/throughput": 300.0,
                                   "eval_vllm": 900.0, "eval_hf": 90.0}  # fmt: skip


def test_eval_stage_uses_the_newest_checkpoint(tmp_path):
    assert driver.trained_checkpoint(tmp_path) == tmp_path / "e2e_same" / "ckpt" / "global_step_3"
    (tmp_path / "e2e_small" / "ckpt" / "global_step_2" / "actor").mkdir(parents=True)
    assert driver.trained_checkpoint(tmp_path) == tmp_path / "e2e_small" / "ckpt" / "global_step_2"
    (tmp_path / "e2e_same" / "ckpt" / "global_step_3" / "actor").mkdir(parents=True)
    assert driver.trained_checkpoint(tmp_path) == tmp_path / "e2e_same" / "ckpt" / "global_step_3"


def test_build_stages_cuda_commands_and_budget(tmp_path):
    stages = driver.build_stages("cuda", tmp_path, list(driver.ALL_STAGES), budget_s=470)
    assert [s.name for s in stages] == list(driver.ALL_STAGES)
    assert sum(s.cap_s for s in stages) <= 470 + 1e-9
    engine, same, small, ev = (s.command for s in stages)
    assert engine[1:3] == ["-m", "sppo_lab.gpu_check.engine_check"] and engine[engine.index("--device") + 1] == "cuda"
    assert same[same.index("--critic") + 1] == "same" and small[small.index("--critic") + 1] == "small"
    assert ev[ev.index("--model") + 1] == str(tmp_path / "e2e_same" / "ckpt" / "global_step_3")
    assert ev[ev.index("--data") + 1] == str(tmp_path / "task" / "eval.parquet")
    with pytest.raises(ValueError):
        driver.build_stages("cuda", tmp_path, ["nope"])
