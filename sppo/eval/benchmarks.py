"""The evaluation benchmarks: names, official files, and how rows become problems.

Names (``--benchmarks``):

=========  ==============================================  ===========================
name       file under DATA_DIR (``sppo.data.prepare``)     data_source
=========  ==============================================  ===========================
aime24     math__aime_repeated_8x_240.parquet              math__aime_repeated_8x
aime25     math__aime2025_2025.parquet                     math__aime2025
amc23      math__amc23_2025.parquet                        math__amc23
math500    math__math_500.parquet                          math__math
minerva    math__minerva_math_2025_processed.parquet       math__minerva
=========  ==============================================  ===========================

Suites: ``official_val`` = aime24 math500 (the paper's validation set), ``all5`` = all five (the
paper's table). Any other ``.parquet`` path is accepted too; its label is the benchmark its file
name or ``data_source`` identifies, else the file's stem.

A *problem* is one distinct (prompt, ground truth) pair of a file. The AIME24 file repeats each
of its 30 problems 8 times (240 rows); its repeats are grouped into one problem, so sampling
``k`` responses per row gives ``n = 8k`` samples per problem (k = 1: the paper's avg@8).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sppo.data.schema import answer_problem, plain, prompt_problem
from sppo.eval.errors import EvalError

#: name -> (display title, official file name, data_source values that identify it, lower case)
BENCHMARKS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "aime24": (
        "AIME24",
        "math__aime_repeated_8x_240.parquet",
        ("math__aime_repeated_8x", "aime24", "aime2024", "aime_2024"),
    ),
    "aime25": ("AIME25", "math__aime2025_2025.parquet", ("math__aime2025", "aime2025", "aime25", "aime_2025")),
    "amc23": ("AMC23", "math__amc23_2025.parquet", ("math__amc23", "amc23")),
    "math500": ("MATH500", "math__math_500.parquet", ("math__math", "math500", "huggingfaceh4/math-500")),
    "minerva": ("Minerva", "math__minerva_math_2025_processed.parquet", ("math__minerva", "minerva", "minerva_math")),
}
SUITES: dict[str, tuple[str, ...]] = {
    "official_val": ("aime24", "math500"),
    "all5": ("aime24", "aime25", "amc23", "math500", "minerva"),
}
#: The paper's headline number is the mean of the per-benchmark avg@k over exactly these five.
PAPER_MEAN: tuple[str, ...] = SUITES["all5"]
#: Columns a benchmark parquet must have (verl's row format, see sppo.data.schema).
REQUIRED_COLUMNS = ("data_source", "prompt", "reward_model")


def title(name: str) -> str:
    """Display title of a benchmark label (``aime24`` -> ``AIME24``; unknown labels unchanged)."""
    return BENCHMARKS[name][0] if name in BENCHMARKS else name


def benchmark_for(path: str | Path | None = None, data_source: str | None = None) -> str | None:
    """The benchmark a file name or a ``data_source`` identifies, or None."""
    if path is not None:
        file_name = Path(path).name
        for name, (_, official, _) in BENCHMARKS.items():
            if file_name == official:
                return name
    if data_source is not None:
        source = str(data_source).strip().lower()
        for name, (_, _, sources) in BENCHMARKS.items():
            if source in sources:
                return name
    return None


def resolve(specs: Sequence[str], data_dir: str | Path) -> list[tuple[str, Path]]:
    """``(label, parquet path)`` for each benchmark name, suite name or parquet path (deduplicated,
    in order); raises :class:`EvalError` for an unknown name or a missing file."""
    data_dir = Path(data_dir)
    out: dict[str, Path] = {}
    for spec in specs:
        names = SUITES.get(spec, (spec,) if spec in BENCHMARKS else ())
        if names:
            for name in names:
                path = data_dir / BENCHMARKS[name][1]
                if not path.is_file():
                    raise EvalError(
                        f"benchmark '{name}': {path} not found "
                        f"(write it with: python -m sppo.data.prepare {name} --out {data_dir.parent})"
                    )
                out.setdefault(name, path)
            continue
        path = Path(spec)
        if path.suffix == ".parquet" and path.is_file():
            frame = read_benchmark(path)
            label = benchmark_for(path, str(frame["data_source"].iloc[0])) or path.stem
            if label in out and out[label] != path:
                raise EvalError(f"two files for benchmark '{label}': {out[label]} and {path}")
            out.setdefault(label, path)
            continue
        known = ", ".join([*BENCHMARKS, *SUITES])
        raise EvalError(f"unknown benchmark '{spec}' (known: {known}; or the path of an existing .parquet file)")
    return list(out.items())


def read_parquet(path: str | Path, columns: Sequence[str] = ()) -> Any:
    """``pandas.read_parquet`` that fails with one line on an unreadable file or missing columns."""
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a bad file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EvalError(f"{path}: not a readable parquet file ({first})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise EvalError(f"{path}: missing column(s) {', '.join(missing)} (has: {', '.join(map(str, frame.columns))})")
    return frame


def read_benchmark(path: str | Path) -> Any:
    """A benchmark parquet (verl rows), checked: required columns, at least one row, scoreable sources."""
    from sppo.reward import is_known

    frame = read_parquet(path, REQUIRED_COLUMNS)
    if len(frame) == 0:
        raise EvalError(f"{path}: no rows")
    unknown = sorted({str(s) for s in frame["data_source"].unique() if not is_known(s)})
    if unknown:
        raise EvalError(
            f"{path}: data_source {', '.join(map(repr, unknown))} has no math scorer (see sppo.reward.sources)"
        )
    return frame


def messages_of(prompt: Any) -> list[dict[str, str]]:
    """The chat messages of a ``prompt`` cell: a list of {role, content} (a plain string is refused, as by
    ``sppo.data.check``: :func:`sppo.data.schema.prompt_problem`)."""
    problem = prompt_problem(prompt, ask_boxed=False)
    if problem:
        raise EvalError(problem)
    return [{"role": m["role"], "content": m["content"]} for m in plain(prompt)]


def ground_truth_of(reward_model: Any) -> str:
    """The single answer string of a ``reward_model`` cell (numbers as ``27.0`` -> ``"27"``); a missing,
    NaN, boolean or list answer is refused (:func:`sppo.data.schema.answer_problem`)."""
    from sppo.reward.score import gold_answers

    cell = plain(reward_model)
    truth = cell.get("ground_truth") if isinstance(cell, dict) else None
    problem = answer_problem(truth, numbers=True)
    if problem:
        raise EvalError(problem)
    return gold_answers(truth)[0]


def problem_key(messages: list[dict[str, str]], ground_truth: str) -> str:
    """Identity of a problem: a hash of its messages and answer (repeated rows share it)."""
    blob = json.dumps([messages, ground_truth], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


@dataclass
class Problem:
    """One distinct problem of a benchmark file and the rows that hold it.

    ``problem_id`` numbers problems in order of first appearance in the file (0, 1, ...).
    """

    benchmark: str
    data_source: str
    problem_id: int
    messages: list[dict[str, str]]
    ground_truth: str
    row_indices: list[int] = field(default_factory=list)

    @property
    def prompt_text(self) -> str:
        """The user's text (all message contents, joined by blank lines)."""
        return "\n\n".join(m["content"] for m in self.messages)


def load_problems(label: str, path: str | Path, limit: int | None = None) -> list[Problem]:
    """The problems of one benchmark file in order of first appearance; ``limit``: keep the first N."""
    frame = read_benchmark(path)
    problems: dict[str, Problem] = {}
    bad: list[tuple[int, str]] = []
    rows = []
    for row_index, row in enumerate(frame[list(REQUIRED_COLUMNS)].itertuples(index=False)):
        try:
            rows.append((row_index, row, messages_of(row.prompt), ground_truth_of(row.reward_model)))
        except EvalError as exc:
            bad.append((row_index, str(exc)))
    if bad:
        raise EvalError(
            f"{path}: {len(bad)} bad row(s) (first: row {bad[0][0]}: {bad[0][1]}); check it with python -m sppo.data.check"
        )
    for row_index, row, messages, truth in rows:
        key = problem_key(messages, truth)
        if key not in problems:
            if limit is not None and len(problems) >= limit:
                continue
            problems[key] = Problem(label, str(row.data_source), len(problems), messages, truth)
        problems[key].row_indices.append(row_index)
    return list(problems.values())


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file (to notice a benchmark file that changed under a resumed run)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
