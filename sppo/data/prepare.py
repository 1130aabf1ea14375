"""Write the SPPO math data sets as verl parquet files, under their official names.

    python -m sppo.data.prepare all --out data/
    python -m sppo.data.prepare dapo17k aime24 math500 --out data/
    python -m sppo.data.prepare aime24 --out data/ --source ~/mirror/AIME_2024.parquet
    python -m sppo.data.prepare all --out data/ --source ~/mirror/   # NAME.parquet|jsonl|json or NAME/

Names: deepscaler, dapo17k, aime24, aime25, amc23, math500, minerva, all. Training files go to
``OUT/``, evaluation files to ``OUT/offline_eval/``. Rows come from the hub (``datasets`` library)
unless ``--source`` points at local files (see :mod:`sppo.data.loading`). Every source row that
cannot be used is reported with its index; ``--on-bad-row fail`` stops before writing instead of
skipping it. Every written row is validated (:func:`sppo.data.schema.row_problems`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from sppo.cli_errors import OneLineParser, atomic_path, check_output_dir, guarded, nonempty
from sppo.data.loading import BadRecord, SourceError, iter_hub, iter_local
from sppo.data.schema import build_row, row_problems
from sppo.data.sources import SPECS, BadRow, DatasetSpec, Example

MAX_REPORTED = 50
PROG = "python -m sppo.data.prepare"


class PrepareError(RuntimeError):
    """A data set could not be prepared; the message is a one-line explanation."""


@dataclass
class Report:
    """What happened to one data set."""

    name: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    bad: list[tuple[int, str]] = field(default_factory=list)
    """(source row index, reason) of every skipped source row."""
    duplicates: int = 0
    conflicts: list[tuple[int, str]] = field(default_factory=list)
    """(source row index, reason) of duplicates whose answer differs from the kept row's."""


def convert_records(spec: DatasetSpec, records: Iterable[dict[str, Any]]) -> Report:
    """Convert, deduplicate, repeat and validate source rows into verl rows."""
    report = Report(spec.name)
    examples: list[tuple[int, Example]] = []
    seen: dict[str, str] = {}
    for source_index, record in enumerate(records):
        if isinstance(record, BadRecord):
            report.bad.append((source_index, record.reason))
            continue
        try:
            example = spec.convert(record)
        except BadRow as exc:
            report.bad.append((source_index, str(exc)))
            continue
        except Exception as exc:  # noqa: BLE001 - a malformed row must not abort the others
            report.bad.append((source_index, f"unreadable row ({type(exc).__name__}: {exc})"))
            continue
        if spec.dedup:
            kept = seen.get(example.question)
            if kept is not None:
                report.duplicates += 1
                if kept != example.answer:
                    report.conflicts.append((source_index, f"answer {example.answer!r} differs from the kept {kept!r}"))
                continue
            seen[example.question] = example.answer
        examples.append((source_index, example))

    for repeat in range(spec.repeat):
        for problem, (source_index, example) in enumerate(examples):
            extra: dict[str, Any] = {"source_index": source_index, **example.extra}
            if spec.repeat > 1:
                extra.update(problem_index=problem, repeat=repeat)
            row = build_row(spec.data_source, example.question, example.answer, len(report.rows), spec.split, extra)
            problems = row_problems(row)
            if problems:
                if repeat == 0:
                    report.bad.append((source_index, "; ".join(problems)))
                continue
            report.rows.append(row)
    return report


