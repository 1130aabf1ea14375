"""``score`` on hand-made responses with known correctness: exact numbers in every output file,
for our format and for verl's ``main_generation`` format; bad input fails with one line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from sppo.eval.cli import main
from tests.eval.conftest import verl_row

# (benchmark, data_source, problem_id, ground truth, [(response, tokens, truncated), ...])
PROBLEMS = [
    ("math500", "math__math", 0, "9", [
        ("so \\boxed{9}", 10, False), ("\\boxed{9}", 12, False), ("\\boxed{8}", 14, False), ("I give up", 40, True)]),
    ("math500", "math__math", 1, "\\frac{1}{2}", [
        ("\\boxed{\\dfrac{1}{2}}", 20, False), ("\\boxed{3}", 20, False), ("\\boxed{3}", 20, False), ("\\boxed{0.5}", 20, False)]),
    ("math500", "math__math", 2, "5", [
        ("\\boxed{4}", 8, False), ("\\boxed{6}", 8, False), ("none", 40, True), ("<think>\\boxed{5}</think> no", 40, True)]),
    ("aime24", "math__aime_repeated_8x", 0, "204", [("\\boxed{204}", 5, False), ("\\boxed{204}", 7, False)]),
    ("aime24", "math__aime_repeated_8x", 1, "25", [("\\boxed{24}", 9, False), ("The answer is 25", 40, True)]),
]  # fmt: skip

# Correct counts: math500 c = (2, 2, 0) of n = 4 ("\dfrac{1}{2}" and "0.5" are both right; the boxed
# 5 inside <think> does not count); aime24 c = (2, 0) of n = 2.
MATH500 = {
    "avg": (2 / 4 + 2 / 4 + 0) / 3,
    "pass": {1: (2 / 4 + 2 / 4 + 0) / 3, 2: ((1 - 1 / 6) * 2 + 0) / 3, 4: (1 + 1 + 0) / 3},
    "maj": (1 + 0 + 0) / 3,  # P0: 9 (2 votes, right); P1: 3 (2 votes, wrong); P2: tie 4/6 -> 4 (wrong)
    "no_answer": 3 / 12,
    "mean_tokens": (10 + 12 + 14 + 40 + 80 + 8 + 8 + 40 + 40) / 12,
    "truncated": 3 / 12,
}
AIME24 = {
    "avg": 0.5,
    "pass": {1: 0.5, 2: 0.5},
    "maj": 0.5,
    "no_answer": 1 / 4,
    "mean_tokens": 61 / 4,
    "truncated": 1 / 4,
}
MEAN = {
    "avg": (MATH500["avg"] + 0.5) / 2,
    "pass": {1: (MATH500["pass"][1] + 0.5) / 2, 2: (MATH500["pass"][2] + 0.5) / 2},
    "maj": (1 / 3 + 0.5) / 2,
}


def ours(path: Path) -> Path:
    rows = []
    for benchmark, source, pid, truth, samples in PROBLEMS:
        for idx, (response, tokens, truncated) in enumerate(samples):
            rows.append({
                "data_source": source, "benchmark": benchmark, "problem_id": pid, "sample_idx": idx,
                "row_index": pid, "prompt": f"problem {pid}", "response": response, "ground_truth": truth,
                "response_tokens": tokens, "truncated": truncated, "seed": 0,
            })  # fmt: skip
    pd.DataFrame(rows).to_parquet(path, index=False)
    return path


def verl_format(path: Path) -> Path:
    """The same responses as verl's main_generation writes them: the benchmark rows + ``responses``.
    AIME24 is written as repeated rows (2 rows per problem, 1 response each), like the x8 file."""
    rows = []
    for benchmark, source, pid, truth, samples in PROBLEMS:
        texts = [s[0] for s in samples]
        chunks = [texts[:1], texts[1:]] if benchmark == "aime24" else [texts]
        for chunk in chunks:
            rows.append({**verl_row(source, f"{benchmark} problem {pid}", truth), "responses": chunk})
    pd.DataFrame(rows).to_parquet(path, index=False)
    return path


def check_metrics(m: dict, expected: dict, with_lengths: bool = True) -> None:
    assert m["avg"] == pytest.approx(expected["avg"], abs=1e-12)
    assert {int(k): v for k, v in m["pass"].items()} == {
        k: pytest.approx(v, abs=1e-12) for k, v in expected["pass"].items()
    }
    assert m["maj"] == pytest.approx(expected["maj"], abs=1e-12)
    assert m["no_answer"] == pytest.approx(expected["no_answer"], abs=1e-12)
    if with_lengths:
        assert m["mean_tokens"] == pytest.approx(expected["mean_tokens"], abs=1e-12)
        assert m["truncated"] == pytest.approx(expected["truncated"], abs=1e-12)
    else:
        assert m["mean_tokens"] is None and m["truncated"] is None


def test_score_our_format_exact_numbers_in_json_csv_md(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "scores"
    assert main(["score", str(ours(tmp_path / "responses.parquet")), "--out", str(out), "--workers", "1"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["benchmarks"]) == ["aime24", "math500"]  # the paper's order
    check_metrics(metrics["benchmarks"]["math500"], MATH500)
    check_metrics(metrics["benchmarks"]["aime24"], AIME24)
    assert metrics["benchmarks"]["math500"]["problems"] == 3 and metrics["benchmarks"]["math500"]["k"] == 4
    assert metrics["mean"]["avg"] == pytest.approx(MEAN["avg"], abs=1e-12)
    assert {int(k): v for k, v in metrics["mean"]["pass"].items()} == {
        k: pytest.approx(v) for k, v in MEAN["pass"].items()
    }
    assert metrics["paper_mean5"] is None  # only 2 of the 5 benchmarks

    with (out / "metrics.csv").open() as handle:
        table = {row["benchmark"]: row for row in csv.DictReader(handle)}
    assert set(table) == {"aime24", "math500", "mean"}
    assert float(table["math500"]["avg"]) == pytest.approx(MATH500["avg"], abs=1e-15)
    assert float(table["math500"]["pass@2"]) == pytest.approx(MATH500["pass"][2], abs=1e-15)
    assert float(table["math500"]["pass@4"]) == pytest.approx(MATH500["pass"][4], abs=1e-15)
    assert table["aime24"]["pass@4"] == ""  # n = 2: no pass@4
    assert float(table["mean"]["maj"]) == pytest.approx(MEAN["maj"], abs=1e-15)

    md = (out / "metrics.md").read_text()
    assert md == capsys.readouterr().out  # printed as well
    assert "| MATH500 | 3 | 4 | 33.3 | 33.3 | 55.6 | 66.7 | 33.3 | 21.0 | 25.0 | 25.0 |" in md
    assert "| AIME24 | 2 | 2 | 50.0 | 50.0 | 50.0 |  | 50.0 | 15.2 | 25.0 | 25.0 |" in md
    assert "| mean of 2 |  |  | 41.7 | 41.7 | 52.8 |  | 41.7 |  |  |  |" in md
    for png in ("bar_math500.png", "bar_aime24.png", "pass_at_k.png"):
        assert (out / png).stat().st_size > 1000
    scored = pd.read_parquet(out / "scored.parquet")
    assert scored["acc"].sum() == 2 + 2 + 0 + 2 + 0


def test_score_verl_main_generation_format(tmp_path: Path) -> None:
    out = tmp_path / "scores"
    assert (
        main(["score", str(verl_format(tmp_path / "gen.parquet")), "--out", str(out), "--workers", "1", "--no-plots"])
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["benchmarks"]) == ["aime24", "math500"]  # labels from the data_source
    check_metrics(metrics["benchmarks"]["math500"], MATH500, with_lengths=False)
    check_metrics(metrics["benchmarks"]["aime24"], AIME24, with_lengths=False)
    assert metrics["benchmarks"]["aime24"]["k"] == 2  # two repeated rows grouped into one problem
    assert not (out / "pass_at_k.png").exists()


def test_score_verl_format_counts_tokens_with_a_tokenizer(tmp_path: Path, tiny_model: Path) -> None:
    out = tmp_path / "scores"
    argv = ["score", str(verl_format(tmp_path / "gen.parquet")), "--out", str(out), "--workers", "1", "--no-plots",
            "--tokenizer", str(tiny_model), "--max-tokens", "12"]  # fmt: skip
    assert main(argv) == 0
    m = json.loads((out / "metrics.json").read_text())["benchmarks"]["aime24"]
    lengths = [
        len(t.encode()) for t in ("\\boxed{204}", "\\boxed{204}", "\\boxed{24}", "The answer is 25")
    ]  # byte tokenizer
    assert m["mean_tokens"] == pytest.approx(sum(lengths) / 4)
    assert m["truncated"] == pytest.approx(sum(n >= 12 for n in lengths) / 4)


def test_paper_mean5_is_the_mean_of_avg_over_the_five(tmp_path: Path) -> None:
    from sppo.eval.score import compute

    rows = []
    for i, name in enumerate(["aime24", "aime25", "amc23", "math500", "minerva", "extra"]):
        for s in range(2):
            rows.append({"benchmark": name, "problem_id": 0, "sample_idx": s, "acc": s < (i % 3), "pred": "1",
                         "response_tokens": 1.0, "truncated": 0.0})  # fmt: skip
    metrics = compute(pd.DataFrame(rows))
    avgs = [0.0, 0.5, 1.0, 0.0, 0.5]
    assert metrics["paper_mean5"] == pytest.approx(sum(avgs) / 5)
    assert metrics["mean"]["avg"] == pytest.approx((sum(avgs) + 1.0) / 6)  # "mean" covers all present ("extra": 1.0)


def one_line_error(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


def test_score_bad_inputs_fail_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    assert "not a readable parquet file" in one_line_error(capsys, ["score", str(bad)])
    assert "no such file or directory" in one_line_error(capsys, ["score", str(tmp_path / "missing.parquet")])
    assert "no responses.parquet" in one_line_error(capsys, ["score", str(tmp_path)])

    frame = pd.read_parquet(ours(tmp_path / "r.parquet"))
    frame.drop(columns=["ground_truth"]).to_parquet(tmp_path / "nogt.parquet")
    assert "missing column(s) ground_truth" in one_line_error(capsys, ["score", str(tmp_path / "nogt.parquet")])
    frame.drop(columns=["response"]).to_parquet(tmp_path / "noresp.parquet")
    assert "missing column 'response'" in one_line_error(capsys, ["score", str(tmp_path / "noresp.parquet")])
    frame.assign(data_source="gsm8k").to_parquet(tmp_path / "unknown.parquet")
    assert "unknown data_source 'gsm8k'" in one_line_error(capsys, ["score", str(tmp_path / "unknown.parquet")])
    pd.concat([frame, frame.iloc[:1]]).to_parquet(tmp_path / "dup.parquet")
    assert "1 duplicate" in one_line_error(capsys, ["score", str(tmp_path / "dup.parquet")])
    assert "argument --workers: must be >= 1, got 0" in one_line_error(
        capsys, ["score", str(tmp_path / "r.parquet"), "--workers", "0"]
    )
