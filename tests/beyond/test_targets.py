"""Time to target: trailing means over a window of samples, the first crossing, and a target never reached."""

from __future__ import annotations

import pytest

from sppo_lab.beyond_the_paper import targets


def test_window_covers_160_samples():
    assert [targets.window_steps(s) for s in (16, 32, 64, 1000)] == [10, 5, 3, 1]


def test_trailing_mean_starts_when_the_window_is_full():
    assert targets.trailing_mean([0.5, 0.7, 0.9, 0.6], 2) == [None, pytest.approx(0.6), pytest.approx(0.8), 0.75]


def test_time_to_target_first_crossing_and_never_reached():
    rewards, tokens = [0.5, 0.7, 0.9, 0.6], [100.0, 220.0, 300.0, 410.0]
    assert targets.time_to_target(rewards, tokens, 0.75, 2) == 300.0  # (0.7 + 0.9) / 2 = 0.8
    assert targets.time_to_target(rewards, tokens, 0.8, 2) == 300.0  # reached exactly
    assert targets.time_to_target(rewards, tokens, 0.85, 2) is None  # never: no time invented
    assert targets.time_to_target(rewards, tokens, 0.9, 1) == 300.0
    assert targets.time_to_target(rewards, tokens, 0.5, 5) is None  # the window never fills
    with pytest.raises(ValueError, match="4 values against 3"):
        targets.time_to_target(rewards, tokens[:3], 0.5, 1)
