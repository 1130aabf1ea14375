"""The clean-tree plugin (tests/clean_tree.py) fails a session that writes into the git checkout (issue 25:
``sppo_tests/sppo.jsonl``, a verl file-logger output, was committed from a test run), and passes one that writes
only under temporary folders. Each case runs pytest on a small git repository of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bad_input import REPO
from tests.clean_tree import changes, tree_state

CONFTEST = """
from pathlib import Path

from tests.clean_tree import register


def pytest_configure(config):
    register(config, Path(__file__).resolve().parent)
"""


def _repo(tmp_path: Path, test_body: str) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "conftest.py").write_text(CONFTEST)
    (repo / "test_x.py").write_text(test_body)
    (repo / "tracked.txt").write_text("a\n")
    (repo / ".gitignore").write_text("__pycache__/\nignored/\n")
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "init"]):
        subprocess.run([*git, *command], cwd=repo, check=True, capture_output=True)
    return repo


def _pytest(repo: Path, **env_extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "SPPO_CHECK_CLEAN_TREE": "1", **env_extra}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_x.py"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize(
    "name, body, changed",
    [
        ("new file", "def test_a():\n    open('sppo_tests.jsonl', 'w').write('{}')\n", "sppo_tests.jsonl"),
        ("changed tracked file", "def test_a():\n    open('tracked.txt', 'a').write('b')\n", "tracked.txt"),
        (
            "new file in a new folder",
            "import os\ndef test_a():\n    os.makedirs('sppo_tests')\n    open('sppo_tests/sppo.jsonl', 'w')\n",
            "sppo_tests/sppo.jsonl",
        ),
    ],
    ids=["new file", "changed tracked file", "new folder"],
)
def test_a_session_that_writes_into_the_checkout_fails(tmp_path, name, body, changed):
    proc = _pytest(_repo(tmp_path, body))
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert "1 passed" in proc.stdout  # the test itself passed: the session fails because of what it left behind
    assert (
        f"ERROR: the test session changed 1 path(s) of the git checkout {tmp_path / 'repo'} (tests must write under "
        f"a temporary folder): {changed}"
    ) in proc.stdout


def test_the_check_can_be_switched_off(tmp_path):
    proc = _pytest(_repo(tmp_path, "def test_a():\n    open('out.jsonl', 'w')\n"), SPPO_CHECK_CLEAN_TREE="0")
    assert proc.returncode == 0 and "ERROR: the test session changed" not in proc.stdout, proc.stdout[-2000:]


def test_a_session_that_writes_only_under_temporary_or_ignored_folders_passes(tmp_path):
    body = (
        "import os\n"
        "def test_a(tmp_path):\n"
        "    (tmp_path / 'out.jsonl').write_text('{}')\n"
        "    os.makedirs('ignored', exist_ok=True)\n"
        "    open('ignored/run.log', 'w').write('x')\n"
    )
    proc = _pytest(_repo(tmp_path, body))
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "ERROR: the test session changed" not in proc.stdout


def test_state_and_changes_outside_git(tmp_path):
    assert tree_state(tmp_path) is None  # not a checkout: the plugin does nothing
    before = {"a": "??", "b": " M", "d": " M"}
    after = {"a": "??", "b": " D", "c": "??", "d": " M"}
    assert changes(before, after) == ["b", "c"]
    assert changes(after, before) == ["b", "c"]
