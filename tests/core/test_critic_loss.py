"""BCE critic loss: exact gradients, micro-batch invariance, calibration metrics."""

import math

import pytest
import torch
from tensordict import TensorDict
from verl.utils import tensordict_utils as tu

from sppo.critic_loss import calibration_metrics, last_token_logits, sppo_value_loss, weighted_bce_sum


def test_bce_gradient_is_sigmoid_minus_reward():
    v = torch.tensor([0.0, 2.0, -1.0, 0.3], requires_grad=True)
    r = torch.tensor([1.0, 0.0, 1.0, 0.0])
    w = torch.tensor([1.0, 1.0, 1.0, 0.0])
    weighted_bce_sum(v, r, w).backward()
    expected = (torch.sigmoid(v.detach()) - r) * w
    assert torch.allclose(v.grad, expected, atol=1e-7)
    assert v.grad.tolist() == pytest.approx([-0.5, 0.880797, -0.731059, 0.0], abs=1e-6)


def test_bce_value_hand_computed():
    v = torch.tensor([0.0])
    assert weighted_bce_sum(v, torch.tensor([1.0]), torch.tensor([1.0])).item() == pytest.approx(math.log(2))


def _nested(rows):
    return torch.nested.as_nested_tensor([torch.tensor(r, dtype=torch.float32) for r in rows], layout=torch.jagged)


def test_last_token_logits_reads_last_prompt_position():
    values = _nested([[9.0, 9.0, 0.5], [1.5], [7.0, -2.0]])
    assert last_token_logits(values).tolist() == [0.5, 1.5, -2.0]


def _loss(values_rows, targets, weights, batch_num_tokens, dp_size=1):
    data = TensorDict(
        {"sppo_target": torch.tensor(targets), "sppo_weight": torch.tensor(weights)}, batch_size=len(targets)
    )
    tu.assign_non_tensor(data, dp_size=dp_size, batch_num_tokens=batch_num_tokens)
    loss, metrics = sppo_value_loss(None, {"values": _nested(values_rows)}, data)
    return loss, metrics


def test_loss_is_mean_over_real_rows_and_invariant_to_micro_batching():
    rows = [[0.1, 0.0], [3.0, 2.0], [-1.0], [5.0, 0.7]]
    targets, weights = [1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 0.0]
    full, metrics = _loss(rows, targets, weights, batch_num_tokens=3)
    v = torch.tensor([0.0, 2.0, -1.0])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(v, torch.tensor([1.0, 0.0, 1.0]))
    assert full.item() == pytest.approx(expected.item(), rel=1e-6)
    part1, _ = _loss(rows[:1], targets[:1], weights[:1], batch_num_tokens=3)
    part2, _ = _loss(rows[1:], targets[1:], weights[1:], batch_num_tokens=3)
    assert (part1 + part2).item() == pytest.approx(full.item(), rel=1e-6)
    assert metrics["critic/bce_loss"].aggregate() == pytest.approx(expected.item(), rel=1e-5)


def test_loss_scaled_by_dp_size_so_averaged_gradients_match():
    rows, targets, weights = [[0.0]], [1.0], [1.0]
    one, _ = _loss(rows, targets, weights, batch_num_tokens=2, dp_size=2)
    assert one.item() == pytest.approx(math.log(2) / 2 * 2)


def test_logged_bce_is_the_true_mean_on_two_dp_ranks():
    """verl averages each rank's SUM-aggregated metric over ranks (Metric.aggregate_dp): the logged value must
    then be the global mini-batch mean BCE, not 1/dp of it."""
    from verl.utils.metric import Metric

    v = torch.tensor([0.0, 2.0, -1.0, 0.5])
    r = torch.tensor([1.0, 0.0, 1.0, 1.0])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(v, r).item()  # mean over the 4 sequences
    # rank 0 holds rows 0-1 as two micro-batches, rank 1 holds rows 2-3 as two micro-batches
    per_rank = []
    for rows in ((0, 1), (2, 3)):
        metric = Metric(aggregation="sum")
        for i in rows:
            _, m = _loss([[v[i].item()]], [r[i].item()], [1.0], batch_num_tokens=4, dp_size=2)
            metric.append(m["critic/bce_loss"].values[0])
        per_rank.append(metric)
    assert Metric.aggregate_dp(per_rank) == pytest.approx(expected, rel=1e-6)


def test_calibration_metrics_hand_computed():
    p = torch.tensor([0.1, 0.1, 0.9, 0.9])
    r = torch.tensor([0.0, 1.0, 1.0, 1.0])
    m = calibration_metrics(p, r, n_bins=10)
    assert m["sigmoid_v_mean"] == pytest.approx(0.5)
    assert m["brier"] == pytest.approx((0.01 + 0.81 + 0.01 + 0.01) / 4)
    # bin 1: mean p 0.1 vs mean R 0.5 (weight 1/2); bin 9: 0.9 vs 1.0 (weight 1/2)
    assert m["ece"] == pytest.approx(0.5 * 0.4 + 0.5 * 0.1)
    # Var(R) = 0.1875; R − p = (−0.1, 0.9, 0.1, 0.1), mean 0.25, Var = (0.1225 + 0.4225 + 2 · 0.0225) / 4 = 0.1475
    assert m["explained_var"] == pytest.approx(1 - 0.1475 / 0.1875)  # 16/75


def test_calibration_of_a_constant_outcome_leaves_explained_variance_undefined():
    m = calibration_metrics(torch.tensor([0.2, 0.4]), torch.tensor([0.0, 0.0]))
    assert math.isnan(m["explained_var"]) and m["brier"] == pytest.approx((0.04 + 0.16) / 2)
