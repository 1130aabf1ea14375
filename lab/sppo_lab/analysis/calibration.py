"""Calibration report of the SPPO critic: is p = σ(V(s_p)) the probability that the policy solves s_p?

    python -m sppo_lab.analysis calibration runs/quickstart [--out DIR] [--bins 10] [--window 10]

Input: the JSON lines that the trainer appends when ``sppo.calibration_log=PATH`` is set (the quickstart
sets it to ``OUT/calibration.jsonl``), one line per training step::

    {"step": 12, "p": [σ(V) per sample, before that step's critic update], "r": [outcome R per sample]}

RUN is a run directory holding ``calibration.jsonl``, or the path of such a file. Writes to ``--out``
(default: the directory of the file):

* ``calibration_reliability.png``: reliability diagrams (equal-width bins of p; bars = observed success
  rate, dots = mean p in the bin, counts written on the bars and drawn below) of the first and the last
  ``--window`` steps, side by side;
* ``calibration_training.png``: Brier score, ECE, and mean p vs mean R per step, each with a trailing
  ``--window``-step moving average;
* ``calibration_summary.json``: every plotted number.

All metrics come from ``sppo.critic_loss.calibration_metrics``, the function that produces the training
metrics ``critic/brier`` and ``critic/ece``, so a step's numbers here equal that step's training metrics
whenever the step had at most ``sppo.calibration_log_max_rows`` (256) rows (beyond that the log holds a
random subsample) and ``--bins`` is 10 (the trainer's bin count).

Reading rules (see docs/analysis.md):
* blank lines are ignored;
* a line that is not valid JSON (a write cut off by a crash or a kill) is SKIPPED and counted; the count
  and the first such line number are printed as one warning and stored in the summary;
* a line that is valid JSON but not a row of this format (not an object; ``step`` not an integer;
  ``p``/``r`` not lists of numbers of equal length; a non-finite value; p or R outside [0, 1]) is an
  ERROR: it means a wrong file, not an interrupted write;
* a step logged twice (a resumed run repeats the steps after its last checkpoint): the later line wins;
* a step with no samples (``"p": [], "r": []``) has no calibration: it is SKIPPED and counted (one warning,
  ``empty_steps`` in the summary);
* a UTF-8 byte-order mark at the start of the file is ignored (it is not a cut write);
* a missing file, an empty file, a file without one readable row, or one whose steps hold no sample at all
  is an error.
Errors raise ``AnalysisError`` (one line; the CLI exits with code 2).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sppo.cli_errors import UserError, atomic_path, check_output_dir, write_text_atomic
from sppo_lab.analysis.errors import AnalysisError
from sppo_lab.stats import moving_average

LOG_NAME = "calibration.jsonl"
RELIABILITY_PNG = "calibration_reliability.png"
TRAINING_PNG = "calibration_training.png"
SUMMARY_JSON = "calibration_summary.json"
if TYPE_CHECKING:  # torch is imported only once the log has been validated
    import torch

MAX_BINS = 1000  # bounded work: every bin is a loop iteration and a bar


@dataclass
class CalibrationLog:
    """The rows of one calibration log, one entry per distinct step, in step order."""

    path: Path
    steps: list[int]
    probs: list[torch.Tensor]  # per step: shape (n_step,), float64, p = σ(V(s_p))
    outcomes: list[torch.Tensor]  # per step: shape (n_step,), float64, R
    skipped_lines: list[int] = field(default_factory=list)  # 1-based numbers of undecodable lines
    replaced_steps: int = 0  # steps logged more than once (the later line was kept)
    empty_steps: list[int] = field(default_factory=list)  # steps logged without any sample (left out)


def resolve_log_path(run: str | Path) -> Path:
    """``RUN/calibration.jsonl`` if RUN is a directory, else RUN itself; raises if it does not exist."""
    path = Path(run)
    if path.is_dir():
        path = path / LOG_NAME
        if not path.is_file():
            raise AnalysisError(f"no {LOG_NAME} in run directory {run} (set sppo.calibration_log=PATH when training)")
    elif not path.is_file():
        raise AnalysisError(f"calibration log not found: {run}")
    return path


def _numbers(value, key: str, where: str) -> list[float]:
    if not isinstance(value, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value):
        raise AnalysisError(f"{where}: '{key}' must be a list of numbers")
    bad = [x for x in value if not math.isfinite(x) or x < 0.0 or x > 1.0]
    if bad:
        what = "p = sigmoid(V) must lie in [0, 1]" if key == "p" else "the outcome R must lie in [0, 1]"
        raise AnalysisError(f"{where}: {what}, got {bad[0]!r} ({len(bad)} such values)")
    return [float(x) for x in value]


def parse_row(line: str, where: str) -> tuple[int, list[float], list[float]] | None:
    """(step, p, r) of one log line; ``None`` if the line is not JSON; raises on a JSON line of the wrong shape."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(row, dict) or not {"step", "p", "r"} <= row.keys():
        raise AnalysisError(f"{where}: expected an object with keys step, p, r")
    step = row["step"]
    if not isinstance(step, int) or isinstance(step, bool):
        raise AnalysisError(f"{where}: 'step' must be an integer, got {step!r}")
    p, r = _numbers(row["p"], "p", where), _numbers(row["r"], "r", where)
    if len(p) != len(r):
        raise AnalysisError(f"{where}: 'p' has {len(p)} values but 'r' has {len(r)}")
    return step, p, r


