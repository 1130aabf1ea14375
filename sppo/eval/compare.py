"""``compare``: several runs side by side, and score against training step / wall-clock hours.

    python -m sppo.eval compare RUN [RUN ...] [--labels A B ...] [--out DIR]

A RUN is one of:
* a training metrics JSONL written by verl's file logger (``trainer.logger=[file]``), lines of
  ``{"step": N, "data": {metric: value}}``. Validation scores are the keys
  ``val-core/<data_source>/acc/mean@N`` (else ``.../reward/mean@N``; the largest N); wall-clock
  time is the running sum of ``timing_s/step`` up to and including the point's step (0 for the
  validation before training; unknown when the file logs no timing);
* a ``score`` output directory (holds ``metrics.json``): one point, at its checkpoint's step if
  known (a point without a step is drawn as a horizontal reference line, e.g. the base model);
* a directory of such directories (e.g. ``evals/global_step_100/``, ...): one point each.

The run's score at a point is the mean over benchmarks of avg@k (the paper's way), taken over the
benchmarks that every run has, so runs are compared on the same set. Prints a Markdown table of
each run's last point and best mean; with ``--out`` writes ``compare.md`` and ``compare.png``
(score vs step, and vs hours when every run with several points logged its timing).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sppo.cli_errors import atomic_path, write_text_atomic
from sppo.eval.benchmarks import benchmark_for, title
from sppo.eval.errors import EvalError

_VAL_KEY = re.compile(r"^val-core/(?P<source>.+)/(?P<var>acc|reward)/mean@(?P<n>\d+)$")
_STEP_NAME = re.compile(r"(?:global_step_|step_?)(\d+)$")


@dataclass
class Point:
    """Scores of one evaluation: ``values`` maps benchmark -> fraction in [0, 1]."""

    step: int | None
    hours: float | None
    values: dict[str, float]


@dataclass
class Run:
    label: str
    points: list[Point] = field(default_factory=list)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_jsonl(path: Path) -> list[Point]:
    """Validation points of a verl file-logger JSONL (bad lines are skipped, not fatal)."""
    lines = []
    if path.suffix.lower() == ".parquet":
        raise EvalError(
            f"run {path}: a parquet file; compare reads a training metrics JSONL or a score output folder "
            f"(score it first: python -m sppo.eval score {path} --out DIR)"
        )
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a byte-order mark is not part of the first line
    except UnicodeDecodeError:
        raise EvalError(
            f"run {path}: not a text file (expected a verl file-logger metrics JSONL or a score output folder)"
        ) from None
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut by a killed run
        if isinstance(record, dict) and isinstance(record.get("data"), dict) and _finite(record.get("step")):
            lines.append((int(record["step"]), record["data"]))
    lines.sort(key=lambda item: item[0])
    timed = any(_finite(data.get("timing_s/step")) for _, data in lines)
    seconds = 0.0
    points: dict[int, Point] = {}
    for step, data in lines:
        if _finite(data.get("timing_s/step")):
            seconds += float(data["timing_s/step"])
        best: dict[str, tuple[int, int, float]] = {}  # benchmark -> (acc first, n, value)
        for key, value in data.items():
            match = _VAL_KEY.match(key)
            if match and _finite(value) and not 0.0 <= value <= 1.0:
                raise EvalError(
                    f"run {path}: {key} = {value:g} at step {step} is not a fraction in [0, 1]; compare reads success "
                    "rates (0/1 rewards), not scores on another scale (such as verl's +-1 math_dapo reward)"
                )
            if match and _finite(value):
                name = benchmark_for(None, match["source"]) or match["source"]
                rank = (match["var"] == "acc", int(match["n"]))
                if name not in best or rank > best[name][:2]:
                    best[name] = (*rank, float(value))
        if best:
            point = points.setdefault(step, Point(step, None, {}))
            point.values.update({name: value for name, (_, _, value) in best.items()})
            point.hours = seconds / 3600 if timed else None
    return list(points.values())


def _avg(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError(f"avg is {value}, expected a number")
    return float(value)


def _score_point(metrics_file: Path) -> Point:
    try:
        metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
        values = {name: _avg(m["avg"]) for name, m in metrics["benchmarks"].items()}
        source = metrics.get("source") or {}
        step = source.get("step") if isinstance(source, dict) else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise EvalError(f"{metrics_file}: not a score metrics.json ({type(exc).__name__}: {exc})") from None
    bad = [name for name, value in values.items() if not (math.isfinite(value) and 0.0 <= value <= 1.0)]
    if bad:
        raise EvalError(f"{metrics_file}: avg of {bad[0]!r} is {values[bad[0]]}, expected a fraction in [0, 1]")
    if step is not None and (not isinstance(step, int) or isinstance(step, bool)):
        raise EvalError(f"{metrics_file}: source.step is {step!r}, expected an integer or null")
    if step is None:
        match = _STEP_NAME.search(metrics_file.parent.name)
        step = int(match.group(1)) if match else None
    return Point(step, None, values)


def read_run(path: str | Path, label: str | None = None) -> Run:
    """A :class:`Run` from a JSONL file, a score directory or a directory of score directories."""
    path = Path(path)
    label = label or (path.stem if path.is_file() else path.name)
    if path.is_file():
        points = read_jsonl(path)
    elif (path / "metrics.json").is_file():
        points = [_score_point(path / "metrics.json")]
    elif path.is_dir():
        points = [_score_point(f) for f in sorted(path.glob("*/metrics.json"))]
    else:
        raise EvalError(f"run {path}: no such file or directory")
    if not points:
        raise EvalError(f"run {path}: no validation scores found (val-core/... keys or metrics.json)")
    points.sort(key=lambda p: -1 if p.step is None else p.step)
    return Run(label, points)


def shared_benchmarks(runs: list[Run]) -> list[str]:
    """Benchmarks present in every point of every run (the set the mean is taken over)."""
    sets = [set(p.values) for run in runs for p in run.points]
    common = set.intersection(*sets) if sets else set()
    order = ["aime24", "aime25", "amc23", "math500", "minerva"]
    return [n for n in order if n in common] + sorted(common - set(order))


def mean_score(point: Point, names: list[str]) -> float:
    return sum(point.values[n] for n in names) / len(names)


def table(runs: list[Run], names: list[str]) -> str:
    """Markdown: one column per run; each benchmark at the run's last point, its mean, its best mean."""
    every = sorted({n for run in runs for p in run.points for n in p.values}, key=lambda n: (n not in names, n))
    head = "| | " + " | ".join(run.label for run in runs) + " |"
    lines = [head, "|---" + "|---:" * len(runs) + "|"]

    def cell(value: float | None) -> str:
        return "" if value is None else f"{100 * value:.1f}"

    lines.append(
        "| last step | " + " | ".join("" if r.points[-1].step is None else str(r.points[-1].step) for r in runs) + " |"
    )
    for name in every:
        lines.append(f"| {title(name)} | " + " | ".join(cell(r.points[-1].values.get(name)) for r in runs) + " |")
    if names:
        lines.append(
            f"| mean of {len(names)} (last) | " + " | ".join(cell(mean_score(r.points[-1], names)) for r in runs) + " |"
        )
        best = []
        for run in runs:
            point = max(run.points, key=lambda p: mean_score(p, names))
            best.append(f"{cell(mean_score(point, names))}" + ("" if point.step is None else f" @ {point.step}"))
        lines.append(f"| mean of {len(names)} (best @ step) | " + " | ".join(best) + " |")
    hours = [r.points[-1].hours for r in runs]
    if any(h is not None for h in hours):
        lines.append("| hours | " + " | ".join("" if h is None else f"{h:.2f}" for h in hours) + " |")
    return "\n".join(lines) + "\n"


