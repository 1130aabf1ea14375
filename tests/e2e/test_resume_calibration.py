"""Issue 25: the quickstart's documented rerun stopped in 10 s because the calibration log of the first launch
already existed. Here the same command line is launched twice (2 + 1 steps: ``sppo.max_train_seconds`` ends each
launch after its next step, verl's tracker then holds step 2): the relaunch passes the launch checks, resumes from
the checkpoint of step 2, trains step 3 only, and appends that step to the calibration log."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import run_sppo_main, tiny_overrides

pytestmark = [pytest.mark.ray, pytest.mark.timeout(900)]


def _logged_steps(path) -> list[int]:
    return [json.loads(line)["step"] for line in path.read_text().splitlines() if line.strip()]


def test_relaunching_the_same_command_resumes_and_keeps_logging(tiny_task, tmp_path):
    out = tmp_path / "run"
    log = out / "calibration.jsonl"
    command = tiny_overrides(tiny_task, out, steps=3) + [
        "trainer.save_freq=1",
        "sppo.max_train_seconds=0.001",  # per launch: the step after the first is the launch's last
        f"sppo.calibration_log={log}",
    ]
    started = time.monotonic()
    first = run_sppo_main(command, out / "first")
    assert first.returncode == 0, first.log[-3000:]
    assert [r["step"] for r in first.steps] == [1, 2]
    assert (out / "ckpt" / "latest_checkpointed_iteration.txt").read_text().strip() == "2"
    assert _logged_steps(log) == [1, 2]
    first_lines = log.read_bytes()

    second = run_sppo_main(command, out / "second")
    assert second.returncode == 0, second.log[-3000:]
    assert "sppo: error" not in second.log
    assert [r["step"] for r in second.steps] == [3]  # resumed after the checkpoint of step 2
    assert (out / "ckpt" / "latest_checkpointed_iteration.txt").read_text().strip() == "3"
    assert _logged_steps(log) == [1, 2, 3] and log.read_bytes().startswith(first_lines)

    from sppo_lab.analysis.calibration import read_calibration_log

    assert read_calibration_log(log).steps == [1, 2, 3]
    print(f"two launches (2 + 1 steps): {time.monotonic() - started:.0f} s")
