"""Issue 14, ``python -m sppo.data.prepare`` and ``python -m sppo.data.check``: every kind of bad input is
one stderr line with the CLI's prefix, exit code 2, no traceback and no partial output (table-driven,
each case run as a subprocess)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sppo.data.check import check_training_file
from sppo.data.schema import answer_problem, build_row, row_problems
from tests.bad_input import UNWRITABLE, check_case, run_cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MATH500 = FIXTURES / "math500_sample.jsonl"
PREPARE = "sppo.data.prepare"
CHECK = "sppo.data.check"


def _jsonl(path: Path, rows: list[object], raw: list[str] = ()) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "".join(raw), encoding="utf-8")
    return path


def _good(i: int = 0) -> dict:
    return {"problem": f"What is {i}+1?", "answer": str(i + 1), "unique_id": f"u{i}"}


# Each case: (id, setup(tmp) -> argv, needle). Paths are relative to tmp (the subprocess's cwd).
PREPARE_CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("unknown name", lambda t: ["gsm8k", "--out", "out"], "unknown data set 'gsm8k'"),
    ("no --out", lambda t: ["math500"], "the following arguments are required: --out"),
    ("bad --on-bad-row", lambda t: ["math500", "--out", "out", "--on-bad-row", "ignore"], "invalid choice: 'ignore'"),
    ("empty --hub-id", lambda t: ["math500", "--out", "out", "--hub-id", " "], "argument --hub-id: must not be empty"),
    ("--hub-id with two names", lambda t: ["math500", "aime24", "--out", "out", "--hub-id", "a/b"], "--hub-id needs exactly one"),
    ("missing --source", lambda t: ["math500", "--out", "out", "--source", "nope"], "--source nope: no such file"),
    ("--source file, two names", lambda t: ["math500", "aime24", "--out", "out", "--source", str(MATH500)], "--source is a single file"),
    ("--out is a file", lambda t: (t / "f").write_text("x") and ["math500", "--out", "f", "--source", str(MATH500)],
     "--out f/offline_eval: f is a file"),
    ("--out under a file", lambda t: (t / "f").write_text("x") and ["math500", "--out", "f/sub", "--source", str(MATH500)],
     "f is a file"),
    ("OUT/offline_eval is a file", lambda t: ((t / "o").mkdir(), (t / "o" / "offline_eval").write_text("x"))
     and ["math500", "--out", "o", "--source", str(MATH500)], "exists and is not a folder"),
    ("--out unwritable", lambda t: ["math500", "--out", UNWRITABLE, "--source", str(MATH500)], "is not writable"),
    ("malformed JSON line, fail", lambda t: _jsonl(t / "s.jsonl", [_good()], ["{oops\n"]) and
     ["math500", "--out", "out", "--source", "s.jsonl", "--on-bad-row", "fail"], "row 1: line 2: invalid JSON"),
    ("not-an-object line, fail", lambda t: _jsonl(t / "s.jsonl", [_good(), [1, 2]]) and
     ["math500", "--out", "out", "--source", "s.jsonl", "--on-bad-row", "fail"], "a row must be a JSON object, got list"),
    ("list answer, fail", lambda t: _jsonl(t / "s.jsonl", [{**_good(), "answer": ["2", "3"]}]) and
     ["math500", "--out", "out", "--source", "s.jsonl", "--on-bad-row", "fail"], "answer is a list (['2', '3'])"),
    ("None answer, fail", lambda t: _jsonl(t / "s.jsonl", [{**_good(), "answer": None}]) and
     ["math500", "--out", "out", "--source", "s.jsonl", "--on-bad-row", "fail"], "missing answer"),
    ("NaN answer, fail", lambda t: (t / "s.jsonl").write_text('{"problem": "Q?", "answer": NaN}\n') and
     ["math500", "--out", "out", "--source", "s.jsonl", "--on-bad-row", "fail"], "answer is nan (not a number)"),
    ("bool answer, fail", lambda t: _jsonl(t / "s.jsonl", [{**_good(), "answer": True}]) and
     ["math500", "--out", "out", "--source", "s.jsonl", "--on-bad-row", "fail"], "answer is a boolean"),
    ("question is a list, fail", lambda t: _jsonl(t / "s.jsonl", [{**_good(), "problem": ["Q?"]}]) and
     ["math500", "--out", "out", "--source", "s.jsonl", "--on-bad-row", "fail"], "question is a list, expected text"),
    ("DAPO prompt not text, fail", lambda t: _jsonl(t / "s.jsonl", [{"prompt": [{"content": 5}], "solution": "1"}]) and
     ["dapo17k", "--out", "out", "--source", "s.jsonl", "--on-bad-row", "fail"], "prompt content is not text"),
    ("every row bad (skip)", lambda t: _jsonl(t / "s.jsonl", [{**_good(), "answer": [1]}], ["{oops\n"]) and
     ["math500", "--out", "out", "--source", "s.jsonl"], "no valid rows (first bad row 0: answer is a list"),
    ("not UTF-8 (skip)", lambda t: (t / "s.jsonl").write_bytes(b"\xff\xfe\x00garbage\n") and
     ["math500", "--out", "out", "--source", "s.jsonl"], "line 1: not UTF-8 text"),
    ("corrupt parquet source", lambda t: (t / "s.parquet").write_text("not parquet") and
     ["math500", "--out", "out", "--source", "s.parquet"], "s.parquet: not a readable parquet file"),
    ("unsupported source type", lambda t: (t / "s.csv").write_text("a,b\n") and
     ["math500", "--out", "out", "--source", "s.csv"], "unsupported file type '.csv'"),
    ("JSON not a list", lambda t: (t / "s.json").write_text('{"a": 1, "b": 2}') and
     ["math500", "--out", "out", "--source", "s.json"], "expected a JSON list of row objects"),
    ("invalid JSON file", lambda t: (t / "s.json").write_text("[{") and
     ["math500", "--out", "out", "--source", "s.json"], "s.json: invalid JSON"),
    ("folder without the data set", lambda t: (t / "mirror").mkdir() or
     ["math500", "--out", "out", "--source", "mirror"], "no local data for 'math500'"),
]


@pytest.mark.parametrize("name,setup,needle", PREPARE_CASES, ids=[c[0] for c in PREPARE_CASES])
def test_prepare_bad_input(tmp_path: Path, name: str, setup, needle: str) -> None:
    argv = setup(tmp_path)
    check_case(PREPARE, "python -m sppo.data.prepare", argv, tmp_path, needle)


def _table(path: Path, rows: list[dict], schema: pa.Schema | None = None) -> Path:
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def _rows(n: int = 2) -> list[dict]:
    return [build_row("math__math", f"Q{i}?", str(i), i, "test") for i in range(n)]


def _with(change: Callable[[dict], None]) -> list[dict]:
    rows = _rows()
    change(rows[1])
    return rows


CHECK_CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("no file given", lambda t: [], "the following arguments are required: FILE"),
    ("missing file", lambda t: ["nope.parquet"], "nope.parquet: no such file"),
    ("a folder", lambda t: (t / "d").mkdir() or ["d"], "d: is a folder"),
    ("not parquet", lambda t: (t / "f.parquet").write_text("a,b\n1,2\n") and ["f.parquet"], "not a readable parquet file"),
    ("truncated parquet", lambda t: (t / "f.parquet").write_bytes(_table(t / "ok.parquet", _rows()).read_bytes()[:-30])
     and (t / "ok.parquet").unlink() is None and ["f.parquet"], "not a readable parquet file"),
    ("missing column", lambda t: _table(t / "f.parquet", [{k: v for k, v in r.items() if k != "reward_model"}
                                                          for r in _rows()]) and ["f.parquet"], "missing column: reward_model"),
    ("prompt a plain string", lambda t: _table(t / "f.parquet", [{**r, "prompt": "Q?"} for r in _rows()]) and ["f.parquet"],
     "column prompt has type string"),
    ("list ground truth", lambda t: _table(t / "f.parquet", [{**r, "reward_model": {"ground_truth": ["2", "3"]}}
                                                             for r in _rows()]) and ["f.parquet"],
     "ground_truth has type list<element: string>, expected string"),
    ("NaN ground truth", lambda t: _table(t / "f.parquet", [{**r, "reward_model": {"ground_truth": math.nan}}
                                                            for r in _rows()]) and ["f.parquet"],
     "ground_truth has type double, expected string"),
    ("None ground truth", lambda t: _table(t / "f.parquet", _with(lambda r: r["reward_model"].update(ground_truth=None)))
     and ["f.parquet"], "missing ground truth: 1 row(s) (1)"),
    ("empty question", lambda t: _table(t / "f.parquet", _with(lambda r: r["prompt"][0].update(content=" ")))
     and ["f.parquet"], "empty question: 1 row(s) (1)"),
    ("unknown data source", lambda t: _table(t / "f.parquet", _with(lambda r: r.update(data_source="gsm8k")))
     and ["f.parquet"], "data_source 'gsm8k' unknown to sppo.reward"),
    ("no rows", lambda t: _table(t / "f.parquet", [], pa.Table.from_pylist(_rows()).schema) and ["f.parquet"],
     "the file has no rows"),
    ("two bad files", lambda t: [str(_table(t / "a.parquet", [], pa.Table.from_pylist(_rows()).schema)), "nope.parquet"],
     "2 of 2 files have problems"),
]


@pytest.mark.parametrize("name,setup,needle", CHECK_CASES, ids=[c[0] for c in CHECK_CASES])
def test_check_bad_input(tmp_path: Path, name: str, setup, needle: str) -> None:
    argv = setup(tmp_path)
    check_case(CHECK, "python -m sppo.data.check", argv, tmp_path, needle)


def test_prepare_skips_and_counts_malformed_lines_and_wrong_answer_types(tmp_path: Path) -> None:
    source = _jsonl(
        tmp_path / "math500.jsonl",
        [_good(0), {**_good(1), "answer": ["2", "3"]}, {**_good(2), "answer": None}, [1], _good(3)],
        ["{oops\n", '{"problem": "Q?", "answer": NaN}\n'],
    )
    proc = run_cli(PREPARE, ["math500", "--out", str(tmp_path / "out"), "--source", str(source)])
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert "wrote 2 rows" in proc.stdout and "5 bad row(s) skipped" in proc.stdout
    assert "source row 1: answer is a list (['2', '3']), expected one answer string" in proc.stdout
    assert "source row 5: line 6: invalid JSON" in proc.stdout
    rows = pq.read_table(tmp_path / "out" / "offline_eval" / "math__math_500.parquet").to_pylist()
    assert [r["reward_model"]["ground_truth"] for r in rows] == ["1", "4"]  # never "['2', '3']"
    assert check_training_file(tmp_path / "out" / "offline_eval" / "math__math_500.parquet") == []


def test_one_row_rule_everywhere() -> None:
    assert answer_problem("2") is None and answer_problem(27.0, numbers=True) is None
    assert answer_problem(27) == "ground truth is a number (27), expected a string"
    for bad, text in ((None, "missing"), (math.nan, "not a number"), (["2", "3"], "is a list"), (True, "boolean"),
                      ("  ", "empty"), ({"a": 1}, "mapping")):  # fmt: skip
        assert text in answer_problem(bad, numbers=True)
    row = build_row("math__math", "Q?", "2", 0, "test")
    assert row_problems(row) == []
    assert row_problems({**row, "prompt": "Q?"}) == [
        "prompt is a plain string, expected a list of chat messages [{role, content}]"
    ]
    assert row_problems({**row, "reward_model": {"ground_truth": ["2", "3"]}}) == [
        "ground truth is a list (['2', '3']), expected one answer string"
    ]


def test_check_training_file_lists_problems(tmp_path: Path) -> None:
    assert check_training_file(tmp_path / "nope.parquet") == [f"{tmp_path / 'nope.parquet'}: no such file"]
    path = _table(tmp_path / "t.parquet", _with(lambda r: r["reward_model"].update(ground_truth=" ")))
    assert check_training_file(path) == [f"{path}: empty ground truth: 1 row(s) (1)"]
