"""Budget arithmetic of the beyond-the-paper study: steps, samples, validation cadence, generated tokens, and the
equal-token alignment, on hand-computed values."""

from __future__ import annotations

import pytest

from sppo.cli_errors import UserError
from sppo_lab.beyond_the_paper import budget
from sppo_lab.beyond_the_paper.arms import ARMS, COMPARISONS


def test_actor_steps_and_total_steps_per_arm():
    assert budget.actor_steps(ARMS["sppo"], 60) == 60
    assert budget.actor_steps(ARMS["sppo_tokens"], 60) == 120  # 2 / 1
    assert budget.actor_steps(ARMS["reinforce_pp"], 60) == 120
    assert budget.actor_steps(ARMS["grpo_k"], 60) == 30  # 2 / 4
    assert budget.total_steps(ARMS["sppo_warmstart"], 60) == 70  # 10 critic-only steps first
    assert budget.total_steps(ARMS["sppo_critic_warmup"], 20) == 30
    assert budget.total_steps(ARMS["sppo_adaptive_n"], 2) == 2


def test_a_budget_that_does_not_divide_is_one_line():
    with pytest.raises(
        UserError, match=r"^grpo_k: 3 base steps x 2/4 is not a whole number of steps; use a multiple of 2$"
    ):
        budget.actor_steps(ARMS["grpo_k"], 3)
    assert budget.actor_steps(ARMS["grpo_k"], 2) == 1


def test_the_equal_token_arms_generate_the_same_samples():
    (equal,) = [c for c in COMPARISONS if c.name == "equal_tokens"]
    samples = {a: budget.planned_samples(ARMS[a], 60) for a in (equal.reference, *equal.arms)}
    # 120 x 16, 60 x 32 (adaptive N's budget), 30 x 64 (GRPO N = 4), 120 x 16
    assert samples == {"sppo_tokens": 1920, "sppo_adaptive_n": 1920, "grpo_k": 1920, "reinforce_pp": 1920}
    assert budget.planned_samples(ARMS["sppo"], 60) == 960


def test_validation_cadence():
    assert budget.validation_every(ARMS["sppo"], 60) == 20  # thirds
    assert budget.validation_every(ARMS["reinforce_pp"], 60) == 40  # thirds of 120
    assert budget.validation_every(ARMS["grpo_k"], 60) == 10  # thirds of 30
    assert budget.validation_every(ARMS["sppo"], 20) == 20  # 20 / 3 is no whole step: the end only
    assert budget.validation_every(ARMS["sppo_warmstart"], 20) == 10  # step 10: before the first actor update
    assert [a for a in ARMS if budget.validates_before_training(ARMS[a])] == ["sppo", "sppo_short", "sppo_tokens"]


def test_generated_samples_and_tokens_of_a_step():
    assert budget.step_samples({"adaptive_n/samples": 32.0}, 1) == 32
    assert budget.step_samples({}, 4) == 64
    assert budget.step_tokens({"response_length/mean": 35.5}, 1) == 568.0
    assert budget.step_tokens({"response_length/mean": 40.25, "adaptive_n/samples": 32.0}, 1) == 1288.0
    assert budget.cumulative([568.0, 600.0, 32.0]) == [568.0, 1168.0, 1200.0]


def test_interpolation_and_equal_token_alignment():
    xs, ys = [100.0, 300.0, 600.0], [0.5, 0.7, None]
    assert budget.interpolate(xs, ys, 200.0) == pytest.approx(0.6)
    assert budget.interpolate(xs, ys, 300.0) == 0.7
    assert budget.interpolate(xs, ys, 450.0) is None  # a neighbour without a value
    assert budget.interpolate(xs, ys, 50.0) is None and budget.interpolate(xs, ys, 700.0) is None
    curves = [([100.0, 300.0], [0.5, 0.7]), ([200.0, 250.0, 400.0], [0.4, 0.6, 0.9])]
    common = budget.common_budget([300.0, 400.0])
    assert common == 300.0
    assert budget.align(curves, [200.0, common]) == [
        [pytest.approx(0.6), 0.7],
        [0.4, pytest.approx(0.6 + 0.3 * 50 / 150)],
    ]
    with pytest.raises(ValueError):
        budget.common_budget([])
