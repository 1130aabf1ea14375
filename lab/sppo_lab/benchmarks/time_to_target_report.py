"""Analysis of the time-to-target benchmark's runs: smoothing, time to target, ratios, tables and figures.

Pure functions of the run records written by ``bench_time_to_target.py`` (one record per method and seed,
with verl's per-step metric rows), so they are tested on hand-made rows.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from pathlib import Path

from sppo.critic_quality import PREFIX as CRITIC_PREFIX
from sppo_lab.stats import t_interval

REWARD_KEY = "critic/score/mean"
VAL_KEY = "val-core/sppo_addition/acc/mean@4"  # a+b; the graded task has one such key per level


def held_out_success(data: dict) -> float | None:
    """verl's held-out accuracy of a validation row: the mean over its groups' ``val-core/<group>/acc/mean@<n>``
    (one group for a+b, one per level for the graded task); None for a row without validation."""
    values = [v for k, v in data.items() if k.startswith("val-core/") and "/acc/mean@" in k]
    return sum(values) / len(values) if values else None


# verl's timing_s/* phases of one step, in pipeline order ("other" is the rest of timing_s/step)
PHASES = [
    "select_prompts",
    "gen",
    "reward",
    "old_log_prob",
    "ref",
    "values",
    "adv",
    "update_critic",
    "update_actor",
    "update_weights",
]


def training_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if REWARD_KEY in r["data"]]


def reward_curve(rows: list[dict], samples_per_step: int, window_samples: int) -> list[dict]:
    """Per step: cumulative training time, samples and generated tokens, and the smoothed reward.

    The smoothed reward at step k is the mean reward of the last ``ceil(window_samples / samples_per_step)``
    steps (every step holds the same number of samples); it is ``None`` until that many steps exist.
    """
    width = max(1, math.ceil(window_samples / samples_per_step))
    curve, t, tokens, rewards = [], 0.0, 0.0, []
    for k, row in enumerate(training_rows(rows), start=1):
        d = row["data"]
        t += float(d.get("timing_s/step", 0.0))
        tokens += float(d.get("response_length/mean", 0.0)) * samples_per_step
        rewards.append(float(d[REWARD_KEY]))
        smoothed = sum(rewards[-width:]) / width if len(rewards) >= width else None
        curve.append(
            {
                "step": row["step"],
                "train_s": t,
                "samples": k * samples_per_step,
                "tokens": tokens,
                "reward": rewards[-1],
                "smoothed": smoothed,
            }
        )
    return curve


def time_to_target(curve: list[dict], target: float) -> dict | None:
    """The first point of ``curve`` whose smoothed reward is >= ``target`` (``None``: never reached)."""
    for point in curve:
        if point["smoothed"] is not None and point["smoothed"] >= target:
            return {k: point[k] for k in ("step", "train_s", "samples", "tokens")}
    return None


def _mean_std(values: list[float]) -> dict:
    """Mean, sample std, n and the half-width of the 95 % Student-t interval of the mean (0 for one value)."""
    if not values:
        return {"mean": None, "std": None, "n": 0, "ci95": None}
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": len(values),
        "ci95": t_interval(values)[1],
    }


def _peak_gpu_memory(rows: list[dict]) -> dict[str, float]:
    """verl's per-role peak GPU memory (``<role>/perf/max_memory_allocated_gb``), max over steps; empty on CPU."""
    peaks: dict[str, float] = {}
    for row in rows:
        for key, value in row["data"].items():
            if key.endswith("max_memory_allocated_gb") and isinstance(value, (int, float)) and value > 0:
                role = key.split("/perf/")[0] if "/perf/" in key else "all"
                peaks[role] = max(peaks.get(role, 0.0), float(value))
    return peaks


CRITIC_QUALITY = ("spearman", "pearson", "auc", "samples_per_prompt_min")


def critic_quality_curve(rows: list[dict]) -> list[dict]:
    """SPPO's held-out critic quality at every validation of a run, in step order; the last validation is labelled
    ``end`` (runs stop at different steps), the others by their step. Per point: the step, the label, the
    ``CRITIC_QUALITY`` values present and ``levels``: per validation group, σ(V) mean and measured success mean.
    Empty for a method without SPPO's critic."""
    points = []
    for row in rows:
        data = row["data"]
        found = {k: float(data[CRITIC_PREFIX + k]) for k in CRITIC_QUALITY if CRITIC_PREFIX + k in data}
        if not found:
            continue
        levels = {}
        for key in data:
            if key.startswith(CRITIC_PREFIX) and key.endswith("/sigmoid_v_mean"):
                group = key[len(CRITIC_PREFIX) : -len("/sigmoid_v_mean")]
                success = data.get(f"{CRITIC_PREFIX}{group}/success_mean")
                if success is not None:
                    levels[group] = {"sigmoid_v": float(data[key]), "success": float(success)}
        points.append({"step": int(row["step"]), "label": str(row["step"]), **found, "levels": levels})
    if points:
        points[-1]["label"] = "end"
    return points


