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
DAPO_HUB = FIXTURES / "dapo_math_17k_hubformat_sample.parquet"
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
    (
        "--hub-id with two names",
        lambda t: ["math500", "aime24", "--out", "out", "--hub-id", "a/b"],
        "--hub-id needs exactly one",
    ),
    ("missing --source", lambda t: ["math500", "--out", "out", "--source", "nope"], "--source nope: no such file"),
    (
        "--source file, two names",
        lambda t: ["math500", "aime24", "--out", "out", "--source", str(MATH500)],
        "--source is a single file",
    ),
    (
        "--out is a file",
        lambda t: (t / "f").write_text("x") and ["math500", "--out", "f", "--source", str(MATH500)],
        "--out f/offline_eval: f is a file",
    ),
    (
        "--out under a file",
        lambda t: (t / "f").write_text("x") and ["math500", "--out", "f/sub", "--source", str(MATH500)],
        "f is a file",
    ),
    (
        "OUT/offline_eval is a file",
        lambda t: (
            ((t / "o").mkdir(), (t / "o" / "offline_eval").write_text("x"))
            and ["math500", "--out", "o", "--source", str(MATH500)]
        ),
        "exists and is not a folder",
    ),
    ("--out unwritable", lambda t: ["math500", "--out", UNWRITABLE, "--source", str(MATH500)], "is not writable"),
    (
        "malformed JSON line, fail",
        lambda t: (
            _jsonl(t / "s.jsonl", [_good()], ["{oops\n"])
            and ["math500", "--out", "out", "--source", "s.jsonl", "--on-bad-row", "fail"]
        ),
        "row 1: line 2: invalid JSON",
    ),
    (
        "not-an-object line, fail",
        lambda t: (
            _jsonl(t / "s.jsonl", [_good(), [1, 2]])
            and ["math500", "--out", "out", "--source", "s.jsonl", "--on-bad-row", "fail"]
        ),
        "a row must be a JSON object, got list",
    ),
    (
        "list answer, fail",
        lambda t: (
            _jsonl(t / "s.jsonl", [{**_good(), "answer": ["2", "3"]}])
            and ["math500", "--out", "out", "--source", "s.jsonl", "--on-bad-row", "fail"]
        ),
        "answer is a list (['2', '3'])",
    ),
    (
        "None answer, fail",
        lambda t: (
            _jsonl(t / "s.jsonl", [{**_good(), "answer": None}])
            and ["math500", "--out", "out", "--source", "s.jsonl", "--on-bad-row", "fail"]
        ),
        "missing answer",
    ),
    (
        "NaN answer, fail",
        lambda t: (
            (t / "s.jsonl").write_text('{"problem": "Q?", "answer": NaN}\n')
            and ["math500", "--out", "out", "--source", "s.jsonl", "--on-bad-row", "fail"]
        ),
        "answer is nan (not a number)",
    ),
    (
        "bool answer, fail",
        lambda t: (
            _jsonl(t / "s.jsonl", [{**_good(), "answer": True}])
            and ["math500", "--out", "out", "--source", "s.jsonl", "--on-bad-row", "fail"]
        ),
        "answer is a boolean",
    ),
    (
        "question is a list, fail",
        lambda t: (
            _jsonl(t / "s.jsonl", [{**_good(), "problem": ["Q?"]}])
            and ["math500", "--out", "out", "--source", "s.jsonl", "--on-bad-row", "fail"]
        ),
        "question is a list, expected text",
    ),
    (
        "DAPO prompt not text, fail",
        lambda t: (
            _jsonl(t / "s.jsonl", [{"prompt": [{"content": 5}], "solution": "1"}])
            and ["dapo17k", "--out", "out", "--source", "s.jsonl", "--on-bad-row", "fail"]
        ),
        "prompt content is not text",
    ),
    (
        "every row bad (skip)",
        lambda t: (
            _jsonl(t / "s.jsonl", [{**_good(), "answer": [1]}], ["{oops\n"])
            and ["math500", "--out", "out", "--source", "s.jsonl"]
        ),
        "no valid rows (first bad row 0: answer is a list",
    ),
    (
        "not UTF-8 (skip)",
        lambda t: (
            (t / "s.jsonl").write_bytes(b"\xff\xfe\x00garbage\n") and ["math500", "--out", "out", "--source", "s.jsonl"]
        ),
        "line 1: not UTF-8 text",
    ),
    (
        "corrupt parquet source",
        lambda t: (t / "s.parquet").write_text("not parquet") and ["math500", "--out", "out", "--source", "s.parquet"],
        "s.parquet: not a readable parquet file",
    ),
    (
        "unsupported source type",
        lambda t: (t / "s.csv").write_text("a,b\n") and ["math500", "--out", "out", "--source", "s.csv"],
        "unsupported file type '.csv'",
    ),
    (
        "JSON not a list",
        lambda t: (t / "s.json").write_text('{"a": 1, "b": 2}') and ["math500", "--out", "out", "--source", "s.json"],
        "expected a JSON list of row objects",
    ),
    (
        "invalid JSON file",
        lambda t: (t / "s.json").write_text("[{") and ["math500", "--out", "out", "--source", "s.json"],
        "s.json: invalid JSON",
    ),
    (
        "folder without the data set",
        lambda t: (t / "mirror").mkdir() or ["math500", "--out", "out", "--source", "mirror"],
        "no local data for 'math500'",
    ),
    # issue 25
    (
        "JSON file not UTF-8",
        lambda t: (
            (t / "s.json").write_bytes(b'[{"problem": "\xff"}]') and ["math500", "--out", "out", "--source", "s.json"]
        ),
        "s.json: not UTF-8 text (invalid start byte at byte 14)",
    ),
    (
        "JSON item not an object, fail",
        lambda t: (
            (t / "s.json").write_text("[1]")
            and ["math500", "--out", "out", "--source", "s.json", "--on-bad-row", "fail"]
        ),
        "row 0: item 0: a row must be a JSON object, got int",
    ),
    (
        "empty JSON list",
        lambda t: (t / "s.json").write_text("[]") and ["math500", "--out", "out", "--source", "s.json"],
        "math500: no valid rows; nothing written",
    ),
    (
        "empty JSONL file",
        lambda t: (t / "s.jsonl").write_text("\n\n") and ["math500", "--out", "out", "--source", "s.jsonl"],
        "math500: no valid rows; nothing written",
    ),
    (
        "blank question, fail",
        lambda t: (
            _jsonl(t / "s.jsonl", [{**_good(), "problem": "  "}])
            and ["math500", "--out", "out", "--source", "s.jsonl", "--on-bad-row", "fail"]
        ),
        "empty question (looked for column problem)",
    ),
    (
        "AIME answer above 999, fail",
        lambda t: (
            _jsonl(t / "s.jsonl", [{"problem": "Q?", "answer": "1000"}])
            and ["aime25", "--out", "out", "--source", "s.jsonl", "--on-bad-row", "fail"]
        ),
        "AIME answer must be an integer from 0 to 999, got '1000'",
    ),
    (
        "DAPO prompt without its template, fail",
        lambda t: (
            _jsonl(t / "s.jsonl", [{"prompt": "Q?", "solution": "1"}])
            and ["dapo17k", "--out", "out", "--source", "s.jsonl", "--on-bad-row", "fail"]
        ),
        "prompt does not carry the DAPO template",
    ),
    (
        "Minerva solution without boxed, fail",
        lambda t: (
            _jsonl(t / "s.jsonl", [{"problem": "Q?", "solution": "it is 2"}])
            and ["minerva", "--out", "out", "--source", "s.jsonl", "--on-bad-row", "fail"]
        ),
        "no answer column and no \\boxed{} in the solution",
    ),
    (
        "--hub-id with --source",
        lambda t: ["math500", "--out", "out", "--hub-id", "a/b", "--source", str(MATH500)],
        "--hub-id needs exactly one data set name and no --source",
    ),
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
    (
        "not parquet",
        lambda t: (t / "f.parquet").write_text("a,b\n1,2\n") and ["f.parquet"],
        "not a readable parquet file",
    ),
    (
        "truncated parquet",
        lambda t: (
            (t / "f.parquet").write_bytes(_table(t / "ok.parquet", _rows()).read_bytes()[:-30])
            and (t / "ok.parquet").unlink() is None
            and ["f.parquet"]
        ),
        "not a readable parquet file",
    ),
    (
        "missing column",
        lambda t: (
            _table(t / "f.parquet", [{k: v for k, v in r.items() if k != "reward_model"} for r in _rows()])
            and ["f.parquet"]
        ),
        "missing column: reward_model",
    ),
    (
        "prompt a plain string",
        lambda t: _table(t / "f.parquet", [{**r, "prompt": "Q?"} for r in _rows()]) and ["f.parquet"],
        "column prompt has type string",
    ),
    (
        "list ground truth",
        lambda t: (
            _table(t / "f.parquet", [{**r, "reward_model": {"ground_truth": ["2", "3"]}} for r in _rows()])
            and ["f.parquet"]
        ),
        "ground_truth has type list<element: string>, expected string",
    ),
    (
        "NaN ground truth",
        lambda t: (
            _table(t / "f.parquet", [{**r, "reward_model": {"ground_truth": math.nan}} for r in _rows()])
            and ["f.parquet"]
        ),
        "ground_truth has type double, expected string",
    ),
    (
        "None ground truth",
        lambda t: (
            _table(t / "f.parquet", _with(lambda r: r["reward_model"].update(ground_truth=None))) and ["f.parquet"]
        ),
        "missing ground truth: 1 row(s) (1)",
    ),
    (
        "empty question",
        lambda t: _table(t / "f.parquet", _with(lambda r: r["prompt"][0].update(content=" "))) and ["f.parquet"],
        "empty question: 1 row(s) (1)",
    ),
    (
        "unknown data source",
        lambda t: _table(t / "f.parquet", _with(lambda r: r.update(data_source="gsm8k"))) and ["f.parquet"],
        "data_source 'gsm8k' unknown to sppo.reward",
    ),
    (
        "no rows",
        lambda t: _table(t / "f.parquet", [], pa.Table.from_pylist(_rows()).schema) and ["f.parquet"],
        "the file has no rows",
    ),
    (
        "two bad files",
        lambda t: [str(_table(t / "a.parquet", [], pa.Table.from_pylist(_rows()).schema)), "nope.parquet"],
        "2 of 2 files have problems",
    ),
    # issue 25
    (
        "ability not text",
        lambda t: _table(t / "f.parquet", [{**r, "ability": 1} for r in _rows()]) and ["f.parquet"],
        "column ability has type int64, expected string",
    ),
    (
        "extra_info a string",
        lambda t: _table(t / "f.parquet", [{**r, "extra_info": "x"} for r in _rows()]) and ["f.parquet"],
        "column extra_info has type string, expected struct",
    ),
    (
        "extra_info.index a float",
        lambda t: _table(t / "f.parquet", [{**r, "extra_info": {"index": 0.5}} for r in _rows()]) and ["f.parquet"],
        "extra_info.index is not an integer or a non-empty string (such as a UUID): 2 row(s) (0, 1)",
    ),
    (
        "DAPO hub file",
        lambda t: ["f.parquet"] if (t / "f.parquet").write_bytes(DAPO_HUB.read_bytes()) else [],
        "prompt carries DAPO's own 'Answer:' template, not a \\boxed{} request (the hub's DAPO-Math-17k file): "
        "convert it with python -m sppo.data.prepare dapo17k --source FILE --out DIR",
    ),
    (
        "no user message",
        lambda t: _table(t / "f.parquet", _with(lambda r: r["prompt"][0].update(role="system"))) and ["f.parquet"],
        "prompt has no user message: 1 row(s) (1)",
    ),
    (
        "empty prompt list",
        lambda t: _table(t / "f.parquet", _with(lambda r: r.update(prompt=[]))) and ["f.parquet"],
        "prompt is not a non-empty list of chat messages: 1 row(s) (1)",
    ),
    (
        "blank data source",
        lambda t: _table(t / "f.parquet", _with(lambda r: r.update(data_source=" "))) and ["f.parquet"],
        "empty data_source: 1 row(s) (1)",
    ),
    (
        "reward_model without ground_truth",
        lambda t: (
            _table(t / "f.parquet", [{**r, "reward_model": {"style": "rule"}} for r in _rows()]) and ["f.parquet"]
        ),
        "column reward_model has type struct<style: string>, expected struct with a ground_truth field",
    ),
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


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_a_byte_order_mark_loses_no_row(tmp_path: Path, suffix: str) -> None:
    """Issue 25: a source saved with a UTF-8 BOM lost its first row (an invalid-JSON line under --on-bad-row skip)
    or, as .json, was refused."""
    rows = [_good(i) for i in range(3)]
    text = "".join(json.dumps(r) + "\n" for r in rows) if suffix == ".jsonl" else json.dumps(rows)
    source = tmp_path / f"math500{suffix}"
    source.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    proc = run_cli(
        PREPARE, ["math500", "--out", str(tmp_path / "out"), "--source", str(source), "--on-bad-row", "fail"]
    )
    assert proc.returncode == 0, proc.stderr
    written = pq.read_table(tmp_path / "out" / "offline_eval" / "math__math_500.parquet").to_pylist()
    assert [r["reward_model"]["ground_truth"] for r in written] == ["1", "2", "3"]


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
