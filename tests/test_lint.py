"""One style everywhere: ruff's linter and formatter, configured in pyproject.toml, over the whole project."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

PATHS = ["sppo", "lab", "tests"]


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff(command):
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", *command, *PATHS], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
