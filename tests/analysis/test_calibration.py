"""Calibration report: exact reliability/Brier/ECE numbers on a hand-made log, reading rules, bad input, files."""

from __future__ import annotations

import json
import math

import pytest
import torch

from sppo.critic_loss import calibration_metrics
from sppo_lab.analysis.calibration import (
    RELIABILITY_PNG,
    SUMMARY_JSON,
    TRAINING_PNG,
    build_summary,
    moving_average,
    read_calibration_log,
    reliability_bins,
)
from sppo_lab.analysis.cli import main

# Three steps whose numbers are worked out by hand below (10 equal-width bins).
ROWS = [
    {"step": 1, "p": [0.1, 0.3, 0.35, 0.8], "r": [0, 1, 0, 1]},
    {"step": 2, "p": [0.05, 0.95], "r": [0, 1]},
    {"step": 3, "p": [0.5, 0.5, 0.9], "r": [1, 0, 0]},
]
# Per step.  Brier = mean (p − R)²;  ECE = Σ_b n_b/n |mean p_b − mean R_b|
#  step 1: (0.01 + 0.49 + 0.1225 + 0.04)/4 = 0.165625;  bins 1 | 3 (0.3, 0.35) | 8: (0.1 + 2·0.175 + 0.2)/4 = 0.1625
#  step 2: (0.0025 + 0.0025)/2 = 0.0025;                 bins 0 | 9: (0.05 + 0.05)/2 = 0.05
#  step 3: (0.25 + 0.25 + 0.81)/3 = 0.43666…;            bins 5 (0.5, 0.5 vs 1, 0) | 9: (0 + 0.9)/3 = 0.3
BRIER = [0.165625, 0.0025, 1.31 / 3]
ECE = [0.1625, 0.05, 0.3]
# calibration_metrics forms the bin weights n_b/n in float32 (the training metric does the same), so an ECE
# agrees with the hand value to ~1e-8; Brier scores and bin means are float64 throughout.
ECE_TOL = 1e-7


def _write(path, rows_or_lines):
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows_or_lines]
    path.write_text("\n".join(lines) + ("\n" if lines else ""))
    return path


