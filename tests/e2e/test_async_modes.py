"""SPPO in verl's asynchronous v1 trainer modes, through ``python -m sppo.main`` on CPU (Ray, FSDP2, hf rollout).

colocate_async: partial rollouts, generation aborted at every weight update and resumed after it.
separate_async: a standalone rollout replica beside the trainer's, weights sent through sppo.cpu.checkpoint_engine
every ``parameter_sync_step`` mini-batches.
"""

from __future__ import annotations

import math

import pytest

from tests.conftest import run_sppo_main, tiny_overrides

pytestmark = [pytest.mark.ray, pytest.mark.timeout(1200)]

SPPO_METRICS = (
    "critic/bce_loss",
    "critic/sigmoid_v_mean",
    "critic/brier",
    "critic/ece",
    "critic/prompt_tokens_mean",
    "actor/pg_loss",
)
LAG = "training/off_policy/trajectory_staleness"


def _check_sppo_and_lag(steps: list[dict], n_steps: int) -> None:
    assert [r["step"] for r in steps] == list(range(1, n_steps + 1))
    for row in steps:
        d = row["data"]
        for key in SPPO_METRICS:
            assert key in d and math.isfinite(d[key]), key
        assert "critic/vf_loss" not in d  # SPPO's BCE critic, not verl's value loss
        assert 0.0 < d["critic/sigmoid_v_mean"] < 1.0
        assert d["critic/prompt_tokens_mean"] < 40  # prompts only (the a+b prompts are ~33 tokens)
        # policy-version lag of the samples trained on: weights versions behind the current step's
        lag_mean, lag_max = d[f"{LAG}/mean"], d[f"{LAG}/max"]
        assert 0 <= lag_mean <= lag_max <= row["step"]
        assert d[f"{LAG}_worst/max"] >= lag_max


def test_colocate_async_trains_the_sppo_critic_with_partial_rollouts(tiny_task, tmp_path):
    out = tmp_path / "colocate"
    overrides = tiny_overrides(tiny_task, out, steps=3) + ["trainer.v1.trainer_mode=colocate_async"]
    result = run_sppo_main(overrides, out)
    assert result.returncode == 0, result.log[-4000:]
    assert "SPPO: SPPOColocateAsyncTrainer (colocate_async) with the prompt-only BCE critic" in result.log
    _check_sppo_and_lag(result.steps, 3)
    # step 2's prompts went to the rollout before step 1's update (verl's prefetch window), so some of its samples
    # were generated, at least in part, by older weights than the ones it trains (always 0 in sync mode)
    assert result.steps[1]["data"][f"{LAG}_worst/max"] >= 1


def test_separate_async_trains_the_sppo_critic_from_a_standalone_replica(tiny_task, tmp_path):
    out = tmp_path / "separate"
    overrides = tiny_overrides(tiny_task, out, steps=2) + [
        "trainer.v1.trainer_mode=separate_async",
        "trainer.v1.separate_async.parameter_sync_step=2",  # 8 prompts per step = 2 x mini-batch 4
        "actor_rollout_ref.actor.ppo_mini_batch_size=4",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=4",  # old log-probs are taken per mini-batch
        "critic.ppo_mini_batch_size=4",
        "critic.ppo_micro_batch_size_per_gpu=4",
        "actor_rollout_ref.rollout.nnodes=1",
        "actor_rollout_ref.rollout.n_gpus_per_node=1",
        "ray_kwargs.ray_init.num_gpus=2",
    ]
    result = run_sppo_main(overrides, out)
    assert result.returncode == 0, result.log[-4000:]
    assert "SPPO: SPPOSeparateAsyncTrainer (separate_async) with the prompt-only BCE critic" in result.log
    assert "hf-rollout-1" in result.log  # the standalone replica after the trainer's colocated one
    _check_sppo_and_lag(result.steps, 2)
    # the standalone replica generated step 2's samples with the weights of before step 1's update
    assert result.steps[1]["data"][f"{LAG}_worst/max"] >= 1
