"""SPPO's sequence-level advantage, and its no-baseline control, registered in verl's own estimator registry.

verl calls every non-GAE estimator with ``token_level_rewards``, ``response_mask``, ``config``
(the ``algorithm`` section), ``index`` (uids) and, when that key is in the batch,
``reward_baselines``. SPPO's trainer puts σ(V(s_p)) there (see ``sppo.trainer``), so the
estimator itself is a pure function of its arguments, like verl's ``core_algos`` estimators.

SPPO's optional per-step inputs (``truncated`` responses and their penalty, the adaptive normalisation's regime,
the adaptive-N group baseline's ``prior_strength``) are keyword arguments of the same function: verl's
``compute_advantage`` forwards only a fixed set of batch keys (ray_trainer.py:254-259), so SPPO's trainer calls the
registered estimator itself with them (sppo/trainer/critic.py ``_compute_advantage``); each defaults to "off".

Options live under ``algorithm.sppo``: ``sppo.options.AdvantageOptions`` documents, parses and checks them.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from verl.trainer.ppo.core_algos import register_adv_est

from sppo.options import ADVANTAGE_MODES, AdvantageOptions

# ``normalize`` of compute_sppo_advantage: with centring (PPO's advantage normalisation) or the division alone
NORMALIZE_MODES = ("whiten", "scale")

# Rewards this close outside [0, 1] are float noise, not a wrong reward function.
_RANGE_TOLERANCE = 1e-6

# id(config) -> (a weak reference to that config, its parsed options): see estimator_options
_PARSED: dict[int, tuple[weakref.ref, AdvantageOptions]] = {}


def estimator_options(config: Any) -> AdvantageOptions:
    """``algorithm.sppo.*`` of ``config`` (the ``algorithm`` section), parsed and checked once per config object.

    verl calls the estimators with the config alone, so they read their options themselves; the trainer passes the
    same ``config.algorithm`` every step, so it is parsed once per run, not per step (the driver's
    ``check_config`` checked the same values before Ray started). A config that cannot be weakly referenced (a
    plain dict, None) is parsed at each call. The config must not change between calls; verl's never does.

    Raises:
        ValueError: a wrong type or a value out of range, in one line naming the key.
    """
    key = id(config)
    cached = _PARSED.get(key)
    if cached is not None and cached[0]() is config:
        return cached[1]
    options = AdvantageOptions.from_config(config)
    if options.problems():
        raise ValueError(options.problems()[0])
    try:
        ref = weakref.ref(config, lambda _, key=key: _PARSED.pop(key, None))
    except TypeError:  # dict, None: nothing to tell a later object at the same address from this one
        return options
    _PARSED[key] = (ref, options)
    return options


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
    probs: torch.Tensor | None = None,
) -> torch.Tensor:
    """One advantage per sequence from R and a baseline b (p = σ(V(s_p)) unless groups of samples refine it).

    Args:
        rewards: `(torch.Tensor)` shape `(bs,)`, R in [0, 1].
        baselines: `(torch.Tensor)` shape `(bs,)`, b in [0, 1]: p itself, or ``group_baselines``.
        valid: `(torch.Tensor)` bool, shape `(bs,)`: rows with at least one response token.
        mode: ``residual`` → R − b; ``bernoulli`` → (R − b) / sqrt(max(p(1 − p), eps)).
        eps: floor on the Bernoulli variance.
        whiten: subtract the mean and divide by the std (unbiased) over valid rows.
        probs: `(torch.Tensor)` shape `(bs,)`, p of the Bernoulli scale; ``None``: the baselines.

    Returns:
        `(torch.Tensor)` shape `(bs,)`; invalid rows get 0.
    """
    if mode not in ADVANTAGE_MODES:
        raise ValueError(f"algorithm.sppo.advantage must be one of {ADVANTAGE_MODES}, got {mode!r}")
    adv = rewards - baselines
    if mode == "bernoulli":
        p = baselines if probs is None else probs
        adv = adv / torch.sqrt(torch.clamp(p * (1.0 - p), min=eps))
    if whiten:
        adv = whiten_advantages(adv, valid)
    return torch.where(valid, adv, torch.zeros_like(adv))


def whiten_advantages(adv: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``algorithm.sppo.whiten``: (A − mean) / (std + 1e-8) over valid rows (unbiased std; one row: A − mean).

    Args:
        adv, valid: `(torch.Tensor)` shape `(bs,)`; ``valid`` bool.

    Returns:
        `(torch.Tensor)` shape `(bs,)`; invalid rows unchanged (callers zero them).
    """
    n = int(valid.sum())
    if n > 1:
        mean = adv[valid].mean()
        std = adv[valid].std(unbiased=True)
        return (adv - mean) / (std + 1e-8)
    if n == 1:
        return adv - adv[valid].mean()
    return adv