@pytest.fixture
def run_dir(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    _write(run / "calibration.jsonl", ROWS)
    return run


def test_per_step_metrics_and_moving_average_exact(run_dir):
    summary = build_summary(read_calibration_log(run_dir), n_bins=10, window=2)
    assert [r["step"] for r in summary["per_step"]] == [1, 2, 3]
    assert [r["n"] for r in summary["per_step"]] == [4, 2, 3]
    assert [r["brier"] for r in summary["per_step"]] == pytest.approx(BRIER, abs=1e-12)
    assert [r["ece"] for r in summary["per_step"]] == pytest.approx(ECE, abs=ECE_TOL)
    assert [r["reward_mean"] for r in summary["per_step"]] == pytest.approx([0.5, 0.5, 1 / 3], abs=1e-12)
    assert summary["moving_average"]["brier"] == pytest.approx(
        [0.165625, (0.165625 + 0.0025) / 2, (0.0025 + 1.31 / 3) / 2], abs=1e-12
    )
    assert summary["moving_average"]["ece"] == pytest.approx([0.1625, 0.10625, 0.175], abs=ECE_TOL)
    # the same numbers as the training metrics (same function, same rows)
    for row, spec in zip(summary["per_step"], ROWS, strict=True):
        m = calibration_metrics(torch.tensor(spec["p"]), torch.tensor(spec["r"], dtype=torch.float32))
        assert row["brier"] == pytest.approx(m["brier"], abs=1e-7) and row["ece"] == pytest.approx(m["ece"], abs=1e-7)


def test_first_and_last_window_reliability_exact(run_dir):
    summary = build_summary(read_calibration_log(run_dir), n_bins=10, window=2)
    first, last = summary["first_window"], summary["last_window"]
    assert first["steps"] == [1, 2] and first["n"] == 6 and first["n_steps"] == 2
    assert last["steps"] == [2, 3] and last["n"] == 5
    # first window: p = .1 .3 .35 .8 .05 .95, R = 0 1 0 1 0 1
    assert first["metrics"]["brier"] == pytest.approx(0.6675 / 6, abs=1e-12)
    assert first["metrics"]["ece"] == pytest.approx((0.05 + 0.1 + 2 * 0.175 + 0.2 + 0.05) / 6, abs=ECE_TOL)
    counts = [b["count"] for b in first["bins"]]
    assert counts == [1, 1, 0, 2, 0, 0, 0, 0, 1, 1]
    b3 = first["bins"][3]
    assert (b3["lo"], b3["hi"]) == pytest.approx((0.3, 0.4))
    assert b3["mean_p"] == pytest.approx(0.325, abs=1e-12) and b3["observed"] == 0.5
    assert first["bins"][2]["mean_p"] is None and first["bins"][2]["observed"] is None
    # last window: p = .05 .95 .5 .5 .9, R = 0 1 1 0 0
    assert last["metrics"]["brier"] == pytest.approx(1.315 / 5, abs=1e-12)
    assert last["metrics"]["ece"] == pytest.approx(0.9 / 5, abs=ECE_TOL)
    assert [b["count"] for b in last["bins"]] == [1, 0, 0, 0, 0, 2, 0, 0, 0, 2]
    assert last["bins"][9]["mean_p"] == pytest.approx(0.925, abs=1e-12) and last["bins"][9]["observed"] == 0.5


def test_reliability_bins_reproduce_calibration_metrics_ece():
    gen = torch.Generator().manual_seed(3)
    p = torch.rand(500, generator=gen, dtype=torch.float64)
    p[:5] = torch.tensor([0.0, 1.0, 0.1, 0.7, 0.3], dtype=torch.float64)  # bin edges
    r = (torch.rand(500, generator=gen, dtype=torch.float64) < p).double()
    for n_bins in (1, 7, 10):
        bins = reliability_bins(p, r, n_bins)
        assert sum(b["count"] for b in bins) == 500
        ece = sum(b["count"] / 500 * abs(b["mean_p"] - b["observed"]) for b in bins if b["count"])
        assert ece == pytest.approx(calibration_metrics(p, r, n_bins)["ece"], abs=ECE_TOL)


def test_moving_average_skips_missing_steps():
    assert moving_average([1.0, None, 3.0, 5.0], 2) == [1.0, 1.0, 3.0, 4.0]
    assert moving_average([None], 3) == [None]


def test_resumed_steps_and_cut_off_lines(tmp_path):
    path = _write(
        tmp_path / "c.jsonl",
        [
            {"step": 2, "p": [0.9, 0.9], "r": [0, 0]},  # an attempt that was resumed: replaced by the later line
            ROWS[0],
            "",
            ROWS[1],
            ROWS[2],
            '{"step": 4, "p": [0.2, 0.',  # a write cut off by a kill
        ],
    )
    log = read_calibration_log(path)
    assert log.steps == [1, 2, 3]
    assert log.replaced_steps == 1
    assert log.skipped_lines == [6]
    assert log.probs[1].tolist() == [0.05, 0.95]


def test_report_writes_files_and_prints_warning(run_dir, tmp_path, capsys):
    with open(run_dir / "calibration.jsonl", "a") as f:
        f.write('{"step": 4, "p": [0.5\n')
    out = tmp_path / "report"
    assert main(["calibration", str(run_dir), "--out", str(out), "--window", "2"]) == 0
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        f"warning: skipped 1 line(s) of {run_dir / 'calibration.jsonl'} that are not valid JSON (first: line 4)"
    ]
    for name in (RELIABILITY_PNG, TRAINING_PNG):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    summary = json.loads((out / SUMMARY_JSON).read_text())
    assert summary["skipped_lines"] == 1 and summary["n_steps"] == 3 and summary["n_rows"] == 9
    assert [r["ece"] for r in summary["per_step"]] == pytest.approx(ECE, abs=ECE_TOL)
    assert summary["last_window"]["metrics"]["ece"] == pytest.approx(0.18, abs=ECE_TOL)
    # its sibling files by name only: a copy committed to docs/figures/ names no folder of this machine
    assert summary["files"] == {n: n for n in (RELIABILITY_PNG, TRAINING_PNG, SUMMARY_JSON)}
    assert captured.out.splitlines()[-1] == "wrote " + ", ".join(
        str(out / n) for n in (RELIABILITY_PNG, TRAINING_PNG, SUMMARY_JSON)
    )


def test_report_defaults_to_the_log_directory_and_accepts_a_file_path(run_dir, capsys):
    assert main(["calibration", str(run_dir / "calibration.jsonl"), "--bins", "5"]) == 0
    summary = json.loads((run_dir / SUMMARY_JSON).read_text())
    assert summary["bins"] == 5 and len(summary["first_window"]["bins"]) == 5
    assert (run_dir / RELIABILITY_PNG).is_file() and (run_dir / TRAINING_PNG).is_file()
    assert "3 steps, 9 rows" in capsys.readouterr().out


