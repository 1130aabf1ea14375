"""A pytest plugin: the test suite leaves the git working tree as it found it (issue 25).

Every test writes under a temporary folder; a file that a test (or a run it starts: verl's file logger, hydra's
run folder, a checkpoint) writes into the checkout shows up in ``git status`` and would end up committed, as
``sppo_tests/sppo.jsonl`` once did. At the end of the session the plugin compares ``git status --porcelain``
(untracked files included, ignored ones not) with what it was before the first test, names every path that is
new, changed status or is gone, and fails the session (exit code 1). On a fresh clone (CI) that is any change; in
a working copy with edits of its own, those edits are left alone (only their git status is compared).

Registered by ``tests/e2e/conftest.py`` (and by ``pytest_plugins`` in ``tests/conftest.py`` where that lists
it); it does nothing outside a git checkout, on pytest-xdist workers (the controller checks), and with
``SPPO_CHECK_CLEAN_TREE=0`` (for a working copy that people edit while the tests run: their edits would count).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PLUGIN_NAME = "sppo_clean_tree"


def tree_state(repo: Path) -> dict[str, str] | None:
    """``path -> git status code`` (``??``, `` M``, ...) of every path ``git status`` lists; None outside git."""
    try:
        proc = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all", "--no-renames"],
            cwd=repo, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return {line[3:].strip('"'): line[:2] for line in proc.stdout.splitlines()}


def changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The paths whose git status differs (new, newly modified or deleted, or no longer listed), sorted."""
    return sorted(path for path in set(before) | set(after) if before.get(path) != after.get(path))


class CleanTree:
    """Snapshot at registration (before the first test runs), comparison at the end of the session."""

    def __init__(self, repo: Path = REPO) -> None:
        self.repo = repo
        self.before = tree_state(repo)

    @pytest.hookimpl(tryfirst=True)  # before the terminal summary, so that the message is part of it
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.before is None:
            return
        after = tree_state(self.repo)
        changed = changes(self.before, after or {})
        if not changed:
            return
        message = (
            f"the test session changed {len(changed)} path(s) of the git checkout {self.repo} (tests must write "
            f"under a temporary folder): {', '.join(changed[:20])}{' ...' if len(changed) > 20 else ''}"
        )
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"ERROR: {message}", red=True)
        else:
            print(f"ERROR: {message}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def register(config: pytest.Config, repo: Path = REPO) -> None:
    """Register the plugin once per session (not on xdist workers: the controller sees the whole run)."""
    if os.environ.get("SPPO_CHECK_CLEAN_TREE", "1") in ("0", ""):
        return
    if hasattr(config, "workerinput") or config.pluginmanager.has_plugin(PLUGIN_NAME):
        return
    config.pluginmanager.register(CleanTree(repo), PLUGIN_NAME)


def pytest_configure(config: pytest.Config) -> None:
    """Used when this module is listed in ``pytest_plugins`` (``tests/conftest.py``) or given with ``-p``."""
    register(config)
