"""Issue 14, ``python -m sppo_lab.control run / report``: every kind of bad input is one stderr line with the
verb's prefix, exit code 2, no traceback and no partial output (table-driven, each case a subprocess);
Ctrl-C during training prints one line, exits with 130 and leaves no partial results file."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.bad_input import UNWRITABLE, check_case, interrupt_after

CONTROL = "sppo_lab.control"
RESULT = "cartpole__sppo__H20__seed0.json"


def _run(*extra: str, out: str = "out", algo: str = "sppo") -> list[str]:
    return ["run", "--env", "cartpole", "--algo", algo, "--horizon", "20", "--steps", "100", "--out", out, *extra]


def _result(t: Path, text: str) -> None:
    (t / "out").mkdir(exist_ok=True)
    (t / "out" / RESULT).write_text(text)


RUN_CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("no command", lambda t: [], "missing command (allowed: run, report, warmstart, list)"),
    ("unknown command", lambda t: ["train"], "invalid choice: 'train'"),
    ("no --env", lambda t: ["run", "--algo", "sppo", "--steps", "10", "--out", "out"], "required: --env"),
    ("steps zero", lambda t: [a if a != "100" else "0" for a in _run()], "--steps must be a positive integer, got 0"),
    (
        "steps not an int",
        lambda t: [a if a != "100" else "1e5" for a in _run()],
        "argument --steps: invalid int value: '1e5'",
    ),
    ("steps unbounded", lambda t: [a if a != "100" else "10000000000000" for a in _run()], "--steps must be at most"),
    (
        "horizon zero",
        lambda t: [a if a != "20" else "0" for a in _run()],
        "--horizon must be a positive integer, got 0",
    ),
    ("seeds zero", lambda t: _run("--seeds", "0"), "--seeds must be a positive integer, got 0"),
    ("seeds unbounded", lambda t: _run("--seeds", "100000"), "--seeds must be at most 1000"),
    ("first seed negative", lambda t: _run("--first-seed", "-1"), "argument --first-seed: must be >= 0"),
    ("empty --out", lambda t: _run(out=""), "argument --out: must not be empty"),
    ("--out is a file", lambda t: (t / "f").write_text("x") and _run(out="f"), "--out f: exists and is not a folder"),
    ("--out unwritable", lambda t: _run(out=UNWRITABLE), "is not writable"),
    ("unknown env", lambda t: [a if a != "cartpole" else "acrobot" for a in _run()], "unknown env 'acrobot'"),
    ("unknown algo", lambda t: _run(algo="a2c"), "unknown algo 'a2c' (allowed: sppo, ppo, grpo)"),
    ("--set unknown key", lambda t: _run("--set", "gama=0.9", algo="ppo"), "--set 'gama=0.9': expected key=value"),
    ("--set not a float", lambda t: _run("--set", "gamma=high", algo="ppo"), "--set gamma: expected float, got 'high'"),
    ("--set NaN", lambda t: _run("--set", "learning_rate=nan"), "--set learning_rate: expected a finite number"),
    ("--set negative rate", lambda t: _run("--set", "learning_rate=-1"), "learning_rate must be > 0, got -1.0"),
    ("--set bool word", lambda t: _run("--set", "norm_adv=maybe", algo="ppo"), "--set norm_adv: expected true/false"),
    (
        "--set zero epochs",
        lambda t: _run("--set", "critic_epochs=0"),
        "critic_epochs must be a positive integer, got 0",
    ),
    ("--set unbounded width", lambda t: _run("--set", "hidden=100000000"), "hidden must be at most 65536"),
    ("--set probability above 1", lambda t: _run("--set", "gamma=1.5", algo="ppo"), "need 0 < gamma <= 1"),
    ("--set zero eps", lambda t: _run("--set", "adv_eps=0", algo="grpo"), "adv_eps must be > 0"),
    (
        "results with other settings",
        lambda t: _result(t, json.dumps({"config": {"learning_rate": 0.1}})) or _run(),
        f"out/{RESULT} was made with other settings (adv_mode: None -> 'residual';",
    ),
    ("corrupt results file", lambda t: _result(t, '{"config": ') or _run(), f"out/{RESULT}: corrupt results file"),
]


@pytest.mark.parametrize("name,setup,needle", RUN_CASES, ids=[c[0] for c in RUN_CASES])
def test_run_bad_input(tmp_path: Path, name: str, setup, needle: str) -> None:
    argv = setup(tmp_path)
    prefix = "python -m sppo_lab.control run" if argv and argv[0] == "run" else "python -m sppo_lab.control"
    check_case(CONTROL, prefix, argv, tmp_path, needle)


def _fake(t: Path, name: str, change: dict) -> None:
    result = {"algo": "sppo", "env": "cartpole", "horizon": 20, "seed": 0, "total_steps": 100, "env_steps": 100,
              "wall_time": 1.0, "eval_episodes": 4, "final_success": 0.5, "config": {},
              "curve": [{"env_steps": 100, "wall_time": 1.0, "episodes": 4, "successes": 2}]}  # fmt: skip
    result.update(change)
    (t / "res").mkdir(exist_ok=True)
    (t / "res" / name).write_text(json.dumps(result))


REPORT_CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("no folder given", lambda t: ["report"], "the following arguments are required: results"),
    ("not a folder", lambda t: ["report", "nope"], "'nope' is not a directory"),
    ("empty folder", lambda t: (t / "res").mkdir() or ["report", "res"], "no result files in 'res'"),
    (
        "corrupt JSON",
        lambda t: (t / "res").mkdir() or (t / "res" / "a.json").write_text("{") and ["report", "res"],
        "res/a.json: corrupt results file",
    ),
    ("missing key", lambda t: _fake(t, "a.json", {"seed": None}) or ["report", "res"], "'seed' has type NoneType"),
    (
        "NaN final success",
        lambda t: _fake(t, "a.json", {"final_success": float("nan")}) or ["report", "res"],
        "final_success is nan",
    ),
    (
        "empty curve",
        lambda t: _fake(t, "a.json", {"curve": []}) or ["report", "res"],
        "not a usable result (empty curve)",
    ),
    (
        "--out is a file",
        lambda t: _fake(t, "a.json", {}) or (t / "f").write_text("x") and ["report", "res", "--out", "f"],
        "--out f: exists and is not a folder",
    ),
    ("--out unwritable", lambda t: _fake(t, "a.json", {}) or ["report", "res", "--out", UNWRITABLE], "is not writable"),
    (
        "empty title",
        lambda t: _fake(t, "a.json", {}) or ["report", "res", "--title", ""],
        "argument --title: must not be empty",
    ),
]


@pytest.mark.parametrize("name,setup,needle", REPORT_CASES, ids=[c[0] for c in REPORT_CASES])
def test_report_bad_input(tmp_path: Path, name: str, setup, needle: str) -> None:
    check_case(CONTROL, "python -m sppo_lab.control report", setup(tmp_path), tmp_path, needle)


@pytest.mark.parametrize("presses", [1, 2], ids=["ctrl_c", "double_ctrl_c"])
def test_ctrl_c_during_training_is_one_line_and_leaves_no_partial_file(tmp_path: Path, presses: int) -> None:
    # twice: the second SIGINT used to escape the shutdown as an unhandled KeyboardInterrupt (exit -2, not 130)
    argv = ["run", "--env", "cartpole", "--algo", "sppo", "--horizon", "200", "--steps", "100000000",
            "--out", "out", "--set", "log_every_s=0"]  # fmt: skip
    code, out, err = interrupt_after(CONTROL, argv, "training ...", tmp_path, presses=presses)
    # exit(130), or (seen once in CI, single press, machine under heavy load; not reproduced) the same process ended
    # by the signal after it reported: a shell reports $? = 130 for both; the one line and no file hold either way
    assert code in (130, -signal.SIGINT), (code, err)
    assert err == "python -m sppo_lab.control run: interrupted; rerun the same command to resume\n"
    left = [str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()]
    assert left == [], left  # no results file, no temporary file


def test_rerun_with_same_settings_skips_and_force_reruns(tmp_path: Path) -> None:
    from sppo_lab.control.cli import main

    argv = ["run", "--env", "cartpole", "--algo", "grpo", "--horizon", "20", "--steps", "64", "--out", str(tmp_path),
            "--set", "eval_episodes=2", "--set", "log_every_s=0"]  # fmt: skip
    assert main(argv) == 0
    path = tmp_path / "cartpole__grpo__H20__seed0.json"
    mtime = os.path.getmtime(path)
    assert main([*argv, "--set", "log_every_s=5"]) == 0  # progress printing is not a setting
    assert os.path.getmtime(path) == mtime
    assert main([*argv, "--set", "learning_rate=0.001"]) == 2  # other settings: refused
    assert main([*argv, "--set", "learning_rate=0.001", "--force"]) == 0
    assert json.loads(path.read_text())["config"]["learning_rate"] == 0.001