def group_baselines(
    rewards: torch.Tensor, probs: torch.Tensor, index: Any, valid: torch.Tensor, prior_strength: float
) -> torch.Tensor:
    """Each sample's baseline from its prompt's OTHER samples, shrunk towards the critic (adaptive N).

    b_j = (Σ_{k ∈ g(j), k ≠ j} R_k + κ · p_j) / (n_g − 1 + κ), where g(j) is the valid samples sharing j's index
    (one prompt) and n_g their number: the leave-one-out mean of the n_g − 1 other outcomes with the critic's p_j
    counted as κ pseudo-outcomes (the posterior mean of a Beta prior of strength κ centred on p_j). b_j never uses
    R_j, so R_j − b_j stays an unbiased advantage. A prompt with one sample keeps b = p (SPPO's R − σ(V)); κ = 0 is
    the plain leave-one-out mean (RLOO) wherever n_g > 1.

    Args:
        rewards: `(torch.Tensor)` shape `(bs,)`, R in [0, 1].
        probs: `(torch.Tensor)` shape `(bs,)`, p = σ(V(s_p)) of each sample's prompt.
        index: `(bs,)` group ids (verl's ``uid``: one per prompt), any hashable values.
        valid: `(torch.Tensor)` bool, shape `(bs,)`; invalid rows (verl's padding) join no group and get p.
        prior_strength: κ >= 0.

    Returns:
        `(torch.Tensor)` shape `(bs,)`.
    """
    if index is None:
        raise ValueError("group baselines need the samples' prompt ids (verl's uid) as index")
    ids: dict[Any, int] = {}
    group = torch.tensor([ids.setdefault(u, len(ids)) for u in list(index)], dtype=torch.long)
    weight = valid.to(rewards.dtype)
    sums = torch.zeros(len(ids), dtype=rewards.dtype).index_add_(0, group, rewards * weight)
    counts = torch.zeros(len(ids), dtype=rewards.dtype).index_add_(0, group, weight)
    others = sums[group] - rewards * weight
    denom = counts[group] - weight + prior_strength
    baselines = torch.where(denom > 0, (others + prior_strength * probs) / denom.clamp(min=1e-12), probs)
    return torch.where(valid, baselines, probs)


def normalize_advantages(
    adv: torch.Tensor, rewards: torch.Tensor, valid: torch.Tensor, center: bool = True
) -> tuple[torch.Tensor, bool]:
    """Batch normalisation of the sequence advantages (``sppo.adaptive_norm`` while the critic is poor).

    ``center``: (A − mean) / (std + 1e-8), PPO's advantage normalisation (as ``whiten``); else A / (std + 1e-8).
    Mean and (unbiased) std over valid rows. Nothing is done when fewer than 2 rows are valid or the valid rows'
    rewards are all equal: the advantages then carry no outcome contrast, only the critic's noise (R = 0 everywhere
    and σ(V) = 0.5 ± 0.001 would become ±1 after centring and about −500 after scaling alone).

    Args:
        adv: `(torch.Tensor)` shape `(bs,)`.
        rewards: `(torch.Tensor)` shape `(bs,)`, R.
        valid: `(torch.Tensor)` bool, shape `(bs,)`.
        center: subtract the batch mean first.

    Returns:
        the advantages `(bs,)` (invalid rows 0) and whether they were normalised.
    """
    r = rewards[valid]
    if r.numel() < 2 or bool((r == r[0]).all()):
        return torch.where(valid, adv, torch.zeros_like(adv)), False
    a = adv[valid]
    out = (adv - a.mean()) if center else adv
    out = out / (a.std(unbiased=True) + 1e-8)
    return torch.where(valid, out, torch.zeros_like(out)), True


