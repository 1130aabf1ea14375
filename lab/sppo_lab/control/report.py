"""Turn a directory of control-suite result files into a Markdown report and PNG plots.

    python -m sppo_lab.control report results/control [--out docs/control_results]

Reads every ``*.json`` result written by ``python -m sppo_lab.control run`` and writes into the
output directory:

* ``report.md``: the warm starts' success (from the runs' result files and, when present, the
  measurements cached in ``<results>/warmstart/``); per horizon, a final-success
  matrix (env x algo, mean ± 95 % CI over seeds, and the warm-start level), the paired differences
  SPPO − PPO and SPPO − GRPO with bootstrap CIs, and a detailed table (per-seed final success,
  steps to 50 % success, train wall time per run);
* ``curves_<env>.png``: training success rate vs environment steps (top) and vs wall time
  (bottom; a seed that has finished keeps its last value), one column per horizon, mean over
  seeds with a min-max band;
* ``horizon_sweep.png``: final success vs horizon (mean ± 95 % CI over seeds, and the warm-start
  level dashed), one panel per env that was run at two or more horizons (no file when there is none).

Definitions (also in docs/control_suite.md):
* final success: success rate of the final policy on ``eval_episodes`` held-out start states;
  per cell the mean over seeds ± the half-width of the 95 % t-interval (``t_interval``; 0 for one
  seed), the detailed table also gives the sample std;
* warm start: the warm-start policy's success at the run's H (``warm_start_success`` of the result
  files, 100 held-out episodes per seed), mean over the cell's seeds;
* differences: per (env, H) the mean over seeds of SPPO − X (X = PPO, GRPO), paired by seed (the
  algorithms of a seed share the warm start and the evaluation start states), with a 95 %
  percentile bootstrap CI over seeds (``paired_bootstrap``: 10 000 resamples of the seeds, fixed
  generator seed) and, for comparison, the paired t-interval;
* training success: rate over the trailing 64 training episodes (``SMOOTH_EPISODES``);
* steps to 50 %: first environment step at which the training success reaches 0.5; the table
  shows the mean over the seeds that reached it and how many did (``k/n``), "—" if none.
"""

from __future__ import annotations

import glob
import json
import math
import os
from collections import defaultdict

import numpy as np

from sppo.cli_errors import atomic_path, write_text_atomic
from sppo_lab.stats import BOOTSTRAP_RESAMPLES, paired_bootstrap, t_interval

SMOOTH_EPISODES = 64
ALGO_ORDER = ("sppo", "ppo", "grpo")
ALGO_LABEL = {"sppo": "SPPO", "ppo": "PPO (GAE)", "grpo": "GRPO (N=8)"}
ENV_ORDER = ("cartpole", "mountaincar", "pendulum", "lunarlander", "hopper")


class ReportError(ValueError):
    """A results folder that cannot be reported (empty, a corrupt file); the message is one line."""


REQUIRED = {
    "algo": str,
    "env": str,
    "horizon": int,
    "seed": int,
    "curve": list,
    "total_steps": int,
    "env_steps": int,
    "wall_time": (int, float),
    "eval_episodes": int,
}
CURVE_KEYS = ("env_steps", "wall_time", "episodes", "successes")


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _result_problem(data: dict) -> str | None:
    """What makes a result dict unusable for the report, or None."""
    for key, kind in REQUIRED.items():
        if key not in data:
            return f"missing key '{key}'"
        if not isinstance(data[key], kind) or isinstance(data[key], bool):
            return f"'{key}' has type {type(data[key]).__name__}"
    if not data["curve"]:
        return "empty curve"
    for point in data["curve"]:
        if not isinstance(point, dict) or not all(_finite(point.get(k)) for k in CURVE_KEYS):
            return f"a curve point lacks finite {', '.join(CURVE_KEYS)}"
    final = data.get("final_success")
    if final is not None and not (_finite(final) and 0.0 <= final <= 1.0):
        return f"final_success is {final!r}, expected a fraction in [0, 1] or null"
    return None


