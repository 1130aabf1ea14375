"""Time to target: when a run's training reward, averaged over a trailing window, first reaches the target.

The target is ``TARGET_REWARD`` = 0.70 training reward (``critic/score/mean``, the mean 0/1 outcome of the step's
samples) averaged over the last ``WINDOW_SAMPLES`` = 160 samples' worth of steps (10 steps of 16 samples, 5 of
adaptive N's 32, 3 of GRPO's 64): the u_shaped warm start sits at about 0.57, and plain SPPO's 10-step means reach
0.70 within 60 steps at the better learning rates of the critic-pays sweep. A run whose window mean never reaches it
has no time (None: "not reached within its budget"); the report counts those instead of inventing a time.

Caveat: adaptive N's samples are concentrated on uncertain prompts, so its training reward is measured on another
distribution than the mix's; its held-out success is the unbiased comparison.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

TARGET_REWARD = 0.70
WINDOW_SAMPLES = 160


def window_steps(samples_per_step: int, window_samples: int = WINDOW_SAMPLES) -> int:
    """Steps whose samples make at least ``window_samples``."""
    return max(1, math.ceil(window_samples / samples_per_step))


def trailing_mean(values: Sequence[float], window: int) -> list[float | None]:
    """Mean of the last ``window`` values at each step; None until ``window`` values exist."""
    out: list[float | None] = []
    for i in range(len(values)):
        out.append(None if i + 1 < window else sum(values[i + 1 - window : i + 1]) / window)
    return out


def time_to_target(values: Sequence[float], axis: Sequence[float], target: float, window: int) -> float | None:
    """``axis`` (cumulative tokens, steps or seconds) at the first step whose trailing mean reaches ``target``;
    None when it never does."""
    if len(values) != len(axis):
        raise ValueError(f"time_to_target: {len(values)} values against {len(axis)} axis points")
    for mean, x in zip(trailing_mean(values, window), axis, strict=True):
        if mean is not None and mean >= target:
            return x
    return None