def compute_sppo_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    config: Any = None,
    reward_baselines: torch.Tensor | None = None,
    index: Any = None,
    truncated: torch.Tensor | None = None,
    truncation_penalty: float = 0.0,
    normalize: str | None = None,
    prior_strength: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """SPPO advantage: A = R − σ(V(s_p)) on every response token (official default).

    In order: the baseline b (p, or ``group_baselines`` with ``prior_strength``), A = R − b (or its Bernoulli form),
    minus ``truncation_penalty`` on truncated responses, then ``algorithm.sppo.whiten`` or ``normalize``.

    Args:
        token_level_rewards: `(torch.Tensor)` shape `(bs, response_length)`.
        response_mask: `(torch.Tensor)` shape `(bs, response_length)`.
        config: the ``algorithm`` config; options under ``config.sppo`` (``sppo.options.AdvantageOptions``).
        reward_baselines: `(torch.Tensor)` shape `(bs,)` or `(bs, 1)`: p = σ(V(s_p)), the critic's
            predicted probability that the policy solves the prompt.
        index: `(bs,)` prompt ids (verl's ``uid``); used only with ``prior_strength``.
        truncated: `(torch.Tensor)` bool, shape `(bs,)`: responses cut at the length limit (``sppo.truncation``).
        truncation_penalty: subtracted from the advantage of each truncated response (>= 0).
        normalize: ``None``; ``"whiten"`` or ``"scale"``: ``normalize_advantages`` with or without centring
            (``sppo.adaptive_norm``: the trainer decides each step's regime).
        prior_strength: ``None``: b = p for every sample (one sample per prompt); κ >= 0: samples sharing an
            ``index`` get ``group_baselines`` (adaptive N; a prompt with one sample keeps b = p).

    Returns:
        advantages: `(torch.Tensor)` shape `(bs, response_length)`: the sequence advantage times the mask.
        returns: `(torch.Tensor)` shape `(bs, response_length)`: R times the mask (the critic's BCE target).
    """
    if reward_baselines is None:
        raise ValueError(
            "the sppo estimator needs reward_baselines = sigmoid(V(prompt)) from the SPPO critic: "
            "run through `python -m sppo.main` with critic.enable=True"
        )
    options = estimator_options(config)
    mask = response_mask.to(token_level_rewards.dtype)
    rewards = sequence_reward(token_level_rewards, mask, options.reward_range)
    probs = reward_baselines.reshape(-1).to(rewards.dtype)
    valid = mask.sum(dim=-1) > 0
    if normalize not in (None, *NORMALIZE_MODES):
        raise ValueError(f"normalize must be None or one of {NORMALIZE_MODES}, got {normalize!r}")
    if prior_strength is None:
        baselines = probs
    else:
        baselines = group_baselines(rewards, probs, index, valid, float(prior_strength))
    adv = sequence_advantage(rewards, baselines, valid, mode=options.advantage, eps=options.eps, probs=probs)
    if truncated is not None and truncation_penalty != 0.0:
        adv = adv - float(truncation_penalty) * truncated.reshape(-1).to(adv.dtype)
    if options.whiten:
        adv = whiten_advantages(adv, valid)
    elif normalize is not None:
        adv, _ = normalize_advantages(adv, rewards, valid, center=normalize == "whiten")
    adv = torch.where(valid, adv, torch.zeros_like(adv))
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
    options = estimator_options(config)
    mask = response_mask.to(token_level_rewards.dtype)
    rewards = sequence_reward(token_level_rewards, mask, options.reward_range)
    adv = rewards.unsqueeze(-1) * mask
    return adv, adv.clone()


# Both names resolve to the same function: "sequence_level_adv" is the official scripts' name.
register_adv_est("sppo")(compute_sppo_advantage)
register_adv_est("sequence_level_adv")(compute_sppo_advantage)
register_adv_est("no_baseline")(compute_no_baseline_advantage)
