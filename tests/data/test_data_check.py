"""`python -m sppo.data.check` reports every kind of malformed file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sppo.data.check import check_training_file, main
from sppo.data.schema import build_row, row_problems

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def good_rows(n: int = 3) -> list[dict[str, Any]]:
    return [build_row("math__math", f"Q{i}?", str(i), i, "test") for i in range(n)]


def write(path: Path, rows: list[dict[str, Any]], schema: pa.Schema | None = None) -> Path:
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def run(capsys: pytest.CaptureFixture[str], *paths: Path) -> tuple[int, str, str]:
    status = main([str(p) for p in paths])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_clean_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "ok.parquet", good_rows())
    status, out, err = run(capsys, path)
    assert status == 0 and err == ""
    assert out == f"{path}: 3 rows\n  data sources: math__math (3)\n  problems: none\n"


def test_row_problems_are_grouped_with_indices(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = good_rows(5)
    rows[1]["reward_model"]["ground_truth"] = " "
    rows[2]["data_source"] = "gsm8k"
    rows[3]["prompt"][0]["content"] = " Please output the final answer within \\boxed{}."
    rows[4]["prompt"][0]["content"] = "What is 2+2? End with Answer: N."
    path = write(tmp_path / "bad.parquet", rows)
    status, out, _ = run(capsys, path)
    assert status == 2
    assert out.splitlines() == [
        f"{path}: 5 rows",
        "  data sources: math__math (4), gsm8k (1)",
        "  problems (4):",
        "    - empty ground truth: 1 row(s) (1)",
        "    - data_source 'gsm8k' unknown to sppo.reward: 1 row(s) (2)",
        "    - empty question: 1 row(s) (3)",
        "    - prompt does not ask for a \\boxed{} answer (the scorer reads the last \\boxed{}): 1 row(s) (4)",
    ]


def test_missing_columns_and_wrong_types(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"data_source": "math__math", "prompt": "Q?", "reward_model": {"ground_truth": 5}} for _ in range(2)]
    path = write(tmp_path / "types.parquet", rows)
    status, out, _ = run(capsys, path)
    assert status == 2
    assert out.splitlines() == [
        f"{path}: 2 rows",
        "  data sources: math__math (2)",
        "  problems (3):",
        "    - missing column: extra_info",
        "    - column prompt has type string, expected list<struct<role: string, content: string>>",
        "    - column reward_model.ground_truth has type int64, expected string",
    ]


def test_null_values_and_no_user_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = good_rows(3)
    schema = pa.Table.from_pylist(rows).schema
    rows[0]["data_source"] = None
    rows[1]["prompt"] = [{"role": "system", "content": "Use \\boxed{}."}]
    rows[2]["reward_model"] = None
    path = write(tmp_path / "nulls.parquet", rows, schema=schema)
    status, out, _ = run(capsys, path)
    assert status == 2
    assert out.splitlines()[2:] == [
        "  problems (3):",
        "    - empty data_source: 1 row(s) (0)",
        "    - prompt has no user message: 1 row(s) (1)",
        "    - missing ground truth: 1 row(s) (2)",
    ]


def test_empty_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    schema = pa.Table.from_pylist(good_rows(1)).schema
    path = write(tmp_path / "empty.parquet", [], schema=schema)
    status, out, _ = run(capsys, path)
    assert status == 2
    assert out.splitlines()[1:] == ["  data sources: none", "  problems (1):", "    - the file has no rows"]


def test_many_bad_rows_show_the_first_ten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = good_rows(12)
    for r in rows:
        r["reward_model"]["ground_truth"] = ""
    status, out, _ = run(capsys, write(tmp_path / "many.parquet", rows))
    assert status == 2
    assert "    - empty ground truth: 12 row(s) (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ...)" in out.splitlines()


def test_raw_dapo_hub_file_is_flagged_with_the_conversion(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 25: the hub's DAPO file (its own "Answer:" template, UUID indices) is refused with the one command
    that converts it; its UUID ``extra_info.index`` values are not a problem."""
    path = FIXTURES / "dapo_math_17k_hubformat_sample.parquet"
    status, out, err = run(capsys, path)
    assert status == 2
    assert out.splitlines()[2:] == [
        "  problems (1):",
        "    - prompt carries DAPO's own 'Answer:' template, not a \\boxed{} request (the hub's DAPO-Math-17k "
        "file): convert it with python -m sppo.data.prepare dapo17k --source FILE --out DIR: 72 row(s) "
        "(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ...)",
    ]
    assert err.startswith(f"python -m sppo.data.check: error: {path}: 1 problem(s) (first: prompt carries DAPO's")


def test_official_abality_column_and_uuid_indices_are_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 25: the official AIME25 / AMC23 / Minerva files name the column ``abality`` (nobody reads it), and the
    official DAPO file's ``extra_info.index`` is a UUID string: both are accepted, by the CLI and before training."""
    rows = good_rows(3)
    for i, row in enumerate(rows):
        row["abality"] = row.pop("ability")
        row["extra_info"] = {"index": f"9a9b6eb4-a1cb-49d1-8c1e-62eaf2f7407{i}", "split": "test"}
    path = write(tmp_path / "math__aime2025_2025.parquet", rows)
    status, out, _ = run(capsys, path)
    assert (status, out.splitlines()[-1]) == (0, "  problems: none")
    assert check_training_file(path) == []
    bad = write(tmp_path / "int_abality.parquet", [{**r, "abality": 1} for r in rows])
    assert check_training_file(bad) == [f"{bad}: column abality has type int64, expected string"]


@pytest.mark.parametrize(
    "index, problem",
    [
        (7, None),
        ("9a9b6eb4-a1cb-49d1-8c1e-62eaf2f74079", None),
        (" ", "extra_info.index is not an integer or a non-empty string (such as a UUID)"),
        (1.5, "extra_info.index is not an integer or a non-empty string (such as a UUID)"),
        (True, "extra_info.index is not an integer or a non-empty string (such as a UUID)"),
    ],
)
def test_extra_info_index_may_be_an_integer_or_a_uuid(index, problem) -> None:
    row = good_rows(1)[0]
    row["extra_info"] = {"index": index}
    assert row_problems(row) == ([problem] if problem else [])


@pytest.mark.parametrize("kind", ["not parquet", "truncated", "missing"])
def test_unreadable_file_is_one_line_error(tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "f.parquet"
    if kind == "not parquet":
        path.write_text("data_source,prompt\nmath,hi\n")
    elif kind == "truncated":
        write(tmp_path / "ok.parquet", good_rows())
        path.write_bytes((tmp_path / "ok.parquet").read_bytes()[:-20])
    status, out, err = run(capsys, path, write(tmp_path / "ok2.parquet", good_rows()))
    assert status == 2
    assert len(err.strip().splitlines()) == 1
    expected = "no such file" if kind == "missing" else "not a readable parquet file"
    assert f"    - {path}: {expected}" in out
    assert err.startswith(f"python -m sppo.data.check: error: {path}: {expected}")
    assert "ok2.parquet: 3 rows" in out  # the other files are still checked


def test_module_entry_point(tmp_path: Path) -> None:
    path = write(tmp_path / "ok.parquet", good_rows())
    out = subprocess.run(
        [sys.executable, "-m", "sppo.data.check", str(path)], capture_output=True, text=True, timeout=60
    )
    assert (out.returncode, out.stdout.splitlines()[0]) == (0, f"{path}: 3 rows")
