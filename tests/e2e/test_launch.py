"""sppo_lab.launch: the one launcher of ``python -m sppo.main`` used by the quickstart, the benchmarks, the
critic-pays harness and these tests' ``run_sppo_main``, on real (dry-run) launches."""

from __future__ import annotations

import subprocess

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
