"""The GPU check's pure helpers, with hand-made inputs and exact expected values."""

from __future__ import annotations

import json
import math

import pytest
import torch

from sppo_lab.gpu_check import report as R


def test_compare_states_equal_and_different():
    a = {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor([3])}
    same = R.compare_states(a, {k: v.clone() for k, v in a.items()})
    assert same == {"equal": True, "tensors": 2, "max_abs_diff": 0.0, "differing": [], "n_differing": 0, "missing": [],
                    "extra": []}  # fmt: skip
    other = R.compare_states(a, {"w": torch.tensor([1.0, 2.5]), "n": torch.tensor([3]), "x": torch.zeros(1)})
    assert other["equal"] is False
    assert other["differing"] == ["w"] and other["max_abs_diff"] == 0.5 and other["extra"] == ["x"]
    assert other["missing"] == [] and other["tensors"] == 2


def test_compare_states_shape_dtype_and_empty():
    a = {"w": torch.zeros(2)}
    assert R.compare_states(a, {"w": torch.zeros(3)})["max_abs_diff"] == math.inf
    assert R.compare_states(a, {"w": torch.zeros(2, dtype=torch.float64)})["differing"] == ["w"]
    assert R.compare_states(a, {})["missing"] == ["w"]
    assert R.compare_states({}, {})["equal"] is False  # nothing compared is not a pass


def test_load_fsdp_model_state_reads_the_single_shard(tmp_path):
    (tmp_path / "actor").mkdir()
    torch.save({"w": torch.tensor([1.0, 2.0])}, tmp_path / "actor" / "model_world_size_1_rank_0.pt")
    assert torch.equal(R.load_fsdp_model_state(tmp_path, "actor")["w"], torch.tensor([1.0, 2.0]))
    with pytest.raises(FileNotFoundError):
        R.load_fsdp_model_state(tmp_path, "critic")


def test_scores_agree_within_four_binomial_standard_errors():
    ok = R.scores_agree(0.30, 320, 0.25, 320)
    se = math.sqrt(0.275 * 0.725 * (2 / 320))
    assert ok["pooled"] == pytest.approx(0.275, abs=1e-12)
    assert ok["se"] == pytest.approx(se, abs=1e-12) and ok["tolerance"] == pytest.approx(4 * se, abs=1e-12)
    assert ok["diff"] == pytest.approx(0.05, abs=1e-12) and ok["passed"]
    bad = R.scores_agree(0.50, 320, 0.20, 320)
    assert bad["tolerance"] == pytest.approx(4 * math.sqrt(0.35 * 0.65 * (2 / 320)), abs=1e-12)  # 0.1508...
    assert not bad["passed"]
    assert R.scores_agree(0.0, 10, 0.0, 10)["passed"]  # both never right: exact agreement
    few = R.scores_agree(0.0, 10, 0.1, 10)  # 10 samples each: 0 vs 1 right is within noise
    assert few["tolerance"] == pytest.approx(4 * math.sqrt(0.05 * 0.95 * 0.2), abs=1e-12) and few["passed"]
    many = R.scores_agree(0.0, 100, 0.2, 100)  # tolerance 4*sqrt(.1*.9*.02) = 0.1697 < 0.2
    assert many["tolerance"] == pytest.approx(0.16970562748477142, abs=1e-12) and not many["passed"]
    assert R.scores_agree(0.5, 0, 0.5, 10)["passed"] is False  # no samples: no claim


def test_within_and_max_abs_diff():
    assert R.within([0.5], [0.5 + 2**-20], atol=1e-6)
    assert not R.within([0.5], [0.5 + 2**-19], atol=1e-6)
    assert R.within([110.0], [100.0], atol=0.0, rtol=0.1) and not R.within([111.0], [100.0], atol=0.0, rtol=0.1)
    assert not R.within([1.0], [1.0, 2.0], atol=1.0)
    assert not R.within([float("nan")], [0.0], atol=1.0)
    assert R.max_abs_diff([1.0, 2.0], [1.5, 1.0]) == 1.0


def test_loss_decreased():
    falling = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    d = R.loss_decreased(falling)
    assert d["passed"] and d["window"] == 5
    assert d["first_mean"] == pytest.approx(0.8) and d["last_mean"] == pytest.approx(0.3)
    assert not R.loss_decreased([0.7] * 10)["passed"]
    assert not R.loss_decreased([1.0, float("nan"), 0.1])["passed"]
    assert not R.loss_decreased([1.0, 0.5, 0.2, 1.1])["passed"]  # the last step is above the first
    assert not R.loss_decreased([])["passed"]


def test_peak_memory_by_role_and_means():
    rows = [
        {"step": 1, "data": {"actor/perf/max_memory_allocated_gb": 1.5, "critic/perf/max_memory_allocated_gb": 0.5,
                             "perf/max_memory_allocated_gb": 2.0, "perf/throughput": 100.0}},
        {"step": 2, "data": {"actor/perf/max_memory_allocated_gb": 1.75, "critic/perf/max_memory_allocated_gb": float("nan"),
                             "perf/throughput": 300.0}},
    ]  # fmt: skip
    assert R.peak_memory_by_role(rows) == {"actor": 1.75, "critic": 0.5, "trainer": 2.0}
    assert R.mean_metric(rows, "perf/throughput") == 200.0
    assert R.mean_metric(rows, "missing") is None


def test_read_metrics_jsonl_skips_bad_lines(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"step": 1, "data": {"a": 1}}\nnot json\n\n{"step": 2, "data": {}}\n')
    assert [r["step"] for r in R.read_metrics_jsonl(path)] == [1, 2]
    assert R.read_metrics_jsonl(tmp_path / "none.jsonl") == []


def test_parse_nvidia_smi_peak():
    text = "memory.used [MiB]\n1234 MiB\n40960 MiB\nmemory.used [MiB]\n512 MiB\n"
    assert R.parse_nvidia_smi_peak(text) == 40960.0
    assert R.parse_nvidia_smi_peak("memory.used [MiB]\n") is None
    assert R.parse_nvidia_smi_peak("") is None


def test_assemble_report_prefixes_names_and_fails_on_any_failure():
    stages = [
        R.stage_result("engine", [R.assertion("packed_eq_padded", True, max_abs_diff=0.0)], train_tokens_per_s=10.0),
        R.stage_result("e2e_same", [R.assertion("e2e_same.resume_ran", False)]),
    ]
    rep = R.assemble_report(stages, device="cuda")
    assert [a["name"] for a in rep["assertions"]] == ["engine.packed_eq_padded", "e2e_same.resume_ran"]
    assert rep["passed"] is False and rep["failed"] == ["e2e_same.resume_ran"] and rep["n_assertions"] == 2
    assert rep["stages"] == {"engine": {"train_tokens_per_s": 10.0}, "e2e_same": {}} and rep["device"] == "cuda"
    assert R.assemble_report(stages[:1])["passed"] is True
    assert R.assemble_report([])["passed"] is False  # no assertion: nothing passed


def test_failed_stage_is_one_failing_assertion():
    st = R.failed_stage("eval", 3, False, "/x.log", "boom")
    assert st["assertions"] == [{"name": "eval.completed", "passed": False,
                                 "measured": {"returncode": 3, "timed_out": False, "log": "/x.log", "error": "boom"}}]  # fmt: skip


def test_write_json_turns_non_finite_into_null(tmp_path):
    path = R.write_json({"a": float("nan"), "b": [1.0, float("inf")], "c": torch.tensor(2.5)}, tmp_path / "r.json")
    assert json.loads(path.read_text()) == {"a": None, "b": [1.0, None], "c": 2.5}
