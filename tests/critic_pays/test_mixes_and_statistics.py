"""The critic-pays study's pure parts on hand-computed values: the mixes, η², leave-one-out baselines, each
baseline's advantages (verl's REINFORCE++ through its own function), and the estimator statistics."""

from __future__ import annotations

import math

import pytest
import torch

from sppo_lab.critic_pays import gradient_variance as gv
from sppo_lab.critic_pays import mixes
from sppo_lab.graded import task


def test_eta_squared_by_level_hand_values():
    # two equal halves at p = 0.9 and 0.1: mean 0.5, Var 0.16, p̄(1 - p̄) 0.25
    assert mixes.eta_squared([0.9, 0.1]) == pytest.approx(0.64)
    # shares: 0.75 at 1.0, 0.25 at 0.0 -> mean 0.75, Var 0.1875 = p̄(1 - p̄): the prompt explains everything
    assert mixes.eta_squared([1.0, 0.0], [0.75, 0.25]) == pytest.approx(1.0)
    assert mixes.eta_squared([0.3, 0.3, 0.3]) == 0.0
    assert mixes.eta_squared([0.0, 0.0]) == 0.0  # p̄ = 0: nothing to explain


def test_u_shaped_mix_is_at_least_half_explained_by_the_prompt_at_its_warm_start():
    """The committed boost report: η² ≥ 0.5 on the mix's shares (issue 26's requirement), k2 near-certain, k12 ~0."""
    import json

    report = json.loads((mixes.U_WARM_START_DIR / "boost_report.json").read_text())
    success = {int(k): v["success"] for k, v in report["levels"].items()}
    shares = mixes.MIXES["u_shaped"]
    assert sorted(success) == sorted(shares)
    assert mixes.eta_squared([success[k] for k in sorted(shares)], [shares[k] for k in sorted(shares)]) >= 0.5
    assert success[2] >= 0.9 and success[12] <= 0.05


def test_train_prompts_follow_the_mix_shares_exactly():
    prompts = mixes.train_prompts("u_shaped", n=1000)
    counts = {k: sum(len(p) == k for p in prompts) for k in mixes.levels("u_shaped")}
    assert counts == {2: 500, 4: 100, 6: 100, 8: 100, 10: 100, 12: 100}
    assert not any(task.is_held_out(p) for p in prompts)
    assert prompts == mixes.train_prompts("u_shaped", n=1000)  # deterministic


def test_held_out_prompts_of_the_original_levels_are_unchanged_by_an_appended_level():
    old = task.held_out_prompts(8)
    new = task.held_out_prompts(8, levels=mixes.levels("u_shaped"))
    assert new[: len(old)] == old and len(new) == len(old) + 8
    assert all(len(p) == 12 and task.is_held_out(p) for p in new[len(old) :])


def test_eta_squared_from_samples_removes_binomial_noise():
    # every prompt at p = 0.5 (2 of 4 solved): the per-prompt means do not vary -> 0
    assert gv.eta_squared_from_samples([[1, 0, 1, 0], [0, 1, 1, 0]]) == 0.0
    # prompts always / never solved: between-variance 0.25, noise 0 -> 1
    assert gv.eta_squared_from_samples([[1, 1], [0, 0]]) == pytest.approx(1.0)
    # p̂ = 1 and 0.5 with M = 2: mean 0.75, between 0.0625, noise (0 + 0.25) / 2 / 1 = 0.125 -> clipped at 0
    assert gv.eta_squared_from_samples([[1, 1], [1, 0]]) == 0.0
    # token weights: prompt A solved (2 responses x 1 token), B failed (2 x 3 tokens): weights 2 and 6
    # p̄ = 0.25, between = (2 * 0.5625 + 6 * 0.0625) / 8 = 0.1875 = p̄(1 - p̄) -> 1
    assert gv.eta_squared_from_samples([[1, 1], [0, 0]], [[1, 1], [3, 3]]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        gv.eta_squared_from_samples([[1], [0]])


def test_leave_one_out_baselines_hand_values():
    rewards = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0], dtype=torch.float64)
    sq = torch.tensor([1.0, 9.0, 2.0, 4.0, 4.0], dtype=torch.float64)
    prompt_of = torch.tensor([0, 0, 0, 1, 1])
    oracle, optimal = gv.leave_one_out_baselines(rewards, sq, prompt_of)
    # prompt 0: others of sample 0 are (0, 1) -> 0.5; of sample 1: (1, 1) -> 1; of sample 2: (1, 0) -> 0.5
    assert oracle.tolist() == [0.5, 1.0, 0.5, 0.0, 1.0]
    # b* over the others: sample 0: (0*9 + 1*2) / 11; sample 1: (1 + 2) / 3; sample 2: (1*1 + 0) / 10
    assert optimal.tolist() == pytest.approx([2 / 11, 1.0, 0.1, 0.0, 1.0])