def plot(runs: list[Run], names: list[str], path: Path) -> None:
    """Mean score vs step (and vs hours when all multi-point runs have timing)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = [r for r in runs if any(p.step is not None for p in r.points)]
    multi = [r for r in curves if len(r.points) > 1]
    with_hours = bool(multi) and all(all(p.hours is not None for p in r.points) for r in multi)
    axes_x = ["step", "hours"] if with_hours else ["step"]
    fig, axes = plt.subplots(1, len(axes_x), figsize=(5.5 * len(axes_x), 3.8), squeeze=False)
    for ax, x in zip(axes[0], axes_x, strict=True):
        for i, run in enumerate(runs):
            color = f"C{i % 10}"
            stepped = [p for p in run.points if p.step is not None and (x == "step" or p.hours is not None)]
            if stepped:
                xs = [p.step if x == "step" else p.hours for p in stepped]
                ax.plot(
                    xs, [100 * mean_score(p, names) for p in stepped], marker="o", ms=3, color=color, label=run.label
                )
            for p in run.points:
                if p.step is None:  # a reference (e.g. the base model): a horizontal line
                    ax.axhline(100 * mean_score(p, names), ls="--", color=color, label=f"{run.label} (no step)")
        ax.set_xlabel("training step" if x == "step" else "wall-clock hours")
        ax.set_ylabel(f"mean avg@k of {len(names)} benchmarks (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(", ".join(title(n) for n in names), fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def run(paths: list[str], labels: list[str] | None = None, out: str | Path | None = None) -> str:
    """Read the runs, print and (with ``out``) save the table and the plot; returns the table."""
    if not paths:
        raise EvalError("give at least one run (a metrics JSONL or a score directory)")
    if labels and len(labels) != len(paths):
        raise EvalError(f"--labels has {len(labels)} names for {len(paths)} runs")
    resolved = [str(Path(p).resolve()) for p in paths]
    twice = next((p for i, p in enumerate(paths) if resolved[i] in resolved[:i]), None)
    if twice is not None:
        raise EvalError(f"run {twice} is given twice")
    if labels and len(set(labels)) < len(labels):
        same = next(label for i, label in enumerate(labels) if label in labels[:i])
        raise EvalError(f"--labels: {same!r} names two runs; give each run its own label")
    runs = [read_run(p, labels[i] if labels else None) for i, p in enumerate(paths)]
    if not labels and len({run.label for run in runs}) < len(runs):  # e.g. a/metrics.jsonl and b/metrics.jsonl
        for run, path in zip(runs, paths, strict=True):
            run.label = str(path)
    names = shared_benchmarks(runs)
    if not names:
        have = [f"{r.label}: {', '.join(sorted({n for p in r.points for n in p.values}))}" for r in runs]
        raise EvalError("the runs share no benchmark: " + "; ".join(have))
    text = table(runs, names)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out / "compare.md", text)
        plot(runs, names, out / "compare.png")
    return text
