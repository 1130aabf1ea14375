"""Cheap string normalisation of answers: the fast path before the symbolic check.

Two answers whose normal forms are equal are equivalent. The rules only remove notation that never
changes the value (spacing, ``\\left``/``\\right``, ``\\dfrac``, ``\\text{}``, degree signs, ``\\%``, a
trailing full stop, surrounding ``$``), so a match here is never a false positive. A mismatch proves
nothing: the answer then goes to math-verify (see :mod:`sppo.reward.equivalence`).
"""

from __future__ import annotations

import re
from fractions import Fraction

_TEXT_COMMANDS = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
_SPACING = re.compile(r"\\[,;:! ]|\\quad|\\qquad|~")
_DEGREES = re.compile(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|°|\\degree")
_FRAC_SHORT = re.compile(r"\\frac(\d)(\d)")
_SQRT_SHORT = re.compile(r"\\sqrt(\d)")
_BASE_SUBSCRIPT = re.compile(r"^(?P<digits>[0-9A-Za-z]+)_\{?\(?(?P<base>\d+)\)?\}?$")
_ASSIGNMENT = re.compile(r"^[A-Za-z]\s*=\s*(?P<rhs>[^=<>]+)$")
_CHOICE = re.compile(r"^\(?(?P<letter>[A-E])\)?$")
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_SLASH = re.compile(r"(?P<num>[+-]?\d+)/(?P<den>\d+)")
_LATEX_FRAC = re.compile(r"(?P<sign>[+-]?)\\frac\{(?P<num>[+-]?\d+)\}\{(?P<den>[+-]?\d+)\}")
_MAX_NUMBER_CHARS = 60
_CLEARLY_DIFFERENT = Fraction(1, 10**4)


def _strip_math_delimiters(s: str) -> str:
    s = s.strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if len(s) >= len(left) + len(right) and s.startswith(left) and s.endswith(right):
            s = s[len(left) : len(s) - len(right)].strip()
    return s


def normalize(answer: str) -> str:
    """A canonical spelling of ``answer`` (notation-only rewrites, see module docstring)."""
    s = _strip_math_delimiters(answer)
    s = s.replace("\\left", "").replace("\\right", "")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = s.replace("\\displaystyle", "")
    for _ in range(3):  # \text{\textbf{x}} needs two passes
        s = _TEXT_COMMANDS.sub(r"\1", s)
    s = _SPACING.sub("", s)
    s = _DEGREES.sub("", s)
    s = s.replace("\\%", "").replace("%", "")
    s = _FRAC_SHORT.sub(r"\\frac{\1}{\2}", s)
    s = _SQRT_SHORT.sub(r"\\sqrt{\1}", s)
    s = "".join(s.split())
    s = s.rstrip(".")
    base = _BASE_SUBSCRIPT.match(s)
    if base:
        s = f"{base['digits']}_{base['base']}"
    choice = _CHOICE.match(s)
    if choice:
        s = choice["letter"]
    return s


def drop_assignment(answer: str) -> str:
    """``x = 5`` -> ``5`` (a single-letter variable on the left); anything else unchanged."""
    match = _ASSIGNMENT.match(answer.strip())
    return match["rhs"].strip() if match else answer


def base_of(answer: str) -> str | None:
    """The numeral base written as a subscript (``52_8``, ``52_{8}`` -> ``"8"``), or None."""
    match = _BASE_SUBSCRIPT.match(normalize(answer))
    return match["base"] if match else None


def strings_match(gold: str, pred: str) -> bool:
    """True when ``pred`` is ``gold`` up to notation; ``x=5`` matches ``5`` when only one side has
    the variable."""
    g, p = normalize(gold), normalize(pred)
    if not g or not p:
        return False
    if g == p:
        return True
    if ("=" in g) != ("=" in p):
        return normalize(drop_assignment(gold)) == normalize(drop_assignment(pred))
    return False


def bases_conflict(gold: str, pred: str) -> bool:
    """True when both answers carry a numeral-base subscript and the bases differ (``52_8`` vs
    ``52_9``): math-verify ignores subscripts, so this must be caught before it."""
    g, p = base_of(gold), base_of(pred)
    return g is not None and p is not None and g != p


def plain_number(answer: str) -> Fraction | None:
    """The exact value of an answer that is a plain number (``-12``, ``0.25``, ``3/4``,
    ``\\frac{3}{4}``, ``-\\dfrac{3}{4}``), or None for anything else."""
    s = normalize(answer)
    if not s or len(s) > _MAX_NUMBER_CHARS:
        return None
    try:
        if _DECIMAL.fullmatch(s):
            return Fraction(s)
        match = _SLASH.fullmatch(s) or _LATEX_FRAC.fullmatch(s)
        if match and int(match["den"]) != 0:
            value = Fraction(int(match["num"]), int(match["den"]))
            return -value if match.groupdict().get("sign") == "-" else value
    except (ValueError, ZeroDivisionError):
        return None
    return None


def numbers_verdict(gold: str, pred: str) -> bool | None:
    """For two plain numbers: True when equal, False when clearly different (relative gap above
    1e-4, far beyond math-verify's rounding); None when either is not a plain number or the values
    are close (left to the symbolic check)."""
    g, p = plain_number(gold), plain_number(pred)
    if g is None or p is None:
        return None
    if g == p:
        return True
    if abs(g - p) > _CLEARLY_DIFFERENT * max(Fraction(1), abs(g)):
        return False
    return None
