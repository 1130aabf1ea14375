"""Critic-guided prompt selection: spend generation on prompts whose predicted solvability is informative.

With A = R - σ(V(s_p)), a prompt the critic already predicts as (almost) always or never solved yields
advantages near 0: generating for it is wasted. Scoring a prompt is cheap (one prompt-only critic forward),
so SPPO can draw a larger candidate pool, score it, and fill the batch with prompts whose σ(V) lies in a
band. An exploration fraction is drawn uniformly from the whole pool, so the critic keeps seeing (and
staying calibrated on) the full distribution. Options: ``sppo.prompt_selection`` (sppo/options.py PromptSelectionOptions).
"""

from __future__ import annotations

import torch


def in_band(probs: torch.Tensor, band: tuple[float, float]) -> torch.Tensor:
    """`(pool,)` bool: lo <= p <= hi."""
    return (probs >= band[0]) & (probs <= band[1])


def select_prompts(
    probs: torch.Tensor, batch_size: int, band: tuple[float, float], explore_fraction: float, generator: torch.Generator
) -> tuple[torch.Tensor, dict[str, float]]:
    """Pick ``batch_size`` of the pool's prompts.

    Args:
        probs: `(pool,)` the critic's σ(V(s_p)) of each candidate prompt; pool >= batch_size.
        batch_size: prompts to keep.
        band: (lo, hi), the σ(V) range that counts as informative.
        explore_fraction: round(explore_fraction * batch_size) prompts are drawn uniformly from the pool.
        generator: the randomness (seeded by the caller for reproducibility).

    Returns:
        indices `(batch_size,)` into the pool (distinct; explored ones first), and statistics:
        ``pool_hit_rate`` (share of the pool in the band), ``batch_in_band`` (share of the chosen batch in the
        band), ``explored`` (prompts drawn for exploration), ``shortfall`` (non-exploration slots the band
        could not fill; they take the out-of-band prompts closest to the band), ``pool_size``.
    """
    pool = probs.numel()
    if batch_size > pool:
        raise ValueError(f"cannot select {batch_size} prompts from a pool of {pool}")
    n_explore = int(round(explore_fraction * batch_size))
    order = torch.randperm(pool, generator=generator)
    explored = order[:n_explore]
    rest = order[n_explore:]
    hit = in_band(probs, band)
    rest_hits = rest[hit[rest]]
    n_band = batch_size - n_explore
    chosen_band = rest_hits[:n_band]
    shortfall = n_band - len(chosen_band)
    fill = rest[~hit[rest]]
    if shortfall > 0:
        # nearest to the band first; the random order of `rest` breaks ties
        distance = torch.clamp(band[0] - probs[fill], min=0) + torch.clamp(probs[fill] - band[1], min=0)
        fill = fill[torch.sort(distance, stable=True).indices[:shortfall]]
    else:
        fill = fill[:0]
    indices = torch.cat([explored, chosen_band, fill])
    stats = {
        "pool_size": float(pool),
        "pool_hit_rate": float(hit.float().mean()),
        "batch_in_band": float(hit[indices].float().mean()),
        "explored": float(n_explore),
        "shortfall": float(shortfall),
    }
    return indices, stats
