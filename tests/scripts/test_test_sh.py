"""run_scripts/test.sh on a fresh machine: uv_verl.sh may have installed uv at user level in a folder the shell's PATH
lacks (~/.local/bin), and the wheel test (tests/layout/test_packages.py) needs it on PATH."""

from __future__ import annotations

import os
import subprocess

from tests.conftest import REPO

BASE_PATH = "/usr/bin:/bin"


def test_uv_installed_at_user_level_is_put_on_path_for_the_suite(tmp_path):
    home = tmp_path / "home"
    uv = home / ".local" / "bin" / "uv"
    uv.parent.mkdir(parents=True)
    uv.write_text("#!/usr/bin/env bash\necho fake uv\n")
    uv.chmod(0o755)
    probe = tmp_path / "probe" / "test_probe.py"
    probe.parent.mkdir()
    probe.write_text(f"import shutil\n\ndef test_uv():\n    assert shutil.which('uv') == {str(uv)!r}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "XDG_DATA_HOME", "SPPO_UV_HOME")}
    env.update(HOME=str(home), PATH=BASE_PATH)
    done = subprocess.run(
        ["bash", str(REPO / "run_scripts" / "test.sh"), "-q", str(probe)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout
