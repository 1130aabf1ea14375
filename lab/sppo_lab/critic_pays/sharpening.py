"""Sharper or better? Held-out pass@k and the policy's entropy in the critic-pays runs.

Written by the study's report: ``python -m sppo_lab.critic_pays.report [--work runs/critic_pays]``.

Why. A = R reinforces successes and never pushes a failure down; SPPO, GRPO and GAE push failures down too. If a
single-sample arm wins held-out success at one sample (pass@1) by concentrating the policy on responses it already
finds, its lead should shrink when k samples may try (pass@k), and its entropy should fall faster. This measures both.

Data. Each run folder's verl metrics (``<work>/<mix>/runs/<run>/metrics.jsonl``): the held-out validation after
training gives, per level, ``acc/mean@16`` (pass@1 over 16 samples a prompt) and verl's ``acc/best@k/mean`` (the
bootstrap mean of the best of k of the prompt's 16 responses drawn with replacement: a slightly low estimate of pass@k,
the same estimator for every arm); each training step gives the actor's mean token entropy (``actor/entropy``).
They are collected into ``<results>/<mix>/sharpening_runs.json`` and merged on every call (a run whose folder is gone
keeps its entry), so the report reruns on a machine without the run folders.

Statistics (as ``report.py``). Each arm against SPPO on the same seeds, at the lrs the sweep chose, separately on the
main and the confirmatory seeds: paired differences, simultaneous 95 % intervals (Bonferroni over the arms x
measures of the phase) and Holm-adjusted p-values. This analysis was added after the comparison had run: it
describes the mechanism of measured differences, and is no pre-registered test.

Outputs per mix: ``sharpening.json``, ``sharpening.md``, ``sharpening.png``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from sppo.cli_errors import write_text_atomic
from sppo_lab.critic_pays import comparison as cmp
from sppo_lab.critic_pays import mixes
from sppo_lab.graded import task
from sppo_lab.stats import holm, paired

PROG = "python -m sppo_lab.critic_pays.report"
KS = (1, 4, 16)  # pass@1 is mean@16
ENTROPY_KEY = "actor/entropy"
ENTROPY_WINDOW = 10  # the final entropy: mean over the last 10 training steps
MEASURES = ("pass@1", "pass@4", "pass@16", "entropy_end")
RUN_DIR = re.compile(r"^(?P<arm>[a-z_]+)__lr(?P<lr>[^_]+)__seed(?P<seed>\d+)$")
PHASES = {"main": cmp.MAIN_SEEDS, "confirm": cmp.CONFIRM_SEEDS}


def _val_key(level: int, k: int) -> tuple[str, str]:
    """The verl keys of pass@k at ``level`` (verl files some under val-core, the rest under val-aux)."""
    stat = f"mean@{cmp.VAL_SAMPLES}" if k == 1 else f"best@{k}/mean"
    source = task.data_source(level)
    return f"val-core/{source}/acc/{stat}", f"val-aux/{source}/acc/{stat}"


def run_entry(rows: list[dict], mix: str) -> dict | None:
    """pass@k per level from the last validation, and the entropy series, of one run's verl rows (``metrics.jsonl``
    lines: {"step", "data"}); None when the run has no validation with every level (unfinished)."""
    data = [r["data"] for r in rows]
    entropy = [round(d[ENTROPY_KEY], 6) for d in data if ENTROPY_KEY in d]
    for d in reversed(data):
        by_level = {}
        for level in mixes.levels(mix):
            cells = {}
            for k in KS:
                core, aux = _val_key(level, k)
                value = d.get(core, d.get(aux))
                if value is not None:
                    cells[f"pass@{k}"] = value
            if len(cells) == len(KS):
                by_level[str(level)] = cells
        if len(by_level) == len(mixes.levels(mix)):
            return {"by_level": by_level, "entropy": entropy}
    return None


def collect(mix: str, work: Path, results: Path) -> dict[str, dict]:
    """Merge the run folders under ``work/<mix>/runs`` into ``results/<mix>/sharpening_runs.json``; returns all
    entries (run name -> {"arm", "lr", "seed", "by_level", "entropy"}). An unreadable or unfinished run folder is
    left out with one line on stderr; an entry already collected is kept."""
    path = Path(results) / mix / "sharpening_runs.json"
    entries = json.loads(path.read_text()) if path.exists() else {}
    folder = Path(work) / mix / "runs"
    added = 0
    for run_dir in sorted(folder.iterdir()) if folder.is_dir() else []:
        m = RUN_DIR.match(run_dir.name)
        metrics = run_dir / "metrics.jsonl"
        if m is None or m["arm"] not in cmp.ARMS or not metrics.is_file():
            continue
        try:
            rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
            entry = run_entry(rows, mix)
        except (json.JSONDecodeError, KeyError, TypeError, OSError) as err:
            print(f"{PROG}: {metrics}: skipped ({type(err).__name__}: {err})", file=sys.stderr)
            continue
        if entry is None:
            continue  # unfinished: no validation after training yet
        new = {"arm": m["arm"], "lr": m["lr"], "seed": int(m["seed"]), **entry}
        added += entries.get(run_dir.name) != new
        entries[run_dir.name] = new
    if added:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(entries, sort_keys=True) + "\n")
    return entries


def measures(entry: dict, mix: str) -> dict[str, float]:
    """Mix-weighted pass@k and the final entropy of one run."""
    shares = mixes.MIXES[mix]
    out = {f"pass@{k}": sum(shares[int(lv)] * c[f"pass@{k}"] for lv, c in entry["by_level"].items()) for k in KS}
    tail = entry["entropy"][-ENTROPY_WINDOW:]
    out["entropy_end"] = sum(tail) / len(tail) if tail else None
    out["entropy_start"] = entry["entropy"][0] if entry["entropy"] else None
    return out


def phase_table(entries: dict[str, dict], lrs: dict[str, str], seeds: tuple[int, ...], mix: str) -> dict:
    """Per arm at its lr over ``seeds``: each measure's values and mean, and its paired difference against SPPO."""
    runs = {(e["arm"], e["seed"]): e for e in entries.values() if e["seed"] in seeds and lrs.get(e["arm"]) == e["lr"]}
    arms = [a for a in cmp.ARMS if any((a, s) in runs for s in seeds)]
    out: dict = {"arms": {}}
    for arm in arms:
        rows = {s: measures(runs[(arm, s)], mix) for s in seeds if (arm, s) in runs}
        cell = {"lr": lrs[arm], "seeds": list(rows)}
        for name in (*MEASURES, "entropy_start"):
            values = [r[name] for r in rows.values()]
            cell[name] = {"values": values, "mean": sum(values) / len(values)}
        cell["by_level"] = {
            lv: {f"pass@{k}": sum(runs[(arm, s)]["by_level"][lv][f"pass@{k}"] for s in rows) / len(rows) for k in KS}
            for lv in runs[(arm, next(iter(rows)))]["by_level"]
        }
        out["arms"][arm] = cell
    if "sppo" not in out["arms"]:
        return out
    others = [a for a in arms if a != "sppo"]
    out["family"] = len(others) * len(MEASURES)
    base = out["arms"]["sppo"]
    tests = []
    for arm in others:
        a = out["arms"][arm]
        shared = [s for s in a["seeds"] if s in base["seeds"]]
        a["minus_sppo"] = {}
        for name in MEASURES:
            diffs = [
                a[name]["values"][a["seeds"].index(s)] - base[name]["values"][base["seeds"].index(s)] for s in shared
            ]
            if diffs:
                a["minus_sppo"][name] = paired(diffs, out["family"])
                tests.append(a["minus_sppo"][name])
    tested = [t for t in tests if t["p"] is not None]
    for t, adj in zip(tested, holm([t["p"] for t in tested]), strict=True):
        t["p_holm"] = adj
    return out


