"""Reward-curve figure of a training run (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path


def plot_reward_curve(
    step_rows: list[dict], val_points: list[tuple[int, float]], path: str | Path, title: str = ""
) -> None:
    """Training reward per step (and its moving average) plus held-out validation success."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
