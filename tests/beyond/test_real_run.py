"""One real run of the study through verl: adaptive N (32 samples a step for 16 prompts) on the u_shaped mix from its
committed warm start, 2 steps, then the same command again (the record is the resume point: nothing reruns)."""

from __future__ import annotations

import json

import pytest

from sppo_lab.beyond_the_paper import run
from sppo_lab.critic_pays import comparison as cmp

pytestmark = [pytest.mark.ray, pytest.mark.timeout(1500)]


def test_an_adaptive_n_run_records_its_tokens_and_the_critics_held_out_ranking(tmp_path):
    argv = ["--phase", "sweep", "--arms", "sppo_adaptive_n", "--seeds", "100", "--lrs", "2e-5", "--steps", "2"]
    argv += ["--work", str(tmp_path / "work"), "--results", str(tmp_path / "results")]
    assert run.main(argv) == 0
    (path,) = (tmp_path / "results" / "u_shaped" / "runs" / "sweep").glob("*.json")
    assert path.name == "sppo_adaptive_n__lr2e-5__seed100.json"
    record = json.loads(path.read_text())
    assert record["steps"] == 2 and record["actor_updates_steps"] == 2 and record["base_steps"] == 2
    assert record["samples"] == [32, 32] and record["generated_samples_total"] == 64  # the budget, 2 a prompt
    rows = cmp.read_metrics(tmp_path / "work" / "u_shaped" / "sweep" / path.stem / "metrics.jsonl")
    steps = [r["data"] for r in rows if cmp.REWARD_KEY in r["data"]]
    assert [d["adaptive_n/samples"] for d in steps] == [32.0, 32.0]
    assert record["generated_tokens"] == [d["response_length/mean"] * 32 for d in steps]
    assert record["generated_tokens_total"] == round(sum(record["generated_tokens"]), 1)
    # one validation, after the last step (2 steps: no thirds; not a reference arm: no step 0)
    (val,) = record["validations"]
    assert val["step"] == 2 and val["actor_updates"] == 2
    assert sorted(val["held_out"], key=int) == ["2", "4", "6", "8", "10", "12"]
    assert val["held_out_mix"] == pytest.approx(record["val_after_mix"])
    assert set(val["critic"]) == {"auc", "spearman", "pearson", "auc_ceiling", "auc_group_ceiling"}
    assert -1.0 <= val["critic"]["spearman"] <= 1.0 and 0.0 <= val["critic"]["auc"] <= 1.0
    # no prompt-only score ranks the samples better than their prompts' own success rates
    assert val["critic"]["auc"] <= val["critic"]["auc_ceiling"] <= 1.0
    assert 0.5 <= val["critic"]["auc_group_ceiling"] <= val["critic"]["auc_ceiling"]
    mtime = path.stat().st_mtime
    assert run.main(argv) == 0
    assert path.stat().st_mtime == mtime
