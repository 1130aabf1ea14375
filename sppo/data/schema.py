"""The verl row format that every prepared parquet file uses, and the checks on one row.

A row::

    {"data_source": "math__math",
     "prompt": [{"role": "user", "content": QUESTION + PROMPT_SUFFIX}],
     "ability": "math",
     "reward_model": {"style": "rule", "ground_truth": "\\\\frac{14}{3}"},
     "extra_info": {"index": 0, "split": "test", ...}}
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

PROMPT_SUFFIX = " Please output the final answer within \\boxed{}."
ABILITY = "math"
REWARD_STYLE = "rule"
COLUMNS = ("data_source", "prompt", "ability", "reward_model", "extra_info")
#: Columns a file must have (verl reads data_source, prompt, reward_model and extra_info; nobody reads ``ability``,
#: which the official AIME25 / AMC23 / Minerva files spell ``abality``).
REQUIRED_COLUMNS = ("data_source", "prompt", "reward_model", "extra_info")
#: The first words of DAPO-Math-17k's own prompt template (an "Answer:" line instead of ``\boxed{}``).
DAPO_LEAD = "Solve the following math problem step by step."


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


def plain(value: Any) -> Any:
    """A parquet/pandas cell as plain Python (numpy arrays -> lists, numpy scalars -> Python scalars)."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def answer_problem(value: Any, numbers: bool = False, what: str = "ground truth") -> str | None:
    """What is wrong with one answer value, or None when it is usable.

    Accepted: a non-blank string; with ``numbers``, also a finite int or float (``27.0`` means ``"27"``).
    Refused: None, NaN/inf, booleans, lists (one answer per row: ``["2", "3"]`` is not two answers) and
    any other type. The same rule serves prepare (source answers, ``numbers=True``), check and the training
    check (prepared files hold strings), and score/generate (``numbers=True``).
    """
    value = plain(value)
    if value is None:
        return f"missing {what}"
    if isinstance(value, str):
        return None if value.strip() else f"empty {what}"
    if isinstance(value, bool):
        return f"{what} is a boolean ({value}), expected a string"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{what} is {value} (not a number), expected a string"
    if isinstance(value, (int, float)):
        return None if numbers else f"{what} is a number ({value}), expected a string"
    if isinstance(value, (list, dict)):
        kind = "list" if isinstance(value, list) else "mapping"
        return f"{what} is a {kind} ({_short(value)}), expected one answer string"
    return f"{what} has type {type(value).__name__}, expected a string"


def prompt_problem(prompt: Any, ask_boxed: bool = True) -> str | None:
    """What is wrong with one ``prompt`` cell (a list of ``{role, content}`` messages), or None."""
    prompt = plain(prompt)
    if isinstance(prompt, str):
        return "prompt is a plain string, expected a list of chat messages [{role, content}]"
    if not isinstance(prompt, list) or not prompt:
        return "prompt is not a non-empty list of chat messages"
    for message in prompt:
        if not (isinstance(message, dict) and isinstance(message.get("content"), str)
                and isinstance(message.get("role"), str)):  # fmt: skip
            return "prompt message is not {role: text, content: text}"
    user = [m for m in prompt if m["role"] == "user"]
    if not user:
        return "prompt has no user message"
    if not user[0]["content"].removesuffix(PROMPT_SUFFIX).strip():
        return "empty question"
    if ask_boxed and not any("\\boxed" in m["content"] for m in prompt):
        if user[0]["content"].startswith(DAPO_LEAD):
            return (
                "prompt carries DAPO's own 'Answer:' template, not a \\boxed{} request (the hub's DAPO-Math-17k file): "
                "convert it with python -m sppo.data.prepare dapo17k --source FILE --out DIR"
            )
        return "prompt does not ask for a \\boxed{} answer (the scorer reads the last \\boxed{})"
    return None


def _is_index(value: Any) -> bool:
    """A row identifier: an integer, or a non-empty string (the hub's DAPO file uses UUIDs)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, str) and bool(value.strip()))


def row_problems(
    row: dict[str, Any],
    ask_boxed: bool = True,
    numbers: bool = False,
    skip: Collection[str] = (),
    known_sources: bool = True,
) -> list[str]:
    """Everything wrong with one verl row (empty list when it is valid): THE row check.

    Used on every row that prepare writes, that check and the training check read
    (:func:`sppo.data.check.check_training_file`), and that generate and score read (``ask_boxed=False``:
    other benchmark files may phrase the instruction differently; ``numbers=True``: a number answer is
    scored as its string). ``skip``: columns not to check (already reported as missing or of a wrong type).
    ``known_sources=False``: any data_source name is accepted (the data is scored by another reward function).
    """
    from sppo.reward.sources import is_known

    problems = []
    if "data_source" not in skip:
        source = plain(row.get("data_source"))
        if not isinstance(source, str) or not source.strip():
            problems.append("empty data_source")
        elif known_sources and not is_known(source):
            problems.append(f"data_source {source!r} unknown to sppo.reward")
    if "prompt" not in skip:
        problem = prompt_problem(row.get("prompt"), ask_boxed)
        if problem:
            problems.append(problem)
    if "reward_model" not in skip:
        reward = plain(row.get("reward_model"))
        truth = reward.get("ground_truth") if isinstance(reward, dict) else None
        problem = answer_problem(truth, numbers=numbers)
        if problem:
            problems.append(problem)
    if "extra_info" not in skip:
        extra = plain(row.get("extra_info"))
        if extra is not None and not isinstance(extra, dict):
            problems.append("extra_info is not a mapping")
        elif isinstance(extra, dict) and extra.get("index") is not None and not _is_index(extra["index"]):
            problems.append("extra_info.index is not an integer or a non-empty string (such as a UUID)")
    return problems
