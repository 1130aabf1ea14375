"""The report of the beyond-the-paper study: the warm-start check, the lr sweep, and the comparisons.

    python -m sppo_lab.beyond_the_paper.report [--mix u_shaped] [--results benchmarks/results/beyond_the_paper]

Reads the run records of every phase (``<results>/<mix>/runs/<phase>/``) and writes ``<results>/<mix>/comparison.json``,
``comparison.md`` and ``comparison.png`` (the statistics: ``analysis.py``). A phase without records is left out.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sppo.cli_errors import OneLineParser, UserError, guarded, write_text_atomic
from sppo_lab.beyond_the_paper import analysis, budget, plan, targets
from sppo_lab.beyond_the_paper.arms import ARMS, COMPARISONS, STUDY_ARMS
from sppo_lab.critic_pays import mixes

PROG = "python -m sppo_lab.beyond_the_paper.report"


def _fmt(x: float | None, digits: int = 3, sign: bool = False) -> str:
    if x is None:
        return "–"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def _median(values: list[float]) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def check_markdown(check: dict) -> list[str]:
    n = check["actor_updates"]
    lines = [
        f"## Warm-start check (critic's held-out ranking before the first actor update and after {n} actor updates)",
        "",
        "| arm | seed | AUC before actor | level ceiling | share | Spearman before actor | "
        f"AUC after {n} | level ceiling | share | Spearman after {n} | held-out after | steps | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for arm, seeds in check["arms"].items():
        for seed, v in sorted(seeds.items()):
            cells = [arm, str(seed)]
            for point in (v["before_actor"] or {}, v["after"] or {}):
                cells += [_fmt(point.get(m)) for m in ("auc", "auc_level_ceiling", "auc_of_ceiling", "spearman")]
            cells += [_fmt(v["held_out_after"]), str(v["steps"]), f"{v['wall_s']:.0f}"]
            lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Target (issue 28): the arm's value before its first actor update minus plain SPPO's after {n} actor updates, "
        "same seed; mean and 95 % t-interval over seeds. Level ceiling: the AUC of scoring each held-out sample with "
        "its level's measured success (`sppo.critic_quality.group_ceiling_auc`); share: the critic's AUC over it "
        "(`auc_of_ceiling`), comparable across policies whose spread of success differs:",
        "",
        "| arm | metric | per seed | mean | 95 % CI | seeds at or above |",
        "|---|---|---|---|---|---|",
    ]
    for arm, metrics in check["target"].items():
        for metric, t in metrics.items():
            per_seed = ", ".join(f"{d:+.3f}" for d in t["per_seed"].values())
            ci = f"({t['low']:+.3f}, {t['high']:+.3f})" if t["low"] is not None else "–"
            lines.append(
                f"| {arm} | {metric} | {per_seed} | {t['mean']:+.3f} | {ci} | {t['met']} of {len(t['per_seed'])} |"
            )
    return lines + [""]


def sweep_markdown(sweep: dict, lrs: dict[str, str]) -> list[str]:
    all_lrs = sorted({lr for arm in sweep.values() for lr in arm}, key=float)
    lines = ["## lr sweep (held-out success, mix-weighted, mean over the sweep seeds)", ""]
    lines.append("| arm | " + " | ".join(all_lrs) + " | chosen |")
    lines.append("|---|" + "---|" * (len(all_lrs) + 1))
    for arm in ARMS:
        if arm in sweep:
            cells = [
                f"{sweep[arm][lr]['mean']:.3f} (n={len(sweep[arm][lr]['values'])})" if lr in sweep[arm] else "–"
                for lr in all_lrs
            ]
            lines.append(f"| {arm} | " + " | ".join(cells) + f" | {lrs.get(arm, '–')} |")
    return lines + [""]


def comparisons_markdown(comp: dict) -> list[str]:
    lines = [
        f"## Comparisons (main seeds, each arm at its tuned lr; family of {comp['family']} held-out tests)",
        "",
        f"Time to target: generated tokens (and training seconds: verl's step time, launch and validation excluded) "
        f"until the training reward over the last {comp['window_samples']} samples reaches "
        f"{comp['target_reward']:.2f} ('–' in the median: fewer than half the seeds reached it). Training s: mean "
        "seconds of training per run (what equal updates cost each arm).",
        "",
    ]
    for name, c in comp["comparisons"].items():
        lines += [
            f"### {name}: against {c['reference']} ({c['budget']})",
            "",
            f"Common generated tokens of the comparison: {c['common_tokens']:.0f}.",
            "",
            "| arm | lr | seeds | held-out | gain | minus ref. (paired) | simultaneous 95 % CI | p (Holm) | detectable | "
            "generated tokens | training s | reward at common tokens | minus ref. | reached target | "
            "tokens to target (median) | ratio to ref. (both reached) | training s to target (median) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for arm, a in c["arms"].items():
            t = a.get("minus_reference") or {}
            r = a.get("reward_at_common_tokens_minus_reference") or {}
            gains = [g for g in a["held_out_gain"] if g is not None]
            rewards = [x for x in a["reward_at_common_tokens"] if x is not None]
            reached = [x["tokens"] for x in a["time_to_target"] if x["tokens"] is not None]
            median = _median(reached) if len(reached) * 2 >= len(a["seeds"]) else None
            seconds = [x["seconds"] for x in a["time_to_target"] if x["seconds"] is not None]
            median_s = _median(seconds) if len(seconds) * 2 >= len(a["seeds"]) else None
            ratio = a.get("time_to_target_ratio") or {}
            cells = [
                arm,
                a["lr"],
                str(len(a["seeds"])),
                _fmt(a["held_out_mean"]),
                _fmt(sum(gains) / len(gains) if gains else None, sign=True),
                _fmt(t.get("mean"), sign=True) if t else "ref.",
                f"({t['low']:+.3f}, {t['high']:+.3f})" if t.get("low") is not None else "–",
                _fmt(t.get("p_holm")),
                _fmt(t.get("detectable")),
                f"{sum(a['generated_tokens']) / len(a['generated_tokens']):.0f}",
                f"{sum(a['train_seconds']) / len(a['train_seconds']):.0f}",
                _fmt(sum(rewards) / len(rewards) if rewards else None),
                _fmt(r.get("mean"), sign=True) if r else "–",
                f"{a['reached']} of {len(a['seeds'])}",
                _fmt(median, 0),
                f"{ratio['geomean']:.2f} (n={ratio['n']})" if ratio.get("geomean") else "–",
                _fmt(median_s, 0),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def activity_markdown(activity: dict) -> list[str]:
    columns = (
        ("clip_ratio", "at the length limit", 2),
        ("truncation_share", "cut (no end token)", 2),
        ("normalised_steps", "normalised steps", 1),
        ("sigmoid_v_std", "σ(V) std (adaptive N)", 2),
        ("multi_sample_share", "prompts with > 1 sample", 2),
        ("auc_first_update", "critic AUC at the first actor update", 3),
        ("auc_end", "critic AUC at the end", 3),
        ("explained_var_end", "critic explained var., last 10 steps", 2),
    )
    lines = [
        "## What each option did (main runs, mean over seeds)",
        "",
        "Critic AUC at the first actor update: plain SPPO's fresh critic at step 0 (it validates before training), a "
        "warm-up arm's after its critic-only steps; '–': not logged by that arm.",
        "",
        "| arm | seeds | " + " | ".join(title for _, title, _ in columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for arm in ARMS:
        if arm in activity:
            a = activity[arm]
            lines.append(f"| {arm} | {a['seeds']} | " + " | ".join(_fmt(a[k], d) for k, _, d in columns) + " |")
    return lines + [""]


def plot(comp: dict | None, check: dict | None, check_records: list[dict], path: Path) -> None:
    """Paired held-out differences with simultaneous CIs; training reward against generated tokens (equal-token
    arms); the critic's held-out AUC against actor updates in the warm-start check."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [p for p in ("diff", "tokens") if comp and comp["comparisons"]] + (["check"] if check else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.8), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        if panel == "diff":
            labels, y = [], 0
            for c in comp["comparisons"].values():
                for arm, a in c["arms"].items():
                    t = a.get("minus_reference")
                    if not t or t.get("low") is None:
                        continue
                    ax.errorbar(t["mean"], y, xerr=[[t["mean"] - t["low"]], [t["high"] - t["mean"]]], fmt="o")
                    labels.append(f"{arm} − {c['reference']}")
                    y += 1
            ax.axvline(0.0, color="black", linewidth=0.8)
            ax.set_yticks(range(len(labels)), labels)
            ax.set_xlabel("held-out success, paired difference (simultaneous 95 % CI)")
            ax.set_title("each option against its reference")
        elif panel == "tokens":
            c = comp["comparisons"].get("equal_tokens") or next(iter(comp["comparisons"].values()))
            grid = [c["common_tokens"] * i / 40 for i in range(1, 41)]
            by_arm: dict[str, list[dict]] = {}
            for r in comp["_records"]:
                if r["arm"] in c["arms"] and r["lr"] == c["arms"][r["arm"]]["lr"]:
                    by_arm.setdefault(r["arm"], []).append(r)
            for arm, runs in by_arm.items():
                aligned = budget.align([(analysis.token_axis(r), analysis.smoothed_reward(r)) for r in runs], grid)
                means = [
                    sum(v) / len(v) if (v := [row[i] for row in aligned if row[i] is not None]) else None
                    for i in range(len(grid))
                ]
                ax.plot([g / 1000 for g in grid], [m if m is not None else float("nan") for m in means], label=arm)
            ax.axhline(targets.TARGET_REWARD, color="grey", linestyle=":", label="target")
            ax.set_xlabel("generated tokens (thousands)")
            ax.set_ylabel(f"training reward, last {targets.WINDOW_SAMPLES} samples (mean over seeds)")
            ax.set_title(f"{c['reference']} and the arms it is compared with, at equal tokens")
            ax.legend(fontsize=8)
        else:
            for arm in check["arms"]:
                runs = [r for r in check_records if r["arm"] == arm]
                points: dict[int, list[float]] = {}
                for r in runs:
                    for v in r["validations"]:
                        if v["critic"].get("auc") is not None:
                            points.setdefault(v["actor_updates"], []).append(v["critic"]["auc"])
                xs = sorted(points)
                ax.plot(xs, [sum(points[x]) / len(points[x]) for x in xs], "o-", label=arm)
            ax.set_xlabel("actor updates (at 0: plain SPPO's fresh critic, a warm-up arm's warmed one)")
            ax.set_ylabel("critic's held-out AUC (mean over seeds)")
            ax.set_title("warm-start check")
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def progress_markdown(progress: dict) -> list[str]:
    recorded, planned, complete = progress["recorded"], progress["planned"], progress["complete_seeds"]
    seeds = ", ".join(map(str, complete)) or "none"
    if recorded == planned:
        return [f"Main phase complete: {recorded} of {planned} runs.", ""]
    return [
        f"**Interim: {recorded} of {planned} main runs recorded** (seeds every arm has: {seeds}). Each pair is read "
        "on the seeds both arms have; the intervals are wide by design until every seed is in: read no finding here.",
        "",
    ]


