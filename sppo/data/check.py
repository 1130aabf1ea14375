"""Check that a parquet file is in the verl math format that SPPO's trainer and scorer expect.

    python -m sppo.data.check data/dapo-math-17k_dedup.parquet
    python -m sppo.data.check data/offline_eval/*.parquet

For each file: the row count, the data sources with their row counts, and every problem found
(missing columns, wrong column types, empty questions or ground truths, data sources our scorer does
not accept), on stdout. Exit status: 0 all files clean; 2 a file could not be read or has problems, with
one summary line on stderr (see docs/errors.md).
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from sppo.cli_errors import OneLineParser, UserError, guarded
from sppo.data.schema import REQUIRED_COLUMNS, row_problems

MAX_INDICES = 10
PROG = "python -m sppo.data.check"


class UnreadableFile(RuntimeError):
    """The file is missing or not parquet; the message is a one-line explanation."""


def _type_problems(schema: Any) -> dict[str, str]:
    """Column name -> what is wrong with it (missing or wrong type)."""
    import pyarrow as pa

    def is_text(t: Any) -> bool:
        return pa.types.is_string(t) or pa.types.is_large_string(t)

    problems = {name: f"missing column: {name}" for name in REQUIRED_COLUMNS if name not in schema.names}
    for name in ("data_source", "ability", "abality"):
        if name in schema.names and not is_text(schema.field(name).type):
            problems[name] = f"column {name} has type {schema.field(name).type}, expected string"
    if "prompt" in schema.names:
        t = schema.field("prompt").type
        item = t.value_type if (pa.types.is_list(t) or pa.types.is_large_list(t)) else None
        if not (
            item is not None
            and pa.types.is_struct(item)
            and {"role", "content"} <= {f.name for f in item}
            and all(is_text(item.field(n).type) for n in ("role", "content"))
        ):
            problems["prompt"] = f"column prompt has type {t}, expected list<struct<role: string, content: string>>"
    if "reward_model" in schema.names:
        t = schema.field("reward_model").type
        if not (pa.types.is_struct(t) and "ground_truth" in {f.name for f in t}):
            problems["reward_model"] = f"column reward_model has type {t}, expected struct with a ground_truth field"
        elif not is_text(t.field("ground_truth").type):
            problems["reward_model"] = (
                f"column reward_model.ground_truth has type {t.field('ground_truth').type}, expected string"
            )
    if "extra_info" in schema.names and not pa.types.is_struct(schema.field("extra_info").type):
        problems["extra_info"] = f"column extra_info has type {schema.field('extra_info').type}, expected struct"
    return problems


def check_file(path: Path, math_scorer: bool = True) -> tuple[int, Counter[str], list[str]]:
    """Row count, data-source counts and problems of one parquet file.

    ``math_scorer=False`` leaves out the rules of SPPO's math scorer (a data source it knows, a prompt asking for
    ``\\boxed{}``), for data scored by another reward function.

    Raises :class:`UnreadableFile` when the file cannot be read as parquet.
    """
    import pyarrow.parquet as pq

    if path.is_dir():
        raise UnreadableFile(f"{path}: is a folder, expected a parquet file")
    if not path.is_file():
        raise UnreadableFile(f"{path}: no such file")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UnreadableFile(f"{path}: not a readable parquet file ({message})") from None

    bad_columns = _type_problems(table.schema)
    problems = list(bad_columns.values())
    columns = [c for c in ("data_source", "prompt", "reward_model", "extra_info") if c not in bad_columns]
    rows = table.select(columns).to_pylist()
    sources: Counter[str] = Counter(str(r.get("data_source")) for r in rows) if "data_source" in columns else Counter()
    by_kind: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        skip = set(bad_columns)
        for problem in row_problems(row, ask_boxed=math_scorer, skip=skip, known_sources=math_scorer):
            by_kind[problem].append(index)
    for kind, indices in by_kind.items():
        shown = ", ".join(map(str, indices[:MAX_INDICES])) + (", ..." if len(indices) > MAX_INDICES else "")
        problems.append(f"{kind}: {len(indices)} row(s) ({shown})")
    if table.num_rows == 0:
        problems.append("the file has no rows")
    return table.num_rows, sources, problems


def check_training_file(path: str | Path, math_scorer: bool = True) -> list[str]:
    """Problems of a train/val parquet file, one line each (empty list: the file is fine).

    The same checks as ``python -m sppo.data.check`` (columns and their types, every row through
    :func:`sppo.data.schema.row_problems`, at least one row); an unreadable or missing file is one problem.
    Meant to run before training starts (the training entry point calls it on data.train_files/val_files).
    """
    path = Path(path)
    try:
        _, _, problems = check_file(path, math_scorer)
    except UnreadableFile as exc:
        return [str(exc)]
    return [f"{path}: {problem}" for problem in problems]


def _run(argv: list[str] | None) -> int:
    parser = _Parser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="parquet file(s) to check")
    args = parser.parse_args(argv)
    failed: list[str] = []
    for path in args.files:
        try:
            count, sources, problems = check_file(path)
        except UnreadableFile as exc:
            print(f"{path}: unreadable\n  problems (1):\n    - {exc}")
            failed.append(str(exc))
            continue
        print(f"{path}: {count} rows")
        print("  data sources: " + (", ".join(f"{s} ({n})" for s, n in sources.most_common()) or "none"))
        if problems:
            failed.append(f"{path}: {len(problems)} problem(s) (first: {problems[0]})")
            print(f"  problems ({len(problems)}):")
            for problem in problems:
                print(f"    - {problem}")
        else:
            print("  problems: none")
    if len(failed) == 1:
        raise UserError(failed[0])
    if failed:
        raise UserError(f"{len(failed)} of {len(args.files)} files have problems (listed above)")
    return 0


class _Parser(OneLineParser):
    error_class = UserError


def main(argv: list[str] | None = None) -> int:
    """Exit code 0: every file clean; 2: a file is unreadable or has problems (report on stdout, one
    summary line on stderr)."""
    return guarded(PROG, lambda: _run(argv))


if __name__ == "__main__":
    sys.exit(main())
