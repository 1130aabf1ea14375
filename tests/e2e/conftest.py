"""The end-to-end tests start real runs (verl's file logger, hydra's run folder, checkpoints): the session must
leave the git checkout as it found it (tests/clean_tree.py; registered here, when this folder is collected)."""

from __future__ import annotations

from tests.clean_tree import register


def pytest_configure(config):
    register(config)
