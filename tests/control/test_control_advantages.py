"""The advantage estimators and the shared clipped surrogate on hand-computed numbers."""

import math

import pytest
import torch

from sppo_lab.control.common import clipped_surrogate
from sppo_lab.control.grpo import grpo_advantage
from sppo_lab.control.ppo import gae, sparse_rewards
from sppo_lab.control.sppo import sppo_advantage


def test_sppo_residual_advantage():
    # sigma(0) = 0.5, sigma(ln 3) = 0.75, sigma(-ln 3) = 0.25
    outcomes = torch.tensor([1.0, 0.0, 1.0, 0.0])
    logits = torch.tensor([0.0, math.log(3), -math.log(3), -math.log(3)])
    adv = sppo_advantage(outcomes, logits)
    assert adv.tolist() == pytest.approx([0.5, -0.75, 0.75, -0.25])


def test_sppo_bernoulli_advantage():
    outcomes = torch.tensor([1.0, 0.0])
    logits = torch.tensor([0.0, math.log(3)])
    adv = sppo_advantage(outcomes, logits, mode="bernoulli")
    # (1 - .5) / sqrt(.25) = 1 ; (0 - .75) / sqrt(.75 * .25) = -sqrt(3)
    assert adv.tolist() == pytest.approx([1.0, -math.sqrt(3)])
    with pytest.raises(ValueError, match="allowed: residual, bernoulli"):
        sppo_advantage(outcomes, logits, mode="bogus")


def test_sparse_rewards_on_last_step_only():
    r = sparse_rewards(torch.tensor([1.0, 0.0, 1.0]), torch.tensor([3, 2, 1]), 4)
    expected = torch.zeros(4, 3)
    expected[2, 0] = 1.0
    expected[0, 2] = 1.0
    assert torch.equal(r, expected)


def test_gae_on_sparse_terminal_reward_by_hand():
    gamma, lam = 0.9, 0.8
    # episode 0: 3 steps, R = 1, V = (.2, .4, .5); episode 1: 2 steps, R = 0, V = (.3, .1)
    mask = torch.tensor([[True, True], [True, True], [True, False]])
    values = torch.tensor([[0.2, 0.3], [0.4, 0.1], [0.5, 0.0]])
    rewards = sparse_rewards(torch.tensor([1.0, 0.0]), torch.tensor([3, 2]), 3)
    adv, ret = gae(rewards, values, mask, gamma, lam)
    # ep 0: d2 = 1 - .5 = .5; d1 = .9*.5 - .4 = .05; d0 = .9*.4 - .2 = .16
    #       A2 = .5; A1 = .05 + .72*.5 = .41; A0 = .16 + .72*.41 = .4552
    # ep 1: d1 = 0 - .1 = -.1; d0 = .9*.1 - .3 = -.21; A1 = -.1; A0 = -.21 + .72*(-.1) = -.282
    assert adv[:, 0].tolist() == pytest.approx([0.4552, 0.41, 0.5])
    assert adv[:, 1].tolist() == pytest.approx([-0.282, -0.1, 0.0])
    assert ret[:, 0].tolist() == pytest.approx([0.6552, 0.81, 1.0])
    assert ret[:, 1].tolist() == pytest.approx([0.018, 0.0, 0.0])


def test_gae_lambda1_gamma1_is_monte_carlo_and_gamma_decays_the_signal():
    T = 50
    mask = torch.ones(T, 1, dtype=torch.bool)
    values = torch.full((T, 1), 0.3)
    rewards = sparse_rewards(torch.tensor([1.0]), torch.tensor([T]), T)
    adv, _ = gae(rewards, values, mask, 1.0, 1.0)
    assert adv[:, 0].tolist() == pytest.approx([0.7] * T)  # R - V on every step
    # with V = 0 the first step only sees gamma^(T-1) of the terminal reward
    adv, _ = gae(rewards, torch.zeros(T, 1), mask, 0.99, 1.0)
    assert adv[0, 0].item() == pytest.approx(0.99 ** (T - 1))


def test_grpo_group_normalisation():
    outcomes = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    adv = grpo_advantage(outcomes, group_size=4, eps=1e-6)
    # group 0: mean .25, unbiased std sqrt((.5625 + 3 * .0625) / 3) = .5
    assert adv[:4].tolist() == pytest.approx([0.75 / (0.5 + 1e-6)] + [-0.25 / (0.5 + 1e-6)] * 3)
    assert adv[4:].tolist() == [0.0, 0.0, 0.0, 0.0]  # identical outcomes: no signal
    adv = grpo_advantage(torch.tensor([1.0, 0.0]), group_size=2, eps=1e-6)
    s = math.sqrt(0.5)  # unbiased std of (1, 0)
    assert adv.tolist() == pytest.approx([0.5 / (s + 1e-6), -0.5 / (s + 1e-6)])


def test_clipped_surrogate_by_hand():
    old = torch.zeros(4)
    new = torch.log(torch.tensor([1.5, 1.5, 0.5, 1.1]))
    adv = torch.tensor([1.0, -1.0, 1.0, 2.0])
    loss, kl, clipfrac = clipped_surrogate(new, old, adv, 0.2)
    # per step: -min(r A, clip(r) A): -1.2, +1.5, -0.5, -2.2  -> mean -0.6
    assert loss.item() == pytest.approx((-1.2 + 1.5 - 0.5 - 2.2) / 4)
    assert clipfrac == pytest.approx(0.75)
    r = torch.tensor([1.5, 1.5, 0.5, 1.1])
    assert kl == pytest.approx(((r - 1) - r.log()).mean().item())
