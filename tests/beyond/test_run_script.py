"""run_scripts/run_beyond_the_paper.sh: each part's command (PYTHON=echo prints it instead of running it), and an
unknown part refused in one line before anything runs."""

from __future__ import annotations

import os
import subprocess

from tests.conftest import REPO

SCRIPT = REPO / "run_scripts" / "run_beyond_the_paper.sh"


def test_run_script_runs_each_part_with_its_settings(tmp_path):
    env = dict(os.environ, PYTHON="echo", WORK=str(tmp_path / "w"))
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if not line.startswith("[beyond]")]
    assert lines == [
        f"-m sppo_lab.beyond_the_paper.run --phase warmstart_check --work {tmp_path}/w",
        f"-m sppo_lab.beyond_the_paper.run --phase sweep --work {tmp_path}/w",
        f"-m sppo_lab.beyond_the_paper.run --phase main --work {tmp_path}/w",
        "-m sppo_lab.beyond_the_paper.report",
    ]
    some = subprocess.run(
        ["bash", str(SCRIPT)], env=dict(env, PARTS="main report"), capture_output=True, text=True, timeout=60
    )
    assert [line for line in some.stdout.splitlines() if not line.startswith("[beyond]")] == lines[2:]
    niced = subprocess.run(
        ["bash", str(SCRIPT)], env=dict(env, PARTS="sweep", NICE="5"), capture_output=True, text=True, timeout=60
    )
    assert niced.returncode == 0, niced.stderr
    # the runs' own sessions take the niceness from the launcher (sppo_lab.launch.share_niceness): no flag
    assert niced.stdout.splitlines()[-1] == f"-m sppo_lab.beyond_the_paper.run --phase sweep --work {tmp_path}/w"


def test_unknown_part_is_one_line_exit_2(tmp_path):
    env = dict(os.environ, PYTHON="echo", WORK=str(tmp_path / "w"), PARTS="sweep plots")
    bad = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        "run_beyond_the_paper.sh: unknown part 'plots' (allowed: warmstart_check sweep main report)"
    ]
