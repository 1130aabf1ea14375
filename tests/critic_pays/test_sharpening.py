from __future__ import annotations

import json

import pytest

from sppo_lab.critic_pays import comparison as cmp
from sppo_lab.critic_pays import report, sharpening
from sppo_lab.graded import task

LEVELS = (2, 4, 6, 8, 10)  # the graded mix, 1/5 each


def _val_row(step: int, p1: float, p4: float, p16: float) -> dict:
    data = {}
    for level in LEVELS:
        source = task.data_source(level)
        data[f"val-core/{source}/acc/mean@16"] = p1
        data[f"val-aux/{source}/acc/best@4/mean"] = p4
        data[f"val-core/{source}/acc/best@16/mean"] = p16
    return {"step": step, "data": data}


def _run(folder, name: str, entropies: list[float], p1: float, p4: float, p16: float) -> None:
    (folder / name).mkdir(parents=True)
    rows = [{"step": i + 1, "data": {"actor/entropy": e}} for i, e in enumerate(entropies)]
    rows.append(_val_row(len(entropies), p1, p4, p16))
    (folder / name / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _record(results, arm: str, lr: str, seed: int, value: float) -> None:
    folder = cmp.records_dir("graded", results)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{cmp.run_name(arm, lr, seed)}.json").write_text(
        json.dumps({"arm": arm, "lr": lr, "seed": seed, "val_after_mix": value})
    )


def test_run_entry_takes_the_last_complete_validation_and_every_entropy():
    rows = [{"step": 1, "data": {"actor/entropy": 0.5}}, _val_row(1, 0.1, 0.2, 0.3)]
    rows += [{"step": 2, "data": {"actor/entropy": 0.25}}, _val_row(2, 0.4, 0.6, 0.8)]
    rows.append({"step": 3, "data": {f"val-core/{task.data_source(2)}/acc/mean@16": 0.9}})  # one level only
    entry = sharpening.run_entry(rows, "graded")
    assert entry["entropy"] == [0.5, 0.25]
    assert entry["by_level"] == {str(lv): {"pass@1": 0.4, "pass@4": 0.6, "pass@16": 0.8} for lv in LEVELS}
    assert sharpening.run_entry(rows[:1], "graded") is None  # no validation yet: unfinished


def test_collect_merges_skips_unfinished_and_unreadable_runs_and_keeps_gone_ones(tmp_path, capsys):
    runs = tmp_path / "work" / "graded" / "runs"
    _run(runs, "sppo__lr1.5e-4__seed0", [0.4, 0.2], 0.5, 0.7, 0.9)
    (runs / "sppo__lr1.5e-4__seed1").mkdir()
    (runs / "sppo__lr1.5e-4__seed1" / "metrics.jsonl").write_text('{"step": 1, "data": {"actor/entropy": 0.4}}\n')
    (runs / "no_baseline__lr1.5e-4__seed0").mkdir()
    (runs / "no_baseline__lr1.5e-4__seed0" / "metrics.jsonl").write_text("{not json\n")
    (runs / "base").mkdir()  # not a run folder
    entries = sharpening.collect("graded", tmp_path / "work", tmp_path / "results")
    assert list(entries) == ["sppo__lr1.5e-4__seed0"]
    assert entries["sppo__lr1.5e-4__seed0"]["seed"] == 0 and entries["sppo__lr1.5e-4__seed0"]["arm"] == "sppo"
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "no_baseline__lr1.5e-4__seed0/metrics.jsonl: skipped (JSONDecodeError" in err[0]
    import shutil

    shutil.rmtree(runs / "sppo__lr1.5e-4__seed0")
    assert list(sharpening.collect("graded", tmp_path / "work", tmp_path / "results")) == ["sppo__lr1.5e-4__seed0"]


def test_phase_table_pairs_each_arm_with_sppo_on_the_same_seeds(tmp_path):
    runs = tmp_path / "work" / "graded" / "runs"
    # entropy_end is the mean of the last 10 steps: 12 steps, the last 10 at 0.2 (sppo) or 0.1 (no_baseline)
    _run(runs, "sppo__lr1.5e-4__seed0", [0.5, 0.5] + [0.2] * 10, 0.50, 0.70, 0.90)
    _run(runs, "sppo__lr1.5e-4__seed1", [0.5, 0.5] + [0.2] * 10, 0.60, 0.80, 0.90)
    _run(runs, "no_baseline__lr1.5e-4__seed0", [0.5, 0.5] + [0.1] * 10, 0.80, 0.85, 0.95)
    _run(runs, "no_baseline__lr1.5e-4__seed1", [0.5, 0.5] + [0.1] * 10, 0.80, 0.90, 0.90)
    entries = sharpening.collect("graded", tmp_path / "work", tmp_path / "results")
    table = sharpening.phase_table(entries, {"sppo": "1.5e-4", "no_baseline": "1.5e-4"}, (0, 1), "graded")
    a = table["arms"]["no_baseline"]
    assert a["pass@1"]["values"] == pytest.approx([0.8, 0.8]) and a["entropy_end"]["mean"] == pytest.approx(0.1)
    assert a["entropy_start"]["mean"] == 0.5
    t = a["minus_sppo"]
    assert t["pass@1"]["mean"] == pytest.approx(0.25)  # (0.30 + 0.20) / 2
    assert t["pass@16"]["mean"] == pytest.approx(0.025)  # (0.05 + 0.00) / 2
    assert t["entropy_end"]["mean"] == pytest.approx(-0.1) and t["entropy_end"]["sd"] == pytest.approx(0.0, abs=1e-12)
    assert table["family"] == 4  # one arm x 4 measures
    assert a["by_level"]["10"] == pytest.approx({"pass@1": 0.8, "pass@4": 0.875, "pass@16": 0.925})


def test_the_report_cli_writes_it_from_the_run_folders(tmp_path, capsys):
    work, results = tmp_path / "work", tmp_path / "results"
    argv = ["--mix", "graded", "--work", str(work), "--results", str(results)]
    assert report.main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "no run records under" in err
    for seed in (0, 1):
        _run(work / "graded" / "runs", f"sppo__lr1.5e-4__seed{seed}", [0.3] * 3, 0.5, 0.7, 0.9)
        _run(work / "graded" / "runs", f"no_baseline__lr1.5e-4__seed{seed}", [0.3] * 3, 0.6, 0.7, 0.9)
    for arm in ("sppo", "no_baseline"):  # the sweep's records choose 1.5e-4 for both arms
        for lr in cmp.SWEEP_LRS["graded"]:
            for sweep_seed in cmp.SWEEP_SEEDS:
                _record(results, arm, lr, sweep_seed, 0.9 if lr == "1.5e-4" else 0.7)
    assert report.main(argv) == 0
    md = (results / "graded" / "sharpening.md").read_text()
    assert "| no_baseline | 1.5e-4 | 2 | 0.600 | 0.700 | 0.900 | 0.300 → 0.300 | +0.100 (" in md
    assert (results / "graded" / "sharpening.png").stat().st_size > 0
    assert json.loads((results / "graded" / "sharpening.json").read_text())["lrs"]["sppo"] == "1.5e-4"