def write_parquet(rows: list[dict[str, Any]], path: Path) -> None:
    """Write ``rows`` atomically (a temporary file renamed into place; removed if interrupted)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pylist(rows), tmp)


def _with_progress(records: Iterator[dict[str, Any]], total: int | None, name: str) -> Iterator[dict[str, Any]]:
    from tqdm import tqdm

    small = total is not None and total < 5000
    # disable=None: no bar when stderr is not a terminal (logs and tests see only real messages)
    return tqdm(
        records, total=total, desc=name, unit="row", file=sys.stderr, mininterval=1.0, disable=True if small else None
    )


def prepare(
    spec: DatasetSpec,
    out_dir: Path,
    source: Path | None = None,
    fail_on_bad_row: bool = False,
    log: TextIO | None = None,
) -> Report:
    """Load, convert and write one data set (messages to ``log``, default stdout); raises
    :class:`PrepareError` on failure."""
    log = log or sys.stdout
    try:
        if source is None:
            print(f"{spec.name}: loading {spec.hub_id} ({spec.hub_split}) from the hub", file=log)
            records, total = iter_hub(spec.hub_id, spec.hub_configs, spec.hub_split)
        else:
            records, total = iter_local(source, spec.name)
        report = convert_records(spec, _with_progress(records, total, spec.name))
    except SourceError as exc:
        raise PrepareError(f"{spec.name}: {exc}") from None

    for source_index, reason in report.bad[:MAX_REPORTED]:
        print(f"{spec.name}: source row {source_index}: {reason}", file=log)
    if len(report.bad) > MAX_REPORTED:
        print(f"{spec.name}: ... and {len(report.bad) - MAX_REPORTED} more bad rows", file=log)
    for source_index, reason in report.conflicts[:MAX_REPORTED]:
        print(f"{spec.name}: duplicate source row {source_index} dropped: {reason}", file=log)
    if report.bad and fail_on_bad_row:
        first_index, first_reason = report.bad[0]
        raise PrepareError(
            f"{spec.name}: {len(report.bad)} bad source row(s) (first: row {first_index}: {first_reason}); "
            "nothing written (--on-bad-row fail)"
        )
    if not report.rows:
        detail = f" (first bad row {report.bad[0][0]}: {report.bad[0][1]})" if report.bad else ""
        raise PrepareError(f"{spec.name}: no valid rows{detail}; nothing written")

    path = out_dir / spec.out_path
    write_parquet(report.rows, path)
    notes = [f"{len(report.bad)} bad row(s) skipped"] if report.bad else []
    if spec.dedup:
        notes.append(f"{report.duplicates} duplicate(s) removed")
    print(
        f"{spec.name}: wrote {len(report.rows)} rows to {path}" + (f" ({', '.join(notes)})" if notes else ""), file=log
    )
    if source is None and spec.expected_rows is not None and len(report.rows) != spec.expected_rows:
        print(
            f"{spec.name}: warning: expected {spec.expected_rows} rows from the hub, wrote {len(report.rows)}", file=log
        )
    return report


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Write the SPPO math data sets as verl parquet files under their official names.",
    )
    parser.add_argument("names", nargs="+", metavar="NAME", help=f"{', '.join(SPECS)} or all")
    parser.add_argument(
        "--out", type=Path, required=True, help="output folder (evaluation files go to OUT/offline_eval/)"
    )
    parser.add_argument("--source", type=Path, help="local file or folder to read instead of the hub")
    parser.add_argument("--hub-id", type=nonempty, help="another hub id with the same columns (one NAME only)")
    parser.add_argument(
        "--on-bad-row",
        choices=("skip", "fail"),
        default="skip",
        help="skip unusable source rows (reported with their index and counted) or fail without writing",
    )
    return parser


class _Parser(OneLineParser):
    error_class = PrepareError


def _run(argv: list[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n != "all" and n not in SPECS]
    if unknown:
        parser.error(f"unknown data set {unknown[0]!r} (choose from {', '.join(SPECS)}, all)")
    names = list(SPECS) if "all" in args.names else list(dict.fromkeys(args.names))
    if args.source is not None and args.source.is_file() and len(names) > 1:
        parser.error("--source is a single file: name exactly one data set (or pass a folder)")
    if args.source is not None and not args.source.exists():
        parser.error(f"--source {args.source}: no such file or directory")
    if args.hub_id and (len(names) > 1 or args.source is not None):
        parser.error("--hub-id needs exactly one data set name and no --source")
    # every output folder must be writable before the first data set is loaded
    for folder in sorted({(args.out / SPECS[name].out_path).parent for name in names}):
        check_output_dir(folder, flag="--out")

    for name in names:
        spec = SPECS[name]
        if args.hub_id:
            spec = replace(spec, hub_id=args.hub_id, hub_configs=(None,), expected_rows=None)
        prepare(spec, args.out, args.source, fail_on_bad_row=args.on_bad_row == "fail")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Exit code 0 (written), 2 (bad input: one line on stderr), 130 (interrupted; complete files only)."""
    return guarded(PROG, lambda: _run(argv), (PrepareError,))


if __name__ == "__main__":
    sys.exit(main())
