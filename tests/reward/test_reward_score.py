"""compute_score / compute_scores_batch on the MATH-500 sample and on equivalent forms."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from sppo.reward import UnknownDataSourceError, compute_score, compute_scores_batch
from sppo.reward.normalize import normalize


def respond(answer: str) -> str:
    """A plausible reasoning-model response whose final answer is ``answer`` (with a decoy box
    inside the thinking, which must be ignored)."""
    return (
        "<think>\nLet me try a guess first: \\boxed{0}. No, recompute carefully.\n</think>\n"
        f"Putting it together, the final answer is $\\boxed{{{answer}}}$."
    )


def test_every_gold_answer_scores_one(math500_rows: list[dict]) -> None:
    scores = [compute_score("HuggingFaceH4/MATH-500", respond(r["answer"]), r["answer"]) for r in math500_rows]
    assert len(scores) == 40
    assert [s["score"] for s in scores] == [1.0] * 40
    assert all(s["acc"] is True and s["has_answer"] is True for s in scores)
    assert [s["pred"] for s in scores] == [r["answer"] for r in math500_rows]


# Shifting by 7 pairs rows whose answers really differ: the sample's equal or equivalent answers
# are "5" (rows 13 and 22), "x=5" (row 23) and "3" (rows 19 and 35), at distances 1, 9, 10 and 16.
SHIFT = 7


def test_swapped_answers_score_zero(math500_rows: list[dict]) -> None:
    n = len(math500_rows)
    pairs = [(r["answer"], math500_rows[(i + SHIFT) % n]["answer"]) for i, r in enumerate(math500_rows)]
    assert all(normalize(gold) != normalize(other) for gold, other in pairs)
    scores = [compute_score("math__math", respond(other), gold)["score"] for gold, other in pairs]
    assert scores == [0.0] * n


EQUIVALENT = [
    ("\\frac{14}{3}", "14/3"),
    ("\\frac{14}{3}", "4\\frac{2}{3}"),
    ("\\frac{14}{3}", "\\dfrac{14}{3}"),
    ("\\frac{14}{3}", "4.6666666667"),
    ("(3, \\frac{\\pi}{2})", "\\left( 3, \\frac{\\pi}{2} \\right)"),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\pi/2)"),
    ("90^\\circ", "90"),
    ("90", "90^{\\circ}"),
    ("\\text{Evelyn}", "Evelyn"),
    ("\\text{Evelyn}", "\\textbf{Evelyn}"),
    ("52_8", "52_{8}"),
    ("52_8", "52"),
    ("x=5", "5"),
    ("5", "x = 5"),
    ("1,-2", "-2, 1"),
    ("3, 5, 7", "7, 5, 3"),
    ("6 - 5i", "6-5i"),
    ("-2 + 7i", "7i - 2"),
    ("p - q", "-q + p"),
    ("11\\sqrt2", "11\\sqrt{2}"),
    ("3\\sqrt{13}", "\\sqrt{117}"),
    ("\\frac{243}{625}", "0.3888"),
    ("\\frac{1}{2}", "0.5"),
    ("(-\\infty, 3]", "(-\\infty,3]"),
    ("2220", "2,220"),
    ("10\\%", "10"),
    ("42", "042"),
    ("\\pi", "\\pi"),
]

DIFFERENT = [
    ("52_8", "52_9"),
    ("p - q", "q - p"),
    ("[1,2)", "[1,2]"),
    ("\\frac{14}{3}", "\\frac{14}{5}"),
    ("x=5", "x=6"),
    ("\\text{Evelyn}", "\\text{Bob}"),
    ("6 - 5i", "6 + 5i"),
    ("3, 5, 7", "3, 5"),
    ("42", "4.2"),
    ("\\pi", "3.14"),
]


@pytest.mark.parametrize(("gold", "pred"), EQUIVALENT)
def test_equivalent_forms_score_one(gold: str, pred: str) -> None:
    result = compute_score("math_deepscaler", respond(pred), gold)
    assert (result["score"], result["pred"], result["timed_out"]) == (1.0, pred, False)


@pytest.mark.parametrize(("gold", "pred"), DIFFERENT)
def test_different_answers_score_zero(gold: str, pred: str) -> None:
    result = compute_score("math_dapo", respond(pred), gold)
    assert (result["score"], result["acc"], result["pred"], result["timed_out"]) == (0.0, False, pred, False)


def test_no_answer_scores_zero_or_penalty() -> None:
    assert compute_score("aime2025", "I think it is 5.", "5") == {
        "score": 0.0,
        "acc": False,
        "pred": None,
        "has_answer": False,
        "timed_out": False,
    }
    assert compute_score("aime2025", "I think it is 5.", "5", format_penalty=0.5)["score"] == -0.5
    assert compute_score("aime2025", "\\boxed{5}", "5", format_penalty=0.5)["score"] == 1.0


@pytest.mark.parametrize(
    ("ground_truth", "expected"),
    [(27.0, 1.0), (27, 1.0), (["26", "27"], 1.0), (("28",), 0.0), ("", 0.0), (None, 0.0)],
)
def test_ground_truth_types(ground_truth: object, expected: float) -> None:
    assert compute_score("math__amc23", "\\boxed{27}", ground_truth)["score"] == expected


@pytest.mark.parametrize(
    "data_source",
    [
        "math_dapo",
        "aime2025",
        "math__aime_repeated_8x",
        "math_deepscaler",
        "math__math",
        "HuggingFaceH4/MATH-500",
        "math__aime2025",
        "math__amc23",
        "math__minerva",
        "math__dapo17k",
        "math__deepscaler",
        "lighteval/MATH",
    ],
)
def test_official_and_prepared_sources_route_to_math(data_source: str) -> None:
    assert compute_score(data_source, "\\boxed{7}", "7")["score"] == 1.0


def test_unknown_source_is_one_clear_error() -> None:
    with pytest.raises(UnknownDataSourceError, match=r"unknown data_source 'gsm8k'; accepted prefixes .*aime"):
        compute_score("gsm8k", "\\boxed{7}", "7")


def test_options_are_checked() -> None:
    with pytest.raises(TypeError, match="unknown option.*timeout\\b"):
        compute_score("math", "\\boxed{7}", "7", timeout=3)
    with pytest.raises(ValueError, match="timeout_s must be a positive number"):
        compute_score("math", "\\boxed{7}", "7", timeout_s=0)
    # keyword arguments verl passes for other scorers are accepted and ignored
    assert compute_score("math", "\\boxed{7}", "7", extra_info={}, reward_router_address=None)["score"] == 1.0


def test_works_from_non_main_threads() -> None:
    results: dict[int, dict] = {}

    def work(i: int) -> None:
        results[i] = compute_score("math__math", f"\\boxed{{{i}/2}}", f"\\frac{{{i}}}{{2}}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(1, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(results) == [1, 2, 3, 4, 5, 6]
    assert [results[i]["score"] for i in range(1, 7)] == [1.0] * 6


def test_batch_matches_single_calls(math500_rows: list[dict]) -> None:
    items = [
        {"data_source": "math__math", "solution_str": respond(r["answer"]), "ground_truth": r["answer"]}
        for r in math500_rows
    ]
    items += [
        ("math__math", respond(math500_rows[(i + SHIFT) % 40]["answer"]), r["answer"])
        for i, r in enumerate(math500_rows)
    ]
    results = compute_scores_batch(items, num_workers=2, timeout_s=5.0)
    assert [r["score"] for r in results] == [1.0] * 40 + [0.0] * 40


def test_batch_routes_before_work() -> None:
    with pytest.raises(UnknownDataSourceError):
        compute_scores_batch([("math", "\\boxed{1}", "1"), ("code_contests", "x", "y")])


def test_import_is_light() -> None:
    heavy = "('sympy', 'math_verify', 'latex2sympy2_extended')"
    code = f"import sys, sppo.reward; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
