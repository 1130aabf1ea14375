"""Each preparer turns a local file shaped like its hub source into exact verl rows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sppo.data.prepare import main
from sppo.data.schema import PROMPT_SUFFIX
from sppo.data.sources import DAPO_PREFIX, DAPO_SUFFIX, BadRow, strip_dapo_template

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SUFFIX = " Please output the final answer within \\boxed{}."


def write_rows(path: Path, rows: list[dict[str, Any]], schema: pa.Schema | None = None) -> Path:
    """Write ``rows`` as parquet, JSON lines or a JSON list, by ``path``'s suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def read_rows(path: Path) -> list[dict[str, Any]]:
    """All rows of a parquet file as Python dicts."""
    return pq.read_table(path).to_pylist()


def row(source: str, question: str, answer: str, index: int, split: str, **extra: object) -> dict:
    return {
        "data_source": source,
        "prompt": [{"role": "user", "content": question + SUFFIX}],
        "ability": "math",
        "reward_model": {"style": "rule", "ground_truth": answer},
        "extra_info": {"index": index, "split": split, **extra},
    }


def test_suffix_is_the_official_one() -> None:
    assert PROMPT_SUFFIX == SUFFIX


def test_dapo_fixture_dedups_to_24_rows(tmp_path: Path) -> None:
    fixture = FIXTURES / "dapo_math_17k_hubformat_sample.parquet"
    assert main(["dapo17k", "--out", str(tmp_path), "--source", str(fixture)]) == 0
    rows = read_rows(tmp_path / "dapo-math-17k_dedup.parquet")
    source = read_rows(fixture)
    assert len(source) == 72 and len(rows) == 24
    assert [r["extra_info"]["index"] for r in rows] == list(range(24))
    assert [r["extra_info"]["source_index"] for r in rows] == list(range(24))
    for out, src in zip(rows, source[:24], strict=True):
        content = src["prompt"][0]["content"]
        question = content.removeprefix(DAPO_PREFIX).removesuffix(DAPO_SUFFIX)
        assert out == row(
            "math__dapo17k",
            question,
            src["reward_model"]["ground_truth"],
            out["extra_info"]["index"],
            "train",
            source_index=out["extra_info"]["index"],
            source_id=src["extra_info"]["index"],
        )
        assert "Answer:" not in out["prompt"][0]["content"]
        assert out["prompt"][0]["content"].endswith(SUFFIX)
    assert [r["reward_model"]["ground_truth"] for r in rows[:4]] == ["34", "113", "-3", "3"]


def test_dapo_template_is_removed_exactly_not_as_a_character_set() -> None:
    # a question that starts and ends with characters of the template: lstrip/rstrip would eat them
    question = "Solve for $x$: $x + 1 = 2$. Answer:"
    assert strip_dapo_template(DAPO_PREFIX + question + DAPO_SUFFIX) == question
    tweaked = (
        "Solve the following math problem step by step. Be brief.\n\nWhat is 1+1?\n\nRemember to put your answer last."
    )
    assert strip_dapo_template(tweaked) == "What is 1+1?"
    with pytest.raises(BadRow, match="DAPO template"):
        strip_dapo_template("What is 1+1?")


def test_dapo_open_r1_shape(tmp_path: Path) -> None:
    src = [
        {"prompt": DAPO_PREFIX + q + DAPO_SUFFIX, "solution": a} for q, a in [("Q1?", "1"), ("Q2?", "2"), ("Q1?", "1")]
    ]
    write_rows(tmp_path / "src" / "dapo17k.parquet", src)
    assert main(["dapo17k", "--out", str(tmp_path / "out"), "--source", str(tmp_path / "src")]) == 0
    rows = read_rows(tmp_path / "out" / "dapo-math-17k_dedup.parquet")
    assert rows == [
        row("math__dapo17k", "Q1?", "1", 0, "train", source_index=0, source_id=""),
        row("math__dapo17k", "Q2?", "2", 1, "train", source_index=1, source_id=""),
    ]


def test_deepscaler_json_drops_rows_without_answer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = [
        {"problem": "What is $1+1$?", "answer": "2", "solution": "..."},
        {"problem": "Find $x$.", "answer": "", "solution": "..."},
        {"problem": "  Compute $\\frac{1}{2}+\\frac{1}{2}$.  ", "answer": " 1 ", "solution": "..."},
    ]
    write_rows(tmp_path / "deepscaler.json", src)
    assert main(["deepscaler", "--out", str(tmp_path / "out"), "--source", str(tmp_path / "deepscaler.json")]) == 0
    assert read_rows(tmp_path / "out" / "deepscaler-math.parquet") == [
        row("math__deepscaler", "What is $1+1$?", "2", 0, "train", source_index=0),
        row("math__deepscaler", "Compute $\\frac{1}{2}+\\frac{1}{2}$.", "1", 1, "train", source_index=2),
    ]
    err = capsys.readouterr().out
    assert "deepscaler: source row 1: empty answer" in err
    assert "wrote 2 rows" in err and "1 bad row(s) skipped" in err


