"""Tables and plots of ``score`` results.

Files written to the output directory:
  metrics.json   everything, fractions in [0, 1] (pass@k keyed by k as a string)
  metrics.csv    one row per benchmark plus ``mean`` (when several); fractions in [0, 1]
  metrics.md     the same as a Markdown table, in percent with one decimal
  bar_<benchmark>.png  avg@k, pass@k, maj@k of one benchmark
  pass_at_k.png  pass@k against k (log2 axis), one line per benchmark
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from sppo.cli_errors import atomic_path, atomic_write, write_text_atomic
from sppo.eval.benchmarks import title


def _pass_ks(metrics: dict[str, Any]) -> list[int]:
    return sorted({int(k) for m in metrics["benchmarks"].values() for k in m["pass"]})


def _k_label(m: dict[str, Any]) -> str:
    return str(m["n_min"]) if m["n_min"] == m["n_max"] else f"{m['n_min']}-{m['n_max']}"


def _mean_label(metrics: dict[str, Any]) -> str:
    names = metrics["mean"]["benchmarks"]
    if metrics.get("paper_mean5") is not None and len(names) == 5:
        return "mean of 5 (paper)"
    return f"mean of {len(names)}"


def rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """Flat rows (benchmarks, then their mean when there are several): the CSV content; fractions,
    None = unknown/n.a."""
    ks = _pass_ks(metrics)
    out = []
    for name, m in metrics["benchmarks"].items():
        row = {"benchmark": name, "problems": m["problems"], "samples": m["samples"], "k": _k_label(m), "avg": m["avg"]}
        row.update({f"pass@{k}": m["pass"].get(k, m["pass"].get(str(k))) for k in ks})
        row.update(maj=m["maj"], mean_tokens=m["mean_tokens"], no_answer=m["no_answer"], truncated=m["truncated"])
        out.append(row)
    if len(metrics["benchmarks"]) < 2:
        return out
    mean = metrics["mean"]
    row = {"benchmark": "mean", "problems": None, "samples": None, "k": None, "avg": mean["avg"]}
    row.update({f"pass@{k}": mean["pass"].get(k, mean["pass"].get(str(k))) for k in ks})
    row.update(maj=mean["maj"], mean_tokens=None, no_answer=None, truncated=None)
    out.append(row)
    return out


def _pct(value: float | None) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def markdown_table(metrics: dict[str, Any]) -> str:
    """The Markdown table: percentages with one decimal, mean response length in tokens."""
    ks = _pass_ks(metrics)
    head = [
        "benchmark",
        "problems",
        "k",
        "avg@k",
        *[f"pass@{k}" for k in ks],
        "maj@k",
        "tokens",
        "no answer",
        "truncated",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for row in rows(metrics):
        name = title(row["benchmark"]) if row["benchmark"] != "mean" else _mean_label(metrics)
        tokens = row["mean_tokens"]
        cells = [
            name,
            "" if row["problems"] is None else str(row["problems"]),
            row["k"] or "",
            _pct(row["avg"]),
            *[_pct(row[f"pass@{k}"]) for k in ks],
            _pct(row["maj"]),
            "" if tokens is None else f"{tokens:.1f}",
            _pct(row["no_answer"]),
            _pct(row["truncated"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_tables(metrics: dict[str, Any], out: str | Path) -> None:
    """metrics.json, metrics.csv and metrics.md under ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=2, default=str) + "\n")
    table = rows(metrics)
    with atomic_write(out / "metrics.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(table[0]))
        writer.writeheader()
        for row in table:
            writer.writerow({k: "" if v is None else (repr(v) if isinstance(v, float) else v) for k, v in row.items()})
    write_text_atomic(out / "metrics.md", markdown_table(metrics))


def write_plots(metrics: dict[str, Any], out: str | Path) -> list[Path]:
    """One bar chart per benchmark and the pass@k curves; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    written = []
    for name, m in metrics["benchmarks"].items():
        k = _k_label(m)
        labels = [f"avg@{k}", *[f"pass@{p}" for p in sorted(map(int, m["pass"]))], f"maj@{k}"]
        values = [m["avg"], *[m["pass"].get(p, m["pass"].get(str(p))) for p in sorted(map(int, m["pass"]))], m["maj"]]
        fig, ax = plt.subplots(figsize=(1.2 + 0.8 * len(labels), 3.2))
        bars = ax.bar(labels, [100 * v for v in values], color="#4C72B0")
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
        ax.set_ylim(0, 105)
        ax.set_ylabel("%")
        ax.set_title(f"{title(name)} ({m['problems']} problems)")
        fig.tight_layout()
        path = out / f"bar_{name}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110)
        plt.close(fig)
        written.append(path)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, m in metrics["benchmarks"].items():
        ks = sorted(map(int, m["pass"]))
        ax.plot(ks, [100 * m["pass"].get(k, m["pass"].get(str(k))) for k in ks], marker="o", label=title(name))
    ax.set_xscale("log", base=2)
    ax.set_xlabel("k")
    ax.set_ylabel("pass@k (%)")
    ax.set_ylim(0, 105)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / "pass_at_k.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    written.append(path)
    return written
