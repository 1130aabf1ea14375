"""Issue 25: without the ``control`` extra, ``python -m sppo_lab.control`` (any verb, ``list`` included) prints
one line saying how to install it and exits with 2, instead of an ImportError traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.bad_input import _env, snapshot

# gymnasium made unimportable (sys.modules[name] = None raises ModuleNotFoundError on import), then the CLI
RUN_WITHOUT = (
    "import runpy, sys; sys.modules[sys.argv.pop(1)] = None; "
    "runpy.run_module('sppo_lab.control', run_name='__main__', alter_sys=True)"
)
HINT = (
    "is not installed; the control suite needs the `control` extra (gymnasium with Box2D and MuJoCo): install it "
    "with `SPPO_EXTRAS=control bash uv_verl.sh` (`bash uv_verl.sh --cpu` includes it)"
)


@pytest.mark.parametrize(
    "argv, prog",
    [
        (["list"], "python -m sppo_lab.control list"),
        (
            ["run", "--env", "cartpole", "--algo", "sppo", "--steps", "10", "--out", "o"],
            "python -m sppo_lab.control run",
        ),
        (["warmstart", "--env", "cartpole", "--out", "o"], "python -m sppo_lab.control warmstart"),
    ],
    ids=["list", "run", "warmstart"],
)
def test_missing_control_extra_is_one_line(tmp_path, argv, prog):
    module = "gymnasium"
    before = snapshot(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", RUN_WITHOUT, module, *argv], cwd=tmp_path, env=_env(), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [f"{prog}: error: {module} {HINT}"]
    assert snapshot(tmp_path) == before