@pytest.mark.parametrize(
    ("shape", "records", "answers"),
    [
        (
            "maxwell",
            [
                {"ID": f"2024-I-{i}", "Problem": f"P{i}", "Solution": "...", "Answer": a}
                for i, a in [(1, 204), (2, 25), (3, 0)]
            ],
            ["204", "25", "0"],
        ),
        (
            "h4",
            [
                {"id": i, "problem": f"P{i}", "solution": "...", "answer": a, "url": "u", "year": "2024"}
                for i, a in [(1, "204"), (2, "025"), (3, "0")]
            ],
            ["204", "25", "0"],
        ),
        (
            "math-ai",
            [{"id": str(i), "problem": f"P{i}", "solution": f"\\boxed{{{a}}}"} for i, a in [(1, 204), (2, 25), (3, 0)]],
            ["204", "25", "0"],
        ),
    ],
)
def test_aime24_any_shape_repeated_8x(tmp_path: Path, shape: str, records: list[dict], answers: list[str]) -> None:
    write_rows(tmp_path / "aime24.parquet", records)
    assert main(["aime24", "--out", str(tmp_path), "--source", str(tmp_path)]) == 0
    rows = read_rows(tmp_path / "offline_eval" / "math__aime_repeated_8x_240.parquet")
    assert len(rows) == 3 * 8
    ids = [str(r.get("ID", r.get("id"))) for r in records]
    expected = [
        row(
            "math__aime_repeated_8x",
            f"P{p + 1}",
            answers[p],
            3 * rep + p,
            "test",
            source_index=p,
            id=ids[p],
            problem_index=p,
            repeat=rep,
        )
        for rep in range(8)
        for p in range(3)
    ]
    assert rows == expected


def test_aime25_two_opencompass_configs_in_a_folder(tmp_path: Path) -> None:
    write_rows(tmp_path / "aime25" / "AIME2025-I.jsonl", [{"question": "A?", "answer": "70"}])
    write_rows(tmp_path / "aime25" / "AIME2025-II.jsonl", [{"question": "B?", "answer": "90^\\circ"}])
    assert main(["aime25", "--out", str(tmp_path / "out"), "--source", str(tmp_path)]) == 0
    assert read_rows(tmp_path / "out" / "offline_eval" / "math__aime2025_2025.parquet") == [
        row("math__aime2025", "A?", "70", 0, "test", source_index=0, id=""),
        row("math__aime2025", "B?", "90", 1, "test", source_index=1, id=""),
    ]


def test_aime_answer_out_of_range_is_a_bad_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_rows(
        tmp_path / "aime25.jsonl",
        [{"problem": "A?", "answer": "1000", "id": "x"}, {"problem": "B?", "answer": "7", "id": "y"}],
    )
    assert main(["aime25", "--out", str(tmp_path / "out"), "--source", str(tmp_path / "aime25.jsonl")]) == 0
    assert [
        r["reward_model"]["ground_truth"] for r in read_rows(tmp_path / "out/offline_eval/math__aime2025_2025.parquet")
    ] == ["7"]
    assert "aime25: source row 0: AIME answer must be an integer from 0 to 999, got '1000'" in capsys.readouterr().out


AMC_SCHEMA = pa.schema([("id", pa.int64()), ("question", pa.string()), ("answer", pa.float64()), ("url", pa.string())])


