"""Reward of the bundled addition task, in verl's ``custom_reward_function`` signature."""

from __future__ import annotations


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs) -> float:
    """1.0 iff the response (special tokens already stripped by verl) is exactly the sum, else 0.0."""
    return float(str(solution_str).strip() == str(ground_truth).strip())