def write_report(mix: str, results: Path) -> Path:
    check_records = plan.load_records(mix, "warmstart_check", results)
    sweep_records = plan.load_records(mix, "sweep", results)
    main_records = plan.load_records(mix, "main", results)
    if not (check_records or sweep_records or main_records):
        raise UserError(f"{PROG}: error: no run records under {plan.records_dir(mix, '<phase>', results)}")
    sweep = plan.PHASES["sweep"]
    lrs = plan.best_lrs(sweep_records, STUDY_ARMS, sweep.lrs, sweep.seeds)
    check = analysis.warmstart_check(check_records) if check_records else None
    comp = analysis.compare(main_records, lrs, plan.PHASES["main"].seeds) if main_records else None
    activity = analysis.option_activity(main_records, lrs, plan.PHASES["main"].seeds) if main_records else None
    out = {
        "mix": mix,
        "shares": mixes.MIXES[mix],
        "arms": {a: {"what": ARMS[a].what, "overrides": list(ARMS[a].overrides)} for a in ARMS},
        "comparisons_defined": {c.name: {"reference": c.reference, "arms": list(c.arms)} for c in COMPARISONS},
        "warmstart_check": check,
        "sweep": analysis.sweep_table(sweep_records),
        "lrs": lrs,
        "main": comp,
        "activity": activity,
        "main_progress": analysis.main_progress(main_records, lrs, plan.PHASES["main"].seeds),
    }
    folder = results / mix
    write_text_atomic(folder / "comparison.json", json.dumps(out, indent=1) + "\n")
    lines = [f"# Beyond the paper: {mix} mix", "", "Regenerated by `python -m sppo_lab.beyond_the_paper.report`.", ""]
    if check:
        lines += check_markdown(check)
    if sweep_records:
        lines += sweep_markdown(out["sweep"], lrs)
    if comp and comp["comparisons"]:
        lines += progress_markdown(out["main_progress"])
        lines += comparisons_markdown(comp)
        lines += activity_markdown(activity)
    else:
        lines += ["## Comparisons", "", "Pending: no main-phase records yet (`--phase main`).", ""]
    write_text_atomic(folder / "comparison.md", "\n".join(lines))
    if check or (comp and comp["comparisons"]):
        plot({**comp, "_records": main_records} if comp else None, check, check_records, folder / "comparison.png")
    return folder / "comparison.md"


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--mix", choices=list(mixes.MIXES), default="u_shaped")
    parser.add_argument("--results", default=str(plan.DEFAULT_RESULTS))
    argv = sys.argv[1:] if argv is None else argv

    def body() -> int:
        args = parser.parse_args(argv)
        print(write_report(args.mix, Path(args.results)).read_text())
        return 0

    return guarded(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
