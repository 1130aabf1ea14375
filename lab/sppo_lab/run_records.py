"""The study drivers' shared loop step: run one training run, write its record atomically (the resume point), or note
it as failed and go on with the next run (one line on stderr; the driver exits 1 at the end, and rerunning retries
exactly the failed runs)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from sppo.cli_errors import UserError, write_text_atomic


def run_and_record(
    tag: str, label: str, out: Path, make: Callable[[], dict], summary: Callable[[dict], str], failed: list[str]
) -> None:
    """Print ``[tag] label``, call ``make``; write its record to ``out`` and print ``[tag] done: summary(record)``, or,
    when the run fails (``RuntimeError``, ``UserError``), append ``out``'s stem to ``failed`` and print the error."""
    print(f"[{tag}] {label}", flush=True)
    try:
        record = make()
    except (RuntimeError, UserError) as err:
        failed.append(out.stem)
        print(f"[{tag}] {err}", file=sys.stderr, flush=True)
        return
    write_text_atomic(out, json.dumps(record) + "\n")
    print(f"[{tag}] done: {summary(record)}", flush=True)


def exit_status(tag: str, failed: list[str]) -> int:
    """0 when every run left a record; else 1, with the failed runs on stderr."""
    if failed:
        print(f"[{tag}] failed (rerun to retry): {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
