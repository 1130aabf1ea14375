"""Critic-guided prompt selection: spend generation on prompts whose predicted solvability is informative.

With A = R - σ(V(s_p)), a prompt the critic already predicts as (almost) always or never solved yields
advantages near 0: generating for it is wasted. Scoring a prompt is cheap (one prompt-only critic forward),
so SPPO can draw a larger candidate pool, score it, and fill the batch with prompts whose σ(V) lies in a
band. An exploration fraction is drawn uniformly from the whole pool, so the critic keeps seeing (and
staying calibrated on) the full distribution. Options: ``sppo.prompt_selection`` in configs/sppo_trainer.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PromptSelectionConfig:
    enable: bool = False
    pool_factor: int = 4  # candidate pool = pool_factor x data.train_batch_size prompts
    band: tuple[float, float] = (0.2, 0.8)  # keep prompts with lo <= σ(V) <= hi
    explore_fraction: float = 0.25  # share of the batch drawn uniformly from the pool, band or not

    @classmethod
    def from_config(cls, cfg) -> PromptSelectionConfig:
        cfg = dict(cfg or {})
        band = cfg.get("band", cls.band)
        return cls(
            enable=bool(cfg.get("enable", cls.enable)),
            pool_factor=cfg.get("pool_factor", cls.pool_factor),
            band=tuple(band) if band is not None else band,
            explore_fraction=cfg.get("explore_fraction", cls.explore_fraction),
        )

    def problems(self) -> list[str]:
        """Every invalid setting, as one-line messages (empty when valid)."""
        out = []
        if not isinstance(self.pool_factor, int) or isinstance(self.pool_factor, bool) or self.pool_factor < 1:
            out.append(f"sppo.prompt_selection.pool_factor={self.pool_factor}; expected an integer >= 1")
        band = self.band
        if band is None or len(band) != 2 or not 0.0 <= float(band[0]) < float(band[1]) <= 1.0:
            out.append(f"sppo.prompt_selection.band={list(band) if band is not None else None}; expected [lo, hi] with 0 <= lo < hi <= 1")
        if not 0.0 <= float(self.explore_fraction) <= 1.0:
            out.append(f"sppo.prompt_selection.explore_fraction={self.explore_fraction}; expected a value in [0, 1]")
        return out


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
