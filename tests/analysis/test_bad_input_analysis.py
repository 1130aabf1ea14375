"""Issue 14, ``python -m sppo_lab.analysis calibration / tail-effect``: every kind of bad input is one stderr
line with the verb's prefix, exit code 2, no traceback and no partial output (table-driven, each case a
subprocess; option errors are found before torch is imported)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.bad_input import UNWRITABLE, check_case

ANALYSIS = "sppo_lab.analysis"
ROW = json.dumps({"step": 1, "p": [0.5, 0.2], "r": [1, 0]})


def _log(t: Path, *lines: str) -> str:
    (t / "calibration.jsonl").write_text("".join(line + "\n" for line in lines))
    return "calibration.jsonl"


CALIBRATION_CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("no run", lambda t: ["calibration"], "the following arguments are required: run"),
    ("missing log", lambda t: ["calibration", "nope.jsonl"], "calibration log not found: nope.jsonl"),
    (
        "run folder without log",
        lambda t: (t / "run").mkdir() or ["calibration", "run"],
        "no calibration.jsonl in run directory",
    ),
    ("empty log", lambda t: ["calibration", _log(t)], "is empty (no training step was logged)"),
    (
        "only undecodable lines",
        lambda t: ["calibration", _log(t, "{oops")],
        "no readable row (1 line(s) are not valid JSON)",
    ),
    (
        "not UTF-8",
        lambda t: (t / "c.jsonl").write_bytes(b"\xff\xfe\x00") and ["calibration", "c.jsonl"],
        "cannot read c.jsonl",
    ),
    (
        "row not an object",
        lambda t: ["calibration", _log(t, "[1, 2]")],
        "line 1: expected an object with keys step, p, r",
    ),
    (
        "step not an integer",
        lambda t: ["calibration", _log(t, json.dumps({"step": 1.5, "p": [0.5], "r": [1]}))],
        "'step' must be an integer, got 1.5",
    ),
    (
        "p above 1",
        lambda t: ["calibration", _log(t, json.dumps({"step": 1, "p": [1.5], "r": [1]}))],
        "p = sigmoid(V) must lie in [0, 1], got 1.5",
    ),
    ("p NaN", lambda t: ["calibration", _log(t, '{"step": 1, "p": [NaN], "r": [1]}')], "got nan"),
    (
        "p and r lengths differ",
        lambda t: ["calibration", _log(t, json.dumps({"step": 1, "p": [0.5, 0.1], "r": [1]}))],
        "'p' has 2 values but 'r' has 1",
    ),
    (
        "r a list of strings",
        lambda t: ["calibration", _log(t, json.dumps({"step": 1, "p": [0.5], "r": ["1"]}))],
        "'r' must be a list of numbers",
    ),
    ("bins zero", lambda t: ["calibration", _log(t, ROW), "--bins", "0"], "argument --bins: must be >= 1, got 0"),
    (
        "bins unbounded",
        lambda t: ["calibration", _log(t, ROW), "--bins", "100000000"],
        "argument --bins: must be <= 1000",
    ),
    ("bins not an int", lambda t: ["calibration", _log(t, ROW), "--bins", "ten"], "argument --bins: invalid int value"),
    ("window zero", lambda t: ["calibration", _log(t, ROW), "--window", "0"], "argument --window: must be >= 1, got 0"),
    (
        "--out is a file",
        lambda t: (t / "f").write_text("x") and ["calibration", _log(t, ROW), "--out", "f"],
        "--out f: exists and is not a folder",
    ),
    (
        "--out under a file",
        lambda t: (t / "f").write_text("x") and ["calibration", _log(t, ROW), "--out", "f/sub"],
        "f is a file",
    ),
    ("--out unwritable", lambda t: ["calibration", _log(t, ROW), "--out", UNWRITABLE], "is not writable"),
    # issue 25
    (
        "every step without samples",
        lambda t: ["calibration", _log(t, '{"step": 1, "p": [], "r": []}', '{"step": 2, "p": [], "r": []}')],
        "calibration.jsonl: its 2 step(s) hold no (p, R) sample (every 'p' and 'r' is an empty list)",
    ),
    (
        "only a byte-order mark",
        lambda t: (t / "c.jsonl").write_bytes(b"\xef\xbb\xbf\n") and ["calibration", "c.jsonl"],
        "c.jsonl is empty (no training step was logged)",
    ),
    (
        "UTF-16 log",
        lambda t: (t / "c.jsonl").write_bytes((ROW + "\n").encode("utf-16")) and ["calibration", "c.jsonl"],
        "cannot read c.jsonl",
    ),
    (
        "step a boolean",
        lambda t: ["calibration", _log(t, json.dumps({"step": True, "p": [0.5], "r": [1]}))],
        "'step' must be an integer, got True",
    ),
    (
        "p a number",
        lambda t: ["calibration", _log(t, json.dumps({"step": 1, "p": 0.5, "r": [1]}))],
        "'p' must be a list of numbers",
    ),
    (
        "p booleans",
        lambda t: ["calibration", _log(t, json.dumps({"step": 1, "p": [True], "r": [1]}))],
        "'p' must be a list of numbers",
    ),
    (
        "R negative",
        lambda t: ["calibration", _log(t, json.dumps({"step": 1, "p": [0.5], "r": [-1]}))],
        "the outcome R must lie in [0, 1], got -1",
    ),
    ("p infinite", lambda t: ["calibration", _log(t, '{"step": 1, "p": [Infinity], "r": [1]}')], "got inf"),
    (
        "no key r",
        lambda t: ["calibration", _log(t, json.dumps({"step": 1, "p": [0.5]}))],
        "line 1: expected an object with keys step, p, r",
    ),
    (
        "bad row after good ones",
        lambda t: ["calibration", _log(t, ROW, json.dumps({"step": 2, "p": [0.5], "r": [2]}))],
        "calibration.jsonl, line 2: the outcome R must lie in [0, 1], got 2",
    ),
    (
        "log name is a folder",
        lambda t: (t / "run" / "calibration.jsonl").mkdir(parents=True) or ["calibration", "run"],
        "no calibration.jsonl in run directory run",
    ),
    ("window not an int", lambda t: ["calibration", _log(t, ROW), "--window", "1.5"], "invalid int value: '1.5'"),
    ("empty --out", lambda t: ["calibration", _log(t, ROW), "--out", ""], "argument --out: must not be empty"),
]


@pytest.mark.parametrize("name,setup,needle", CALIBRATION_CASES, ids=[c[0] for c in CALIBRATION_CASES])
def test_calibration_bad_input(tmp_path: Path, name: str, setup, needle: str) -> None:
    check_case(ANALYSIS, "python -m sppo_lab.analysis calibration", setup(tmp_path), tmp_path, needle)


TAIL_CASES: list[tuple[str, list[str], str]] = [
    ("updates zero", ["--updates", "0"], "--updates must be >= 1, got 0"),
    ("updates unbounded", ["--updates", "1000000000"], "--updates must be at most 100000"),
    ("batch not an int", ["--batch", "x"], "argument --batch: invalid int value: 'x'"),
    ("lam above 1", ["--lam", "1.5"], "--lam must lie in [0, 1], got 1.5"),
    ("gamma NaN", ["--gamma", "nan"], "argument --gamma: must be a finite number"),
    ("critic lr negative", ["--critic-lr", "-1"], "--temperature and --critic-lr must be > 0"),
    ("temperature zero", ["--temperature", "0"], "--temperature and --critic-lr must be > 0"),
    ("unknown format", ["--format", "long"], "argument --format: invalid choice: 'long'"),
    ("eval samples one", ["--eval-samples", "1"], "--eval-samples must be >= 2"),
    ("seed negative", ["--seed", "-1"], "--seed must be >= 0, got -1"),
    ("max new tokens unbounded", ["--max-new-tokens", "100000"], "--max-new-tokens must be at most 512"),
    ("max new tokens negative", ["--max-new-tokens", "-1"], "--max-new-tokens must be >= 0 (0: the task's limit)"),
    ("warmup negative", ["--warmup-steps", "-1"], "--warmup-steps must be >= 0"),
    ("--out is a file", ["--out", "f"], "--out f: exists and is not a folder"),
    ("--out unwritable", ["--out", UNWRITABLE], "is not writable"),
    ("--cache-dir is a file", ["--cache-dir", "f"], "--cache-dir f: exists and is not a folder"),
    ("empty --out", ["--out", ""], "argument --out: must not be empty"),
]


@pytest.mark.parametrize("name,argv,needle", TAIL_CASES, ids=[c[0] for c in TAIL_CASES])
def test_tail_effect_bad_input(tmp_path: Path, name: str, argv: list[str], needle: str) -> None:
    (tmp_path / "f").write_text("x")
    out = [] if "--out" in argv else ["--out", "never"]
    check_case(ANALYSIS, "python -m sppo_lab.analysis tail-effect", ["tail-effect", *out, *argv], tmp_path, needle)


def test_no_or_unknown_verb(tmp_path: Path) -> None:
    check_case(ANALYSIS, "python -m sppo_lab.analysis", [], tmp_path, "the following arguments are required: verb")
    check_case(ANALYSIS, "python -m sppo_lab.analysis", ["plot"], tmp_path, "invalid choice: 'plot'")