def test_amc23_float_answers_and_empty_question(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = [
        {"id": 0, "question": "Q0?", "answer": 27.0, "url": "u"},
        {"id": 1, "question": "", "answer": 3.0, "url": "u"},
        {"id": 2, "question": "Q2?", "answer": -1.0, "url": "u"},
        {"id": 3, "question": "Q3?", "answer": 0.5, "url": "u"},
    ]
    write_rows(tmp_path / "amc23.parquet", src, schema=AMC_SCHEMA)
    assert main(["amc23", "--out", str(tmp_path / "out"), "--source", str(tmp_path)]) == 0
    assert read_rows(tmp_path / "out" / "offline_eval" / "math__amc23_2025.parquet") == [
        row("math__amc23", "Q0?", "27", 0, "test", source_index=0),
        row("math__amc23", "Q2?", "-1", 1, "test", source_index=2),
        row("math__amc23", "Q3?", "0.5", 2, "test", source_index=3),
    ]
    assert "amc23: source row 1: empty question (looked for column question / problem)" in capsys.readouterr().out


def test_bad_row_can_fail_the_run_without_writing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_rows(
        tmp_path / "amc23.parquet",
        [{"id": 1, "question": "", "answer": 3.0, "url": "u"}, {"id": 2, "question": "Q?", "answer": 4.0, "url": "u"}],
        schema=AMC_SCHEMA,
    )
    status = main(["amc23", "--out", str(tmp_path / "out"), "--source", str(tmp_path), "--on-bad-row", "fail"])
    assert status == 2
    assert not (tmp_path / "out").exists()
    captured = capsys.readouterr()
    assert "amc23: source row 0: empty question" in captured.out
    assert captured.err == (
        "python -m sppo.data.prepare: error: amc23: 1 bad source row(s) (first: row 0: empty question "
        "(looked for column question / problem)); nothing written (--on-bad-row fail)\n"
    )


def test_math500_fixture(tmp_path: Path) -> None:
    assert main(["math500", "--out", str(tmp_path), "--source", str(FIXTURES / "math500_sample.jsonl")]) == 0
    rows = read_rows(tmp_path / "offline_eval" / "math__math_500.parquet")
    assert len(rows) == 40
    assert rows[0] == row(
        "math__math",
        "Convert the point $(0,3)$ in rectangular coordinates to polar coordinates.  Enter your answer in the "
        "form $(r,\\theta),$ where $r > 0$ and $0 \\le \\theta < 2 \\pi.$",
        "\\left( 3, \\frac{\\pi}{2} \\right)",
        0,
        "test",
        source_index=0,
        unique_id="test/precalculus/807.json",
    )
    assert [r["reward_model"]["ground_truth"] for r in rows][23] == "x=5"


def test_minerva_both_shapes(tmp_path: Path) -> None:
    write_rows(
        tmp_path / "a" / "minerva.jsonl",
        [
            {"problem": "Mass?", "solution": "We get $m=\\boxed{2}$ kg, so finally $\\boxed{6 \\times 10^{3}}$."},
            {"problem": "No box?", "solution": "It is 5."},
        ],
    )
    write_rows(tmp_path / "b" / "minerva.jsonl", [{"question": "Speed?", "answer": "3e8"}])
    assert main(["minerva", "--out", str(tmp_path / "oa"), "--source", str(tmp_path / "a")]) == 0
    assert main(["minerva", "--out", str(tmp_path / "ob"), "--source", str(tmp_path / "b")]) == 0
    name = "offline_eval/math__minerva_math_2025_processed.parquet"
    assert read_rows(tmp_path / "oa" / name) == [
        row("math__minerva", "Mass?", "6 \\times 10^{3}", 0, "test", source_index=0)
    ]
    assert read_rows(tmp_path / "ob" / name) == [row("math__minerva", "Speed?", "3e8", 0, "test", source_index=0)]


def test_all_from_a_folder_writes_the_official_names(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_rows(src / "deepscaler.json", [{"problem": "D?", "answer": "1"}])
    (src / "dapo17k.parquet").write_bytes((FIXTURES / "dapo_math_17k_hubformat_sample.parquet").read_bytes())
    write_rows(src / "aime24.jsonl", [{"Problem": "A?", "Answer": 5, "ID": "2024-I-1"}])
    write_rows(src / "aime25.jsonl", [{"problem": "B?", "answer": "6", "id": "1"}])
    write_rows(src / "amc23.jsonl", [{"question": "C?", "answer": 7.0}])
    (src / "math500.jsonl").write_bytes((FIXTURES / "math500_sample.jsonl").read_bytes())
    write_rows(src / "minerva.jsonl", [{"question": "M?", "answer": "8"}])
    assert main(["all", "--out", str(tmp_path / "data"), "--source", str(src)]) == 0
    written = sorted(str(p.relative_to(tmp_path / "data")) for p in (tmp_path / "data").rglob("*.parquet"))
    assert written == [
        "dapo-math-17k_dedup.parquet",
        "deepscaler-math.parquet",
        "offline_eval/math__aime2025_2025.parquet",
        "offline_eval/math__aime_repeated_8x_240.parquet",
        "offline_eval/math__amc23_2025.parquet",
        "offline_eval/math__math_500.parquet",
        "offline_eval/math__minerva_math_2025_processed.parquet",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["gsm8k", "--out", "x"], "unknown data set 'gsm8k'"),
        (["aime24", "amc23", "--out", "x", "--source", "{fixture}"], "--source is a single file"),
        (["aime24", "--out", "x", "--source", "/nonexistent/dir"], "no such file or directory"),
        (["aime24"], "the following arguments are required: --out"),
    ],
)
def test_cli_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a.replace("{fixture}", str(FIXTURES / "math500_sample.jsonl")) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m sppo.data.prepare: error: ") and err.count("\n") == 1
    assert message in err


