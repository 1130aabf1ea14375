"""The math reward: 1.0 when the final boxed answer is equivalent to the ground truth, else 0.0.

Pipeline for one response (all of it bounded):
  1. route ``data_source`` (unknown -> :class:`~sppo.reward.sources.UnknownDataSourceError`);
  2. extract the last ``\\boxed{}`` after the last ``</think>`` (:mod:`sppo.reward.extract`);
     none -> ``0.0 - format_penalty``;
  3. normalised string match (:mod:`sppo.reward.normalize`) -> 1.0;
     two plain numbers (``0.5`` vs ``\\frac{1}{2}``) compared exactly: equal -> 1.0,
     clearly different -> 0.0;
  4. input guards: an answer longer than ``max_answer_chars`` or nested deeper than
     ``max_brace_depth`` is not checked further -> 0.0;
  5. math-verify in a killable worker with a deadline of ``timeout_s`` for the whole call
     (:mod:`sppo.reward.pool`); late -> 0.0 and ``timed_out=True``.

Use in verl (``reward.custom_reward_function``)::

    reward.custom_reward_function.path=pkg://sppo.reward
    reward.custom_reward_function.name=compute_score
    +reward.custom_reward_function.reward_kwargs.timeout_s=5
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import Any, Protocol

from sppo.reward.extract import extract_answer, to_text
from sppo.reward.normalize import numbers_verdict, strings_match
from sppo.reward.pool import Verdict, default_capacity, get_pool
from sppo.reward.sources import route

#: Keyword arguments that verl's reward managers may pass and that do not concern us.
_VERL_KWARGS = frozenset(
    {"reward_router_address", "reward_model_tokenizer", "sandbox_fusion_url", "concurrent_semaphore", "memory_limit_mb"}
)


@dataclass(frozen=True)
class ScoreOptions:
    """Settings of the math scorer; each is also a keyword argument of :func:`compute_score`."""

    timeout_s: float = 5.0
    """Wall-clock limit of the symbolic check for one response (all ground truths together)."""
    format_penalty: float = 0.0
    """Subtracted from the score when no boxed answer is found (0 = off)."""
    max_answer_chars: int = 1000
    """Longer extracted answers skip the symbolic check (they can still match as strings)."""
    max_brace_depth: int = 40
    """Answers nested deeper than this skip the symbolic check."""

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> ScoreOptions:
        """Build options from keyword arguments; verl's own extras are ignored, typos are errors."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - names - _VERL_KWARGS)
        if unknown:
            raise TypeError(
                f"sppo.reward: unknown option(s) {', '.join(unknown)}; accepted: {', '.join(sorted(names))}"
            )
        options = cls(**{k: v for k, v in kwargs.items() if k in names})
        if not (options.timeout_s > 0 and math.isfinite(options.timeout_s)):
            raise ValueError(f"sppo.reward: timeout_s must be a positive number, got {options.timeout_s!r}")
        return options


def gold_answers(ground_truth: object) -> list[str]:
    """Ground truth as a list of accepted answers: a string, a number (``27.0`` -> ``"27"``), or a
    list/tuple/array of those. Empty answers are dropped."""
    if ground_truth is None:
        return []
    if isinstance(ground_truth, (str, bytes)):
        items: Iterable[object] = [ground_truth]
    elif hasattr(ground_truth, "tolist") and not isinstance(ground_truth, (int, float)):
        listed = ground_truth.tolist()  # numpy arrays and scalars
        items = listed if isinstance(listed, list) else [listed]
    elif isinstance(ground_truth, (list, tuple)):
        items = ground_truth
    else:
        items = [ground_truth]
    answers = []
    for item in items:
        if isinstance(item, float) and item.is_integer():
            item = int(item)
        text = to_text(item).strip()
        if text:
            answers.append(text)
    return answers


def _brace_depth(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        if ch == "{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == "}":
            depth -= 1
    return deepest


def _result(score: float, pred: str | None, timed_out: bool = False) -> dict[str, Any]:
    return {
        "score": float(score),
        "acc": score >= 1.0,
        "pred": pred,
        "has_answer": pred is not None,
        "timed_out": timed_out,
    }


class _Verifier(Protocol):
    def check(self, gold: str, pred: str, timeout_s: float) -> Verdict: ...


class _Limited:
    """A pool used by at most ``n`` checks at a time (the ``num_workers`` of one batch)."""

    def __init__(self, pool: _Verifier, n: int) -> None:
        self._pool = pool
        self._slots = threading.BoundedSemaphore(n)

    def check(self, gold: str, pred: str, timeout_s: float) -> Verdict:
        with self._slots:
            return self._pool.check(gold, pred, timeout_s)


