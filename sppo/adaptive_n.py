"""Adaptive N (``sppo.adaptive_n``): more samples where the critic is least sure of the outcome, at a fixed budget.

Before rollout the critic scores the step's prompts (one prompt-only forward, no generation) and prompt i gets
n_i ∈ [1, max_n] samples with Σ n_i = the step's sample budget (``allocate_samples``). verl's agent loop reads a
per-row ``__rollout_n__`` (verl/trainer/ppo/v1/agent_loop_tq.py ``_run_prompt``), so nothing else of generation
changes. Prompts with n_i > 1 get a baseline from their own other samples shrunk towards σ(V)
(sppo/advantage.py ``group_baselines``); n_i = 1 keeps R − σ(V).

verl sizes every update mini-batch as ``ppo_mini_batch_size × rollout.n`` samples (trainer_base.py:1596-1602,
1807, 1830): with Σ n_i samples instead of ``train_batch_size × rollout.n`` a step would take Σ n_i / M optimizer
updates instead of the configured B / M. SPPO's trainer keeps the configured number instead: a step's samples are
padded (with verl's own loss-free padding rows) to a multiple of ``required_multiple`` and split into
``updates_per_step`` equal mini-batches (``mini_batch_size``), for the actor and for the critic.
"""

from __future__ import annotations

import math

import torch

from sppo.critic_quality import average_ranks
from sppo.options import ALLOCATION_RULES


def uncertainty_weights(probs: torch.Tensor, rule: str) -> torch.Tensor:
    """How much each prompt's outcome is in doubt, as allocation weights.

    Args:
        probs: `(B,)` σ(V(s_p)) of each prompt.
        rule: ``variance``: w = p(1 − p), the Bernoulli variance (right on a calibrated critic whose p spread out;
            on p clustered at 0.6-0.7 it is 0.21-0.24, nearly flat, so the allocation is nearly uniform).
            ``rank``: w = the rank of p(1 − p) in the batch (1 = most certain, ties averaged): the same order, but it
            discriminates however tightly p clusters.

    Returns:
        `(B,)` float64 weights >= 0.
    """
    p = probs.double().reshape(-1)
    var = p * (1.0 - p)
    if rule == "variance":
        return var
    if rule == "rank":
        return torch.from_numpy(average_ranks(var.tolist()))
    raise ValueError(f"sppo.adaptive_n.rule must be one of {ALLOCATION_RULES}, got {rule!r}")


def allocate_samples(weights: torch.Tensor, budget: int, max_n: int) -> torch.Tensor:
    """n_i >= 1 samples per prompt, Σ n_i = budget, n_i <= max_n, the extra samples shared in proportion to w_i.

    Each prompt gets one sample; the budget − B extra ones are shared in proportion to the weights, a prompt's
    share capped at max_n − 1 (what a capped prompt cannot take goes to the others in proportion), whole samples
    by largest remainder (ties: the higher weight, then the lower index). All weights 0: shared uniformly.

    Args:
        weights: `(B,)` >= 0 (``uncertainty_weights``).
        budget: samples this step, B <= budget <= max_n · B.
        max_n: most samples one prompt gets, >= 1.

    Returns:
        `(B,)` int64 sample counts.
    """
    w = weights.double().reshape(-1).clamp(min=0.0)
    b = w.numel()
    if not b <= budget <= max_n * b:
        raise ValueError(f"a budget of {budget} samples cannot give {b} prompts between 1 and {max_n} each")
    if float(w.sum()) == 0.0:
        w = torch.ones_like(w)
    cap = float(max_n - 1)
    share = torch.zeros_like(w)
    free = torch.ones(b, dtype=torch.bool)
    left = float(budget - b)
    while left > 1e-9 and bool(free.any()):
        wf = torch.where(free, w, torch.zeros_like(w))
        total = float(wf.sum())
        if total == 0.0:  # the remaining prompts all weigh 0: share what is left uniformly among them
            wf, total = free.double(), float(free.sum())
        proposal = share + left * wf / total
        over = free & (proposal > cap)
        if not bool(over.any()):
            share = proposal
            break
        left -= float((cap - share[over]).sum())
        share[over] = cap
        free &= ~over
    n_extra = torch.floor(share + 1e-9)
    missing = int(round(budget - b - float(n_extra.sum())))
    if missing > 0:
        remainder = (share - n_extra).tolist()
        order = sorted(range(b), key=lambda i: (-round(remainder[i], 9), -float(w[i]), i))
        for i in [i for i in order if n_extra[i] < cap][:missing]:
            n_extra[i] += 1
    return (n_extra + 1).to(torch.int64)


def updates_per_step(prompts_per_update_batch: int, ppo_mini_batch_size: int) -> int:
    """The optimizer updates (mini-batches) per epoch that verl configures: B / M with one sample per prompt.

    Args:
        prompts_per_update_batch: the prompts of one update batch (``data.train_batch_size`` / ``parameter_sync_step``).
        ppo_mini_batch_size: prompts per mini-batch (``actor.ppo_mini_batch_size`` or ``critic.ppo_mini_batch_size``).
    """
    if ppo_mini_batch_size <= 0 or prompts_per_update_batch % ppo_mini_batch_size:
        raise ValueError(f"{prompts_per_update_batch} prompts do not split into mini-batches of {ppo_mini_batch_size}")
    return prompts_per_update_batch // ppo_mini_batch_size


def required_multiple(dp_size: int, granules: list[int]) -> int:
    """The batch size a step's samples are padded to a multiple of: the least common multiple of them all.

    Args:
        dp_size: the actor's data-parallel size (verl balances the batch over its ranks).
        granules: one per way the step's batch is cut, each a size the batch must divide into: for a model's update,
            updates x data-parallel ranks x micro-batch (1 with dynamic batch sizes: verl's worker splits each rank's
            mini-batch into whole micro-batches, engine/utils.py ``prepare_micro_batches``); for a forward over the
            whole batch (the actor's log-probs), data-parallel ranks x its micro-batch.
    """
    multiple = dp_size
    for granule in granules:
        multiple = math.lcm(multiple, int(granule))
    return multiple


def mini_batch_size(num_rows: int, updates: int) -> int:
    """Samples per mini-batch so that ``num_rows`` (padded by ``required_multiple``) make exactly ``updates``."""
    if updates <= 0 or num_rows % updates:
        raise ValueError(f"{num_rows} samples do not split into {updates} equal mini-batches")
    return num_rows // updates
