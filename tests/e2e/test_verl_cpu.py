"""The real verl trainer on CPU (Ray, FSDP2 on gloo, hf rollout), through ``python -m sppo.main``.

Each run starts its own Ray cluster: these are the slowest tests of the default suite (~1-2 min each).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from tests.conftest import run_sppo_main, tiny_overrides

pytestmark = [pytest.mark.ray, pytest.mark.timeout(900)]

CRITIC_METRICS = (
    "critic/bce_loss",
    "critic/sigmoid_v_mean",
    "critic/brier",
    "critic/ece",
    "critic/explained_var",
    "critic/grad_norm",
)


def _finite(rows, key):
    return all(math.isfinite(r["data"][key]) for r in rows)


def _state(ckpt: Path, role: str) -> dict[str, torch.Tensor]:
    shards = sorted((ckpt / role).glob("model_world_size_*_rank_*.pt"))
    assert shards, f"no model shard under {ckpt / role}"
    state = torch.load(shards[0], map_location="cpu", weights_only=False)
    return {k: (v.to_local() if hasattr(v, "to_local") else v).clone() for k, v in state.items()}


def test_sppo_trains_on_cpu_and_resumes_exactly(tiny_task, tmp_path):
    out = tmp_path / "sppo"
    first = run_sppo_main(tiny_overrides(tiny_task, out, steps=2) + ["trainer.save_freq=2"], out)
    assert first.returncode == 0, first.log[-4000:]
    assert "Platform override from VERL_PLATFORM: cpu" in first.log
    assert "LLMServerManager: ['hf-rollout-0']" in first.log
    assert [r["step"] for r in first.steps] == [1, 2]
    for key in ("actor/pg_loss", "critic/score/mean", *CRITIC_METRICS):
        assert key in first.steps[0]["data"], key
        assert _finite(first.steps, key), key
    d = first.steps[0]["data"]
    # the advantage is R - sigmoid(V) on every token: its batch mean is mean R - mean sigmoid(V)
    assert 0.0 < d["critic/sigmoid_v_mean"] < 1.0
    assert d["critic/prompt_tokens_mean"] < 32  # the critic read prompts only
    step2 = out / "ckpt" / "global_step_2"
    actor_2, critic_2 = _state(step2, "actor"), _state(step2, "critic")

    # Resume: step 3 with the actor update skipped (critic_warmup) and no critic epochs, then save.
    # Weights at step 3 equal the restored step-2 weights exactly iff both were restored.
    second = run_sppo_main(
        tiny_overrides(tiny_task, out, steps=3)
        + ["trainer.save_freq=1", "trainer.resume_mode=auto", "trainer.critic_warmup=100", "critic.ppo_epochs=0"],
        out / "resume",
    )
    assert second.returncode == 0, second.log[-4000:]
    assert [r["step"] for r in second.steps] == [3]
    step3 = out / "ckpt" / "global_step_3"
    for name, before, after in (
        ("actor", actor_2, _state(step3, "actor")),
        ("critic", critic_2, _state(step3, "critic")),
    ):
        assert before.keys() == after.keys()
        for key in before:
            assert torch.equal(before[key], after[key]), f"{name} weight {key} changed across resume"
    assert (out / "ckpt" / "latest_checkpointed_iteration.txt").read_text().strip() == "3"


def test_gae_baseline_runs_stock_verl_and_stops_on_the_time_budget(tiny_task, tmp_path):
    out = tmp_path / "gae"
    overrides = tiny_overrides(tiny_task, out, steps=50, estimator="gae") + ["sppo.max_train_seconds=0.001"]
    result = run_sppo_main(overrides, out)
    assert result.returncode == 0, result.log[-4000:]
    # the budget is spent during step 1, so step 2 is the last of the 50 requested
    assert [r["step"] for r in result.steps] == [1, 2]
    assert "sppo.max_train_seconds=0.001 reached" in result.log
    d = result.steps[-1]["data"]
    assert "critic/vf_loss" in d and math.isfinite(d["critic/vf_loss"])  # verl's own value loss
    assert "critic/bce_loss" not in d