def load_results(directory: str) -> list[dict]:
    """Every result file in ``directory`` (recursively; temporary files skipped).

    A JSON file that is not a control-suite result (no ``algo``/``curve`` keys) is ignored; a file that
    is not valid JSON, or a result with missing or wrong values, raises :class:`ReportError` naming it.
    """
    out = []
    for path in sorted(glob.glob(os.path.join(directory, "**", "*.json"), recursive=True)):
        if os.path.basename(path).startswith("."):
            continue
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            raise ReportError(f"{path}: corrupt results file ({type(e).__name__}: {e})") from None
        if not (isinstance(data, dict) and {"algo", "curve"} <= set(data)):
            continue
        problem = _result_problem(data)
        if problem:
            raise ReportError(f"{path}: not a usable result ({problem})")
        out.append(data)
    return out


def smoothed_success(curve: list[dict], window: int = SMOOTH_EPISODES):
    """(env_steps (n,), wall_time (n,), success over the trailing ``window`` episodes (n,))."""
    steps, walls, rates = [], [], []
    eps = np.array([p["episodes"] for p in curve], dtype=float)
    wins = np.array([p["successes"] for p in curve], dtype=float)
    ceps, cwins = np.cumsum(eps), np.cumsum(wins)
    for i, p in enumerate(curve):
        # first iteration j such that the episodes j..i cover at least `window` episodes
        j = int(np.searchsorted(ceps, ceps[i] - window, side="right"))
        j = min(j, i)
        n = ceps[i] - (ceps[j - 1] if j > 0 else 0.0)
        w = cwins[i] - (cwins[j - 1] if j > 0 else 0.0)
        steps.append(p["env_steps"])
        walls.append(p["wall_time"])
        rates.append(w / n if n else 0.0)
    return np.array(steps), np.array(walls), np.array(rates)


def steps_to_threshold(curve: list[dict], threshold: float = 0.5) -> int | None:
    """First env step at which the smoothed training success reaches ``threshold``."""
    steps, _, rates = smoothed_success(curve)
    hit = np.nonzero(rates >= threshold)[0]
    return int(steps[hit[0]]) if len(hit) else None


def mean_std(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def fmt_ms(values: list[float]) -> str:
    m, s = mean_std(values)
    return f"{m:.3f} ± {s:.3f}"


def fmt_ci(values: list[float]) -> str:
    m, h = t_interval(values)
    return f"{m:.3f} ± {h:.3f}"


def fmt_steps(n: float) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.0f}k"


def _ordered(keys, order):
    return sorted(keys, key=lambda k: (order.index(k) if k in order else len(order), k))


def summarise(results: list[dict]) -> dict:
    """{(env, horizon, algo): summary dict} with the numbers that go into the tables."""
    groups = defaultdict(list)
    for r in results:
        groups[(r["env"], int(r["horizon"]), r["algo"])].append(r)
    summary = {}
    for key, runs in groups.items():
        runs = sorted(runs, key=lambda r: r["seed"])
        finals = [r["final_success"] for r in runs if r["final_success"] is not None]
        warm = [r["warm_start_success"] for r in runs if r.get("warm_start_success") is not None]
        reached = [s for s in (steps_to_threshold(r["curve"]) for r in runs) if s is not None]
        summary[key] = {
            "seeds": [r["seed"] for r in runs],
            "finals": finals,
            "final_mean": mean_std(finals)[0] if finals else None,
            "final_std": mean_std(finals)[1] if finals else None,
            "final_ci": t_interval(finals)[1] if finals else None,
            "final_by_seed": {r["seed"]: r["final_success"] for r in runs if r["final_success"] is not None},
            "warm": warm,
            "warm_mean": float(np.mean(warm)) if warm else None,
            "steps_to_50": reached,
            "budget": max(r["total_steps"] for r in runs),
            "wall_mean": float(np.mean([r["wall_time"] for r in runs])),
            "sps_mean": float(np.mean([r["env_steps"] / max(r["wall_time"], 1e-9) for r in runs])),
        }
    return summary


