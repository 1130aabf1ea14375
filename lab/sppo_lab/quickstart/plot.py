"""Reward-curve figure of a training run (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path


def plot_reward_curve(
    step_rows: list[dict],
    val_points: list[tuple[int, float]],
    path: str | Path,
    title: str = "",
    critic_rows: list[dict] | None = None,
) -> None:
    """Training reward per step (and its moving average) plus held-out validation success; with ``critic_rows``
    (the validations' ``val-critic/*`` metrics, sppo/critic_quality.py) a second panel of the critic's held-out
    Spearman, Pearson and AUC."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if critic_rows:
        fig, (ax, ax_critic) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [3, 2]})
        _plot_critic_quality(ax_critic, critic_rows)
    else:
        fig, ax = plt.subplots(figsize=(7, 4))
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
            ax.plot(xs, baseline, color="tab:green", alpha=0.7, label="critic mean sigmoid(V)")
    if val_points:
        ax.plot(
            [s for s, _ in val_points], [v for _, v in val_points], "o--", color="tab:red", label="held-out success"
        )
    ax.set_xlabel("training step")
    ax.set_ylabel("success rate")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_critic_quality(ax, critic_rows: list[dict]) -> None:
    lowest = 0.0
    for key, label, style in (
        ("val-critic/spearman", "Spearman (σ(V) vs prompt success)", "o-"),
        ("val-critic/pearson", "Pearson", "s--"),
        ("val-critic/auc", "AUC (σ(V) vs sample outcome)", "^-"),
    ):
        points = [(r["step"], r["data"][key]) for r in critic_rows if key in r["data"]]
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
    ax.set_title("prompt-only critic on held-out prompts")
