"""Confidence intervals over seeds, paired tests with multiplicity corrections (Bonferroni intervals, Holm p-values)
and trailing means, shared by the control suite's report, the benchmarks' and studies' reports and the calibration
analysis."""

from __future__ import annotations

import math

import numpy as np

# two-sided 95 % quantiles t_{0.975, df} of Student's t, df = 1..30 (beyond: the normal 1.96)
T975 = (
    12.706205,
    4.302653,
    3.182446,
    2.776445,
    2.570582,
    2.446912,
    2.364624,
    2.306004,
    2.262157,
    2.228139,
    2.200985,
    2.178813,
    2.160369,
    2.144787,
    2.131450,
    2.119905,
    2.109816,
    2.100922,
    2.093024,
    2.085963,
    2.079614,
    2.073873,
    2.068658,
    2.063899,
    2.059539,
    2.055529,
    2.051831,
    2.048407,
    2.045230,
    2.042272,
)
BOOTSTRAP_RESAMPLES = 10_000


def t_interval(values) -> tuple[float, float]:
    """(mean, half-width of the 95 % Student-t interval) over the values; half-width 0 for one value."""
    arr = np.asarray(values, dtype=float)
    if len(arr) < 2:
        return float(arr.mean()), 0.0
    t = T975[len(arr) - 2] if len(arr) - 1 <= len(T975) else 1.959964
    return float(arr.mean()), float(t * arr.std(ddof=1) / math.sqrt(len(arr)))


def paired_bootstrap(a, b, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> tuple[float, float, float]:
    """Mean of a - b over paired samples (seeds), and its 95 % percentile-bootstrap interval.

    a, b: (n,) values of the same n seeds. Each resample draws n seed indices with replacement
    (``numpy.random.default_rng(seed).integers(0, n, (resamples, n))``) and takes the mean of the
    differences; the interval is the 2.5 and 97.5 percentiles (numpy's linear interpolation) of the
    resampled means. Returns (mean, low, high)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if d.ndim != 1 or len(d) == 0:
        raise ValueError(f"paired_bootstrap needs two equal-length non-empty 1-D samples, got {d.shape}")
    idx = np.random.default_rng(seed).integers(0, len(d), (resamples, len(d)))
    means = d[idx].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(d.mean()), float(lo), float(hi)


def moving_average(values: list[float | None], window: int) -> list[float | None]:
    """Trailing mean over the last ``window`` entries (no future data), skipping ``None``s; ``None`` where all are
    ``None``."""
    out: list[float | None] = []
    for i in range(len(values)):
        recent = [v for v in values[max(0, i - window + 1) : i + 1] if v is not None]
        out.append(sum(recent) / len(recent) if recent else None)
    return out


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (monotone, capped at 1), in the input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def paired(diffs: list[float], family: int, alpha: float = 0.05) -> dict:
    """Mean of paired differences, its simultaneous (Bonferroni over ``family``) interval, the raw two-sided
    p-value of the paired t-test and the smallest difference detectable with 80 % power at the corrected level."""
    from scipy import stats

    n = len(diffs)
    mean = sum(diffs) / n
    if n < 2:
        return {"n": n, "mean": mean, "low": None, "high": None, "p": None, "detectable": None}
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    se = sd / math.sqrt(n)
    level = alpha / max(1, family)
    t_crit = float(stats.t.ppf(1 - level / 2, n - 1))
    if se == 0:
        p = 0.0 if mean != 0 else 1.0
    else:
        p = float(2 * stats.t.sf(abs(mean) / se, n - 1))
    return {
        "n": n,
        "mean": mean,
        "sd": sd,
        "low": mean - t_crit * se,
        "high": mean + t_crit * se,
        "p": p,
        "detectable": (t_crit + float(stats.t.ppf(0.8, n - 1))) * se,
    }