def aggregate_critic_curves(curves: list[list[dict]]) -> list[dict]:
    """Per validation label (steps in order, then ``end``), mean ± std and 95 % CI over the runs that have it:
    the step, each ``CRITIC_QUALITY`` value, and per level σ(V) and measured success."""
    labels = sorted({p["label"] for c in curves for p in c if p["label"] != "end"}, key=int)
    if any(c for c in curves):
        labels.append("end")
    out = []
    for label in labels:
        points = [p for c in curves for p in c if p["label"] == label]
        groups = sorted({g for p in points for g in p["levels"]})
        out.append(
            {
                "label": label,
                "step": _mean_std([p["step"] for p in points]),
                **{k: _mean_std([p[k] for p in points if k in p]) for k in CRITIC_QUALITY},
                "levels": {
                    g: {
                        key: _mean_std([p["levels"][g][key] for p in points if g in p["levels"]])
                        for key in ("sigmoid_v", "success")
                    }
                    for g in groups
                },
            }
        )
    return out


def run_summary(record: dict, targets: list[float], window_samples: int) -> dict:
    samples_per_step = record["batch"] * record["n"]
    curve = reward_curve(record["rows"], samples_per_step, window_samples)
    train = training_rows(record["rows"])
    vals = [v for v in (held_out_success(r["data"]) for r in record["rows"]) if v is not None]
    last = next((p["smoothed"] for p in reversed(curve) if p["smoothed"] is not None), None)
    phases = {p: statistics.fmean(r["data"].get(f"timing_s/{p}", 0.0) for r in train) for p in PHASES} if train else {}
    if train:
        phases["other"] = max(
            0.0, statistics.fmean(r["data"].get("timing_s/step", 0.0) for r in train) - sum(phases.values())
        )
    throughput = [r["data"]["perf/throughput"] for r in train if "perf/throughput" in r["data"]]
    selection = {
        key.split("/", 1)[1]: statistics.fmean(r["data"][key] for r in train if key in r["data"])
        for key in ("prompt_selection/pool_hit_rate", "prompt_selection/batch_in_band", "prompt_selection/shortfall")
        if any(key in r["data"] for r in train)
    }
    lag = "training/off_policy/trajectory_staleness"
    train_s = curve[-1]["train_s"] if curve else 0.0
    return {
        "method": record["method"],
        "seed": record["seed"],
        "steps": len(train),
        "samples": len(train) * samples_per_step,
        "train_s": train_s,
        "samples_per_s": len(train) * samples_per_step / train_s if train_s else None,
        "step_s": statistics.fmean(r["data"]["timing_s/step"] for r in train) if train else None,
        # the share of a step spent generating (verl's timing_s/gen over timing_s/step, mean over steps)
        "gen_share": statistics.fmean(
            r["data"].get("timing_s/gen", 0.0) / r["data"]["timing_s/step"] for r in train if r["data"]["timing_s/step"]
        )
        if train
        else None,
        # weight versions between the policy that generated a trained sample and the current one (verl's metric)
        "lag_mean": statistics.fmean(r["data"].get(f"{lag}/mean", 0.0) for r in train) if train else None,
        "lag_max": max((r["data"].get(f"{lag}/max", 0) for r in train), default=None),
        "final_reward": last,
        "val_before": vals[0] if vals else None,
        "val_after": vals[-1] if len(vals) > 1 else None,
        "val_gain": vals[-1] - vals[0] if len(vals) > 1 else None,  # held-out success after minus before
        "peak_rss_gib": record.get("peak_rss_gib"),
        "peak_gpu_gib": _peak_gpu_memory(record["rows"]),
        "tokens_per_s": statistics.fmean(throughput) if throughput else None,
        "step_phases_s": phases,
        "prompt_selection": selection,  # mean over steps; empty unless sppo.prompt_selection was on
        "critic_curve": critic_quality_curve(record["rows"]),  # empty for a method without SPPO's critic
        "to_target": {str(t): time_to_target(curve, t) for t in targets},
    }