def test_batch_advantages_of_each_baseline():
    r = torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=torch.float64)
    tokens = torch.tensor([1.0, 3.0, 1.0, 3.0], dtype=torch.float64)
    p = torch.tensor([0.8, 0.4, 0.5, 0.1], dtype=torch.float64)
    oracle = torch.tensor([0.9, 0.2, 0.6, 0.3], dtype=torch.float64)
    optimal = torch.tensor([0.1, 0.1, 0.2, 0.2], dtype=torch.float64)

    def adv(name):
        return gv.batch_advantages(name, r, tokens, p, oracle, optimal).tolist()

    assert adv("none") == [1.0, 0.0, 1.0, 0.0]
    assert adv("batch_mean") == [0.5, -0.5, 0.5, -0.5]
    std = math.sqrt(1 / 3)  # unbiased std of (0.5, -0.5, 0.5, -0.5)
    assert adv("whiten") == pytest.approx([0.5 / std, -0.5 / std, 0.5 / std, -0.5 / std], rel=1e-6)
    assert adv("critic") == pytest.approx([0.2, -0.4, 0.5, -0.1])
    assert adv("oracle") == pytest.approx([0.1, -0.2, 0.4, -0.3])
    assert adv("optimal") == pytest.approx([0.9, -0.1, 0.8, -0.2])
    residual = torch.tensor([0.2, -0.4, 0.5, -0.1])
    white = (residual - residual.mean()) / residual.std()
    assert adv("critic_whiten") == pytest.approx(white.tolist(), rel=1e-5)
    # verl's REINFORCE++ at N = 1: each token carries R, whitened over the batch's 8 tokens (token-weighted):
    # mean 2/8 = 0.25, unbiased token variance (2 * 0.5625 + 6 * 0.0625) / 7 = 1.5 / 7
    tok_std = math.sqrt(1.5 / 7)
    assert adv("reinforce_pp") == pytest.approx(
        [0.75 / tok_std, -0.25 / tok_std, 0.75 / tok_std, -0.25 / tok_std], rel=1e-4
    )


def test_estimator_statistics_on_a_two_direction_toy():
    """Correct responses score along e0 (small norm), wrong ones along e1 (large norm): with no baseline the wrong
    responses never enter the estimate, with any positive baseline they do -- the variance the issue predicts."""
    n_prompts, per = 32, 2
    rewards, sketches, prompt_of = [], [], []
    for x in range(n_prompts):
        for j in range(per):
            solved = j == 0
            rewards.append(1.0 if solved else 0.0)
            sketches.append([1.0, 0.0] if solved else [0.0, 10.0 * (1 if x % 2 else -1)])
            prompt_of.append(x)
    rewards = torch.tensor(rewards, dtype=torch.float64)
    sketches = torch.tensor(sketches, dtype=torch.float64)
    prompt_of = torch.tensor(prompt_of)
    tokens = torch.ones(len(rewards), dtype=torch.float64)
    critic = torch.full_like(rewards, 0.5)
    oracle, optimal = gv.leave_one_out_baselines(rewards, (sketches**2).sum(1), prompt_of)
    stats = gv.estimator_statistics(sketches, rewards, tokens, critic, oracle, optimal, prompt_of, batches=400)
    # none: only e0, Var(#solved)/16² = 4/256 ≈ 0.016; critic (b = 0.5): each wrong sample adds ±5 e1 / 16,
    # 16 samples x 0.5 x 25/256 ≈ 0.78 -- about 50x
    assert stats["none"]["variance"] == pytest.approx(4 / 256, rel=0.25)
    assert stats["critic"]["variance"] > 20 * stats["none"]["variance"]
    assert stats["none"]["variance_vs_none"] == 1.0
    # b* = 0 for every prompt (the solved sample has ‖s‖² 1 vs 100, and the other sample is the only one left)
    assert optimal.tolist() == [0.0, 1.0] * n_prompts
    assert stats["none"]["cosine_to_full_none"] > 0.99
