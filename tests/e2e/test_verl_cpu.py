"""The real verl trainer on CPU (Ray, FSDP2 on gloo, hf rollout), through ``python -m sppo.main``.

Each launch starts its own Ray cluster and costs minutes on 2 cores (every Ray worker imports verl), so one SPPO
launch covers the GPU scripts' layout at once: two data-parallel ranks (two FSDP2 worker processes on gloo),
remove-padding on (sppo/configs/platform/cpu.yaml), the user's critic micro-batching, critic-guided prompt selection, and
a critic of another model family that reads its own tokenization of each prompt (sppo.critic_retokenize); a second
launch resumes it from its checkpoint.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from tests.conftest import run_sppo_main, tiny_overrides

pytestmark = [pytest.mark.ray, pytest.mark.timeout(1200)]

CRITIC_METRICS = (
    "critic/bce_loss",
    "critic/sigmoid_v_mean",
    "critic/brier",
    "critic/ece",
    "critic/explained_var",
    "critic/grad_norm",
)
# two-digit operands only: every prompt has the same length under each tokenizer (a different one per tokenizer),
# so the critic's mean prompt length is known whichever prompts the selection keeps
PAIRS = [(12, 34), (56, 78), (90, 11), (23, 45), (67, 89), (10, 32), (54, 76), (98, 21)]


def _finite(rows, key):
    """Finite at every step; the explained variance of R is undefined (NaN, written as null by verl's file logger)
    exactly at the steps whose rewards are all equal (sppo.critic_quality.explained_variance)."""
    for r in rows:
        d = r["data"]
        if key == "critic/explained_var" and d["critic/score/max"] == d["critic/score/min"]:
            if d[key] is not None:
                return False
        elif d[key] is None or not math.isfinite(d[key]):
            return False
    return True


def _state(ckpt: Path, role: str) -> dict[str, torch.Tensor]:
    shards = sorted((ckpt / role).glob("model_world_size_*_rank_*.pt"))
    assert shards, f"no model shard under {ckpt / role}"
    state = torch.load(shards[0], map_location="cpu", weights_only=False)
    return {k: (v.to_local() if hasattr(v, "to_local") else v).clone() for k, v in state.items()}


def _replace(overrides: list[str], **values: str) -> list[str]:
    keys = {k.replace("__", "."): v for k, v in values.items()}
    kept = [o for o in overrides if o.split("=", 1)[0] not in keys]
    return kept + [f"{k}={v}" for k, v in keys.items()]


def _prompt_lengths(path: str, prompts: list) -> set[int]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    return {
        len(tok.apply_chat_template(list(p), add_generation_prompt=True, tokenize=True, return_dict=False))
        for p in prompts
    }


def _mean_bce(probs: list[float], outcomes: list[float]) -> float:
    return -sum(r * math.log(p) + (1 - r) * math.log(1 - p) for p, r in zip(probs, outcomes)) / len(probs)


def _two_rank_overrides(tiny_task, critic: str, data: Path, out: Path, steps: int) -> list[str]:
    return _replace(
        tiny_overrides(tiny_task, out, steps=steps),
        data__train_files=str(data),
        data__val_files=str(data),
        data__max_prompt_length="64",
        critic__model__path=critic,
    ) + [
        "sppo.critic_retokenize=true",
        "trainer.n_gpus_per_node=2",
        "ray_kwargs.ray_init.num_gpus=2",
        # 4 sequences per rank per step: update micro-batches of 2; a forward micro-batch of 3 divides neither
        # the step's 4 rows per rank nor the pool's 12, so both are padded (sppo/trainer/critic.py _critic_logits)
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=2",
        "critic.use_dynamic_bsz=False",
        "critic.ppo_micro_batch_size_per_gpu=2",
        "critic.forward_micro_batch_size_per_gpu=3",
        "sppo.prompt_selection.enable=true",
        "sppo.prompt_selection.pool_factor=3",
        "sppo.prompt_selection.band=[0.0,0.5]",
        "sppo.prompt_selection.explore_fraction=0.0",
    ]


@pytest.mark.timeout(2400)  # two launches
def test_two_ranks_other_family_critic_and_prompt_selection_train_then_resume_exactly(
    tiny_task, other_family_critic, tmp_path
):
    from sppo_lab.quickstart import task

    data = tmp_path / "train.parquet"
    pd.DataFrame(task.rows(PAIRS, "train")).to_parquet(data)
    prompts = [list(p) for p in pd.read_parquet(data)["prompt"]]
    (critic_len,) = _prompt_lengths(other_family_critic, prompts)
    (policy_len,) = _prompt_lengths(tiny_task.policy, prompts)
    assert abs(critic_len - policy_len) > 5, (critic_len, policy_len)

    out = tmp_path / "sppo"
    calib = out / "calibration.jsonl"
    first = run_sppo_main(
        _two_rank_overrides(tiny_task, other_family_critic, data, out, steps=2)
        + ["trainer.save_freq=2", f"sppo.calibration_log={calib}"],
        out,
    )
    assert first.returncode == 0, first.log[-4000:]
    assert "Platform override from VERL_PLATFORM: cpu" in first.log
    assert "LLMServerManager: ['hf-rollout-0'" in first.log
    assert "'use_remove_padding': True" in first.log
    assert [r["step"] for r in first.steps] == [1, 2]
    # hydra's record of the launch lives with the run's checkpoints, not in the working directory
    assert list((out / "ckpt" / "hydra").glob("*/.hydra/overrides.yaml"))
    for key in ("actor/pg_loss", "critic/score/mean", *CRITIC_METRICS):
        assert key in first.steps[0]["data"], key
        assert _finite(first.steps, key), key
    logged = {row["step"]: row for row in map(json.loads, calib.read_text().splitlines())}
    assert "SPPO: SPPOTrainer (sync) with the prompt-only BCE critic" in first.log
    for row in first.steps:
        d = row["data"]
        assert 0.0 < d["critic/sigmoid_v_mean"] < 1.0
        assert d["training/off_policy/trajectory_staleness_worst/max"] == 0  # sync: every sample from current weights
        # the critic read its own tokenization of every prompt (prompts only), not the policy's ids
        assert d["critic/prompt_tokens_mean"] == critic_len
        probs, outcomes = logged[row["step"]]["p"], logged[row["step"]]["r"]
        assert len(probs) == 8
        # One critic mini-batch and one epoch: the loss is taken at the weights that produced σ(V), so the logged
        # BCE is the mean BCE of the step's (σ(V), R) (σ(V) logged to 5 decimals), on 2 ranks as on 1.
        assert d["critic/bce_loss"] == pytest.approx(_mean_bce(probs, outcomes), abs=2e-4)
        assert d["prompt_selection/pool_size"] == 24.0  # 3 x train_batch_size 8, scored over 2 ranks
        shortfall = d["prompt_selection/shortfall"]
        assert sum(p > 0.5 + 1e-4 for p in probs) <= shortfall <= sum(p > 0.5 - 1e-4 for p in probs)
    step2 = out / "ckpt" / "global_step_2"
    actor_2, critic_2 = _state(step2, "actor"), _state(step2, "critic")

    # Resume: step 3 with the actor update skipped (critic_warmup) and no critic epochs, then save.
    # Weights at step 3 equal the restored step-2 weights exactly iff both were restored.
    second = run_sppo_main(
        _two_rank_overrides(tiny_task, other_family_critic, data, out, steps=3)
        + ["trainer.save_freq=1", "trainer.resume_mode=auto", "trainer.critic_warmup=100", "critic.ppo_epochs=0"]
        # verl's validation on the restored weights, with SPPO's held-out critic metrics beside it
        + [
            "trainer.val_before_train=True",
            "actor_rollout_ref.rollout.val_kwargs.n=2",
            "actor_rollout_ref.rollout.val_kwargs.do_sample=True",
        ],
        out / "resume",
    )
    assert second.returncode == 0, second.log[-4000:]
    assert [r["step"] for r in second.steps] == [3]
    (val,) = [r["data"] for r in second.metrics if "val-critic/prompts" in r["data"]]
    assert val["val-critic/prompts"] == len(prompts) and val["val-critic/samples_per_prompt_min"] == 2
    assert 0.0 < val["val-critic/sppo_addition/sigmoid_v_mean"] < 1.0
    # the per-prompt success rates SPPO pairs with σ(V) average to verl's own mean@2 accuracy
    assert val["val-critic/sppo_addition/success_mean"] == pytest.approx(val["val-core/sppo_addition/acc/mean@2"])
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
