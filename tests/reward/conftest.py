"""Shared helpers for the reward tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sppo.reward import compute_score

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="session")
def math500_rows() -> list[dict]:
    """The 40 MATH-500 sample problems (hub columns: problem, answer, unique_id)."""
    with (FIXTURES / "math500_sample.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture
def warm_pool() -> None:
    """Make sure a verifier worker is up, so a timed call measures checking, not Python start-up."""
    assert compute_score("math__math", "\\boxed{-q + p}", "p - q")["score"] == 1.0  # needs math-verify
