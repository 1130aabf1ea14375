"""The SPPO estimator on hand-computed numbers, through verl's own registry and compute_advantage."""

import math

import pytest
import torch
from verl import DataProto
from verl.trainer.ppo.core_algos import get_adv_estimator_fn
from verl.trainer.ppo.ray_trainer import compute_advantage

import sppo.advantage  # noqa: F401
from sppo.advantage import compute_sppo_advantage


def sig(x):
    return 1.0 / (1.0 + math.exp(-x))


# 4 sequences, response length 3; reward on the last valid token; row 3 is a synthetic padding row.
MASK = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=torch.float32)
REWARDS = torch.tensor([[0, 0, 1.0], [0, 0.0, 0], [1.0, 0, 0], [0, 0, 0]])
LOGITS = [0.0, 2.0, -1.0, 0.5]
P = torch.tensor([sig(v) for v in LOGITS])


def opts(**kw):
    return {"sppo": kw}


def test_registry_resolves_both_names():
    assert get_adv_estimator_fn("sppo") is compute_sppo_advantage
    assert get_adv_estimator_fn("sequence_level_adv") is compute_sppo_advantage


def test_residual_default_matches_hand_computation():
    adv, ret = compute_sppo_advantage(REWARDS, MASK, config=opts(), reward_baselines=P)
    expected_seq = [1 - sig(0.0), 0 - sig(2.0), 1 - sig(-1.0), 0.0]
    assert [round(x, 6) for x in expected_seq] == [0.5, -0.880797, 0.731059, 0.0]
    for i, a in enumerate(expected_seq):
        assert torch.allclose(adv[i], torch.tensor(a) * MASK[i], atol=1e-6)
    assert torch.equal(ret, torch.tensor([[1.0, 1, 1], [0, 0, 0], [1, 0, 0], [0, 0, 0]]))
    # no normalisation by default: the batch mean is not forced to 0
    assert adv[:3, 0].sum().item() == pytest.approx(0.5 - 0.880797 + 0.731059, abs=1e-5)


def test_through_verl_compute_advantage_with_reward_baselines():
    data = DataProto.from_dict(tensors={"token_level_rewards": REWARDS, "response_mask": MASK, "reward_baselines": P})
    out = compute_advantage(data, adv_estimator="sppo", config=opts())
    assert out.batch["advantages"][:, 0].tolist() == pytest.approx([0.5, -0.880797, 0.731059, 0.0], abs=1e-6)
    assert out.batch["advantages"][1, 2].item() == 0.0  # masked padding token


def test_bernoulli_standardised_residual():
    adv, _ = compute_sppo_advantage(REWARDS, MASK, config=opts(advantage="bernoulli"), reward_baselines=P)
    for i in range(3):
        r = REWARDS[i].sum().item()
        p = sig(LOGITS[i])
        assert adv[i, 0].item() == pytest.approx((r - p) / math.sqrt(p * (1 - p)), rel=1e-5)
    # p = 0.5, R = 1: (1 - 0.5) / 0.5 = 1 exactly
    assert adv[0, 0].item() == pytest.approx(1.0, abs=1e-6)


def test_bernoulli_epsilon_keeps_saturated_baseline_finite():
    p = torch.tensor([1.0, 0.0])
    rewards = torch.tensor([[0.0], [1.0]])
    adv, _ = compute_sppo_advantage(
        rewards, torch.ones(2, 1), config=opts(advantage="bernoulli", eps=1e-4), reward_baselines=p
    )
    assert adv[:, 0].tolist() == pytest.approx([-1 / math.sqrt(1e-4), 1 / math.sqrt(1e-4)])


def test_whitening_over_valid_rows_only():
    adv, _ = compute_sppo_advantage(REWARDS, MASK, config=opts(whiten=True), reward_baselines=P)
    raw = torch.tensor([0.5, -0.8807971, 0.7310586])
    expected = (raw - raw.mean()) / (raw.std(unbiased=True) + 1e-8)
    assert torch.allclose(adv[:3, 0], expected, atol=1e-5)
    assert adv[3].abs().sum() == 0


