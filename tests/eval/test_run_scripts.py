"""The evaluation run scripts run exactly the commands in their headers: env-var defaults and
overrides, paths relative to the caller's directory, extra arguments passed through. ``PYTHON`` is
a stub that records its arguments (the CLI itself is tested in test_generate.py / test_score.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_script(
    name: str, tmp_path: Path, env: dict[str, str], *args: str
) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    log = tmp_path / "calls.log"
    stub = tmp_path / "python"
    stub.write_text(f'#!/usr/bin/env bash\nprintf "%s\\x1f" "$@" >> {log}\necho >> {log}\n')
    stub.chmod(0o755)
    proc = subprocess.run(
        ["bash", str(ROOT / "run_scripts" / name), *args],
        cwd=tmp_path, env={**os.environ, "PYTHON": str(stub), **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    calls = [line.rstrip("\x1f").split("\x1f") for line in log.read_text().splitlines()] if log.exists() else []
    return proc, calls


@pytest.mark.parametrize("suite", ["official_val", "all5"])
def test_eval_scripts_commands(suite: str, tmp_path: Path) -> None:
    env = {"SUITE": suite, "MODEL": "ckpts/run1", "DATA_DIR": "mydata", "OUT": "out", "K": "4"}
    proc, calls = run_script("eval.sh", tmp_path, env,
                             "--max-tokens", "4096", "--seed", "3")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert calls == [
        ["-m", "sppo.eval", "generate", "--model", "ckpts/run1", "--benchmarks", suite, "--data-dir", "mydata/offline_eval",
         "--k", "4", "--out", "out", "--max-tokens", "4096", "--seed", "3"],
        ["-m", "sppo.eval", "score", "out"],
    ]  # fmt: skip


def test_eval_scripts_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SUITE", "MODEL", "DATA_DIR", "OUT", "K"):
        monkeypatch.delenv(var, raising=False)
    proc, calls = run_script("eval.sh", tmp_path, {})
    assert proc.returncode == 0, proc.stderr
    assert calls[0] == ["-m", "sppo.eval", "generate", "--model", "hf://deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
                        "--benchmarks", "official_val", "--data-dir", f"{ROOT}/data/offline_eval", "--k", "1",
                        "--out", "runs/eval/official_val"]  # fmt: skip


def test_eval_checkpoints_script(tmp_path: Path) -> None:
    for step in (10, 2, 100):
        (tmp_path / "ckpts" / f"global_step_{step}" / "actor").mkdir(parents=True)
    proc, calls = run_script(
        "eval_checkpoints.sh", tmp_path, {"RUN_DIR": "ckpts", "BENCHMARKS": "aime24 amc23"}, "--k", "2"
    )
    assert proc.returncode == 0, proc.stderr
    generates = [c for c in calls if c[2] == "generate"]
    assert [c[4] for c in generates] == [
        "ckpts/global_step_2",
        "ckpts/global_step_10",
        "ckpts/global_step_100",
    ]  # numeric order
    assert generates[0][5:8] == ["--benchmarks", "aime24", "amc23"] and generates[0][-2:] == ["--k", "2"]
    assert ["-m", "sppo.eval", "score", "runs/eval/ckpts/global_step_10", "--no-plots"] in calls
    assert calls[-1] == ["-m", "sppo.eval", "compare", "runs/eval/ckpts", "--out", "runs/eval/ckpts/compare"]

    proc, calls = run_script("eval_checkpoints.sh", tmp_path / "ckpts" / "global_step_2", {"RUN_DIR": "."})
    assert proc.returncode == 2 and "no global_step_N folder" in proc.stderr and calls == []
    proc, _ = run_script("eval_checkpoints.sh", tmp_path, {"RUN_DIR": ""})
    assert proc.returncode != 0 and "set RUN_DIR" in proc.stderr
