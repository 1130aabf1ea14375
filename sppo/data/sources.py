"""The seven math data sets: where they come from, where they go, how a source row is read.

Each converter accepts the columns of every known hub variant of its data set (for example AIME 2024
as ``Maxwell-Jia/AIME_2024`` with ``Problem``/``Answer`` int64, ``HuggingFaceH4/aime_2024`` with
``problem``/``answer``, or ``math-ai/aime24`` with only a boxed ``solution``), so a local copy of any
of them works with ``--source``. A row that cannot be used raises :class:`BadRow` with the reason.

``data_source`` values all start with ``math__``: our scorer accepts them, and stock verl, which has
no scorer for them, fails loudly instead of silently using its "Answer:"-line scorer (the defect of
the official ``aime2025`` file).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sppo.data.answers import answer_from_solution, normalize_answer
from sppo.data.schema import DAPO_LEAD, answer_problem

DAPO_PREFIX = (
    "Solve the following math problem step by step. The last line of your response should be of the form "
    "Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\n"
)
DAPO_SUFFIX = '\n\nRemember to put your answer on its own line after "Answer:".'
_DAPO_LEAD = DAPO_LEAD
_DAPO_TAIL = "\n\nRemember to put your answer"


class BadRow(ValueError):
    """A source row that cannot become a training/evaluation row; the message says why."""


@dataclass(frozen=True)
class Example:
    """One problem read from a source row."""

    question: str
    answer: str
    extra: dict[str, Any] = field(default_factory=dict)


def _get(record: dict[str, Any], *keys: str) -> Any:
    """The value of the first of ``keys`` present (and not None) in ``record``."""
    for key in keys:
        if record.get(key) is not None:
            return record[key]
    return None


def _question(record: dict[str, Any], *keys: str) -> str:
    value = _get(record, *keys)
    if value is not None and not isinstance(value, str):
        raise BadRow(f"question is a {type(value).__name__}, expected text (column {' / '.join(keys)})")
    if not isinstance(value, str) or not value.strip():
        raise BadRow(f"empty question (looked for column {' / '.join(keys)})")
    return value.strip()


def _answer(value: object, integer_contest: bool = False) -> str:
    """The answer as a clean string; a missing, NaN, boolean or list answer is a :class:`BadRow`
    (:func:`sppo.data.schema.answer_problem`: one answer per row, never ``str(["2", "3"])``)."""
    problem = answer_problem(value, numbers=True, what="answer")
    if problem:
        raise BadRow(problem)
    answer = normalize_answer(value, integer_contest=integer_contest)
    if not answer:
        raise BadRow("empty answer")
    return answer


def _aime_answer(value: object) -> str:
    answer = _answer(value, integer_contest=True)
    if not (answer.isdigit() and 0 <= int(answer) <= 999):
        raise BadRow(f"AIME answer must be an integer from 0 to 999, got {answer!r}")
    return answer


def strip_dapo_template(content: str) -> str:
    """The bare question inside DAPO's "Solve the following … Answer:" prompt template.

    Exact ``removeprefix``/``removesuffix`` first; if the template differs slightly, the text after
    the first blank line up to "Remember to put your answer". Raises :class:`BadRow` otherwise.
    """
    if content.startswith(DAPO_PREFIX) and content.endswith(DAPO_SUFFIX):
        question = content.removeprefix(DAPO_PREFIX).removesuffix(DAPO_SUFFIX)
    elif content.startswith(_DAPO_LEAD) and "\n\n" in content:
        question = content.split("\n\n", 1)[1]
        cut = question.rfind(_DAPO_TAIL)
        if cut >= 0:
            question = question[:cut]
    else:
        raise BadRow("prompt does not carry the DAPO template")
    if not question.strip():
        raise BadRow("empty question inside the DAPO template")
    return question.strip()


def convert_deepscaler(record: dict[str, Any]) -> Example:
    """agentica-org/DeepScaleR-Preview-Dataset: ``problem``, ``answer``."""
    return Example(_question(record, "problem"), _answer(record.get("answer")))


def convert_dapo(record: dict[str, Any]) -> Example:
    """BytedTsinghua-SIA/DAPO-Math-17k (verl form: ``prompt`` messages, ``reward_model``) or
    open-r1/DAPO-Math-17k-Processed (``prompt`` string, ``solution``)."""
    prompt = record.get("prompt")
    if isinstance(prompt, str):
        content = prompt
    else:
        try:
            content = prompt[0]["content"]
        except (TypeError, KeyError, IndexError):
            raise BadRow("no prompt message") from None
    if not isinstance(content, str):
        raise BadRow("prompt content is not text")
    reward = record.get("reward_model")
    truth = reward.get("ground_truth") if isinstance(reward, dict) else None
    if truth is None:
        truth = record.get("solution")
    extra_info = record.get("extra_info")
    source_id = extra_info.get("index") if isinstance(extra_info, dict) else None
    return Example(strip_dapo_template(content), _answer(truth), {"source_id": str(source_id or "")})


def convert_aime24(record: dict[str, Any]) -> Example:
    """Maxwell-Jia/AIME_2024 (``Problem``, int ``Answer``, ``ID``), HuggingFaceH4/aime_2024
    (``problem``, ``answer``, ``id``) or math-ai/aime24 (``problem``, boxed ``solution``)."""
    question = _question(record, "Problem", "problem")
    raw = _get(record, "Answer", "answer")
    if raw is None:
        raw = answer_from_solution(_get(record, "solution", "Solution"))
    return Example(question, _aime_answer(raw), {"id": str(_get(record, "ID", "id") or "")})


def convert_aime25(record: dict[str, Any]) -> Example:
    """opencompass/AIME2025 (``question``, ``answer``), yentinglin/aime_2025 or math-ai/aime25
    (``problem``, ``answer``, ``id``)."""
    question = _question(record, "problem", "question")
    return Example(question, _aime_answer(record.get("answer")), {"id": str(_get(record, "id") or "")})


def convert_amc23(record: dict[str, Any]) -> Example:
    """math-ai/amc23 and zwhe99/amc23 (``question``, float ``answer``) or knoveleng/AMC-23
    (``problem``, ``answer``)."""
    question = _question(record, "question", "problem")
    return Example(question, _answer(record.get("answer"), integer_contest=True))


def convert_math500(record: dict[str, Any]) -> Example:
    """HuggingFaceH4/MATH-500: ``problem``, ``answer``, ``unique_id``."""
    question = _question(record, "problem")
    return Example(question, _answer(record.get("answer")), {"unique_id": str(record.get("unique_id") or "")})


def convert_minerva(record: dict[str, Any]) -> Example:
    """math-ai/minervamath (``question``, ``answer``) or knoveleng/Minerva-Math (``problem`` and a
    worked ``solution`` whose last ``\\boxed{}`` is the answer)."""
    question = _question(record, "question", "problem")
    raw = record.get("answer")
    if raw is None:
        raw = answer_from_solution(record.get("solution"))
        if not raw:
            raise BadRow("no answer column and no \\boxed{} in the solution")
    return Example(question, _answer(raw))


@dataclass(frozen=True)
class DatasetSpec:
    """Where one data set comes from and where its verl file goes."""

    name: str
    hub_id: str
    hub_configs: tuple[str | None, ...]
    hub_split: str
    out_path: str
    data_source: str
    split: str
    convert: Callable[[dict[str, Any]], Example]
    repeat: int = 1
    dedup: bool = False
    expected_rows: int | None = None
    """Rows written from the complete hub data set, when known (a mismatch is reported)."""


SPECS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "deepscaler",
            "agentica-org/DeepScaleR-Preview-Dataset",
            (None,),
            "train",
            "deepscaler-math.parquet",
            "math__deepscaler",
            "train",
            convert_deepscaler,
        ),
        DatasetSpec(
            "dapo17k",
            "BytedTsinghua-SIA/DAPO-Math-17k",
            ("default",),
            "train",
            "dapo-math-17k_dedup.parquet",
            "math__dapo17k",
            "train",
            convert_dapo,
            dedup=True,
            expected_rows=17398,
        ),
        DatasetSpec(
            "aime24",
            "Maxwell-Jia/AIME_2024",
            (None,),
            "train",
            "offline_eval/math__aime_repeated_8x_240.parquet",
            "math__aime_repeated_8x",
            "test",
            convert_aime24,
            repeat=8,
            expected_rows=240,
        ),
        DatasetSpec(
            "aime25",
            "opencompass/AIME2025",
            ("AIME2025-I", "AIME2025-II"),
            "test",
            "offline_eval/math__aime2025_2025.parquet",
            "math__aime2025",
            "test",
            convert_aime25,
            expected_rows=30,
        ),
        DatasetSpec(
            "amc23",
            "math-ai/amc23",
            (None,),
            "test",
            "offline_eval/math__amc23_2025.parquet",
            "math__amc23",
            "test",
            convert_amc23,
            expected_rows=40,
        ),
        DatasetSpec(
            "math500",
            "HuggingFaceH4/MATH-500",
            (None,),
            "test",
            "offline_eval/math__math_500.parquet",
            "math__math",
            "test",
            convert_math500,
            expected_rows=500,
        ),
        DatasetSpec(
            "minerva",
            "math-ai/minervamath",
            (None,),
            "test",
            "offline_eval/math__minerva_math_2025_processed.parquet",
            "math__minerva",
            "test",
            convert_minerva,
            expected_rows=272,
        ),
    )
}
