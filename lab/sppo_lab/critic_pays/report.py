"""The report of the critic-pays study: the lr sweep, the comparison with paired, multiplicity-corrected intervals,
and the gradient-variance table.

    python -m sppo_lab.critic_pays.report [--mix u_shaped graded] [--results benchmarks/results/critic_pays]
                                          [--work runs/critic_pays]

Per mix it reads the run records (``comparison.py``) and writes ``<mix>/comparison.json``, ``<mix>/comparison.md``
and ``<mix>/comparison.png``; with ``gradient_variance.json`` present, ``gradient_variance.md`` and its figure; from
the run folders under ``--work`` (or the runs already collected), pass@k and entropy (``sharpening.py``).

Statistics. The outcome is the held-out success after training, weighted by the mix's level shares (``val_after_mix``).
Each arm is compared with SPPO on the same seeds (paired differences: same prompt order, same initial critic).
The family is the arms' comparisons with SPPO; p-values of the paired t-test are Holm-adjusted over it, and the
intervals are simultaneous (Bonferroni: 1 − 0.05 / m per interval, valid for any dependence), so an interval that
excludes 0 is significant after correction. The smallest difference detectable with 80 % power at the corrected
level is (t_{1−α/2m} + t_{0.8}) · sd(d) / √n. Equal updates: the N = 1 arms ran the same number of actor updates
and ``grpo_updates`` as many optimizer updates; equal time: ``grpo`` ran as many steps as take SPPO's 60 steps' time
by the side-by-side calibration. Time per step relative to SPPO is the median over an arm's runs of its median step
seconds over SPPO's (load-robust; GRPO's from the calibration), and the figure's time axis uses it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sppo.cli_errors import OneLineParser, UserError, guarded, write_text_atomic
from sppo_lab.critic_pays import comparison as cmp
from sppo_lab.critic_pays import mixes, sharpening
from sppo_lab.stats import holm, moving_average, paired

PROG = "python -m sppo_lab.critic_pays.report"


def sweep_table(records: list[dict], lrs: tuple[str, ...]) -> dict[str, dict[str, dict]]:
    """arm -> lr -> {"values": [...], "mean": ...} over the sweep seeds (every lr with a record; the grid ``lrs``
    decides what is pruned)."""
    out: dict[str, dict[str, dict]] = {}
    for r in records:
        if r["seed"] in cmp.SWEEP_SEEDS and r.get("val_after_mix") is not None:
            cell = out.setdefault(r["arm"], {}).setdefault(r["lr"], {"values": []})
            cell["values"].append(r["val_after_mix"])
    for arm, cells in out.items():
        pruned = cmp.pruned_lrs(records, arm, lrs)
        for lr, cell in cells.items():
            cell["mean"] = sum(cell["values"]) / len(cell["values"])
            cell["pruned"] = lr in pruned  # collapsed on the first sweep seed: not run on the second
    return out


def final_reward(record: dict, last: int = 10) -> float | None:
    """Training reward over the last ``last`` steps with an actor update (equal updates for the N = 1 arms)."""
    rewards = [r for r in record["reward"] if r is not None]
    return sum(rewards[-last:]) / len(rewards[-last:]) if rewards else None


def comparison(records: list[dict], lrs: dict[str, str], seeds: tuple[int, ...] = cmp.MAIN_SEEDS) -> dict:
    """Per arm at its tuned lr over the main seeds: values per seed, means, paired differences against SPPO."""
    main = {(r["arm"], r["seed"]): r for r in records if r["seed"] in seeds and lrs.get(r["arm"]) == r["lr"]}
    arms = [a for a in cmp.ARMS if any((a, s) in main for s in seeds)]
    family = max(0, len([a for a in arms if a != "sppo"]))
    out: dict = {"family": family, "arms": {}}
    for arm in arms:
        runs = [main[(arm, s)] for s in seeds if (arm, s) in main]
        vals = [r["val_after_mix"] for r in runs]
        out["arms"][arm] = {
            "lr": lrs[arm],
            "seeds": [r["seed"] for r in runs],
            "held_out": vals,
            "held_out_mean": sum(vals) / len(vals),
            "final_train_reward": [final_reward(r) for r in runs],
            "steps": [r["steps"] for r in runs],
            "actor_update_steps": [r["actor_updates_steps"] for r in runs],
            "train_seconds": [r["train_seconds"] for r in runs],
            "val_after_by_level": [r["val_after"] for r in runs],
        }
    if "sppo" in out["arms"]:
        base = {r["seed"]: r["val_after_mix"] for r in (main[("sppo", s)] for s in seeds if ("sppo", s) in main)}
        tests = {}
        for arm in arms:
            if arm == "sppo":
                continue
            pairs = [(main[(arm, s)]["val_after_mix"], base[s]) for s in seeds if (arm, s) in main and s in base]
            if pairs:
                tests[arm] = paired([a - b for a, b in pairs], family)
        names = [a for a in tests if tests[a]["p"] is not None]
        for arm, adj in zip(names, holm([tests[a]["p"] for a in names]), strict=True):
            tests[arm]["p_holm"] = adj
        for arm, t in tests.items():
            out["arms"][arm]["minus_sppo"] = t
    return out


def median(values: list[float]) -> float | None:
    return cmp.median(values) if values else None


def time_per_step_vs_sppo(comp: dict, records: list[dict], calibration: dict | None) -> dict[str, float | None]:
    """Per arm: its training seconds per step relative to SPPO's (medians: robust to a run's load and warm-up)."""
    keyed = {(r["arm"], r["lr"], r["seed"]): r for r in records}

    def arm_median(arm: str, a: dict) -> float | None:
        per_run = []
        for seed in a["seeds"]:
            steps = [t for t in keyed[(arm, a["lr"], seed)].get("step_s", [])[2:] if t is not None]
            if steps:
                per_run.append(cmp.median(steps))
        return median(per_run)

    sppo = arm_median("sppo", comp["arms"]["sppo"]) if "sppo" in comp["arms"] else None
    out: dict[str, float | None] = {}
    for arm, a in comp["arms"].items():
        if cmp.ARMS[arm].n > 1:
            out[arm] = calibration["grpo_over_sppo"] if calibration else None
        else:
            mine = arm_median(arm, a)
            out[arm] = mine / sppo if mine is not None and sppo else None
    return out


def _fmt(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def comparison_markdown(mix: str, sweep: dict, lrs: dict[str, str], comp: dict, calibration: dict | None = None) -> str:
    lines = [
        f"# Critic pays: {mix} mix",
        "",
        "## lr sweep (held-out success, mix-weighted, mean over the sweep seeds)",
        "",
        f"collapsed: more than {cmp.PRUNE_MARGIN} below the arm's best lr on the first sweep seed, so not run on the "
        "second.",
        "",
    ]
    all_lrs = sorted({lr for arm in sweep.values() for lr in arm}, key=float)
    lines.append("| arm | " + " | ".join(all_lrs) + " | chosen |")
    lines.append("|---|" + "---|" * (len(all_lrs) + 1))
    for arm in cmp.ARMS:
        if arm not in sweep:
            continue
        cells = [
            f"{sweep[arm][lr]['mean']:.3f} (n={len(sweep[arm][lr]['values'])}"
            + (", collapsed)" if sweep[arm][lr].get("pruned") else ")")
            if lr in sweep[arm]
            else "–"
            for lr in all_lrs
        ]
        lines.append(f"| {arm} | " + " | ".join(cells) + f" | {lrs.get(arm, '–')} |")
    lines += ["", "## Comparison at each arm's lr (main seeds)", ""]
    lines.append(
        "| arm | lr | seeds | held-out after | minus SPPO (paired) | simultaneous 95 % CI | p (Holm) | detectable | "
        "train reward, last 10 steps | steps | time per step vs SPPO |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    ratios = comp.get("time_per_step_vs_sppo", {})
    for arm, a in comp["arms"].items():
        rewards = [r for r in a["final_train_reward"] if r is not None]
        cells = paired_cells(arm, a) + [
            _fmt(sum(rewards) / len(rewards) if rewards else None),
            f"{sum(a['steps']) / len(a['seeds']):.0f}",
            _fmt(ratios.get(arm), 2),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += confirm_markdown(comp["confirm"]) if "confirm" in comp else []
    lines += levels_markdown(comp)
    if calibration:
        lines.append(
            f"Time calibration ({calibration['how']}): SPPO {calibration['sppo_step_s']:.2f} s a step, GRPO "
            f"{calibration['grpo_step_s']:.2f} s, ratio {calibration['grpo_over_sppo']:.2f}."
        )
        lines.append("")
    return "\n".join(lines)


def paired_cells(arm: str, a: dict) -> list[str]:
    """arm, lr, seeds, held-out mean, and its paired difference against SPPO: mean, interval, Holm p, detectable."""
    t = a.get("minus_sppo") or {}
    ci = f"({t['low']:+.3f}, {t['high']:+.3f})" if t.get("low") is not None else "–"
    return [
        arm,
        a["lr"],
        str(len(a["seeds"])),
        f"{a['held_out_mean']:.3f}",
        f"{t['mean']:+.3f}" if t else "0",
        ci,
        _fmt(t.get("p_holm")),
        _fmt(t.get("detectable")),
    ]


def confirm_markdown(confirm: dict) -> list[str]:
    """The confirmatory phase: each confirm arm minus SPPO on the fresh seeds, Holm over its own family."""
    if len(confirm["arms"]) < 2:
        return []
    lines = [
        f"## Confirmatory phase (fresh seeds {min(cmp.CONFIRM_SEEDS)}-{max(cmp.CONFIRM_SEEDS)}, a family of "
        f"{confirm['family']})",
        "",
        "| arm | lr | seeds | held-out after | minus SPPO (paired) | simultaneous 95 % CI | p (Holm) | detectable |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arm, a in confirm["arms"].items():
        lines.append("| " + " | ".join(paired_cells(arm, a)) + " |")
    return lines + [""]


def levels_markdown(comp: dict) -> list[str]:
    """Held-out success per level (mean over each arm's main seeds): where an arm's gain or loss comes from."""
    levels = sorted({lv for a in comp["arms"].values() for run in a["val_after_by_level"] for lv in run}, key=int)
    if not levels:
        return []
    lines = [
        "## Held-out success by level (mean over the main seeds)",
        "",
        "| arm | " + " | ".join(f"k = {lv}" for lv in levels) + " |",
        "|---|" + "---|" * len(levels),
    ]
    for arm, a in comp["arms"].items():
        cells = []
        for lv in levels:
            vals = [run[lv] for run in a["val_after_by_level"] if lv in run]
            cells.append(_fmt(sum(vals) / len(vals) if vals else None))
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return lines + [""]


REWARD_WINDOW_SAMPLES = 80  # the curves' moving average: 5 steps of an N = 1 arm, 1 of GRPO N = 8 (128 samples)


def plot_comparison(comp: dict, records: list[dict], path: Path, mix: str) -> None:
    """Left: held-out success per arm (seeds as dots, mean with its simultaneous interval shifted from SPPO's mean).
    Middle: mean training reward by step (equal updates). Right: the same against time in SPPO-step units."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keyed = {(r["arm"], r["lr"], r["seed"]): r for r in records}
    ratios = comp.get("time_per_step_vs_sppo", {})
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    arms = list(comp["arms"])
    base = comp["arms"].get("sppo", {}).get("held_out_mean")
    for i, arm in enumerate(arms):
        a = comp["arms"][arm]
        axes[0].scatter([i] * len(a["held_out"]), a["held_out"], s=12, alpha=0.5, color=f"C{i}")
        t = a.get("minus_sppo")
        if t and t.get("low") is not None and base is not None:
            mean = base + t["mean"]
            axes[0].errorbar(i, mean, yerr=[[mean - (base + t["low"])], [(base + t["high"]) - mean]], fmt="o",
                             color="black", capsize=4)  # fmt: skip
        else:
            axes[0].plot(i, a["held_out_mean"], "o", color="black")
        runs = [keyed[(arm, a["lr"], s)] for s in a["seeds"]]
        curves = [r["reward"] for r in runs]
        length = min(len(c) for c in curves)
        mean_curve = [sum(c[j] for c in curves) / len(curves) for j in range(length)]
        n = cmp.ARMS[arm].n
        smooth = moving_average(mean_curve, max(1, round(REWARD_WINDOW_SAMPLES / (cmp.BATCH * n))))
        xs = list(range(1, length + 1))
        # x of the equal-updates panel: optimizer updates (GRPO: mini-batches per step); critic-only steps left out
        critic_only = min(r["steps"] - r["actor_updates_steps"] for r in runs)
        per_step = cmp.GRPO_MINI_BATCHES if n > 1 else 1
        updates = [(x - critic_only) * per_step for x in xs]
        kept = [j for j, u in enumerate(updates) if u > 0]
        axes[1].plot([updates[j] for j in kept], [smooth[j] for j in kept], label=f"{arm} (lr {a['lr']})",
                     color=f"C{i}")  # fmt: skip
        if ratios.get(arm):
            axes[2].plot([x * ratios[arm] for x in xs], smooth, label=arm, color=f"C{i}")
    if base is not None:
        axes[0].axhline(base, color="C0", linewidth=0.8, linestyle="--")
    axes[0].set_xticks(range(len(arms)), arms, rotation=30, ha="right")
    axes[0].set_ylabel("held-out success after training (mix-weighted)")
    axes[0].set_title(f"{mix}: seeds; mean, simultaneous 95 % CI vs SPPO", fontsize=10)
    axes[1].set_xlabel("optimizer updates of the actor (GRPO: 4 a step)")
    axes[1].set_ylabel(f"training reward (seed mean, ~{REWARD_WINDOW_SAMPLES}-sample average)")
    axes[1].set_title("equal updates")
    axes[1].legend(fontsize=7)
    axes[2].set_xlabel("training time, in SPPO steps")
    axes[2].set_title("equal time")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def gradient_variance_markdown(data: dict) -> str:
    """One table per mix: per checkpoint η², ‖s‖² of correct vs wrong responses, and per baseline the variance of the
    16-sample estimate relative to no baseline and its cosine with the full-sample gradient."""
    from sppo_lab.critic_pays.gradient_variance import BASELINES

    lines = ["# Gradient variance under each baseline (16-sample estimates, token-mean aggregation)", ""]
    for mix, checkpoints in data.items():
        lines += [f"## {mix} mix", ""]
        lines.append("| checkpoint | success | η² | η² token-weighted | ‖s‖² correct | ‖s‖² wrong |")
        lines.append("|---|---|---|---|---|---|")
        for name, e in checkpoints.items():
            lines.append(
                f"| {name} | {e['success']:.2f} | {e['eta2']:.2f} | {e['eta2_token_weighted']:.2f} | "
                f"{_fmt(e['sq_norm_correct'], 1)} | {_fmt(e['sq_norm_wrong'], 1)} |"
            )
        lines += ["", "Variance relative to no baseline (cosine with the full-sample gradient, oracle reference):", ""]
        lines.append("| baseline | " + " | ".join(checkpoints) + " |")
        lines.append("|---|" + "---|" * len(checkpoints))
        for b in BASELINES:
            cells = [
                f"{e['baselines'][b]['variance_vs_none']:.2f} ({e['baselines'][b]['cosine_to_full']:.2f})"
                for e in checkpoints.values()
            ]
            lines.append(f"| {b} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def plot_gradient_variance(data: dict, path: Path) -> None:
    """Per mix: variance relative to no baseline (log scale) and cosine with the full-sample gradient, per
    baseline, one group of bars per checkpoint."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sppo_lab.critic_pays.gradient_variance import BASELINES

    fig, axes = plt.subplots(2, len(data), figsize=(6.5 * len(data), 7), squeeze=False)
    for col, (mix, checkpoints) in enumerate(data.items()):
        width = 0.8 / len(checkpoints)
        for j, (name, e) in enumerate(checkpoints.items()):
            xs = [i + j * width for i in range(len(BASELINES))]
            axes[0][col].bar(xs, [e["baselines"][b]["variance_vs_none"] for b in BASELINES], width, label=name)
            axes[1][col].bar(xs, [e["baselines"][b]["cosine_to_full"] for b in BASELINES], width, label=name)
        for row, label in ((0, "variance / variance with no baseline"), (1, "cosine with full-sample gradient")):
            ax = axes[row][col]
            ax.set_xticks([i + 0.4 - width / 2 for i in range(len(BASELINES))], BASELINES, rotation=30, ha="right")
            ax.set_ylabel(label)
        axes[0][col].set_yscale("log")
        axes[0][col].axhline(1.0, color="black", linewidth=0.8)
        axes[0][col].set_title(f"{mix} mix: variance of the 16-sample policy gradient by baseline")
        axes[0][col].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_mix_report(mix: str, results: Path) -> Path | None:
    records = cmp.load_records(mix, results)
    if not records:
        return None
    sweep = sweep_table(records, cmp.SWEEP_LRS[mix])
    lrs = cmp.best_lrs(records, cmp.SWEEP_LRS[mix])
    comp = comparison(records, lrs)
    cal_path = cmp.calibration_path(mix, results)
    calibration = json.loads(cal_path.read_text()) if cal_path.exists() else None
    comp["time_per_step_vs_sppo"] = time_per_step_vs_sppo(comp, records, calibration)
    confirm_lrs = {arm: lr for arm, lr in lrs.items() if arm in cmp.CONFIRM_ARMS}
    comp["confirm"] = comparison(records, confirm_lrs, seeds=cmp.CONFIRM_SEEDS)
    folder = results / mix
    write_text_atomic(
        folder / "comparison.json",
        json.dumps(
            {"mix": mix, "shares": mixes.MIXES[mix], "sweep": sweep, "lrs": lrs, "calibration": calibration, **comp},
            indent=1,
        )
        + "\n",
    )
    write_text_atomic(folder / "comparison.md", comparison_markdown(mix, sweep, lrs, comp, calibration))
    if comp["arms"]:
        plot_comparison(comp, records, folder / "comparison.png", mix)
    return folder / "comparison.md"


def main(argv=None) -> int:
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--mix", nargs="+", choices=list(mixes.MIXES), default=list(mixes.MIXES))
    parser.add_argument("--results", default=str(cmp.DEFAULT_RESULTS))
    parser.add_argument(
        "--work", default="runs/critic_pays", help="the run folders (pass@k and entropy, sharpening.py)"
    )
    argv = sys.argv[1:] if argv is None else argv

    def body() -> int:
        args = parser.parse_args(argv)
        results = Path(args.results)
        written = [p for mix in args.mix if (p := write_mix_report(mix, results)) is not None]
        written += [p for mix in args.mix if (p := sharpening.write_mix(mix, Path(args.work), results)) is not None]
        variance = results / "gradient_variance.json"
        if variance.exists():
            data = json.loads(variance.read_text())
            write_text_atomic(results / "gradient_variance.md", gradient_variance_markdown(data))
            plot_gradient_variance(data, results / "gradient_variance.png")
            written.append(results / "gradient_variance.md")
        if not written:
            raise UserError(f"{PROG}: no run records under {results}/<mix>/runs/")
        for p in written:
            print(p.read_text())
        return 0

    return guarded(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
