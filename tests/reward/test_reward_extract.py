"""Answer extraction: last box after the last </think>, brace-balanced."""

from __future__ import annotations

import pytest

from sppo.reward.extract import extract_answer, strip_thinking, to_text


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("The answer is $\\boxed{5}$.", "5"),
        ("\\boxed{1} then \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("\\fbox{7}", "7"),
        ("\\boxed{3} and finally \\fbox{4}", "4"),
        ("\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", "\\left( 3, \\frac{\\pi}{2} \\right)"),
        ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
        ("so \\boxed 7$ done", "7"),
        ("\\boxed {x}", "x"),
        ("\\boxed{\\boxed{5}}", "5"),
        ("\\boxed{\\boxed{5} + 1}", "\\boxed{5} + 1"),
        ("\\boxed{  12  }", "12"),
        ("\\boxed{2} \\fboxsep=1pt", "2"),
        ("<think>maybe \\boxed{1}</think>Final: \\boxed{2}", "2"),
        ("<think>\\boxed{1}</think> a </think> \\boxed{3}", "3"),
    ],
)
def test_extracts_last_box(response: str, expected: str) -> None:
    assert extract_answer(response) == expected


@pytest.mark.parametrize(
    "response",
    [
        "no box at all",
        "\\boxed{}",
        "\\boxed{   }",
        "\\boxed{unclosed",
        "\\boxed{1} and a truncated \\boxed{2",
        "<think>\\boxed{1}</think> I give up.",
        "\\boxedx{1}",
        "",
    ],
)
def test_no_answer(response: str) -> None:
    assert extract_answer(response) is None


def test_strip_thinking_keeps_text_without_tag() -> None:
    assert strip_thinking("a \\boxed{1}") == "a \\boxed{1}"
    assert strip_thinking("x</think>y</think>z") == "z"


def test_to_text_repairs_bad_unicode() -> None:
    assert to_text("\\boxed{\ud800}") == "\\boxed{?}"
    assert to_text(b"\\boxed{\xff}") == "\\boxed{\ufffd}"
    assert to_text(12) == "12"