def _warm_by_seed(results: list[dict]) -> dict:
    """{(env, H): {seed: warm-start success}} from the result files that carry one."""
    out = defaultdict(dict)
    for r in results:
        if r.get("warm_start_success") is not None:
            out[(r["env"], int(r["horizon"]))][r["seed"]] = r["warm_start_success"]
    return out


def load_warm_measurements(directory: str) -> list[dict]:
    """The warm-start measurements ``<env>__seed<seed>__H<h>.json`` that
    ``python -m sppo_lab.control warmstart`` cached in ``directory`` (none if it does not exist)."""
    out = []
    for path in sorted(glob.glob(os.path.join(directory, "*__seed*__H*.json"))):
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if isinstance(data, dict) and {"env", "seed", "horizon", "success"} <= set(data):
            out.append(data)
    return out


def differences(summary: dict, env: str, h: int, other: str):
    """SPPO − other at (env, H), paired by seed: (n seeds, (mean, lo, hi) bootstrap, t half-width)
    or None when the two cells share no seed."""
    a, b = summary.get((env, h, "sppo")), summary.get((env, h, other))
    if not a or not b:
        return None
    seeds = sorted(set(a["final_by_seed"]) & set(b["final_by_seed"]))
    if not seeds:
        return None
    xa = [a["final_by_seed"][s] for s in seeds]
    xb = [b["final_by_seed"][s] for s in seeds]
    return len(seeds), paired_bootstrap(xa, xb), t_interval(np.subtract(xa, xb))[1]


def _fmt_diff(d) -> list[str]:
    if d is None:
        return ["—", "—", "—"]
    n, (m, lo, hi), th = d
    return [f"{m:+.3f}", f"[{lo:+.3f}, {hi:+.3f}]", f"[{m - th:+.3f}, {m + th:+.3f}]"]


