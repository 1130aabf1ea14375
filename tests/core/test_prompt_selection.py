"""Critic-guided prompt selection: exact picks on small pools and the band filter's statistics."""

from __future__ import annotations

import pytest
import torch

from sppo.options import PromptSelectionOptions
from sppo.prompt_selection import select_prompts

PROBS = torch.tensor([0.05, 0.5, 0.95, 0.3, 0.7, 0.1, 0.9, 0.6])  # in band (0.2, 0.8): 1, 3, 4, 7


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_fills_the_batch_from_the_band():
    idx, stats = select_prompts(PROBS, 4, (0.2, 0.8), 0.0, _gen())
    assert sorted(idx.tolist()) == [1, 3, 4, 7]
    assert stats == {"pool_size": 8.0, "pool_hit_rate": 0.5, "batch_in_band": 1.0, "explored": 0.0, "shortfall": 0.0}


def test_shortfall_takes_the_prompts_nearest_the_band():
    idx, stats = select_prompts(PROBS, 6, (0.2, 0.8), 0.0, _gen())
    # out of band: 0.05 and 0.95 are 0.15 away, 0.1 and 0.9 only 0.1 away
    assert sorted(idx.tolist()) == [1, 3, 4, 5, 6, 7]
    assert stats["shortfall"] == 2.0
    assert stats["batch_in_band"] == pytest.approx(4 / 6)


def test_indices_are_distinct_and_reproducible():
    probs = torch.rand(64, generator=_gen(1))
    a, _ = select_prompts(probs, 16, (0.2, 0.8), 0.25, _gen(7))
    b, _ = select_prompts(probs, 16, (0.2, 0.8), 0.25, _gen(7))
    assert torch.equal(a, b) and len(set(a.tolist())) == 16
    with pytest.raises(ValueError, match="cannot select 65 prompts from a pool of 64"):
        select_prompts(probs, 65, (0.2, 0.8), 0.25, _gen())


def test_band_filter_statistics_with_exploration():
    # 32 informative prompts (p = 0.5) and 32 hopeless ones (p = 0); batch 16 with 4 explored slots.
    probs = torch.cat([torch.full((32,), 0.5), torch.zeros(32)])
    draws = 2000
    in_band, counts = [], torch.zeros(64)
    for seed in range(draws):
        idx, stats = select_prompts(probs, 16, (0.2, 0.8), 0.25, _gen(seed))
        assert stats["explored"] == 4.0 and stats["pool_hit_rate"] == 0.5 and stats["shortfall"] == 0.0
        in_band.append(stats["batch_in_band"])
        counts[idx] += 1
    # expected share in band: (12 band slots + 4 uniform draws x 1/2) / 16 = 0.875
    assert sum(in_band) / draws == pytest.approx(0.875, abs=0.006)
    # a hopeless prompt is picked only by exploration: 4/64 of the draws; an informative one gets the rest
    assert counts[32:].mean().item() / draws == pytest.approx(4 / 64, abs=0.004)
    assert counts[:32].mean().item() / draws == pytest.approx(14 / 32, abs=0.004)
    assert counts[:32].max() / counts[:32].min() < 1.2  # uniform within the band
    assert counts[32:].min() > 0  # the critic keeps seeing every part of the pool


def test_pure_exploration_ignores_the_critic():
    probs = torch.cat([torch.full((32,), 0.5), torch.zeros(32)])
    shares = [select_prompts(probs, 16, (0.2, 0.8), 1.0, _gen(s))[1]["batch_in_band"] for s in range(1000)]
    assert sum(shares) / len(shares) == pytest.approx(0.5, abs=0.01)


def test_config_problems_are_one_line_each():
    assert PromptSelectionOptions.from_config({"enable": True}).problems() == []
    bad = PromptSelectionOptions.from_config({"pool_factor": 0, "band": [0.9, 0.1], "explore_fraction": 1.5})
    assert bad.problems() == [
        "sppo.prompt_selection.pool_factor=0; expected an integer >= 1",
        "sppo.prompt_selection.band=[0.9, 0.1]; expected [lo, hi] with 0 <= lo < hi <= 1",
        "sppo.prompt_selection.explore_fraction=1.5; expected a value in [0, 1]",
    ]
