"""Symbolic equivalence of two answers with the ``math-verify`` library.

This is the slow, unbounded part of grading (SymPy can run for ever on ``9^{9^{9^{9}}}``), so it is
only ever called inside a verifier worker process that the parent kills at its deadline
(:mod:`sppo.reward.pool`). math-verify's own ``signal.alarm`` timeouts are switched off
(``parsing_timeout=None``, ``timeout_seconds=None``): they only work in a main thread.
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Any

from sppo.reward.normalize import bases_conflict

# math-verify warns once per process that its timeouts are disabled: we enforce our own.
logging.getLogger("math_verify").setLevel(logging.ERROR)


@functools.lru_cache(maxsize=1)
def _extraction_config() -> tuple[Any, ...]:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    return (LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig())


def _clean(answer: str) -> str:
    s = answer.strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if len(s) >= len(left) + len(right) and s.startswith(left) and s.endswith(right):
            s = s[len(left) : len(s) - len(right)].strip()
    return s.replace("\\%", "").replace("%", "")


@functools.lru_cache(maxsize=16384)
def _parse(answer: str) -> list[Any]:
    from math_verify import parse

    return parse(
        "\\boxed{" + _clean(answer) + "}",
        extraction_config=_extraction_config(),
        parsing_timeout=None,
    )


_CLEARLY_DIFFERENT = 1e-4


def _clearly_different_constants(gold: Any, pred: Any) -> bool:
    """True when both are constant expressions (no variables, not sets/tuples/equations) whose
    values differ by more than 1e-4 relative: no rule of math-verify (6-digit rounding, exact or
    symbolic equality) could call them equal, so its slow ``simplify`` is skipped."""
    from sympy import Expr

    if not (isinstance(gold, Expr) and isinstance(pred, Expr)):
        return False
    if gold.free_symbols or pred.free_symbols:
        return False
    try:
        g = complex(gold.evalf(30))
        p = complex(pred.evalf(30))
    except (TypeError, ValueError, ArithmeticError):
        return False
    if not all(map(math.isfinite, (g.real, g.imag, p.real, p.imag))):
        return False
    return abs(g - p) > _CLEARLY_DIFFERENT * max(1.0, abs(g))


def _collection_vs_scalar(gold: Any, pred: Any) -> bool:
    """True when one side is a tuple/finite set of two or more elements and the other a single
    expression: they cannot be equal, and math-verify takes ~0.2 s to find that out."""
    from sympy import Expr, FiniteSet, Tuple

    def many(x: Any) -> bool:
        return isinstance(x, (Tuple, FiniteSet)) and len(x) >= 2

    return (many(gold) and isinstance(pred, Expr)) or (many(pred) and isinstance(gold, Expr))


@functools.lru_cache(maxsize=65536)
def symbolic_equal(gold: str, pred: str) -> bool:
    """True when math-verify finds ``pred`` equivalent to ``gold`` (argument order matters: an
    equation ``x=5`` as gold accepts ``5``). Errors count as "not equivalent"."""
    if bases_conflict(gold, pred):
        return False
    from math_verify import verify

    gold_parsed = _parse(gold)
    pred_parsed = _parse(pred)
    if not gold_parsed or not pred_parsed:
        return False
    if _clearly_different_constants(gold_parsed[0], pred_parsed[0]) or _collection_vs_scalar(
        gold_parsed[0], pred_parsed[0]
    ):
        return False
    return bool(verify(gold_parsed, pred_parsed, timeout_seconds=None))
