"""The metrics, as pure functions of per-sample results.

For one problem with ``n`` samples of which ``c`` are correct:

* avg@n   = c / n; a benchmark's avg@k is the mean over its problems (= mean accuracy over all
            samples when every problem has the same n).
* pass@k  = 1 - C(n - c, k) / C(n, k), the unbiased estimator of "at least one of k samples is
            correct" (Chen et al., 2021), computed as the product
            1 - prod_{i = n - c + 1}^{n} (1 - k / i), which never forms a large binomial; it is 1
            when n - c < k. Reported for every power of two k <= n.
* maj@n   = 1 if the majority answer is correct. Votes go to the extracted answers after the
            notation-only normalisation of :func:`sppo.reward.normalize.normalize`; responses with
            no answer do not vote (all silent: wrong). Ties go to the answer whose first vote came
            earliest (lowest sample_idx). The verdict is that first vote's correctness.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for ``c`` correct out of ``n`` samples: ``1 - C(n-c, k) / C(n, k)``.

    Raises ValueError unless ``0 <= c <= n`` and ``1 <= k <= n``.
    """
    if not (0 <= c <= n and 1 <= k <= n):
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    product = 1.0
    for i in range(n - c + 1, n + 1):
        product *= 1.0 - k / i
    return 1.0 - product


def powers_of_two(n: int) -> list[int]:
    """``[1, 2, 4, ...]`` up to and including the largest power of two <= n (empty for n < 1)."""
    return [2**e for e in range(int(math.log2(n)) + 1)] if n >= 1 else []


def vote_key(pred: str) -> str:
    """What a vote counts as: the answer with notation-only differences removed."""
    from sppo.reward.normalize import normalize

    return normalize(pred)


def majority_vote(preds: Sequence[str | None], correct: Sequence[bool]) -> tuple[str | None, bool]:
    """Majority answer of one problem's samples (in sample order) and whether it is correct.

    Args:
        preds: extracted answer per sample (None: no answer), shape ``(n,)``.
        correct: correctness per sample, shape ``(n,)``.

    Returns:
        ``(winning vote key, its first voter's correctness)``; ``(None, False)`` when no sample has
        an answer. Ties: the key first voted for earliest wins.
    """
    if len(preds) != len(correct):
        raise ValueError(f"preds and correct differ in length: {len(preds)} vs {len(correct)}")
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    for i, pred in enumerate(preds):
        if pred is None:
            continue
        key = vote_key(pred)
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, i)
    if not counts:
        return None, False
    winner = min(counts, key=lambda key: (-counts[key], first[key]))
    return winner, bool(correct[first[winner]])


def _mean(values: Sequence[float]) -> float | None:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(values) / len(values) if values else None


def benchmark_metrics(samples: Any) -> dict[str, Any]:
    """Metrics of one benchmark from its scored samples.

    Args:
        samples: a DataFrame with one row per sample: ``problem_id``, ``sample_idx``, ``acc``
            (bool), ``pred`` (str or None), ``response_tokens`` (float, NaN if unknown),
            ``truncated`` (float 0/1, NaN if unknown).

    Returns:
        ``{"problems", "samples", "n_min", "n_max", "k", "avg", "pass": {k: value}, "maj",
        "mean_tokens", "no_answer", "truncated"}``; values are fractions in [0, 1] (None when
        unknown). ``k`` = n when every problem has n samples, else n_min; pass@k is reported
        for powers of two <= n_min; avg and maj use all samples of each problem.
    """
    ordered = samples.sort_values(["problem_id", "sample_idx"], kind="stable")
    per_problem = []
    for _, group in ordered.groupby("problem_id", sort=True):
        acc = [bool(a) for a in group["acc"]]
        preds = [None if p is None or (isinstance(p, float) and math.isnan(p)) else str(p) for p in group["pred"]]
        per_problem.append((len(acc), sum(acc), majority_vote(preds, acc)[1]))
    n_min = min(n for n, _, _ in per_problem)
    n_max = max(n for n, _, _ in per_problem)
    tokens = [float(t) for t in ordered["response_tokens"]]
    truncated = [float(t) for t in ordered["truncated"]]
    return {
        "problems": len(per_problem),
        "samples": len(ordered),
        "n_min": n_min,
        "n_max": n_max,
        "k": n_min,
        "avg": sum(c / n for n, c, _ in per_problem) / len(per_problem),
        "pass": {
            k: sum(pass_at_k(n, c, k) for n, c, _ in per_problem) / len(per_problem) for k in powers_of_two(n_min)
        },
        "maj": sum(m for _, _, m in per_problem) / len(per_problem),
        "mean_tokens": _mean(tokens),
        "no_answer": sum(p is None or (isinstance(p, float) and math.isnan(p)) for p in ordered["pred"]) / len(ordered),
        "truncated": _mean(truncated),
    }


def mean_row(per_benchmark: dict[str, dict[str, Any]], names: Sequence[str]) -> dict[str, Any]:
    """The unweighted mean over ``names`` of each benchmark's avg / pass@k / maj (pass@k only for k
    that every benchmark has). This is how the paper's 5-benchmark mean is formed (from avg@k)."""
    rows = [per_benchmark[name] for name in names]
    shared = sorted(set.intersection(*(set(r["pass"]) for r in rows))) if rows else []
    return {
        "benchmarks": list(names),
        "avg": sum(r["avg"] for r in rows) / len(rows),
        "pass": {k: sum(r["pass"][k] for r in rows) / len(rows) for k in shared},
        "maj": sum(r["maj"] for r in rows) / len(rows),
    }
