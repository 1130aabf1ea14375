"""Read source rows from the Hugging Face hub or from local files, as a stream of dicts.

Local layout accepted by ``--source PATH``:
  * PATH is a file (``.parquet``, ``.jsonl``, ``.json``): the rows of the one data set asked for;
  * PATH is a directory: for data set NAME, ``PATH/NAME.parquet`` (or ``.jsonl``/``.json``), else
    every data file under ``PATH/NAME/`` in name order (e.g. the two AIME2025 configs).
A ``.json`` file holds a list of rows (DeepScaleR's ``deepscaler.json``) or ``{"<key>": [rows]}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Any

DATA_SUFFIXES = (".parquet", ".jsonl", ".json")


class SourceError(RuntimeError):
    """A source that cannot be read; the message is a one-line explanation."""


def _iter_parquet(path: Path) -> tuple[Iterator[dict[str, Any]], int]:
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise SourceError(f"{path}: not a readable parquet file ({exc})") from None

    def rows() -> Iterator[dict[str, Any]]:
        try:
            for batch in handle.iter_batches(batch_size=4096):
                yield from batch.to_pylist()
        except (OSError, ValueError, TypeError) as exc:  # pyarrow errors: a damaged file
            raise SourceError(
                f"{path}: not a readable parquet file ({str(exc).splitlines()[0] if str(exc) else exc!r})"
            ) from None

    return rows(), handle.metadata.num_rows


class BadRecord:
    """A source row that could not even be read (a malformed JSON line); prepare skips and counts it
    like any other bad row (or stops under ``--on-bad-row fail``)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _iter_jsonl(path: Path) -> Iterator[dict[str, Any] | BadRecord]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark is not part of the first row
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield BadRecord(f"line {number}: not UTF-8 text")
                continue
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                yield BadRecord(f"line {number}: invalid JSON ({exc})")
                continue
            if not isinstance(row, dict):
                yield BadRecord(f"line {number}: a row must be a JSON object, got {type(row).__name__}")
                continue
            yield row


def _read_json(path: Path) -> list[dict[str, Any] | BadRecord]:
    try:
        data = json.loads(path.read_bytes().decode("utf-8-sig"))  # a byte-order mark is allowed
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except ValueError as exc:
        raise SourceError(f"{path}: invalid JSON ({exc})") from None
    if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), list):
        data = next(iter(data.values()))
    if not isinstance(data, list):
        raise SourceError(f"{path}: expected a JSON list of row objects")
    return [
        row if isinstance(row, dict) else BadRecord(f"item {i}: a row must be a JSON object, got {type(row).__name__}")
        for i, row in enumerate(data)
    ]


def iter_file(path: Path) -> tuple[Iterator[dict[str, Any]], int | None]:
    """Rows of one local file and their count (None when unknown before reading)."""
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _iter_parquet(path)
    if suffix == ".jsonl":
        return _iter_jsonl(path), None
    if suffix == ".json":
        rows = _read_json(path)
        return iter(rows), len(rows)
    raise SourceError(f"{path}: unsupported file type {suffix!r} (use {', '.join(DATA_SUFFIXES)})")


def local_files(source: Path, name: str) -> list[Path]:
    """The data files for data set ``name`` under ``source`` (see module docstring)."""
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise SourceError(f"{source}: no such file or directory")
    for suffix in DATA_SUFFIXES:
        candidate = source / f"{name}{suffix}"
        if candidate.is_file():
            return [candidate]
    folder = source / name
    if folder.is_dir():
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in DATA_SUFFIXES)
        if files:
            return files
    looked = ", ".join(f"{name}{s}" for s in DATA_SUFFIXES)
    raise SourceError(f"{source}: no local data for {name!r} (looked for {looked} and {name}/)")


def iter_local(source: Path, name: str) -> tuple[Iterator[dict[str, Any]], int | None]:
    """Rows of data set ``name`` from local files, in file order."""
    opened = [iter_file(path) for path in local_files(source, name)]
    counts = [count for _, count in opened]
    total = None if any(c is None for c in counts) else sum(c for c in counts if c is not None)
    return chain.from_iterable(rows for rows, _ in opened), total


def iter_hub(hub_id: str, configs: tuple[str | None, ...], split: str) -> tuple[Iterator[dict[str, Any]], int]:
    """Rows of a hub data set (all ``configs`` concatenated), via the ``datasets`` library."""
    try:
        import datasets
    except ImportError:
        raise SourceError("the `datasets` package is needed to load from the hub (or use --source PATH)") from None
    parts = []
    for config in configs:
        try:
            parts.append(datasets.load_dataset(hub_id, config, split=split))
        except Exception as exc:  # noqa: BLE001 - network, auth, missing config...
            where = f"{hub_id}" + (f" ({config})" if config else "")
            raise SourceError(f"cannot load {where} split {split!r} from the hub: {exc}".splitlines()[0]) from None

    def rows() -> Iterator[dict[str, Any]]:
        for part in parts:
            for batch in part.iter(batch_size=4096):
                keys = list(batch)
                yield from (
                    dict(zip(keys, values, strict=True)) for values in zip(*(batch[k] for k in keys), strict=True)
                )

    return rows(), sum(len(part) for part in parts)
