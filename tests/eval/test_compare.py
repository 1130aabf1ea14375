"""``compare``: verl file-logger JSONL runs and score directories side by side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sppo.eval.cli import main
from sppo.eval.compare import read_jsonl, read_run


def write_jsonl(path: Path, records: list[dict], garbage: bool = False) -> Path:
    lines = [json.dumps(r) for r in records]
    if garbage:
        lines.insert(1, '{"step": 2, "data": {"trunc')  # a line cut by a killed run
    path.write_text("\n".join(lines) + "\n")
    return path


def val(step: int, aime: float, math: float, seconds: float | None = 3600.0, var: str = "acc") -> dict:
    data = {
        f"val-core/math__aime_repeated_8x/{var}/mean@1": aime,
        f"val-core/math__math/{var}/mean@1": math,
        "val-aux/math__math/reward/mean@1": -5.0,  # auxiliary keys are ignored
    }
    if seconds is not None:
        data["timing_s/step"] = seconds
    return {"step": step, "data": data}


def train(step: int, seconds: float) -> dict:
    return {"step": step, "data": {"timing_s/step": seconds, "actor/pg_loss": 0.1}}


def test_read_jsonl_points_hours_and_variable_choice(tmp_path: Path) -> None:
    records = [
        val(0, 0.2, 0.6, seconds=None),
        train(1, 1800),
        val(2, 0.3, 0.7, 1800),
        train(3, 3600),
        val(4, 0.4, 0.8, 3600),
    ]
    points = read_jsonl(write_jsonl(tmp_path / "run.jsonl", records, garbage=True))
    assert [p.step for p in points] == [0, 2, 4]
    assert [p.hours for p in points] == [0.0, 1.0, 3.0]  # running sum of timing_s/step
    assert points[2].values == {"aime24": 0.4, "math500": 0.8}
    # "acc" is preferred over "reward", and the largest mean@N over smaller ones
    both = {"step": 1, "data": {"val-core/math__math/reward/mean@4": 0.1, "val-core/math__math/acc/mean@1": 0.5,
                                "val-core/math__math/acc/mean@4": 0.6}}  # fmt: skip
    assert read_jsonl(write_jsonl(tmp_path / "both.jsonl", [both]))[0].values == {"math500": 0.6}
    only_reward = read_jsonl(write_jsonl(tmp_path / "r.jsonl", [val(1, 0.1, 0.2, var="reward")]))
    assert only_reward[0].values == {"aime24": 0.1, "math500": 0.2}
    untimed = read_jsonl(write_jsonl(tmp_path / "u.jsonl", [val(1, 0.1, 0.2, seconds=None)]))
    assert untimed[0].hours is None


def score_dir(path: Path, avgs: dict[str, float], step: int | None) -> Path:
    path.mkdir(parents=True)
    metrics = {"benchmarks": {n: {"avg": v, "pass": {}, "maj": v} for n, v in avgs.items()}, "source": {"step": step}}
    (path / "metrics.json").write_text(json.dumps(metrics))
    return path


def test_compare_table_and_plots(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sppo = write_jsonl(tmp_path / "sppo.jsonl", [val(0, 0.2, 0.6, None), train(1, 1800), val(2, 0.4, 0.8, 1800)])
    grpo = write_jsonl(tmp_path / "grpo.jsonl", [val(0, 0.2, 0.6, None), train(1, 9000), val(2, 0.3, 0.9, 9000)])
    evals = tmp_path / "evals"
    score_dir(evals / "global_step_100", {"aime24": 0.5, "math500": 0.7, "amc23": 0.6}, None)  # step from the name
    score_dir(evals / "global_step_50", {"aime24": 0.45, "math500": 0.75}, 50)
    base = score_dir(tmp_path / "base", {"aime24": 0.25, "math500": 0.5}, None)
    out = tmp_path / "cmp"
    argv = [
        "compare",
        str(sppo),
        str(grpo),
        str(evals),
        str(base),
        "--labels",
        "SPPO",
        "GRPO",
        "offline",
        "base",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert table == (out / "compare.md").read_text()
    lines = table.splitlines()
    assert lines[0] == "| | SPPO | GRPO | offline | base |"
    assert "| last step | 2 | 2 | 100 |  |" in lines
    assert "| AIME24 | 40.0 | 30.0 | 50.0 | 25.0 |" in lines
    assert "| AMC23 |  |  | 60.0 |  |" in lines  # not shared by all runs: shown, not in the mean
    assert "| mean of 2 (last) | 60.0 | 60.0 | 60.0 | 37.5 |" in lines
    assert "| mean of 2 (best @ step) | 60.0 @ 2 | 60.0 @ 2 | 60.0 @ 50 | 37.5 |" in lines
    assert "| hours | 1.00 | 5.00 |  |  |" in lines  # 1800 + 1800 s, 9000 + 9000 s
    assert (out / "compare.png").stat().st_size > 5000
    assert [p.step for p in read_run(evals).points] == [50, 100]


def test_compare_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    def error(argv: list[str]) -> str:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        return err

    assert "no such file or directory" in error(["compare", str(tmp_path / "missing.jsonl")])
    empty = write_jsonl(tmp_path / "train_only.jsonl", [train(1, 10)])
    assert "no validation scores found" in error(["compare", str(empty)])
    good = write_jsonl(tmp_path / "a.jsonl", [val(1, 0.1, 0.2)])
    assert "--labels has 1 names for 2 runs" in error(["compare", str(good), str(good), "--labels", "x"])
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "metrics.json").write_text("{")
    assert "not a score metrics.json" in error(["compare", str(tmp_path / "broken")])
    other = score_dir(tmp_path / "other", {"minerva": 0.1}, None)
    assert "the runs share no benchmark" in error(["compare", str(good), str(other)])


def test_a_byte_order_mark_loses_no_point(tmp_path) -> None:
    """Issue 25: a metrics JSONL saved with a UTF-8 BOM lost its first line (skipped as a cut write)."""
    from sppo.eval.compare import read_jsonl

    lines = [
        {"step": 0, "data": {"val-core/math__math/acc/mean@1": 0.25}},
        {"step": 5, "data": {"val-core/math__math/acc/mean@1": 0.5}},
    ]
    path = tmp_path / "run.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "".join(json.dumps(line) + "\n" for line in lines).encode())
    assert [(p.step, p.values) for p in read_jsonl(path)] == [(0, {"math500": 0.25}), (5, {"math500": 0.5})]


def test_runs_with_the_same_default_label_are_named_by_their_paths(tmp_path) -> None:
    """a/metrics.jsonl and b/metrics.jsonl: both would be labelled "metrics"; each column gets its path instead."""
    from sppo.eval.compare import run

    for name, value in (("a", 0.25), ("b", 0.5)):
        (tmp_path / name).mkdir()
        line = {"step": 1, "data": {"val-core/math__math/acc/mean@1": value}}
        (tmp_path / name / "metrics.jsonl").write_text(json.dumps(line) + "\n")
    table = run([str(tmp_path / "a" / "metrics.jsonl"), str(tmp_path / "b" / "metrics.jsonl")])
    assert table.splitlines()[0] == f"| | {tmp_path / 'a' / 'metrics.jsonl'} | {tmp_path / 'b' / 'metrics.jsonl'} |"