def read_calibration_log(run: str | Path) -> CalibrationLog:
    """Read and validate a calibration log (the rules are in the module docstring)."""
    path = resolve_log_path(run)
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a byte-order mark is not part of the first row
    except (OSError, UnicodeDecodeError) as exc:
        raise AnalysisError(f"cannot read {path}: {exc}") from None
    by_step: dict[int, tuple[list[float], list[float]]] = {}
    skipped: list[int] = []
    replaced = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parsed = parse_row(line, f"{path}, line {number}")
        if parsed is None:
            skipped.append(number)
            continue
        step, p, r = parsed
        replaced += step in by_step
        by_step[step] = (p, r)
    if not by_step:
        if skipped:
            raise AnalysisError(f"{path} has no readable row ({len(skipped)} line(s) are not valid JSON)")
        raise AnalysisError(f"{path} is empty (no training step was logged)")
    empty = sorted(step for step, (p, _) in by_step.items() if not p)
    steps = sorted(step for step, (p, _) in by_step.items() if p)
    if not steps:
        raise AnalysisError(
            f"{path}: its {len(empty)} step(s) hold no (p, R) sample (every 'p' and 'r' is an empty list): "
            "nothing to calibrate"
        )
    import torch  # only once the log is known to be good: a bad log fails fast, without torch and verl

    return CalibrationLog(
        path=path,
        steps=steps,
        probs=[torch.tensor(by_step[s][0], dtype=torch.float64) for s in steps],
        outcomes=[torch.tensor(by_step[s][1], dtype=torch.float64) for s in steps],
        skipped_lines=skipped,
        replaced_steps=replaced,
        empty_steps=empty,
    )


def reliability_bins(probs: torch.Tensor, outcomes: torch.Tensor, n_bins: int = 10) -> list[dict]:
    """Equal-width bins of p, binned exactly as ``calibration_metrics`` bins them for the ECE.

    Args:
        probs: `(torch.Tensor)` shape `(n,)`, p in [0, 1].
        outcomes: `(torch.Tensor)` shape `(n,)`, R in [0, 1].
        n_bins: number of bins; bin b is [b/n_bins, (b+1)/n_bins), the last one closed.

    Returns:
        one dict per bin: ``lo``, ``hi``, ``count``, ``mean_p`` and ``observed`` (mean R); the two means
        are ``None`` for an empty bin.
    """
    import torch

    probs = probs.double().reshape(-1)
    outcomes = outcomes.double().reshape(-1)
    index = torch.clamp((probs * n_bins).long(), max=n_bins - 1)
    out = []
    for b in range(n_bins):
        in_bin = index == b
        count = int(in_bin.sum())
        out.append(
            {
                "lo": b / n_bins,
                "hi": (b + 1) / n_bins,
                "count": count,
                "mean_p": probs[in_bin].mean().item() if count else None,
                "observed": outcomes[in_bin].mean().item() if count else None,
            }
        )
    return out