def summarize(records: list[dict], targets: list[float], window_samples: int) -> dict:
    """Per-run summaries, per-method aggregates, and per-seed ratios against SPPO of the same seed."""
    runs = [run_summary(r, targets, window_samples) for r in records]
    by = {(r["method"], r["seed"]): r for r in runs}
    methods = list(dict.fromkeys(r["method"] for r in runs))
    aggregate: dict[str, dict] = {}
    for m in methods:
        mine = [r for r in runs if r["method"] == m]
        agg = {
            "seeds": [r["seed"] for r in mine],
            **{
                key: _mean_std([r[key] for r in mine if r[key] is not None])
                for key in (
                    "steps",
                    "train_s",
                    "final_reward",
                    "val_before",
                    "val_after",
                    "val_gain",
                    "peak_rss_gib",
                    "samples_per_s",
                    "step_s",
                    "gen_share",
                    "lag_mean",
                    "lag_max",
                )
            },
            "to_target": {},
        }
        if any(r["critic_curve"] for r in mine):
            agg["critic_curve"] = aggregate_critic_curves([r["critic_curve"] for r in mine])
        selection_keys = sorted({k for r in mine for k in r["prompt_selection"]})
        if selection_keys:  # per-seed means over steps, then mean, std and 95 % CI over seeds
            agg["prompt_selection"] = {
                k: _mean_std([r["prompt_selection"][k] for r in mine if k in r["prompt_selection"]])
                for k in selection_keys
            }
        for t in map(str, targets):
            hits = [r["to_target"][t] for r in mine if r["to_target"][t] is not None]
            agg["to_target"][t] = {
                "reached": f"{len(hits)}/{len(mine)}",
                **{key: _mean_std([h[key] for h in hits]) for key in ("step", "samples", "train_s", "tokens")},
            }
        if m != "sppo":
            # held-out gain (after - before the budget) minus SPPO's gain on the same seed: the same warm start and
            # the same held-out prompts, so the pairing removes the seed's share of the spread
            pairs = [(r, by.get(("sppo", r["seed"]))) for r in mine]
            agg["held_out_gain_minus_sppo"] = _mean_std(
                [
                    r["val_gain"] - base["val_gain"]
                    for r, base in pairs
                    if base and None not in (r["val_gain"], base["val_gain"])
                ]
            )
            agg["ratio_vs_sppo"] = {}
            for t in map(str, targets):
                per_seed = {}
                for r in mine:
                    base = by.get(("sppo", r["seed"]))
                    if base is None or base["to_target"][t] is None:
                        continue
                    mine_t = r["to_target"][t]
                    # a method that never reached the target took at least its whole budget: a lower bound
                    per_seed[r["seed"]] = {
                        "wall": (mine_t["train_s"] if mine_t else r["train_s"]) / base["to_target"][t]["train_s"],
                        "samples": (mine_t["samples"] if mine_t else r["samples"]) / base["to_target"][t]["samples"],
                        "lower_bound": mine_t is None,
                    }
                agg["ratio_vs_sppo"][t] = {
                    "per_seed": per_seed,
                    "wall": _mean_std([v["wall"] for v in per_seed.values()]),
                    "samples": _mean_std([v["samples"] for v in per_seed.values()]),
                    "any_lower_bound": any(v["lower_bound"] for v in per_seed.values()),
                }
        aggregate[m] = agg
    return {"targets": targets, "window_samples": window_samples, "methods": aggregate, "runs": runs}


def _fmt(ms: dict, digits: int = 2, unit: str = "") -> str:
    if ms.get("mean") is None:
        return "–"
    if ms["n"] > 1:
        return f"{ms['mean']:.{digits}f} ± {ms['std']:.{digits}f}{unit}"
    return f"{ms['mean']:.{digits}f}{unit}"


def _ci(ms: dict, digits: int = 2, unit: str = "") -> str:
    """' (95 % CI lo–hi)' of a mean over two or more seeds, else ''."""
    if ms.get("mean") is None or ms["n"] < 2:
        return ""
    lo, hi = ms["mean"] - ms["ci95"], ms["mean"] + ms["ci95"]
    return f" (95 % CI {lo:.{digits}f}–{hi:.{digits}f}{unit})"


