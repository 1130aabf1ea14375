"""Ctrl-C before a run has started (while Python imports hydra, torch and verl, or while hydra composes the config)
is the same one line and exit code 130 as during a run, not a KeyboardInterrupt traceback (issue 25)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from sppo.main import INTERRUPTED
from tests.conftest import REPO, tiny_overrides


@pytest.mark.timeout(300)
@pytest.mark.parametrize("delay_s", [0.3, 1.5, 4.0])
def test_ctrl_c_before_the_run_is_one_line(tiny_task, tmp_path, delay_s):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("VERL_PLATFORM", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sppo.main", *tiny_overrides(tiny_task, tmp_path, steps=1), "sppo.dry_run=true"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(delay_s)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=240)
    if proc.returncode == 0:
        pytest.skip(f"the dry run finished within {delay_s} s")  # a fast machine: nothing left to interrupt
    assert proc.returncode == 130, err[-3000:]
    assert [line for line in err.splitlines() if line.strip()] == [INTERRUPTED]
