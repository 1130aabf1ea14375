"""How well the prompt-only critic ranks held-out prompts by difficulty (logged at each validation).

At a validation verl samples ``val_kwargs.n`` responses per held-out prompt; their mean reward is the prompt's
measured success rate. SPPO's critic reads the prompt only, so one forward gives σ(V(s_p)) per prompt. The paper
reports the Pearson correlation of σ(V) against avg@64 (0.642); we log that, the rank correlation (Spearman:
whether the critic orders prompts by difficulty, whatever its calibration) and the AUC of σ(V) for each sampled
response's 0/1 outcome (the probability that a random solved sample's prompt gets a higher σ(V) than a random
unsolved one's; 0.5 = no better than chance). Per validation group (``data_source``, the level of the graded
task): mean σ(V) beside the measured success.

Beside the critic's AUC, two ceilings on the same samples: ``auc_ceiling`` scores each sample with its own prompt's
measured success (no prompt-only score can rank these samples better; in-sample, so slightly optimistic) and
``auc_group_ceiling`` with its group's (what knowing only the group, e.g. the level, is worth). The policy's spread
of per-prompt success moves both during training, so an AUC is comparable across steps only against them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

PREFIX = "val-critic/"


def average_ranks(x: Sequence[float]) -> np.ndarray:
    """1-based ranks of ``x``; tied values share the mean of the ranks they span (as Spearman's rho needs)."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    sorted_x = x[order]
    start = 0
    for end in range(1, len(x) + 1):
        if end == len(x) or sorted_x[end] != sorted_x[start]:
            ranks[order[start:end]] = (start + 1 + end) / 2.0  # mean of ranks start+1 .. end
            start = end
    return ranks


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson correlation; None when fewer than 2 points or either side is constant (undefined)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) != len(y):
        raise ValueError(f"pearson: {len(x)} values against {len(y)}")
    if len(x) < 2:
        return None
    dx, dy = x - x.mean(), y - y.mean()
    denom = np.sqrt((dx * dx).sum() * (dy * dy).sum())
    return float((dx * dy).sum() / denom) if denom > 0 else None


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho: the Pearson correlation of the average ranks."""
    if len(x) != len(y):
        raise ValueError(f"spearman: {len(x)} values against {len(y)}")
    return pearson(average_ranks(x), average_ranks(y)) if len(x) >= 2 else None


def auc(scores: Sequence[float], labels: Sequence[float]) -> float | None:
    """Area under the ROC curve of ``scores`` for binary ``labels`` (ties count one half: Mann-Whitney U).

    None when all labels are equal (no positive/negative pair to compare).
    """
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    if len(scores) != len(labels):
        raise ValueError(f"auc: {len(scores)} scores against {len(labels)} labels")
    pos = labels > 0.5
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = average_ranks(scores)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def group_ceiling_auc(success: Mapping[str, float], samples: Mapping[str, int]) -> float | None:
    """``val-critic/auc_group_ceiling`` from group success rates alone (for records that kept only those):
    ``success[g]`` of the ``samples[g]`` 0/1 outcomes of group ``g`` were 1 (the count is rounded to the nearest
    sample). None without both outcomes."""
    scores, labels = [], []
    for group, n in samples.items():
        solved = round(success[group] * n)
        scores += [success[group]] * n
        labels += [1.0] * solved + [0.0] * (n - solved)
    return auc(scores, labels)


def explained_variance(predictions, targets) -> float:
    """The share of the targets' variance the predictions explain: 1 − Var(target − pred) / Var(target).

    The project's one definition (the trainer's ``critic/explained_var``, the control suite's diagnostics and the
    tail-effect study all call it): population variances in float64; **NaN when Var(target) = 0** (a constant
    target, one row or none): there is no variance to explain, so the ratio is undefined, neither 0 nor 1.
    Files in JSON store that NaN as null.

    Args:
        predictions: shape `(n,)` (a torch tensor, numpy array or sequence), e.g. σ(V) or V(s_t).
        targets: shape `(n,)`, e.g. the outcomes R or the returns.

    Returns:
        `float` ≤ 1: 1 for exact predictions, 0 for any constant one, negative when worse than a constant.
    """
    pred, target = _float64(predictions), _float64(targets)
    if len(pred) != len(target):
        raise ValueError(f"explained_variance: {len(pred)} predictions against {len(target)} targets")
    var = target.var() if len(target) else 0.0
    if var == 0:
        return float("nan")
    return float(1.0 - (target - pred).var() / var)


def _float64(x) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, possibly on a device or requiring grad
        x = x.detach().cpu()
    return np.asarray(x, dtype=np.float64).reshape(-1)


def heldout_critic_metrics(
    probs: Mapping[str, float], outcomes: Mapping[str, Sequence[float]], groups: Mapping[str, str]
) -> dict[str, float]:
    """The critic's held-out ranking quality at one validation.

    Args:
        probs: prompt uid -> σ(V(s_p)).
        outcomes: prompt uid -> the 0/1 rewards of its sampled responses (prompts without any are skipped).
        groups: prompt uid -> its validation group (``data_source``).

    Returns:
        ``val-critic/{spearman,pearson,auc,auc_ceiling,auc_group_ceiling}`` (omitted where undefined),
        ``val-critic/prompts``,
        ``val-critic/samples_per_prompt_min`` and per group ``val-critic/<group>/{sigmoid_v_mean,success_mean}``.
    """
    uids = [u for u in probs if len(outcomes.get(u, ())) > 0]
    if not uids:
        return {}
    p = [float(probs[u]) for u in uids]
    success = [float(np.mean(outcomes[u])) for u in uids]
    sample_p = [float(probs[u]) for u in uids for _ in outcomes[u]]
    sample_r = [float(r) for u in uids for r in outcomes[u]]
    sample_success = [success[i] for i, u in enumerate(uids) for _ in outcomes[u]]
    sample_group = [groups[u] for u in uids for _ in outcomes[u]]
    group_success = {
        g: float(np.mean([r for r, h in zip(sample_r, sample_group) if h == g])) for g in set(sample_group)
    }
    metrics: dict[str, float] = {
        f"{PREFIX}prompts": float(len(uids)),
        f"{PREFIX}samples_per_prompt_min": float(min(len(outcomes[u]) for u in uids)),
    }
    for name, value in (
        ("spearman", spearman(p, success)),
        ("pearson", pearson(p, success)),
        ("auc", auc(sample_p, sample_r)),
        ("auc_ceiling", auc(sample_success, sample_r)),
        ("auc_group_ceiling", auc([group_success[g] for g in sample_group], sample_r)),
    ):
        if value is not None:
            metrics[f"{PREFIX}{name}"] = value
    for group in sorted({groups[u] for u in uids}):
        members = [i for i, u in enumerate(uids) if groups[u] == group]
        metrics[f"{PREFIX}{group}/sigmoid_v_mean"] = float(np.mean([p[i] for i in members]))
        metrics[f"{PREFIX}{group}/success_mean"] = float(np.mean([success[i] for i in members]))
    return metrics