def _diff(t: dict | None) -> str:
    if not t:
        return "–"
    if t.get("low") is None:
        return f"{t['mean']:+.3f}"
    return f"{t['mean']:+.3f} ({t['low']:+.3f} … {t['high']:+.3f}), p_Holm {t['p_holm']:.2g}"


def markdown(mix: str, tables: dict[str, dict]) -> str:
    lines = [f"# Sharper or better? pass@k and entropy, {mix} mix", ""]
    lines += [
        "pass@1 = held-out success over 16 samples a prompt; pass@k = verl's best@k (bootstrap, k of the 16 drawn "
        "with replacement); mix-weighted. Entropy: the actor's mean token entropy, first training step and mean of "
        f"the last {ENTROPY_WINDOW}. Differences against SPPO on the same seeds, simultaneous 95 % intervals "
        "(Bonferroni over arms x measures), Holm p-values. Added after the comparison ran: a description of the "
        "mechanism, no pre-registered test.",
        "",
    ]
    for phase, table in tables.items():
        if not table["arms"]:
            continue
        lines += [f"## {phase} seeds", ""]
        lines += ["| arm | lr | seeds | pass@1 | pass@4 | pass@16 | entropy start → end | pass@1 − SPPO | "
                  "pass@16 − SPPO | entropy end − SPPO |", "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for arm, a in table["arms"].items():
            t = a.get("minus_sppo", {})
            lines.append(
                f"| {arm} | {a['lr']} | {len(a['seeds'])} | {a['pass@1']['mean']:.3f} | {a['pass@4']['mean']:.3f} | "
                f"{a['pass@16']['mean']:.3f} | {a['entropy_start']['mean']:.3f} → {a['entropy_end']['mean']:.3f} | "
                f"{_diff(t.get('pass@1'))} | {_diff(t.get('pass@16'))} | {_diff(t.get('entropy_end'))} |"
            )
        levels = list(next(iter(table["arms"].values()))["by_level"])
        lines += ["", "pass@1 / pass@16 by level (k = number of terms):", ""]
        lines += ["| arm | " + " | ".join(f"k = {lv}" for lv in levels) + " |", "|---" * (len(levels) + 1) + "|"]
        for arm, a in table["arms"].items():
            cells = [f"{a['by_level'][lv]['pass@1']:.2f} / {a['by_level'][lv]['pass@16']:.2f}" for lv in levels]
            lines.append(f"| {arm} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def plot(mix: str, tables: dict[str, dict], entries: dict[str, dict], path: Path) -> None:
    """Left: mix-weighted pass@k against k per arm (main seeds). Right: the actor's entropy by optimizer update."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = tables["main"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for i, (arm, a) in enumerate(table["arms"].items()):
        axes[0].plot(KS, [a[f"pass@{k}"]["mean"] for k in KS], "o-", label=arm, color=f"C{i}")
        series = [e["entropy"] for e in entries.values() if e["arm"] == arm and e["lr"] == a["lr"]
                  and e["seed"] in a["seeds"]]  # fmt: skip
        length = min(len(s) for s in series)
        # x: the actor's optimizer updates (GRPO: several a step), critic-only warm-up steps before 0
        per_step = cmp.GRPO_MINI_BATCHES if cmp.ARMS[arm].n > 1 else 1
        xs = [(j + 1 - cmp.ARMS[arm].extra_steps) * per_step for j in range(length)]
        axes[1].plot(xs, [sum(s[j] for s in series) / len(series) for j in range(length)], label=arm,
                     color=f"C{i}")  # fmt: skip
    axes[0].set_xscale("log", base=2)
    axes[0].set_xticks(KS, [str(k) for k in KS])
    axes[0].set_xlabel("k (samples a held-out prompt)")
    axes[0].set_ylabel("held-out pass@k (mix-weighted, seed mean)")
    axes[0].set_title(f"{mix}: pass@k after training", fontsize=10)
    axes[0].legend(fontsize=7)
    axes[1].set_xlabel("optimizer updates of the actor (GRPO: 4 a step; before 0: critic-only steps)")
    axes[1].set_ylabel("actor token entropy (seed mean)")
    axes[1].set_title("entropy during training", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_mix(mix: str, work: Path, results: Path) -> Path | None:
    entries = collect(mix, work, results)
    records = cmp.load_records(mix, results)
    if not entries or not records:
        return None
    lrs = cmp.best_lrs(records, cmp.SWEEP_LRS[mix])
    tables = {phase: phase_table(entries, lrs, seeds, mix) for phase, seeds in PHASES.items()}
    if not tables["main"]["arms"]:
        return None
    folder = Path(results) / mix
    write_text_atomic(folder / "sharpening.json", json.dumps({"mix": mix, "lrs": lrs, **tables}, indent=1) + "\n")
    write_text_atomic(folder / "sharpening.md", markdown(mix, tables))
    plot(mix, tables, entries, folder / "sharpening.png")
    return folder / "sharpening.md"
