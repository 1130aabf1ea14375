"""Ground-truth answers as clean strings.

* numbers: ``27.0`` -> ``"27"`` (AMC floats, Maxwell-Jia int64 answers); other floats ``str(x)``;
* strings: surrounding whitespace removed;
* integer-answer contests (AIME, AMC): a trailing degree sign is dropped and integer spellings are
  made canonical (``"042"`` -> ``"42"``, ``"27.0"`` -> ``"27"``);
* solution-only sources: the answer is the last ``\\boxed{}`` of the solution.
"""

from __future__ import annotations

import math
import re

from sppo.reward.extract import last_boxed

_INTEGER_SPELLING = re.compile(r"[+-]?\d+(?:\.0*)?")
_TRAILING_DEGREES = re.compile(r"\s*\^\s*(?:\{\s*\\circ\s*\}|\\circ)\s*$")


def normalize_answer(value: object, integer_contest: bool = False) -> str:
    """``value`` as a ground-truth string (see module docstring); ``""`` for a missing value."""
    if value is None:
        return ""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalar -> Python scalar
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        text = str(int(value)) if value.is_integer() else repr(value)
    else:
        text = str(value).strip()
    if integer_contest:
        text = _TRAILING_DEGREES.sub("", text)
        if _INTEGER_SPELLING.fullmatch(text):
            text = str(int(text.split(".")[0]))
    return text


def answer_from_solution(solution: object) -> str:
    """The last ``\\boxed{}`` of a worked solution, ``""`` when there is none."""
    if not isinstance(solution, str):
        return ""
    return (last_boxed(solution) or "").strip()
