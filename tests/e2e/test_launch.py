"""sppo_lab.launch: the one launcher of ``python -m sppo.main`` used by the quickstart, the benchmarks, the
critic-pays harness and these tests' ``run_sppo_main``, on real (dry-run) launches."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sppo_lab.launch import launch_training, read_metrics
from tests.conftest import REPO, tiny_overrides


def test_a_dry_run_exits_0_once_and_its_output_goes_to_the_log(tiny_task, tmp_path):
    log = tmp_path / "logs" / "train.log"  # its folder is created
    polls = []
    code = launch_training(
        [*tiny_overrides(tiny_task, tmp_path, steps=1), "sppo.dry_run=true"], tmp_path / "m.jsonl", log, cwd=REPO,
        on_poll=lambda: polls.append(1), poll_s=0.2,
    )  # fmt: skip
    text = log.read_text()
    assert code == 0, text[-2000:]
    assert "SPPO dry run" in text and "did not start in time" not in text
    assert polls  # called while the run was alive
    assert read_metrics(tmp_path / "m.jsonl") == []  # a dry run trains nothing


def test_a_config_error_is_not_relaunched(tiny_task, tmp_path, capsys):
    log = tmp_path / "train.log"
    code = launch_training([*tiny_overrides(tiny_task, tmp_path, steps=1), "sppo.no_such_option=1"],
                           tmp_path / "m.jsonl", log, cwd=REPO)  # fmt: skip
    assert code == 2
    errors = [line for line in log.read_text().splitlines() if line.startswith("sppo: error:")]
    assert len(errors) == 1, log.read_text()[-2000:]  # one attempt: only Ray's start timeout is retried
    assert "did not start in time" not in capsys.readouterr().out


def test_the_time_limit_ends_the_run_and_says_so(tiny_task, tmp_path):
    started: list[subprocess.Popen] = []
    with pytest.raises(TimeoutError, match=r"^t: the run did not finish within 1 s; log .*train\.log$"):
        launch_training([*tiny_overrides(tiny_task, tmp_path, steps=1), "sppo.dry_run=true"], tmp_path / "m.jsonl",
                        tmp_path / "train.log", cwd=REPO, timeout_s=1, poll_s=0.1, on_start=started.append, who="t:")  # fmt: skip
    assert len(started) == 1 and started[0].poll() is not None  # the process group was ended, not left running


def test_a_run_in_its_own_session_gets_the_launchers_niceness(tmp_path):
    """Under autogroup scheduling each session is weighed as one group at its own nice value (0 for a new one):
    the launcher gives the run's session its own niceness, so ``nice`` on a driver means what it says."""
    import sys

    code = (
        "import os, subprocess, sys, time; from pathlib import Path; from sppo_lab.launch import share_niceness\n"
        "os.nice(7)\n"
        "child = subprocess.Popen(['sleep', '30'], start_new_session=True)\n"
        "done = share_niceness(child.pid)\n"
        "group = Path(f'/proc/{child.pid}/autogroup')\n"
        "nice = os.getpriority(os.PRIO_PROCESS, 0)\n"
        "print(done, nice, group.read_text().split()[-1] if group.exists() else 'none'); child.kill()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    enabled = Path("/proc/sys/kernel/sched_autogroup_enabled")
    if enabled.exists() and enabled.read_text().strip() == "1":
        done, nice, group = out.stdout.split()
        assert done == "True" and int(nice) >= 7 and group == nice  # os.nice(7) adds to pytest's own niceness
    else:  # no autogroup: nothing to share, and nothing written
        assert out.stdout.split()[0] == "False"
