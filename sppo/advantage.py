"""SPPO's sequence-level advantage, and its no-baseline control, registered in verl's own estimator registry.

verl calls every non-GAE estimator with ``token_level_rewards``, ``response_mask``, ``config``
(the ``algorithm`` section), ``index`` (uids) and, when that key is in the batch,
``reward_baselines``. SPPO's trainer puts σ(V(s_p)) there (see ``sppo.trainer``), so the
estimator itself is a pure function of its arguments, like verl's ``core_algos`` estimators.

Options live under ``algorithm.sppo``: ``sppo.options.AdvantageOptions`` documents, parses and checks them.
"""

from __future__ import annotations

from typing import Any

import torch
from verl.trainer.ppo.core_algos import register_adv_est

from sppo.options import ADVANTAGE_MODES, AdvantageOptions

# Rewards this close outside [0, 1] are float noise, not a wrong reward function.
_RANGE_TOLERANCE = 1e-6


def sequence_reward(
    token_level_rewards: torch.Tensor, response_mask: torch.Tensor, reward_range: list | None = None
) -> torch.Tensor:
    """Outcome reward R of each sequence, mapped to [0, 1] and validated.

    Args:
        token_level_rewards: `(torch.Tensor)` shape `(bs, response_length)`; an outcome reward sits on one token.
        response_mask: `(torch.Tensor)` shape `(bs, response_length)`.
        reward_range: `None` if rewards are already in [0, 1], else `[lo, hi]` (hi > lo, checked by
            ``AdvantageOptions.problems``) mapped linearly onto [0, 1].

    Returns:
        `(torch.Tensor)` shape `(bs,)`: R in [0, 1].

    Raises:
        ValueError: a reward outside [0, 1] (after mapping), naming the offending value.
    """
    scores = (token_level_rewards * response_mask).sum(dim=-1)
    if reward_range is not None:
        lo, hi = float(reward_range[0]), float(reward_range[1])
        scores = (scores - lo) / (hi - lo)
    bad = (scores < -_RANGE_TOLERANCE) | (scores > 1 + _RANGE_TOLERANCE) | ~torch.isfinite(scores)
    if bad.any():
        first = scores[bad][0].item()
        hint = f" after mapping reward_range={list(reward_range)}" if reward_range is not None else ""
        raise ValueError(
            f"SPPO needs outcome rewards in [0, 1]; got {first:g}{hint} ({int(bad.sum())} of {len(scores)} sequences). "
            "Declare the reward's range with algorithm.sppo.reward_range=[lo,hi] to map it onto [0, 1]."
        )
    return scores.clamp(0.0, 1.0)


def sequence_advantage(
    rewards: torch.Tensor,
    baselines: torch.Tensor,
    valid: torch.Tensor,
    mode: str = "residual",
    eps: float = 1e-6,
    whiten: bool = False,
) -> torch.Tensor:
    """One advantage per sequence from R and p = σ(V(s_p)).

    Args:
        rewards: `(torch.Tensor)` shape `(bs,)`, R in [0, 1].
        baselines: `(torch.Tensor)` shape `(bs,)`, p in (0, 1).
        valid: `(torch.Tensor)` bool, shape `(bs,)`: rows with at least one response token.
        mode: ``residual`` → R − p; ``bernoulli`` → (R − p) / sqrt(max(p(1 − p), eps)).
        eps: floor on the Bernoulli variance.
        whiten: subtract the mean and divide by the std (unbiased) over valid rows.

    Returns:
        `(torch.Tensor)` shape `(bs,)`; invalid rows get 0.
    """
    if mode not in ADVANTAGE_MODES:
        raise ValueError(f"algorithm.sppo.advantage must be one of {ADVANTAGE_MODES}, got {mode!r}")
    adv = rewards - baselines
    if mode == "bernoulli":
        adv = adv / torch.sqrt(torch.clamp(baselines * (1.0 - baselines), min=eps))
    if whiten:
        n = int(valid.sum())
        if n > 1:
            mean = adv[valid].mean()
            std = adv[valid].std(unbiased=True)
            adv = (adv - mean) / (std + 1e-8)
        elif n == 1:
            adv = adv - adv[valid].mean()
    return torch.where(valid, adv, torch.zeros_like(adv))


def compute_sppo_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    config: Any = None,
    reward_baselines: torch.Tensor | None = None,
    index: Any = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """SPPO advantage: A = R − σ(V(s_p)) on every response token (official default).

    Args:
        token_level_rewards: `(torch.Tensor)` shape `(bs, response_length)`.
        response_mask: `(torch.Tensor)` shape `(bs, response_length)`.
        config: the ``algorithm`` config; options under ``config.sppo`` (``sppo.options.AdvantageOptions``).
        reward_baselines: `(torch.Tensor)` shape `(bs,)` or `(bs, 1)`: p = σ(V(s_p)), the critic's
            predicted probability that the policy solves the prompt.
        index: unused (SPPO needs no groups: one response per prompt).

    Returns:
        advantages: `(torch.Tensor)` shape `(bs, response_length)`: the sequence advantage times the mask.
        returns: `(torch.Tensor)` shape `(bs, response_length)`: R times the mask (the critic's BCE target).
    """
    if reward_baselines is None:
        raise ValueError(
            "the sppo estimator needs reward_baselines = sigmoid(V(prompt)) from the SPPO critic: "
            "run through `python -m sppo.main` with critic.enable=True"
        )
    options = AdvantageOptions.from_config(config)
    if options.problems():
        raise ValueError(options.problems()[0])
    mask = response_mask.to(token_level_rewards.dtype)
    rewards = sequence_reward(token_level_rewards, mask, options.reward_range)
    baselines = reward_baselines.reshape(-1).to(rewards.dtype)
    valid = mask.sum(dim=-1) > 0
    adv = sequence_advantage(rewards, baselines, valid, mode=options.advantage, eps=options.eps, whiten=options.whiten)
    return adv.unsqueeze(-1) * mask, rewards.unsqueeze(-1) * mask


def compute_no_baseline_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    config: Any = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """No baseline at all: A = R on every response token (REINFORCE with the raw outcome, no critic).

    The control arm of "does SPPO's critic pay?": whatever a baseline (σ(V), a batch mean, a group mean) buys is
    measured against it. With 0/1 rewards only correct responses are reinforced; wrong ones get no gradient.

    Args:
        token_level_rewards: `(torch.Tensor)` shape `(bs, response_length)`; an outcome reward sits on one token.
        response_mask: `(torch.Tensor)` shape `(bs, response_length)`.
        config: the ``algorithm`` config; ``algorithm.sppo.reward_range`` maps the reward onto [0, 1] as for SPPO.

    Returns:
        advantages: `(torch.Tensor)` shape `(bs, response_length)`: R times the mask.
        returns: `(torch.Tensor)` shape `(bs, response_length)`: the same (no critic trains on it).
    """
    options = AdvantageOptions.from_config(config)
    if options.problems():
        raise ValueError(options.problems()[0])
    mask = response_mask.to(token_level_rewards.dtype)
    rewards = sequence_reward(token_level_rewards, mask, options.reward_range)
    adv = rewards.unsqueeze(-1) * mask
    return adv, adv.clone()


# Both names resolve to the same function: "sequence_level_adv" is the official scripts' name.
register_adv_est("sppo")(compute_sppo_advantage)
register_adv_est("sequence_level_adv")(compute_sppo_advantage)
register_adv_est("no_baseline")(compute_no_baseline_advantage)
