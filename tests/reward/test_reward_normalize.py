"""The string fast path: notation-only rewrites."""

from __future__ import annotations

import pytest

from sppo.reward.normalize import bases_conflict, drop_assignment, normalize, strings_match


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})"),
        ("\\dfrac{14}{3}", "\\frac{14}{3}"),
        ("\\tfrac12", "\\frac{1}{2}"),
        ("90^\\circ", "90"),
        ("90^{\\circ}", "90"),
        ("\\text{Evelyn}", "Evelyn"),
        ("\\textbf{\\text{(C)}}", "C"),
        ("11\\sqrt2", "11\\sqrt{2}"),
        ("52_{8}", "52_8"),
        ("$10\\%$", "10"),
        ("3, 5, 7.", "3,5,7"),
        ("5\\,000", "5000"),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_strings_match_assignment_only_on_one_side() -> None:
    assert strings_match("x=5", "5")
    assert strings_match("5", "x = 5")
    assert not strings_match("x=5", "x=6")
    assert drop_assignment("y = -2") == "-2"
    assert drop_assignment("x < 5") == "x < 5"


def test_strings_match_rejects_different_answers() -> None:
    assert not strings_match("p - q", "q - p")
    assert not strings_match("42", "4.2")
    assert not strings_match("", "")


def test_bases_conflict() -> None:
    assert bases_conflict("52_8", "52_9")
    assert not bases_conflict("52_8", "52_{8}")
    assert not bases_conflict("52_8", "52")