def test_missing_local_data_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["aime24", "--out", str(tmp_path / "out"), "--source", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"python -m sppo.data.prepare: error: aime24: {tmp_path}: no local data for 'aime24' "
        "(looked for aime24.parquet, aime24.jsonl, aime24.json and aime24/)"
    )


def test_module_entry_point(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "sppo.data.prepare",
            "math500",
            "--out",
            str(tmp_path),
            "--source",
            str(FIXTURES / "math500_sample.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert f"math500: wrote 40 rows to {tmp_path}/offline_eval/math__math_500.parquet" in out.stdout


class FakeHub:
    """Stands in for ``datasets.load_dataset``: tables per (hub id, config), calls recorded."""

    def __init__(self, tables: dict[tuple[str, str | None], list[dict[str, Any]]]) -> None:
        self.tables = tables
        self.calls: list[tuple[str, str | None, str]] = []

    def __call__(self, hub_id: str, config: str | None = None, split: str | None = None):
        import datasets

        self.calls.append((hub_id, config, split))
        if (hub_id, config) not in self.tables:
            raise FileNotFoundError(f"Dataset '{hub_id}' doesn't exist on the Hub\nmore details")
        return datasets.Dataset.from_list(self.tables[(hub_id, config)])


def test_hub_loading_concatenates_configs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import datasets

    hub = FakeHub(
        {
            ("opencompass/AIME2025", "AIME2025-I"): [{"question": "A?", "answer": "70"}],
            ("opencompass/AIME2025", "AIME2025-II"): [{"question": "B?", "answer": "588"}],
        }
    )
    monkeypatch.setattr(datasets, "load_dataset", hub)
    assert main(["aime25", "--out", str(tmp_path)]) == 0
    assert hub.calls == [
        ("opencompass/AIME2025", "AIME2025-I", "test"),
        ("opencompass/AIME2025", "AIME2025-II", "test"),
    ]
    assert read_rows(tmp_path / "offline_eval" / "math__aime2025_2025.parquet") == [
        row("math__aime2025", "A?", "70", 0, "test", source_index=0, id=""),
        row("math__aime2025", "B?", "588", 1, "test", source_index=1, id=""),
    ]
    err = capsys.readouterr().out
    assert "aime25: loading opencompass/AIME2025 (test) from the hub" in err
    assert "aime25: warning: expected 30 rows from the hub, wrote 2" in err


def test_hub_id_override_and_hub_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import datasets

    hub = FakeHub({("HuggingFaceH4/aime_2024", None): [{"problem": "P?", "answer": "033", "id": 60}]})
    monkeypatch.setattr(datasets, "load_dataset", hub)
    assert main(["aime24", "--out", str(tmp_path), "--hub-id", "HuggingFaceH4/aime_2024"]) == 0
    rows = read_rows(tmp_path / "offline_eval" / "math__aime_repeated_8x_240.parquet")
    assert [(r["reward_model"]["ground_truth"], r["extra_info"]["id"]) for r in rows] == [("33", "60")] * 8
    assert main(["math500", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "python -m sppo.data.prepare: error: math500: cannot load HuggingFaceH4/MATH-500 split 'test' from the hub: "
        "Dataset 'HuggingFaceH4/MATH-500' doesn't exist on the Hub"
    )


def test_dapo_conflicting_duplicates_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = [
        {
            "prompt": [{"role": "user", "content": DAPO_PREFIX + "Q?" + DAPO_SUFFIX}],
            "reward_model": {"ground_truth": a, "style": "rule-lighteval/MATH_v2"},
        }
        for a in ("1", "1", "2")
    ]
    write_rows(tmp_path / "dapo17k.parquet", src)
    assert main(["dapo17k", "--out", str(tmp_path / "out"), "--source", str(tmp_path)]) == 0
    assert [r["reward_model"]["ground_truth"] for r in read_rows(tmp_path / "out" / "dapo-math-17k_dedup.parquet")] == [
        "1"
    ]
    err = capsys.readouterr().out
    assert "dapo17k: duplicate source row 2 dropped: answer '2' differs from the kept '1'" in err
    assert "dapo17k: wrote 1 rows" in err and "2 duplicate(s) removed" in err
