"""No tracked file names a path of one machine (issue 25): the checkout's own absolute path (a results file that
recorded where it ran, e.g. docs/figures/tail_effect_graded.json's warm-start path) or a folder only one machine has
(uv_verl.sh's old SPPO_WHEELS_DIR default, /opt/wheels). Repository paths are written relative to the checkout."""

from __future__ import annotations

import subprocess

import pytest

from tests.bad_input import REPO

MACHINE_PATHS = sorted({str(REPO), "/work/main", "/opt/wheels"})


def _tracked_text_files() -> list[str]:
    proc = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, timeout=60)
    if proc.returncode != 0:
        pytest.skip("not a git checkout")
    return [name for name in proc.stdout.decode().split("\0") if name]


@pytest.mark.parametrize("machine_path", MACHINE_PATHS)
def test_no_tracked_file_names_a_machine_path(machine_path):
    found = []
    for name in _tracked_text_files():
        path = REPO / name
        if name == "tests/test_no_machine_paths.py" or not path.is_file():  # this file names them on purpose
            continue  # deleted in the working copy
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary (weights, images)
        for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
            if machine_path in line:
                found.append(f"{name}:{number}")
    assert found == [], f"{machine_path} in {', '.join(found)}"