def markdown(results: list[dict], title: str = "Control suite results", warm_measurements=()) -> str:
    """The report text. ``warm_measurements`` (from :func:`load_warm_measurements`) fill the
    warm-start table also for cells without finished runs; the warm-start column of the
    final-success tables uses the seeds of the cell's runs."""
    summary = summarise(results)
    warm = _warm_by_seed(results)
    measured = defaultdict(dict, {k: dict(v) for k, v in warm.items()})
    for m in warm_measurements:
        measured[(m["env"], int(m["horizon"]))][m["seed"]] = m["success"]
    lines = [f"# {title}", ""]
    horizons = sorted({k[1] for k in summary})
    if measured:
        w_envs = _ordered({e for e, _ in measured}, ENV_ORDER)
        w_h = sorted({h for _, h in measured})
        lines += [
            "## Warm starts: success before RL (mean ± 95 % CI over seeds)",
            "",
            "| env | " + " | ".join(f"H = {h}" for h in w_h) + " | per-seed at H = " + str(w_h[-1]) + " |",
            "|" + "---|" * (len(w_h) + 2),
        ]
        for env in w_envs:
            cells = [fmt_ci(list(measured[(env, h)].values())) if measured.get((env, h)) else "—" for h in w_h]
            last = measured.get((env, w_h[-1]), {})
            per_seed = ", ".join(f"{last[s]:.2f}" for s in sorted(last))
            lines.append(f"| {env} | " + " | ".join(cells) + f" | {per_seed} |")
        lines.append("")
    for h in horizons:
        envs = _ordered({k[0] for k in summary if k[1] == h}, ENV_ORDER)
        algos = _ordered({k[2] for k in summary if k[1] == h}, ALGO_ORDER)
        has_warm = any(warm.get((e, h)) for e in envs)
        lines += [f"## H = {h}: final success (mean ± 95 % CI over seeds)", ""]
        header = "| env | " + ("warm start | " if has_warm else "")
        header += " | ".join(ALGO_LABEL.get(a, a) for a in algos) + " |"
        header += " best − warm start |" if has_warm else ""
        lines += [header, "|" + "---|" * (len(algos) + 1 + 2 * has_warm)]
        for env in envs:
            cells, means = [], []
            for a in algos:
                s = summary.get((env, h, a))
                cells.append(fmt_ci(s["finals"]) if s and s["finals"] else "—")
                if s and s["finals"]:
                    means.append(s["final_mean"])
            row = f"| {env} | "
            if has_warm:
                w = list(warm.get((env, h), {}).values())
                row += (fmt_ci(w) if w else "—") + " | "
            row += " | ".join(cells) + " |"
            if has_warm:
                row += f" {max(means) - float(np.mean(w)):+.3f} |" if w and means else " — |"
            lines.append(row)
        others = [a for a in ("ppo", "grpo") if a in algos]
        if "sppo" in algos and others:
            lines += [
                "",
                f"## H = {h}: SPPO minus the others (paired by seed; 95 % CIs: bootstrap over seeds, and paired t)",
                "",
                "| env | seeds | " + " | ".join(f"SPPO − {ALGO_LABEL[o]} | bootstrap CI | t CI" for o in others) + " |",
                "|" + "---|" * (2 + 3 * len(others)),
            ]
            for env in envs:
                diffs = [differences(summary, env, h, o) for o in others]
                n = max((d[0] for d in diffs if d), default=0)
                lines.append(f"| {env} | {n} | " + " | ".join(" | ".join(_fmt_diff(d)) for d in diffs) + " |")
        lines += [
            "",
            f"## H = {h}: details",
            "",
            "| env | algo | seeds | budget (env steps) | final success (mean ± std) | per-seed final "
            "| steps to 50% (mean, reached) | train wall / run (s) | env steps/s |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for env in envs:
            for a in algos:
                s = summary.get((env, h, a))
                if not s:
                    continue
                finals = fmt_ms(s["finals"]) if s["finals"] else "—"
                per_seed = ", ".join(f"{v:.3f}" for v in s["finals"])
                n = len(s["seeds"])
                if s["steps_to_50"]:
                    reached = s["steps_to_50"]
                    t50 = f"{fmt_steps(float(np.mean(reached)))} ({len(reached)}/{n})"
                else:
                    t50 = f"— (0/{n})"
                lines.append(
                    f"| {env} | {ALGO_LABEL.get(a, a)} | {n} | {s['budget']} | {finals} "
                    f"| {per_seed} | {t50} | {s['wall_mean']:.1f} | {s['sps_mean']:.0f} |"
                )
        lines.append("")
    seeds = sorted({r["seed"] for r in results})
    evals = sorted({r["eval_episodes"] for r in results})
    lines += [
        f"Seeds: {', '.join(map(str, seeds))}. Final success = success rate of the final "
        f"(stochastic) policy on {', '.join(map(str, evals))} held-out start states per "
        "seed; ± is the half-width of the 95 % t-interval over seeds (details: sample std). "
        f"Steps to 50% uses the training success over the trailing {SMOOTH_EPISODES} "
        "episodes. Differences: mean over the seeds both algorithms finished of the per-seed "
        f"difference; bootstrap CI = 2.5/97.5 percentiles of {BOOTSTRAP_RESAMPLES} resampled means.",
        "",
    ]
    return "\n".join(lines)


def _plot_curves(results, out_dir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    by_env = defaultdict(list)
    for r in results:
        by_env[r["env"]].append(r)
    for env in _ordered(by_env, ENV_ORDER):
        runs = by_env[env]
        horizons = sorted({int(r["horizon"]) for r in runs})
        fig, axes = plt.subplots(2, len(horizons), figsize=(4.5 * len(horizons), 6.5), squeeze=False)
        for col, h in enumerate(horizons):
            for algo in _ordered({r["algo"] for r in runs}, ALGO_ORDER):
                sel = [r for r in runs if int(r["horizon"]) == h and r["algo"] == algo]
                if not sel:
                    continue
                for row, xkey in enumerate(("steps", "wall")):
                    # steps: every seed has the same budget; wall time varies with machine
                    # load, so the axis runs to the slowest seed and finished seeds keep
                    # their last value
                    xs_end = (
                        min(r["env_steps"] for r in sel)
                        if xkey == "steps"
                        else max(r["curve"][-1]["wall_time"] for r in sel)
                    )
                    grid = np.linspace(0, xs_end, 100)
                    ys = []
                    for r in sel:
                        steps, walls, rates = smoothed_success(r["curve"])
                        x = steps if xkey == "steps" else walls
                        ys.append(np.interp(grid, np.r_[0, x], np.r_[rates[0], rates]))
                    ys = np.array(ys)
                    ax = axes[row][col]
                    (line,) = ax.plot(grid, ys.mean(0), label=f"{ALGO_LABEL.get(algo, algo)} ({len(sel)} seeds)")
                    ax.fill_between(grid, ys.min(0), ys.max(0), alpha=0.15, color=line.get_color())
            axes[0][col].set_title(f"{env}, H = {h}")
            axes[0][col].set_xlabel("environment steps")
            axes[1][col].set_xlabel("wall time (s)")
            for row in range(2):
                axes[row][col].set_ylabel(f"training success (last {SMOOTH_EPISODES} episodes)")
                axes[row][col].set_ylim(-0.02, 1.02)
                axes[row][col].grid(alpha=0.3)
            axes[0][col].legend(fontsize=8)
        fig.tight_layout()
        path = os.path.join(out_dir, f"curves_{env}.png")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=90)
        plt.close(fig)
        written.append(path)
    return written


def _plot_sweep(results, out_dir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = summarise(results)
    warm = _warm_by_seed(results)
    horizons = sorted({k[1] for k in summary})
    if len(horizons) < 2:
        return None
    # only envs measured at two or more horizons make a sweep
    envs = _ordered({e for e in {k[0] for k in summary} if len({k[1] for k in summary if k[0] == e}) >= 2}, ENV_ORDER)
    if not envs:
        return None
    fig, axes = plt.subplots(1, len(envs), figsize=(3.6 * len(envs), 3.4), squeeze=False)
    for i, env in enumerate(envs):
        ax = axes[0][i]
        for algo in _ordered({k[2] for k in summary}, ALGO_ORDER):
            pts = [(h, summary[(env, h, algo)]) for h in horizons if (env, h, algo) in summary]
            pts = [(h, s) for h, s in pts if s["finals"]]
            if pts:
                ax.errorbar(
                    [h for h, _ in pts],
                    [s["final_mean"] for _, s in pts],
                    yerr=[s["final_ci"] for _, s in pts],
                    marker="o",
                    capsize=3,
                    label=ALGO_LABEL.get(algo, algo),
                )
        warm_pts = [(h, float(np.mean(list(warm[(env, h)].values())))) for h in horizons if warm.get((env, h))]
        if warm_pts:
            ax.plot(*zip(*warm_pts), "k--", marker="x", label="warm start")
        ax.set_title(env)
        ax.set_xlabel("horizon H")
        ax.set_xticks(horizons)
        ax.set_xticklabels([str(h) for h in horizons])
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("final success (mean ± 95 % CI)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(out_dir, "horizon_sweep.png")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
    return path


def write_report(results_dir: str, out_dir: str, title: str = "Control suite results") -> str:
    """Write report.md and the plots; returns the path of report.md."""
    results = load_results(results_dir)
    if not results:
        raise ReportError(
            f"no result files in '{results_dir}' (write them with: python -m sppo_lab.control run ... --out {results_dir})"
        )
    os.makedirs(out_dir, exist_ok=True)
    text = markdown(results, title, load_warm_measurements(os.path.join(results_dir, "warmstart")))
    plots = _plot_curves(results, out_dir)
    sweep = _plot_sweep(results, out_dir)
    images = plots + ([sweep] if sweep else [])
    text += "\n## Plots\n\n" + "\n".join(f"![{os.path.basename(p)}]({os.path.basename(p)})" for p in images)
    path = os.path.join(out_dir, "report.md")
    write_text_atomic(path, text + "\n")
    return path


__all__ = [
    "ReportError",
    "load_results",
    "smoothed_success",
    "steps_to_threshold",
    "summarise",
    "markdown",
    "paired_bootstrap",
    "t_interval",
    "write_report",
]
