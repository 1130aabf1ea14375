"""The quickstart's figure (matplotlib, no display needed); each panel's title says what a reader should see.

1. training reward, the critic's mean σ(V) and held-out success over training ("held-out success rises: a → b");
2. with SPPO's held-out critic metrics (``val-critic/*``, sppo/critic_quality.py): how well σ(V(s_p)) ranks the
   held-out prompts by their measured success, at each validation (Spearman, Pearson, AUC);
3. with several validation groups (the graded task's levels): σ(V) beside measured success per level, at the last
   validation and, for contrast, at the first (the untrained critic).
"""

from __future__ import annotations

import statistics
from pathlib import Path

CRITIC = "val-critic/"
RANKS_FROM = 0.5  # a held-out Spearman from which the title says that σ(V) ranks the prompts by difficulty


def success_headline(val_points: list[tuple[int, float]]) -> str:
    """``held-out success rises: 0.36 → 0.55`` (first and last validation), or without "rises" if it did not."""
    if len(val_points) < 2:
        return "held-out success" + (f": {val_points[0][1]:.2f}" if val_points else "")
    first, last = val_points[0][1], val_points[-1][1]
    return f"held-out success {'rises' if last > first else 'does not rise'}: {first:.2f} → {last:.2f}"


def critic_headline(critic_rows: list[dict]) -> str:
    """What the critic panel shows, with the held-out Spearman at the first, second and last validation."""
    points = [(r["step"], r["data"][CRITIC + "spearman"]) for r in critic_rows if CRITIC + "spearman" in r["data"]]
    if not points:
        return "prompt-only critic on held-out prompts"
    shown = points if len(points) <= 3 else [points[0], points[1], points[-1]]
    numbers = "Spearman " + " → ".join(f"{v:+.2f} (step {s})" for s, v in shown)
    if points[-1][1] >= RANKS_FROM:
        return f"σ(V) ranks held-out prompts by difficulty\n{numbers}"
    if len(groups(critic_rows[-1])) < 2:
        return f"σ(V) vs held-out prompt success (a+b: every prompt about as hard)\n{numbers}"
    return f"σ(V) does not rank held-out prompts by difficulty\n{numbers}"


def levels_headline(row: dict) -> str:
    """Whether σ(V) per level follows measured success at one validation (Pearson over the levels ≥ 0.8)."""
    names = groups(row)
    p = [row["data"][f"{CRITIC}{g}/sigmoid_v_mean"] for g in names]
    s = [row["data"][f"{CRITIC}{g}/success_mean"] for g in names]
    try:
        r = statistics.correlation(p, s)
    except statistics.StatisticsError:  # fewer than 2 levels, or a constant series
        r = float("nan")
    verdict = "σ(V) follows measured success" if r >= 0.8 else "σ(V) beside measured success"
    return f"per level, {verdict}\n(held-out prompts, step {row['step']}; Pearson over levels {r:+.2f})"


def level_label(group: str) -> str:
    """``sppo_graded_k04`` -> ``k=4``; any other group name as it is."""
    tail = group.rsplit("_", 1)[-1]
    return f"k={int(tail[1:])}" if tail[:1] == "k" and tail[1:].isdigit() else group


def groups(row: dict) -> list[str]:
    """The validation groups (data sources; the graded task's levels) with σ(V) and success in a critic row."""
    names = [k[len(CRITIC) : -len("/sigmoid_v_mean")] for k in row["data"] if k.endswith("/sigmoid_v_mean")]
    return [g for g in names if f"{CRITIC}{g}/success_mean" in row["data"]]


def plot_reward_curve(
    step_rows: list[dict],
    val_points: list[tuple[int, float]],
    path: str | Path,
    title: str = "",
    critic_rows: list[dict] | None = None,
) -> None:
    """Training reward per step (and its moving average) plus held-out validation success; with ``critic_rows``
    (the validations' ``val-critic/*`` metrics) the critic's held-out ranking quality, and with per-group metrics
    in them (several levels) σ(V) against success per level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_level = bool(critic_rows) and len(groups(critic_rows[-1])) >= 2
    if per_level:
        fig, (ax, ax_critic, ax_level) = plt.subplots(1, 3, figsize=(16, 4.6), gridspec_kw={"width_ratios": [3, 2, 2]})
    elif critic_rows:
        fig, (ax, ax_critic) = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [3, 2]})
    else:
        fig, ax = plt.subplots(figsize=(7, 4.6))
    if critic_rows:
        _plot_critic_quality(ax_critic, critic_rows)
    if per_level:
        _plot_levels(ax_level, critic_rows)
    xs = [r["step"] for r in step_rows]
    ys = [r["data"]["critic/score/mean"] for r in step_rows]
    if xs:
        ax.plot(xs, ys, color="tab:blue", alpha=0.3, label="training reward (batch mean)")
        window = max(1, len(ys) // 15)
        smooth = [
            sum(ys[max(0, i - window + 1) : i + 1]) / len(ys[max(0, i - window + 1) : i + 1]) for i in range(len(ys))
        ]
        ax.plot(xs, smooth, color="tab:blue", label=f"training reward ({window}-step mean)")
        baseline = [r["data"].get("critic/sigmoid_v_mean") for r in step_rows]
        if all(b is not None for b in baseline):
            ax.plot(xs, baseline, color="tab:green", alpha=0.7, label="critic mean σ(V) (the baseline)")
    if val_points:
        ax.plot(
            [s for s, _ in val_points], [v for _, v in val_points], "o--", color="tab:red", label="held-out success"
        )
    ax.set_xlabel("training step")
    ax.set_ylabel("success rate")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(success_headline(val_points))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_critic_quality(ax, critic_rows: list[dict]) -> None:
    lowest = 0.0
    for key, label, style in (
        ("spearman", "Spearman (σ(V) vs prompt success)", "o-"),
        ("pearson", "Pearson", "s--"),
        ("auc", "AUC (σ(V) vs sample outcome)", "^-"),
    ):
        points = [(r["step"], r["data"][CRITIC + key]) for r in critic_rows if CRITIC + key in r["data"]]
        if points:
            ax.plot([s for s, _ in points], [v for _, v in points], style, label=label)
            lowest = min(lowest, *(v for _, v in points))
    ax.axhline(0.5, color="grey", ls=":", lw=0.8)
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_xlabel("training step")
    ax.set_ylabel("held-out critic quality")
    ax.set_ylim(-1.02 if lowest < 0 else -0.05, 1.02)  # correlations of an untrained critic can be negative
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(critic_headline(critic_rows), fontsize=10)


def _plot_levels(ax, critic_rows: list[dict]) -> None:
    first, last = critic_rows[0], critic_rows[-1]
    names = groups(last)
    xs = list(range(len(names)))
    labels = [level_label(name) for name in names]

    def series(row: dict, metric: str) -> list[float]:
        return [row["data"].get(f"{CRITIC}{g}/{metric}", float("nan")) for g in names]

    ax.plot(xs, series(last, "success_mean"), "o-", color="tab:red", label=f"measured success (step {last['step']})")
    ax.plot(xs, series(last, "sigmoid_v_mean"), "s-", color="tab:green", label=f"mean σ(V) (step {last['step']})")
    if first is not last:
        ax.plot(
            xs,
            series(first, "sigmoid_v_mean"),
            "s:",
            color="grey",
            label=f"mean σ(V) (step {first['step']}, untrained)",
        )
    ax.set_xticks(xs, labels)
    ax.set_xlabel("held-out level (number of terms)")
    ax.set_ylabel("success rate / σ(V)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(levels_headline(last), fontsize=10)
