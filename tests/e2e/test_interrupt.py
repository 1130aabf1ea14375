"""Ctrl-C during a real run: one line, exit 130, and the rerun resumes from the last complete checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO, run_sppo_main, tiny_overrides

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(900)]


def test_ctrl_c_is_one_line_and_the_rerun_resumes(tiny_task, tmp_path):
    out = tmp_path / "interrupted"
    overrides = tiny_overrides(tiny_task, out, steps=200) + ["trainer.save_freq=1"]
    # verl's file logger writes to <project>/<experiment>.jsonl under the working directory (the checkout) unless
    # VERL_FILE_LOGGER_PATH is set: that is how sppo_tests/sppo.jsonl got committed (issue 25)
    env = dict(
        os.environ,
        PYTHONUNBUFFERED="1",
        TOKENIZERS_PARALLELISM="false",
        VERL_FILE_LOGGER_PATH=str(out / "metrics_interrupted.jsonl"),
    )
    env.pop("VERL_PLATFORM", None)
    out.mkdir(parents=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sppo.main", *overrides],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    tracker = out / "ckpt" / "latest_checkpointed_iteration.txt"
    deadline = time.monotonic() + 600
    while not tracker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(1)
    assert tracker.exists(), "no checkpoint before the deadline"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.startswith("sppo:")]
    assert lines == ["sppo: interrupted; rerun the same command to resume from the latest checkpoint"]
    saved = int(tracker.read_text())
    assert saved >= 1
    # the rerun (one more step than saved) starts after the last complete checkpoint
    rerun = run_sppo_main(tiny_overrides(tiny_task, out, steps=saved + 1) + ["trainer.save_freq=1"], out / "rerun")
    assert rerun.returncode == 0, rerun.log[-3000:]
    assert [r["step"] for r in rerun.steps] == [saved + 1]