def score_math(
    solution_str: object,
    ground_truth: object,
    options: ScoreOptions | None = None,
    verifier: _Verifier | None = None,
) -> dict[str, Any]:
    """Score one response against the ground truth (no routing; see module docstring).

    ``verifier`` runs the time-limited symbolic checks (default: the process-wide pool)."""
    options = options or ScoreOptions()
    pred = extract_answer(solution_str)
    if pred is None:
        return _result(0.0 - options.format_penalty, None)
    golds = gold_answers(ground_truth)
    if any(strings_match(gold, pred) for gold in golds):
        return _result(1.0, pred)
    if not golds or len(pred) > options.max_answer_chars or _brace_depth(pred) > options.max_brace_depth:
        return _result(0.0, pred)
    verdicts = [numbers_verdict(gold, pred) for gold in golds]
    if True in verdicts:
        return _result(1.0, pred)
    undecided = [gold for gold, verdict in zip(golds, verdicts, strict=True) if verdict is None]
    if not undecided:
        return _result(0.0, pred)
    verifier = verifier or get_pool()
    deadline = time.monotonic() + options.timeout_s
    for gold in undecided:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return _result(0.0, pred, timed_out=True)
        verdict = verifier.check(gold, pred, remaining)
        if verdict.equal:
            return _result(1.0, pred)
        if verdict.timed_out:
            return _result(0.0, pred, timed_out=True)
    return _result(0.0, pred)


def compute_score(
    data_source: object,
    solution_str: object,
    ground_truth: object,
    extra_info: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """verl-compatible reward function.

    Args:
        data_source: the row's ``data_source``; must be a math source (see
            :mod:`sppo.reward.sources`), else ``UnknownDataSourceError``.
        solution_str: the decoded response.
        ground_truth: ``reward_model.ground_truth`` (string, number, or list of accepted answers).
        extra_info: unused, accepted for verl's signature.
        **kwargs: :class:`ScoreOptions` fields (``timeout_s``, ``format_penalty``, ...); keyword
            arguments that verl adds for other scorers are ignored, any other name is a TypeError.

    Returns:
        ``{"score": 1.0 | 0.0, "acc": bool, "pred": str | None, "has_answer": bool,
        "timed_out": bool}``; ``score`` is ``-format_penalty`` when there is no answer.
    """
    options = ScoreOptions.from_kwargs(kwargs)
    route(data_source)
    return score_math(solution_str, ground_truth, options)


def _unpack(item: Mapping[str, Any] | Sequence[Any]) -> tuple[Any, Any, Any]:
    if isinstance(item, Mapping):
        return item["data_source"], item["solution_str"], item["ground_truth"]
    return item[0], item[1], item[2]


def compute_scores_batch(
    items: Iterable[Mapping[str, Any] | Sequence[Any]],
    num_workers: int | None = None,
    progress: bool = False,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """Score many responses in parallel worker processes, results in input order.

    Args:
        items: mappings with ``data_source``, ``solution_str``, ``ground_truth`` (``extra_info``
            optional and unused), or ``(data_source, solution_str, ground_truth)`` tuples.
        num_workers: symbolic checks run at once, each in its own verifier process (default
            ``$SPPO_REWARD_WORKERS`` or the CPU count, at most 8).
        progress: show a tqdm progress bar.
        **kwargs: :class:`ScoreOptions` fields, as for :func:`compute_score`.

    Every data source is routed before any work starts, so an unknown one fails fast.
    """
    options = ScoreOptions.from_kwargs(kwargs)
    unpacked = [_unpack(item) for item in items]
    for data_source, _, _ in unpacked:
        route(data_source)
    workers = num_workers or default_capacity()
    if workers < 1:
        raise ValueError(f"num_workers must be >= 1, got {num_workers}")
    verifier = _Limited(get_pool(workers), workers)

    def one(entry: tuple[Any, Any, Any]) -> dict[str, Any]:
        return score_math(entry[1], entry[2], options, verifier)

    # twice as many threads as workers: extraction and string checks overlap with symbolic ones
    with ThreadPoolExecutor(max_workers=2 * workers, thread_name_prefix="sppo-reward") as executor:
        results = executor.map(one, unpacked)
        if progress:
            from tqdm import tqdm

            results = tqdm(results, total=len(unpacked), desc="scoring", unit="resp")
        return list(results)