def window_summary(log: CalibrationLog, indices: range, n_bins: int) -> dict:
    """Pooled metrics and reliability bins of the steps ``log.steps[i] for i in indices``."""
    import torch

    from sppo.critic_loss import calibration_metrics

    probs = torch.cat([log.probs[i] for i in indices])
    outcomes = torch.cat([log.outcomes[i] for i in indices])
    return {
        "steps": [log.steps[indices[0]], log.steps[indices[-1]]],
        "n_steps": len(indices),
        "n": int(probs.numel()),
        "metrics": calibration_metrics(probs, outcomes, n_bins) or None,
        "bins": reliability_bins(probs, outcomes, n_bins),
    }


def build_summary(log: CalibrationLog, n_bins: int = 10, window: int = 10) -> dict:
    """Everything the report plots, as plain JSON-able numbers."""
    from sppo.critic_loss import calibration_metrics

    per_step = []
    for step, p, r in zip(log.steps, log.probs, log.outcomes, strict=True):
        m = calibration_metrics(p, r, n_bins)
        keys = ("brier", "ece", "sigmoid_v_mean", "reward_mean", "explained_var")
        per_step.append({"step": step, "n": int(p.numel()), **{k: m.get(k) for k in keys}})
    k = min(window, len(log.steps))
    return {
        "source": str(log.path),
        "bins": n_bins,
        "window": window,
        "n_steps": len(log.steps),
        "n_rows": sum(int(p.numel()) for p in log.probs),
        "skipped_lines": len(log.skipped_lines),
        "first_skipped_line": log.skipped_lines[0] if log.skipped_lines else None,
        "replaced_steps": log.replaced_steps,
        "empty_steps": len(log.empty_steps),
        "first_window": window_summary(log, range(0, k), n_bins),
        "last_window": window_summary(log, range(len(log.steps) - k, len(log.steps)), n_bins),
        "per_step": per_step,
        "moving_average": {
            key: moving_average([row[key] for row in per_step], window)
            for key in ("brier", "ece", "sigmoid_v_mean", "reward_mean")
        },
    }


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_reliability(summary: dict, path: str | Path) -> None:
    """Reliability diagrams of the first and last windows (top) with the bin counts (bottom)."""
    plt = _plt()
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.2), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for col, key in enumerate(("first_window", "last_window")):
        win = summary[key]
        ax, hist = axes[0, col], axes[1, col]
        width = 1.0 / summary["bins"]
        filled = [b for b in win["bins"] if b["count"]]
        ax.plot([0, 1], [0, 1], color="gray", ls="--", lw=1, label="perfect calibration")
        ax.bar(
            [b["lo"] for b in filled],
            [b["observed"] for b in filled],
            width=width,
            align="edge",
            color="tab:blue",
            alpha=0.35,
            edgecolor="tab:blue",
            label="observed success rate",
        )
        ax.plot(
            [b["mean_p"] for b in filled],
            [b["observed"] for b in filled],
            "o",
            color="tab:red",
            ms=4,
            label="mean predicted p in bin",
        )
        for b in filled:
            ax.annotate(
                f"{b['count']}",
                (b["lo"] + width / 2, b["observed"]),
                textcoords="offset points",
                xytext=(0, 3),
                ha="center",
                fontsize=7,
            )
        m = win["metrics"] or {}
        lo, hi = win["steps"]
        ax.set_title(
            f"{'first' if col == 0 else 'last'} {win['n_steps']} steps ({lo}–{hi}), n = {win['n']}\n"
            f"Brier {m.get('brier', float('nan')):.4f}   ECE {m.get('ece', float('nan')):.4f}",
            fontsize=9,
        )
        ax.set_ylim(0, 1.05)
        ax.set_xlim(0, 1)
        ax.grid(alpha=0.3)
        hist.bar(
            [b["lo"] for b in win["bins"]],
            [b["count"] for b in win["bins"]],
            width=width,
            align="edge",
            color="gray",
            alpha=0.6,
            edgecolor="black",
            lw=0.5,
        )
        hist.set_xlabel("predicted p = σ(V(s_p))")
        hist.grid(alpha=0.3)
    axes[0, 0].set_ylabel("observed success rate")
    axes[1, 0].set_ylabel("count")
    axes[0, 0].legend(loc="upper left", fontsize=7)
    fig.suptitle(
        f"SPPO critic reliability ({summary['bins']} equal-width bins) — {Path(summary['source']).name}", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_training(summary: dict, path: str | Path) -> None:
    """Brier, ECE, and mean p vs mean R per step, each with its moving average."""
    plt = _plt()
    steps = [row["step"] for row in summary["per_step"]]
    ma = summary["moving_average"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, key, label in ((axes[0], "brier", "Brier score"), (axes[1], "ece", "ECE")):
        ax.plot(steps, [row[key] for row in summary["per_step"]], color="tab:blue", alpha=0.3, lw=1, label="per step")
        ax.plot(steps, ma[key], color="tab:blue", lw=2, label=f"{summary['window']}-step moving average")
        ax.set_title(label, fontsize=10)
        ax.set_ylim(bottom=0)
    ax = axes[2]
    ax.plot(steps, [row["reward_mean"] for row in summary["per_step"]], color="tab:orange", alpha=0.25, lw=1)
    ax.plot(steps, ma["reward_mean"], color="tab:orange", lw=2, label="mean R (success)")
    ax.plot(steps, [row["sigmoid_v_mean"] for row in summary["per_step"]], color="tab:green", alpha=0.25, lw=1)
    ax.plot(steps, ma["sigmoid_v_mean"], color="tab:green", lw=2, label="mean p = σ(V)")
    ax.set_title("mean prediction vs mean outcome", fontsize=10)
    ax.set_ylim(-0.02, 1.02)
    for ax in axes:
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(run: str | Path, out: str | Path | None = None, n_bins: int = 10, window: int = 10) -> dict:
    """Read the log, write the two PNGs and the JSON summary; returns the summary (with the output paths)."""
    if not 1 <= n_bins <= MAX_BINS:
        raise AnalysisError(f"--bins must be an integer from 1 to {MAX_BINS}, got {n_bins}")
    if window < 1:
        raise AnalysisError(f"--window must be a positive integer, got {window}")
    log = read_calibration_log(run)
    out_dir = Path(out) if out is not None else log.path.parent
    try:
        check_output_dir(out_dir)
    except UserError as exc:
        raise AnalysisError(str(exc)) from None
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = build_summary(log, n_bins, window)
    names = (RELIABILITY_PNG, TRAINING_PNG, SUMMARY_JSON)
    with atomic_path(out_dir / RELIABILITY_PNG) as tmp:
        plot_reliability(summary, tmp)
    with atomic_path(out_dir / TRAINING_PNG) as tmp:
        plot_training(summary, tmp)
    # the summary names its sibling files without a folder: a copy committed elsewhere (docs/figures/) holds no
    # path of the machine that made it
    write_text_atomic(out_dir / SUMMARY_JSON, json.dumps({**summary, "files": {n: n for n in names}}, indent=1))
    summary["files"] = {name: str(out_dir / name) for name in names}
    return summary
