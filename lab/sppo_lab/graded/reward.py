"""Reward of the graded task, in verl's ``custom_reward_function`` signature: 0/1 on the final answer only."""

from __future__ import annotations

import re

_FINAL = re.compile(r"#\s*(\d+)\s*$")


def final_answer(solution_str: str) -> int | None:
    """The integer after the last ``#`` when it ends the response (surrounding spaces allowed), else None."""
    text = str(solution_str)
    cut = text.rfind("#")
    if cut < 0:
        return None
    match = _FINAL.fullmatch(text[cut:].rstrip()) or _FINAL.fullmatch(text[cut:])
    return int(match.group(1)) if match else None


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs) -> float:
    """1.0 iff the response (special tokens already stripped by verl) ends with ``#<the sum>``; the chain of
    thought before it is not checked."""
    answer = final_answer(solution_str)
    return float(answer is not None and answer == int(str(ground_truth).strip()))
