"""The GPU scripts' layout on CPU: two data-parallel ranks (two FSDP2 worker processes on gloo), remove-padding on
(configs/platform/cpu.yaml), the user's critic micro-batching, and prompt selection, through ``python -m sppo.main``."""

from __future__ import annotations

import json
import math

import pytest

from tests.conftest import run_sppo_main, tiny_overrides

pytestmark = [pytest.mark.ray, pytest.mark.timeout(900)]


def _mean_bce(probs: list[float], outcomes: list[float]) -> float:
    return -sum(r * math.log(p) + (1 - r) * math.log(1 - p) for p, r in zip(probs, outcomes)) / len(probs)


def test_two_ranks_log_the_true_bce_and_split_the_selection_pool(tiny_task, tmp_path):
    out = tmp_path / "dp2"
    calib = out / "calibration.jsonl"
    overrides = tiny_overrides(tiny_task, out, steps=2) + [
        "trainer.n_gpus_per_node=2",
        "ray_kwargs.ray_init.num_gpus=2",
        # 4 sequences per rank per step: update micro-batches of 2; a forward micro-batch of 3 divides neither
        # the step's 4 rows per rank nor the pool's 12, so both are padded (sppo/trainer.py _critic_logits)
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=2",
        "critic.use_dynamic_bsz=False",
        "critic.ppo_micro_batch_size_per_gpu=2",
        "critic.forward_micro_batch_size_per_gpu=3",
        "sppo.prompt_selection.enable=true",
        "sppo.prompt_selection.pool_factor=3",
        "sppo.prompt_selection.band=[0.0,0.5]",
        "sppo.prompt_selection.explore_fraction=0.0",
        f"sppo.calibration_log={calib}",
    ]
    result = run_sppo_main(overrides, out)
    assert result.returncode == 0, result.log[-4000:]
    assert [r["step"] for r in result.steps] == [1, 2]
    assert "'use_remove_padding': True" in result.log
    # hydra's record of the launch lives with the run's checkpoints, not in the working directory
    assert list((out / "ckpt" / "hydra").glob("*/.hydra/overrides.yaml"))
    logged = {row["step"]: row for row in map(json.loads, calib.read_text().splitlines())}
    for row in result.steps:
        d = row["data"]
        probs, outcomes = logged[row["step"]]["p"], logged[row["step"]]["r"]
        assert len(probs) == 8
        # One critic mini-batch and one epoch: the loss is taken at the weights that produced σ(V), so the logged
        # BCE is the mean BCE of the step's (σ(V), R) (σ(V) logged to 5 decimals), on 2 ranks as on 1.
        assert d["critic/bce_loss"] == pytest.approx(_mean_bce(probs, outcomes), abs=2e-4)
        assert d["prompt_selection/pool_size"] == 24.0  # 3 x train_batch_size 8, scored over 2 ranks
        shortfall = d["prompt_selection/shortfall"]
        assert sum(p > 0.5 + 1e-4 for p in probs) <= shortfall <= sum(p > 0.5 - 1e-4 for p in probs)
