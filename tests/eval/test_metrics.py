"""pass@k against brute-force enumeration, majority vote on hand cases, per-benchmark aggregation."""

from __future__ import annotations

import itertools
import math

import pandas as pd
import pytest

from sppo.eval.metrics import benchmark_metrics, majority_vote, mean_row, pass_at_k, powers_of_two


def brute_force_pass_at_k(n: int, c: int, k: int) -> float:
    """Fraction of all k-subsets of n samples (the first c correct) that hold a correct one."""
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(i < c for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", range(1, 11))
def test_pass_at_k_equals_enumeration_over_all_subsets(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert abs(pass_at_k(n, c, k) - brute_force_pass_at_k(n, c, k)) <= 1e-12, (n, c, k)


def test_pass_at_k_special_values() -> None:
    assert pass_at_k(16, 0, 8) == 0.0
    assert pass_at_k(16, 16, 1) == 1.0
    assert pass_at_k(16, 9, 8) == 1.0  # n - c = 7 < k: every 8-subset holds a correct sample
    assert pass_at_k(8, 3, 1) == pytest.approx(3 / 8, abs=1e-15)
    # large n: the product form stays finite where C(n, k) is astronomically large
    value = pass_at_k(4096, 1, 1024)
    assert value == pytest.approx(1024 / 4096, rel=1e-12)
    assert 1 - pass_at_k(1000, 10, 500) == pytest.approx(math.comb(990, 500) / math.comb(1000, 500), rel=1e-9)


@pytest.mark.parametrize("n,c,k", [(4, 5, 1), (4, -1, 1), (4, 2, 0), (4, 2, 5)])
def test_pass_at_k_rejects_impossible_arguments(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_powers_of_two() -> None:
    assert powers_of_two(1) == [1]
    assert powers_of_two(7) == [1, 2, 4]
    assert powers_of_two(8) == [1, 2, 4, 8]
    assert powers_of_two(240) == [1, 2, 4, 8, 16, 32, 64, 128]
    assert powers_of_two(0) == []


@pytest.mark.parametrize(
    "preds,correct,expected",
    [
        (["5", "5", "6"], [True, True, False], ("5", True)),  # plain majority
        (["6", "5", "5"], [False, True, True], ("5", True)),  # majority beats first
        (["6", "5"], [False, True], ("6", False)),  # tie: first vote earliest wins
        (["5", "6"], [True, False], ("5", True)),  # the same tie, other order
        (["7", "6", "6", "7"], [False, True, True, False], ("7", False)),  # 2-2 tie: 7 voted first
        ([None, None, "3"], [False, False, True], ("3", True)),  # no-answer samples do not vote
        ([None, None], [False, False], (None, False)),  # nobody voted: wrong
        (["\\dfrac{1}{2}", "\\frac{1}{2}", "3"], [True, True, False], ("\\frac{1}{2}", True)),  # notation merged
        (["0.5", "\\frac{1}{2}", "3", "3"], [True, True, False, False], ("3", False)),  # values are not merged
        (["x = 4", " 4 ", "4."], [False, True, True], ("4", True)),  # spacing/trailing dot merged; "x=4" is not
    ],
)
def test_majority_vote_hand_cases(preds: list, correct: list, expected: tuple) -> None:
    assert majority_vote(preds, correct) == expected


def test_majority_vote_verdict_is_that_of_the_first_voter() -> None:
    # both spellings normalise to one key; the first voter's correctness decides
    assert majority_vote(["\\text{4}", "4"], [False, True]) == ("4", False)


def frame(rows: list[tuple[int, int, bool, str | None]], tokens: float = math.nan) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "problem_id": [r[0] for r in rows],
            "sample_idx": [r[1] for r in rows],
            "acc": [r[2] for r in rows],
            "pred": [r[3] for r in rows],
            "response_tokens": tokens,
            "truncated": math.nan,
        }
    )


def test_benchmark_metrics_hand_computed() -> None:
    rows = [  # problem 0: 3 of 4 correct; problem 1: 0 of 4, one without an answer
        (0, 0, True, "1"), (0, 1, False, "2"), (0, 2, True, "1"), (0, 3, True, "1"),
        (1, 0, False, "7"), (1, 1, False, None), (1, 2, False, "8"), (1, 3, False, "8"),
    ]  # fmt: skip
    m = benchmark_metrics(frame(rows[::-1]))  # order of rows does not matter
    assert (m["problems"], m["samples"], m["k"], m["n_min"], m["n_max"]) == (2, 8, 4, 4, 4)
    assert m["avg"] == pytest.approx((3 / 4 + 0) / 2, abs=1e-15)
    assert sorted(m["pass"]) == [1, 2, 4]
    assert m["pass"][1] == pytest.approx(3 / 8, abs=1e-15)
    assert m["pass"][2] == pytest.approx((1.0 + 0.0) / 2, abs=1e-15)  # n - c = 1 < 2
    assert m["pass"][4] == pytest.approx(0.5, abs=1e-15)
    assert m["maj"] == 0.5
    assert m["no_answer"] == 1 / 8
    assert m["mean_tokens"] is None and m["truncated"] is None


def test_benchmark_metrics_unequal_sample_counts_use_the_smallest_n_for_pass_at_k() -> None:
    rows = [
        (0, 0, True, "1"),
        (0, 1, False, "2"),
        (1, 0, True, "3"),
        (1, 1, True, "3"),
        (1, 2, False, "4"),
        (1, 3, False, "4"),
    ]
    m = benchmark_metrics(frame(rows, tokens=10.0))
    assert (m["n_min"], m["n_max"], m["k"]) == (2, 4, 2)
    assert sorted(m["pass"]) == [1, 2]
    assert m["avg"] == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert m["mean_tokens"] == 10.0


def test_mean_row_uses_only_shared_k() -> None:
    a = {"avg": 0.2, "pass": {1: 0.2, 2: 0.3}, "maj": 0.1}
    b = {"avg": 0.6, "pass": {1: 0.6}, "maj": 0.5}
    mean = mean_row({"a": a, "b": b}, ["a", "b"])
    assert (
        mean["avg"] == pytest.approx(0.4)
        and mean["pass"] == {1: pytest.approx(0.4)}
        and mean["maj"] == pytest.approx(0.3)
    )
