"""Remove-padding through verl's own value engine, on CPU in fp32.

Runs ``python -m sppo_lab.gpu_check.engine_check --device cpu`` (a fresh process: verl reads its platform at
import time): the critic ``TrainingWorker`` -> ``FSDPEngineWithValueHead`` (FSDP2, gloo, sdpa) with
``use_remove_padding=True``, SPPO's prompt-only batches and BCE loss. The same module runs in bf16 on CUDA as
the first stage of ``run_scripts/gpu_check.sh``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def engine_result(tmp_path_factory):
    out = tmp_path_factory.mktemp("engine_check")
    env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    env.pop("VERL_PLATFORM", None)
    proc = subprocess.run(
        [sys.executable, "-m", "sppo_lab.gpu_check.engine_check", "--device", "cpu", "--steps", "8", "--prompts", "8",
         "--out", str(out / "engine.json"), "--workdir", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=280,
    )  # fmt: skip
    log = proc.stdout + proc.stderr
    assert (out / "engine.json").is_file(), log[-4000:]
    result = json.loads((out / "engine.json").read_text())
    result["returncode"], result["log"] = proc.returncode, log
    return result


def _check(result, name):
    return next(a for a in result["assertions"] if a["name"] == name)


def test_it_is_verls_value_engine_with_remove_padding(engine_result):
    m = _check(engine_result, "value_engine")["measured"]
    assert m["engine"] == "FSDPEngineWithValueHead"
    assert m["module"] == "FSDPQwen2ForTokenClassification"  # FSDP2-wrapped value model
    assert m["use_remove_padding"] is True and m["strategy"] == "fsdp2"
    assert m["dtype"] == "float32" and m["attn_implementation"] == "sdpa"
    assert "Platform override from VERL_PLATFORM: cpu" in engine_result["log"]


def test_the_packed_forward_is_one_row_without_a_mask(engine_result):
    a = _check(engine_result, "packed_forward_is_one_row")
    m = a["measured"]
    assert len(set(m["prompt_lengths"])) >= 5, "prompts of different lengths"
    assert m["packed_input"] == {"shape": [1, m["total_tokens"]], "attention_mask": False}
    assert m["padded_input"] == {"shape": [8, max(m["prompt_lengths"])], "attention_mask": True}
    assert a["passed"]


@pytest.mark.parametrize("other", ["per_sequence", "padded", "prompt_response"])
def test_packed_v_equals_the_unpacked_forwards(engine_result, other):
    a = _check(engine_result, f"packed_eq_{other}")
    assert a["measured"]["atol"] == 1e-5 and a["measured"]["rtol"] == 0.0
    assert a["measured"]["max_abs_diff"] <= 1e-5
    assert a["passed"]


def test_the_comparison_can_fail(engine_result):
    # positions that run on across the packed sequences let attention cross their boundaries
    a = _check(engine_result, "packing_boundaries_matter")
    assert a["passed"] and a["measured"]["max_abs_diff"] > 1e-2


def test_bce_steps_decrease_the_loss_through_the_engine(engine_result):
    a = _check(engine_result, "bce_steps")
    losses = a["measured"]["losses"]
    assert len(losses) == 8 and a["measured"]["finite"]
    assert losses[-1] < losses[0] and a["measured"]["last_mean"] < 0.9 * a["measured"]["first_mean"]
    assert a["passed"]
    t = _check(engine_result, "train_forward_packed")
    assert t["passed"] and t["measured"]["forwards"] == 16  # 8 steps x 2 micro-batches, each one packed row


def test_every_assertion_passed_and_figures_are_recorded(engine_result):
    assert engine_result["returncode"] == 0, engine_result["log"][-3000:]
    assert [a["name"] for a in engine_result["assertions"] if not a["passed"]] == []
    m = engine_result["measured"]
    assert m["train_tokens_per_s"] > 0 and m["infer_tokens_per_s"] > 0 and m["max_rss_gb"] > 0