def markdown_table(summary: dict) -> str:
    targets = [str(t) for t in summary["targets"]]
    main = targets[len(targets) // 2]
    lines = [
        f"Target: smoothed training reward ≥ {main} (mean of the last {summary['window_samples']} samples). "
        "Mean ± std over seeds; ratios are per seed against SPPO of the same seed, then averaged; "
        "'≥' marks a lower bound (a seed that never reached the target counts its whole budget).",
        "",
        "| method | seeds | reached | steps to target | samples to target | generated tokens to target | train s to target | wall ratio vs SPPO | samples ratio vs SPPO | final reward | held-out before → after | peak RSS GiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m, agg in summary["methods"].items():
        tt = agg["to_target"][main]
        ratio = agg.get("ratio_vs_sppo", {}).get(main)
        wall_ratio = sample_ratio = "1 (reference)" if m == "sppo" else "–"
        if ratio and ratio["wall"]["mean"] is not None:
            prefix = "≥ " if ratio["any_lower_bound"] else ""
            wall_ratio = prefix + _fmt(ratio["wall"], 2, "×") + _ci(ratio["wall"], 2, "×")
            sample_ratio = prefix + _fmt(ratio["samples"], 2, "×")
        lines.append(
            f"| {m} | {len(agg['seeds'])} | {tt['reached']} | {_fmt(tt['step'], 0)} | {_fmt(tt['samples'], 0)} | {_fmt(tt['tokens'], 0)} | {_fmt(tt['train_s'], 0)} | "
            f"{wall_ratio} | {sample_ratio} | {_fmt(agg['final_reward'])} | {_fmt(agg['val_before'])} → {_fmt(agg['val_after'])} | {_fmt(agg['peak_rss_gib'])} |"
        )
    lines += [
        "",
        "Wall-time ratio vs SPPO at every target:",
        "",
        "| method | " + " | ".join(f"target {t}" for t in targets) + " |",
        "|---|" + "---|" * len(targets),
    ]
    for m, agg in summary["methods"].items():
        if m == "sppo":
            continue
        cells = []
        for t in targets:
            r = agg["ratio_vs_sppo"][t]
            cells.append(
                ("≥ " if r["any_lower_bound"] else "")
                + _fmt(r["wall"], 2, "×")
                + _ci(r["wall"], 2, "×")
                + f" ({r['wall']['n']} seeds)"
            )
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Throughput and policy lag (training-step time only; lag: weight versions between the policy that generated "
        "a trained sample and the current one, verl's training/off_policy/trajectory_staleness):",
        "",
        "| method | samples/s | step s | lag mean | lag max | generation share of a step |",
        "|---|---|---|---|---|---|",
    ]
    for m, agg in summary["methods"].items():
        lines.append(
            f"| {m} | {_fmt(agg['samples_per_s'])} | {_fmt(agg['step_s'])} | {_fmt(agg['lag_mean'])} | "
            f"{_fmt(agg['lag_max'], 0)} | {_fmt(agg['gen_share'])} |"
        )
    lines += [
        "",
        "Held-out success (verl's validation before and after the budget; the difference to SPPO is per seed, "
        "then averaged, with its 95 % t-interval):",
        "",
        "| method | before | after | gain | gain minus SPPO's |",
        "|---|---|---|---|---|",
    ]
    for m, agg in summary["methods"].items():
        diff = agg.get("held_out_gain_minus_sppo")
        diff_cell = "0 (reference)" if m == "sppo" else _fmt(diff, 3) + _ci(diff, 3) if diff else "–"
        lines.append(
            f"| {m} | {_fmt(agg['val_before'])} | {_fmt(agg['val_after'])} | {_fmt(agg['val_gain'])} | {diff_cell} |"
        )
    lines += critic_curve_tables(summary)
    selected = [r for r in summary["runs"] if r.get("prompt_selection")]
    if selected:
        lines += [
            "",
            "Critic-guided prompt selection (per seed: mean over steps; per method: mean ± std over seeds, 95 % CI):",
            "",
            "| method | seeds | band hit rate in the pool | batch in band | unfilled band slots per step |",
            "|---|---|---|---|---|",
        ]
        for m, agg in summary["methods"].items():
            sel = agg.get("prompt_selection")
            if sel:
                cells = [_fmt(sel[k]) + _ci(sel[k]) for k in ("pool_hit_rate", "batch_in_band", "shortfall")]
                lines.append(f"| {m} | {sel['pool_hit_rate']['n']} | " + " | ".join(cells) + " |")
        lines.append("")
        lines += [
            f"- {r['method']} seed {r['seed']}: band hit rate in the pool {r['prompt_selection']['pool_hit_rate']:.2f}, "
            f"batch in band {r['prompt_selection']['batch_in_band']:.2f}, unfilled band slots per step {r['prompt_selection']['shortfall']:.1f}"
            for r in selected
        ]
    gpu = {r["method"]: r["peak_gpu_gib"] for r in summary["runs"] if r["peak_gpu_gib"]}
    if gpu and summary.get("gpu", True):  # on CPU verl's number is the CPU platform's, not a GPU's
        lines += ["", "Peak GPU memory per role (GiB, verl's max_memory_allocated):", ""]
        lines += [f"- {m}: " + ", ".join(f"{role} {v:.2f}" for role, v in peaks.items()) for m, peaks in gpu.items()]
    return "\n".join(lines) + "\n"


def _short_groups(groups: list[str]) -> dict[str, str]:
    """Validation group names without the prefix they share up to the last '_' (sppo_graded_k02 -> k02)."""
    if len(groups) < 2:
        return {g: g for g in groups}
    prefix = os.path.commonprefix(groups)
    prefix = prefix[: prefix.rfind("_") + 1]
    return {g: g[len(prefix) :] or g for g in groups}


def _critic_curves(summary: dict) -> dict[str, list[dict]]:
    """The aggregated critic curve of each method that has SPPO's critic."""
    return {m: agg["critic_curve"] for m, agg in summary["methods"].items() if agg.get("critic_curve")}


def critic_curve_tables(summary: dict) -> list[str]:
    """Markdown: the critic's held-out quality at every validation, and per level σ(V) against measured success."""
    curves = _critic_curves(summary)
    if not curves:
        return []
    lines = [
        "",
        "SPPO's critic on the held-out prompts over training: σ(V(s_p)) against each prompt's measured success "
        "(Spearman, Pearson), AUC against each sample's 0/1 outcome; per validation mean ± std over the seeds that "
        "have it, 95 % CI; `end`: each run's last validation, at the mean step shown:",
        "",
        "| method | validation | step | seeds | Spearman | Pearson | AUC | samples per prompt |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m, curve in curves.items():
        for p in curve:
            cells = [_fmt(p[k]) + _ci(p[k]) for k in ("spearman", "pearson", "auc")]
            lines.append(
                f"| {m} | {p['label']} | {p['step']['mean']:.0f} | {p['step']['n']} | "
                + " | ".join(cells)
                + f" | {_fmt(p['samples_per_prompt_min'], 0)} |"
            )
    groups = sorted({g for curve in curves.values() for p in curve for g in p["levels"]})
    if groups:
        short = _short_groups(groups)
        lines += [
            "",
            "Per level: mean σ(V(s_p)) / measured success of the held-out prompts (mean over seeds):",
            "",
            "| method | validation | " + " | ".join(short[g] for g in groups) + " |",
            "|---|---|" + "---|" * len(groups),
        ]
        for m, curve in curves.items():
            for p in curve:
                cells = [
                    f"{p['levels'][g]['sigmoid_v']['mean']:.2f} / {p['levels'][g]['success']['mean']:.2f}"
                    if g in p["levels"]
                    else "–"
                    for g in groups
                ]
                lines.append(f"| {m} | {p['label']} | " + " | ".join(cells) + " |")
    return lines


def write_report(summary: dict, records: list[dict], out: Path, window_samples: int) -> None:
    (out / "time_to_target.json").write_text(json.dumps(summary, indent=1))
    (out / "time_to_target.md").write_text(
        f"# Time to target ({summary.get('date', '')}; {summary.get('machine', '')}; budget {summary.get('budget_s', '?')} s of training steps per run)\n\n"
        + markdown_table(summary)
    )
    plot_reward_vs_time(summary, records, out / "reward_vs_time.png", window_samples)
    plot_step_breakdown(summary, out / "step_breakdown.png")
    if _critic_curves(summary):
        plot_critic_quality(summary, out / "critic_quality.png")


def mean_curve(curves: list[list[tuple[float, float]]], points: int = 50) -> tuple[list[float], list[float]]:
    """Mean over seeds of (time, reward) curves, linearly interpolated on a grid up to the shortest curve's end."""
    import numpy as np

    curves = [c for c in curves if len(c) > 1]
    if not curves:
        return [], []
    start = max(c[0][0] for c in curves)
    end = min(c[-1][0] for c in curves)
    if end <= start:
        return [], []
    grid = np.linspace(start, end, points)
    ys = [np.interp(grid, [t for t, _ in c], [y for _, y in c]) for c in curves]
    return grid.tolist(), np.mean(ys, axis=0).tolist()


def plot_reward_vs_time(summary: dict, records: list[dict], path: Path, window_samples: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5))
    by_method: dict[str, list] = {}
    for record in records:
        curve = [
            p
            for p in reward_curve(record["rows"], record["batch"] * record["n"], window_samples)
            if p["smoothed"] is not None
        ]
        by_method.setdefault(record["method"], []).append((record["n"], [(p["train_s"], p["smoothed"]) for p in curve]))
    for m, runs in by_method.items():
        color = None
        for _, curve in runs:
            line = ax.plot([t for t, _ in curve], [y for _, y in curve], color=color, alpha=0.25, lw=1)[0]
            color = line.get_color()
        xs, ys = mean_curve([c for _, c in runs])
        ax.plot(xs, ys, color=color, lw=2.5, label=f"{m} (N={runs[0][0]}, {len(runs)} seeds)")
    for t in summary["targets"]:
        ax.axhline(t, color="grey", ls=":", lw=0.8)
    ax.set_xlabel("training-step time (s)")
    ax.set_ylabel(f"training reward (mean of last {window_samples} samples)")
    task = "graded task" if summary.get("task") == "graded" else "a+b task"
    ax.set_title(f"Reward vs training time: thin = one seed, thick = mean over seeds ({task}, tiny Qwen2)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_step_breakdown(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(summary["methods"])
    phases = [*PHASES, "other"]
    means = {
        m: {
            p: statistics.fmean(r["step_phases_s"].get(p, 0.0) for r in summary["runs"] if r["method"] == m)
            for p in phases
        }
        for m in methods
    }
    fig, ax = plt.subplots(figsize=(9, 5))
    bottom = [0.0] * len(methods)
    for p in phases:
        heights = [means[m][p] for m in methods]
        if not any(h > 0 for h in heights):
            continue
        ax.bar(methods, heights, bottom=bottom, label=p)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.set_ylabel("seconds per step (mean over steps and seeds)")
    ax.set_title("Step-time breakdown from verl's timing_s metrics")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_critic_quality(summary: dict, path: Path) -> None:
    """Left: held-out Spearman and AUC of σ(V(s_p)) at each validation (mean over seeds, 95 % CI bars, thin lines
    per seed). Right: per level, mean σ(V) against measured success at the last validation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    curves = _critic_curves(summary)
    for i, (m, curve) in enumerate(curves.items()):
        color = f"C{i}"  # one colour per method: Spearman solid, AUC dashed
        for key, style in (("spearman", "-"), ("auc", "--")):
            pts = [p for p in curve if p[key]["mean"] is not None]
            left.errorbar(
                [p["step"]["mean"] for p in pts],
                [p[key]["mean"] for p in pts],
                yerr=[p[key]["ci95"] for p in pts],
                color=color,
                ls=style,
                marker="o",
                capsize=3,
                label=f"{m}: {key} ({max(p[key]['n'] for p in pts)} seeds)",
            )
            for run in (r for r in summary["runs"] if r["method"] == m and len(r["critic_curve"]) > 2):
                run_pts = [p for p in run["critic_curve"] if key in p]
                left.plot([p["step"] for p in run_pts], [p[key] for p in run_pts], color=color, alpha=0.2, lw=1)
        end = curve[-1]
        short = _short_groups(sorted(end["levels"]))
        xs = [end["levels"][g]["success"]["mean"] for g in short]
        ys = [end["levels"][g]["sigmoid_v"]["mean"] for g in short]
        right.scatter(xs, ys, color=color, label=f"{m} (last validation, step ~{end['step']['mean']:.0f})")
        for g, x, y in zip(short, xs, ys, strict=True):
            right.annotate(short[g], (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    left.axhline(0.5, color="grey", ls=":", lw=0.8)
    left.set_xlabel("training step")
    left.set_ylabel("held-out Spearman (solid) / AUC (dashed)")
    left.set_title("Prompt-only critic on held-out prompts over training")
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    right.plot([0, 1], [0, 1], color="grey", ls=":", lw=0.8)
    right.set_xlim(0, 1)
    right.set_ylim(0, 1)
    right.set_xlabel("measured success of the level's held-out prompts")
    right.set_ylabel("mean σ(V(s_p))")
    right.set_title("Per difficulty level: σ(V) vs success")
    right.legend(fontsize=8)
    right.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
