"""The held-out critic-quality metrics (sppo/critic_quality.py), against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from sppo.critic_quality import (
    auc,
    average_ranks,
    explained_variance,
    group_ceiling_auc,
    heldout_critic_metrics,
    pearson,
    spearman,
)


def test_average_ranks_share_tied_positions():
    assert average_ranks([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]
    assert average_ranks([7, 7, 7]).tolist() == [2.0, 2.0, 2.0]


def test_spearman_with_ties_by_hand():
    # ranks x = [1, 2.5, 2.5, 4], ranks y = [1, 3, 2, 4]: sum dxdy = 4.5, sum dx^2 = 4.5, sum dy^2 = 5
    assert spearman([0.1, 0.4, 0.4, 0.9], [0, 0.5, 0.25, 1]) == pytest.approx(4.5 / math.sqrt(4.5 * 5))
    assert spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3], [5, 5, 5]) is None  # a constant side has no correlation
    assert spearman([1], [2]) is None


def test_pearson_by_hand():
    # dx = [.3, 0, -.3], dy = [5/12, -1/12, -1/3]: sum dxdy = .225, sum dx^2 = .18, sum dy^2 = 7/24
    assert pearson([0.8, 0.5, 0.2], [0.75, 0.25, 0.0]) == pytest.approx(0.225 / math.sqrt(0.18 * 7 / 24))
    with pytest.raises(ValueError):
        pearson([1, 2], [1, 2, 3])


def test_auc_counts_pairs_and_half_ties():
    # positives 0.9, 0.7 against negatives 0.8, 0.6: 3 of 4 pairs ordered
    assert auc([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0]) == pytest.approx(0.75)
    # the positive ties one negative (1/2) and beats the other (1)
    assert auc([0.5, 0.5, 0.2], [1, 0, 0]) == pytest.approx(0.75)
    assert auc([0.1, 0.9], [0, 1]) == 1.0 and auc([0.9, 0.1], [0, 1]) == 0.0
    assert auc([0.3, 0.4], [1, 1]) is None  # one class only


def test_heldout_metrics_per_prompt_sample_and_group():
    probs = {"a": 0.8, "b": 0.5, "c": 0.2, "unsampled": 0.9}
    outcomes = {"a": [1, 1, 1, 0], "b": [1, 0, 0, 0], "c": [0, 0, 0, 0]}
    groups = {"a": "k2", "b": "k2", "c": "k4", "unsampled": "k4"}
    m = heldout_critic_metrics(probs, outcomes, groups)
    assert m["val-critic/prompts"] == 3 and m["val-critic/samples_per_prompt_min"] == 4
    assert m["val-critic/spearman"] == pytest.approx(1.0)
    assert m["val-critic/pearson"] == pytest.approx(0.225 / math.sqrt(0.18 * 7 / 24))
    # positives: three at 0.8, one at 0.5; negatives: one at 0.8, three at 0.5, four at 0.2
    # 3 x (0.5 + 3 + 4) + (0 + 1.5 + 4) = 28 of 4 x 8 pairs
    assert m["val-critic/auc"] == pytest.approx(28 / 32)
    # the prompt ceiling scores samples 0.75 (a), 0.25 (b), 0 (c): the critic's order, so the same 28 of 32 pairs
    assert m["val-critic/auc_ceiling"] == pytest.approx(28 / 32)
    # the group ceiling scores a's and b's samples 0.5 (k2: 4 of 8), c's 0: each of the 4 positives ties the 4 k2
    # negatives (2) and beats the 4 at k4 (4): 24 of 32 pairs
    assert m["val-critic/auc_group_ceiling"] == pytest.approx(24 / 32)
    # the same as from the group success rates alone (what the study's records keep)
    assert m["val-critic/auc_group_ceiling"] == pytest.approx(
        group_ceiling_auc({"k2": 0.5, "k4": 0.0}, {"k2": 8, "k4": 4})
    )
    assert m["val-critic/k2/sigmoid_v_mean"] == pytest.approx(0.65)
    assert m["val-critic/k2/success_mean"] == pytest.approx(0.5)
    assert (m["val-critic/k4/sigmoid_v_mean"], m["val-critic/k4/success_mean"]) == (pytest.approx(0.2), 0.0)
    assert heldout_critic_metrics(probs, {}, groups) == {}


def test_group_ceiling_from_group_success_rates():
    # 2 of 4 solved at 0.5, 1 of 4 at 0.25: the positives at 0.5 tie 2 negatives (1) and beat 3 (3) -> 4 each;
    # the one at 0.25 ties 3 (1.5): (8 + 1.5) / (3 x 5)
    assert group_ceiling_auc({"a": 0.5, "b": 0.25}, {"a": 4, "b": 4}) == pytest.approx(9.5 / 15)
    assert group_ceiling_auc({"a": 1.0}, {"a": 3}) is None


def test_undefined_correlations_are_left_out_not_zero():
    m = heldout_critic_metrics({"a": 0.5, "b": 0.5}, {"a": [1], "b": [0]}, {"a": "g", "b": "g"})
    assert "val-critic/spearman" not in m and "val-critic/pearson" not in m
    assert m["val-critic/auc"] == 0.5


def test_explained_variance_hand_values():
    target = torch.tensor([0.0, 0.0, 1.0, 1.0])  # Var = 0.25
    assert explained_variance(target, target) == 1.0
    assert explained_variance(torch.full((4,), 0.5), target) == 0.0  # a constant prediction explains nothing
    # residuals (0, −0.5, 0.5, 0): Var 0.125
    assert explained_variance(torch.tensor([0.0, 0.5, 0.5, 1.0]), target) == 0.5
    # residuals (−1, −1, 1, 1): Var 1, four times Var(target): worse than any constant
    assert explained_variance([1.0, 1.0, 0.0, 0.0], [0, 0, 1, 1]) == -3.0
    # a tensor that requires grad (a critic's output) is read without its graph
    assert explained_variance(torch.tensor([0.0, 0.5, 0.5, 1.0], requires_grad=True), target) == 0.5
    with pytest.raises(ValueError, match="3 predictions against 4 targets"):
        explained_variance([0.0, 0.5, 1.0], target)


def test_explained_variance_is_nan_without_target_variance():
    for pred, target in (([0.2, 0.4], [0.0, 0.0]), ([0.3], [1.0]), ([], [])):
        assert math.isnan(explained_variance(torch.tensor(pred), torch.tensor(target))), (pred, target)