BAD_INPUTS = [
    ("missing", None, "calibration log not found"),
    ("empty", [], "is empty"),
    ("blank", ["", "   "], "is empty"),
    ("undecodable", ["{oops", "not json"], "no readable row (2 line(s) are not valid JSON)"),
    ("not an object", ["[1, 2]"], "line 1: expected an object with keys step, p, r"),
    ("missing key", [json.dumps({"step": 1, "p": [0.5]})], "line 1: expected an object with keys step, p, r"),
    ("step not int", [json.dumps({"step": "1", "p": [0.5], "r": [1]})], "'step' must be an integer"),
    (
        "lengths differ",
        [ROWS[0], json.dumps({"step": 2, "p": [0.5, 0.2], "r": [1]})],
        "line 2: 'p' has 2 values but 'r' has 1",
    ),
    ("p not numbers", [json.dumps({"step": 1, "p": ["0.5"], "r": [1]})], "'p' must be a list of numbers"),
    (
        "p above 1",
        [json.dumps({"step": 1, "p": [0.5, 1.2], "r": [1, 0]})],
        "p = sigmoid(V) must lie in [0, 1], got 1.2",
    ),
    ("p is a logit", [json.dumps({"step": 1, "p": [-0.3], "r": [1]})], "p = sigmoid(V) must lie in [0, 1], got -0.3"),
    ("p NaN", ['{"step": 1, "p": [NaN], "r": [1]}'], "p = sigmoid(V) must lie in [0, 1], got nan"),
    ("r outside", [json.dumps({"step": 1, "p": [0.5], "r": [2]})], "the outcome R must lie in [0, 1], got 2"),
]


@pytest.mark.parametrize("name,lines,message", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_one_error_line_and_exit_2(tmp_path, capsys, name, lines, message):
    path = tmp_path / "calibration.jsonl"
    if lines is not None:
        _write(path, lines)
    out = tmp_path / "out"
    assert main(["calibration", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("python -m sppo_lab.analysis calibration: error: ")
    assert message in err
    assert not out.exists()


def test_bad_options_and_run_dir_without_log(tmp_path, capsys):
    assert main(["calibration", str(tmp_path)]) == 2
    assert "no calibration.jsonl in run directory" in capsys.readouterr().err
    _write(tmp_path / "calibration.jsonl", ROWS)
    for argv, message in (
        (["--bins", "0"], "argument --bins: must be >= 1, got 0"),
        (["--window", "0"], "argument --window: must be >= 1, got 0"),
        (["--bins", "x"], "argument --bins: invalid int value"),
    ):
        assert main(["calibration", str(tmp_path), *argv]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and message in err, err


def test_nan_free_summary_is_valid_json(run_dir):
    summary = build_summary(read_calibration_log(run_dir), n_bins=10, window=10)
    text = json.dumps(summary)
    assert "NaN" not in text and not math.isnan(summary["first_window"]["metrics"]["ece"])
    assert summary["first_window"]["steps"] == summary["last_window"]["steps"] == [1, 3]  # window > steps: all of them


def test_a_byte_order_mark_loses_no_row(tmp_path):
    """Issue 25: a log saved by an editor with a UTF-8 BOM kept its first row as an undecodable line (skipped)."""
    log = tmp_path / "calibration.jsonl"
    log.write_bytes(b"\xef\xbb\xbf" + "".join(json.dumps(r) + "\n" for r in ROWS).encode())
    read = read_calibration_log(log)
    assert read.steps == [1, 2, 3]
    assert read.skipped_lines == []
    summary = build_summary(read, n_bins=10, window=2)
    assert [r["brier"] for r in summary["per_step"]] == pytest.approx(BRIER, abs=1e-12)


def test_steps_without_samples_are_left_out_and_counted(tmp_path, capsys):
    """Issue 25: a step whose p and r are empty lists made NaN metrics with exit 0; it is left out (one warning)."""
    log = _write(tmp_path / "calibration.jsonl", [{"step": 0, "p": [], "r": []}, *ROWS, {"step": 4, "p": [], "r": []}])
    read = read_calibration_log(log)
    assert read.steps == [1, 2, 3] and read.empty_steps == [0, 4]
    assert main(["calibration", str(log), "--window", "2"]) == 0
    err = capsys.readouterr().err
    assert err == f"warning: left out 2 step(s) of {log} that hold no sample\n"
    summary = json.loads((tmp_path / SUMMARY_JSON).read_text())
    assert summary["empty_steps"] == 2 and summary["n_steps"] == 3
    assert [r["brier"] for r in summary["per_step"]] == pytest.approx(BRIER, abs=1e-12)
    assert all(math.isfinite(r["brier"]) and math.isfinite(r["ece"]) for r in summary["per_step"])