def test_reward_range_maps_onto_unit_interval():
    rewards = torch.tensor([[0.0, 1.0], [0.0, -1.0]])
    adv, ret = compute_sppo_advantage(
        rewards, torch.ones(2, 2), config=opts(reward_range=[-1, 1]), reward_baselines=torch.tensor([0.5, 0.5])
    )
    assert ret[:, 0].tolist() == [1.0, 0.0]
    assert adv[:, 0].tolist() == [0.5, -0.5]


@pytest.mark.parametrize("bad", [2.0, -1.0, float("nan")])
def test_rewards_outside_unit_interval_name_the_value(bad):
    rewards = torch.tensor([[0.0, bad], [0.0, 1.0]])
    with pytest.raises(ValueError, match="SPPO needs outcome rewards in \\[0, 1\\]; got"):
        compute_sppo_advantage(rewards, torch.ones(2, 2), config=opts(), reward_baselines=torch.tensor([0.5, 0.5]))
    if bad == 2.0:
        with pytest.raises(ValueError, match="got 2"):
            compute_sppo_advantage(rewards, torch.ones(2, 2), config=opts(), reward_baselines=torch.tensor([0.5, 0.5]))


def test_missing_baseline_is_a_clear_error():
    with pytest.raises(ValueError, match="needs reward_baselines"):
        compute_sppo_advantage(REWARDS, MASK, config=opts())


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match="residual"):
        compute_sppo_advantage(REWARDS, MASK, config=opts(advantage="gae"), reward_baselines=P)


def test_a_reward_error_raised_in_a_ray_worker_becomes_one_line():
    """sppo.main prints the estimator's message as one line even when Ray wraps it in its own error text
    (the end-to-end run of this, with a reward of 2.0 through Ray, is in the slow lane)."""
    from sppo.main import _sppo_error_message

    with pytest.raises(ValueError) as err:
        compute_sppo_advantage(REWARDS * 2.0, MASK, config=opts(), reward_baselines=P)

    class RayTaskError(Exception):  # what Ray raises in the driver: the worker's traceback as text, cause chained
        pass

    wrapped = RayTaskError(f"ray::SPPOTaskRunner.run() (pid=1)\n  File ...\n{type(err.value).__name__}: {err.value}")
    message = _sppo_error_message(wrapped)
    assert message == str(err.value)
    assert message.startswith("SPPO needs outcome rewards in [0, 1]; got 2 (2 of 4 sequences)")


def test_no_baseline_is_the_raw_outcome_on_every_response_token():
    """A = R: the control arm. Hand values: rows 0 and 2 solved (1 on each of their tokens), row 1 not, row 3 padding."""
    data = DataProto.from_dict(tensors={"token_level_rewards": REWARDS, "response_mask": MASK})
    out = compute_advantage(data, adv_estimator="no_baseline", config=opts())
    expected = torch.tensor([[1.0, 1, 1], [0, 0, 0], [1, 0, 0], [0, 0, 0]])
    assert torch.equal(out.batch["advantages"], expected)
    assert torch.equal(out.batch["returns"], expected)
    # no critic, no batch statistic: the same row gets the same advantage whatever the rest of the batch holds
    alone = compute_advantage(
        DataProto.from_dict(tensors={"token_level_rewards": REWARDS[:1], "response_mask": MASK[:1]}),
        adv_estimator="no_baseline",
        config=opts(),
    )
    assert torch.equal(alone.batch["advantages"], expected[:1])


def test_no_baseline_maps_and_checks_the_reward_range_as_sppo_does():
    rewards = REWARDS * 2  # 0/2 rewards
    adv, _ = get_adv_estimator_fn("no_baseline")(rewards, MASK, config=opts(reward_range=[0, 2]))
    assert adv[:, 0].tolist() == [1.0, 0.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="outcome rewards in \\[0, 1\\]; got 2"):
        get_adv_estimator_fn("no_baseline")(rewards, MASK, config=opts())
