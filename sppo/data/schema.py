"""The verl row format that every prepared parquet file uses, and the checks on one row.

A row::

    {"data_source": "math__math",
     "prompt": [{"role": "user", "content": QUESTION + PROMPT_SUFFIX}],
     "ability": "math",
     "reward_model": {"style": "rule", "ground_truth": "\\\\frac{14}{3}"},
     "extra_info": {"index": 0, "split": "test", ...}}
"""

from __future__ import annotations

from typing import Any

PROMPT_SUFFIX = " Please output the final answer within \\boxed{}."
ABILITY = "math"
REWARD_STYLE = "rule"
COLUMNS = ("data_source", "prompt", "ability", "reward_model", "extra_info")


def build_row(
    data_source: str,
    question: str,
    answer: str,
    index: int,
    split: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One verl row; ``extra`` entries are added to ``extra_info`` after ``index`` and ``split``."""
    return {
        "data_source": data_source,
        "prompt": [{"role": "user", "content": question + PROMPT_SUFFIX}],
        "ability": ABILITY,
        "reward_model": {"style": REWARD_STYLE, "ground_truth": answer},
        "extra_info": {"index": index, "split": split, **(extra or {})},
    }


def row_problems(row: dict[str, Any]) -> list[str]:
    """Everything wrong with one built row (empty list when it is valid)."""
    problems = []
    missing = [c for c in COLUMNS if c not in row]
    if missing:
        return [f"missing column(s): {', '.join(missing)}"]
    if not isinstance(row["data_source"], str) or not row["data_source"]:
        problems.append("empty data_source")
    prompt = row["prompt"]
    if not (isinstance(prompt, list) and prompt and isinstance(prompt[0], dict)):
        problems.append("prompt is not a non-empty list of messages")
    else:
        content = prompt[0].get("content")
        if prompt[0].get("role") != "user":
            problems.append("first prompt message is not from the user")
        if not isinstance(content, str) or not content.removesuffix(PROMPT_SUFFIX).strip():
            problems.append("empty question")
    reward = row["reward_model"]
    truth = reward.get("ground_truth") if isinstance(reward, dict) else None
    if not isinstance(truth, str) or not truth.strip():
        problems.append("empty ground truth")
    extra = row["extra_info"]
    if not isinstance(extra, dict) or not isinstance(extra.get("index"), int):
        problems.append("extra_info.index is not an integer")
    return problems
