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
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # the temporary file was renamed into place
    R.write_json({"a": 1}, path)  # rewritten atomically
    assert json.loads(path.read_text()) == {"a": 1} and [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_flatten_tensors_and_the_optimizer_state_of_a_checkpoint(tmp_path):
    """AdamW's state_dict as verl saves it (optim_world_size_1_rank_0.pt): moments, steps and param groups by path."""
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = torch.optim.AdamW([w], lr=0.1)
    w.grad = torch.tensor([0.5, 0.5])
    opt.step()
    (tmp_path / "actor").mkdir()
    torch.save(opt.state_dict(), tmp_path / "actor" / "optim_world_size_1_rank_0.pt")
    flat = R.load_fsdp_optim_state(tmp_path, "actor")
    assert {
        "state.0.step",
        "state.0.exp_avg",
        "state.0.exp_avg_sq",
        "param_groups.0.lr",
        "param_groups.0.params.0",
    } <= set(flat)
    assert torch.equal(flat["state.0.exp_avg"], torch.tensor([0.05, 0.05]))  # (1 - 0.9) x grad
    assert flat["param_groups.0.lr"].item() == pytest.approx(0.1)
    same = R.compare_states(flat, R.load_fsdp_optim_state(tmp_path, "actor"))
    assert same["equal"] and same["tensors"] == len(flat)
    empty = R.compare_states(flat, R.flatten_tensors(torch.optim.AdamW([w], lr=0.1).state_dict()))
    assert not empty["equal"] and "state.0.exp_avg" in empty["missing"]  # a fresh optimizer has no moments
    assert R.flatten_tensors({"a": [1, {"b": True}], "c": "text"}) == {
        "a.0": torch.tensor(1.0, dtype=torch.float64),
        "a.1.b": torch.tensor(1.0, dtype=torch.float64),
    }
    with pytest.raises(FileNotFoundError):
        R.load_fsdp_optim_state(tmp_path, "critic")


def position_after_three_batches(tmp_path, workers: int) -> int | None:
    """R.load_dataloader_position of a torchdata StatefulDataLoader saved after 3 batches of 16, as verl saves it
    (global_step_N/data.pt); with workers, state_dict() is the last snapshot (every 2 steps here) plus the steps since."""
    from torchdata.stateful_dataloader import StatefulDataLoader

    loader = StatefulDataLoader(list(range(80)), batch_size=16, num_workers=workers, snapshot_every_n_steps=2)
    batches = iter(loader)
    for _ in range(3):
        next(batches)
    torch.save(loader.state_dict(), tmp_path / "data.pt")
    return R.load_dataloader_position(tmp_path)


@pytest.mark.filterwarnings("ignore:'set_vital' is deprecated")
def test_dataloader_position_of_a_stateful_dataloader(tmp_path):
    """Batches yielded this epoch (with worker processes: tests/gpu_check/test_driver.py)."""
    assert position_after_three_batches(tmp_path, workers=0) == 3
    assert R.dataloader_position({"_snapshot": {"_snapshot_step": 4}, "_steps_since_snapshot": 1}) == 5
    assert R.dataloader_position({"_num_yielded": 2, "_snapshot": {"_snapshot_step": 9}}) == 2
    assert R.dataloader_position({"nothing": 1}) is None and R.dataloader_position(None) is None


def test_the_rollout_server_is_found_by_its_own_log_line_not_by_the_word_vllm():
    overrides = "+ exec python -m sppo.main actor_rollout_ref.rollout.name=vllm ... vllm vLLM VLLM\n"
    assert not R.rollout_server_in_log(overrides, "cuda")
    assert R.rollout_server_in_log(overrides + "(vLLMHttpServer pid=4321) INFO engine started\n", "cuda")
    assert R.rollout_server_in_log("(vLLMHttpServer pid=4321, ip=10.0.0.2) INFO ...\n", "cuda")
    assert not R.rollout_server_in_log("x (vLLMHttpServer pid=4321) in the middle of a line\n", "cuda")
    assert R.rollout_server_in_log("(pid=7) serving at hf-rollout-0\n", "cpu") and not R.rollout_server_in_log(
        "hf", "cpu"
    )
