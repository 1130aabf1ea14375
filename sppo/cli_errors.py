"""One-line errors for every ``python -m sppo.<tool>`` CLI, and the checks they share.

Exit codes (docs/errors.md lists each CLI's errors):

* 0: success;
* 2: bad input or config: one line ``python -m sppo.<tool> [<verb>]: error: <message>`` on stderr, no
  traceback, raised as a :class:`UserError` (or a CLI's subclass) or by argparse;
* 130: interrupted (Ctrl-C): one line ``<prog>: interrupted; rerun the same command to resume``; every
  output is written to a temporary file in its folder and renamed into place when complete
  (:func:`atomic_write`), so only complete files are left;
* 1: an internal error (a bug): Python's traceback.

The argparse ``type=`` validators below (:func:`positive_int`, :func:`probability`, ...) check a flag's
type and range while the command line is parsed, before any work or heavy import.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

INTERRUPTED = "interrupted; rerun the same command to resume"
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """Bad input or config; the message is one line (exit code 2)."""


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors raise ``error_class`` (set by subclasses) instead of printing usage."""

    error_class: type[Exception] = UserError

    def error(self, message: str) -> None:
        raise self.error_class(f"{self.prog}: error: {message}")


def _one_line(prog: str, message: str) -> str:
    message = message.strip()
    if not message.startswith("python -m sppo"):
        message = f"{prog}: error: {message}"
    return message.splitlines()[0] if message else f"{prog}: error"


def ignore_further_interrupts() -> None:
    """After the first Ctrl-C has been reported, while the process exits with 130: ignore any further one.

    A second SIGINT would otherwise escape the shutdown as an unhandled KeyboardInterrupt or, once the interpreter
    has put back the default handlers at its very end, kill the process by the signal: exit -2, not 130. (A Python
    handler cannot cover that last window; only an ignored signal stays ignored.)
    """
    with contextlib.suppress(ValueError):  # not the main thread: nothing to change
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def guarded(prog: str, body: Callable[[], int], error_classes: tuple[type[Exception], ...] = ()) -> int:
    """Run ``body``; a user error prints one line and returns 2, Ctrl-C prints one line and returns 130 (and
    ignores any further Ctrl-C: :func:`ignore_further_interrupts`).

    ``error_classes`` (with :class:`UserError`) are user errors; an ``OSError`` that escapes (a path the
    user gave that cannot be read or written, a full disk) is one line too, naming the file.
    """
    try:
        return body()
    except (UserError, *error_classes) as exc:
        print(_one_line(prog, str(exc)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        ignore_further_interrupts()
        print(f"{prog}: {INTERRUPTED}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(_one_line(prog, f"{where}{exc.strerror or exc}"), file=sys.stderr)
        return 2


def run_verb_cli(
    build_parser: Callable[[], argparse.ArgumentParser],
    argv: list[str] | None,
    tool: str,
    verbs: Sequence[str],
    error_class: type[Exception],
) -> int:
    """Parse ``argv`` and run the chosen verb's ``func`` under :func:`guarded` (prefix ``<tool> <verb>``)."""
    argv = sys.argv[1:] if argv is None else argv
    verb = next((a for a in argv if not a.startswith("-")), "")
    prog = f"{tool} {verb}" if verb in verbs else tool

    def body() -> int:
        args = build_parser().parse_args(argv)
        return args.func(args)

    return guarded(prog, body, (error_class,))


# ------------------------------------------------------------------------------ argparse validators


def _number(text: str, kind: type) -> float | int:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid {kind.__name__} value: '{text}'") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got '{text}'")
    return value


def int_range(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in ``[lo, hi]`` (either bound optional)."""

    def parse(text: str) -> int:
        value = int(_number(text, int))
        if lo is not None and value < lo:
            raise argparse.ArgumentTypeError(f"must be >= {lo}, got {value}")
        if hi is not None and value > hi:
            raise argparse.ArgumentTypeError(f"must be <= {hi}, got {value}")
        return value

    parse.__name__ = "int"
    return parse


def float_range(
    lo: float | None = None, hi: float | None = None, lo_open: bool = False, hi_open: bool = False
) -> Callable[[str], float]:
    """An argparse type: a finite float in the range (``lo_open``/``hi_open``: the bound is excluded)."""

    def parse(text: str) -> float:
        value = float(_number(text, float))
        if lo is not None and (value <= lo if lo_open else value < lo):
            raise argparse.ArgumentTypeError(f"must be {'>' if lo_open else '>='} {lo}, got {text}")
        if hi is not None and (value >= hi if hi_open else value > hi):
            raise argparse.ArgumentTypeError(f"must be {'<' if hi_open else '<='} {hi}, got {text}")
        return value

    parse.__name__ = "float"
    return parse


positive_int = int_range(1)
nonneg_int = int_range(0)
any_int = int_range()
finite_float = float_range()
positive_float = float_range(0.0, lo_open=True)
nonneg_float = float_range(0.0)
probability = float_range(0.0, 1.0)

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def boolean(text: str) -> bool:
    """An argparse type: true/false, yes/no, on/off, 1/0 (any case); anything else is an error."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got '{text}'")


def nonempty(text: str) -> str:
    """An argparse type: a non-blank string."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


# ---------------------------------------------------------------------------------------- outputs


def _nearest_existing(path: Path) -> Path:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def _probe_writable(folder: Path) -> bool:
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def check_output_dir(path: str | Path, flag: str = "--out") -> Path:
    """``path`` as a folder this process can create or write into; raises :class:`UserError` otherwise.

    Nothing is created: the check probes the folder (or its nearest existing parent) with a temporary file.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path}: exists and is not a folder")
    probe = _nearest_existing(path)
    if not probe.is_dir():
        raise UserError(f"{flag} {path}: {probe} is a file, so no folder can be made under it")
    if not _probe_writable(probe):
        raise UserError(f"{flag} {path}: {probe} is not writable")
    return path


def check_output_file(path: str | Path, flag: str = "--out") -> Path:
    """``path`` as a file this process can write (its folder writable, not an existing folder)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{flag} {path}: is a folder, expected a file name")
    check_output_dir(path.parent if str(path.parent) else Path("."), flag=f"{flag} {path}: folder")
    return path


def _umask() -> int:
    """This process's umask, read without changing it (Linux: /proc/self/status), else set and restored."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The permission bits of every output file: ``0o666 & ~umask`` (0644 under the usual umask 022), the mode
    ``open(path, "w")`` gives a new file. ``mkstemp`` alone makes 0600 files, which a teammate on a shared
    cluster cannot read (an output written as 0600 by an earlier version gets this mode when rewritten)."""
    return 0o666 & ~_umask()


def _temporary(path: Path, prefix: str, suffix: str) -> str:
    """An empty temporary file next to ``path``, with :func:`file_mode`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    try:
        os.fchmod(fd, file_mode())
    finally:
        os.close(fd)
    return tmp


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """THE atomic writer: a temporary path next to ``path`` for writers that take a file name (parquet,
    savefig, ``torch.save``); renamed to ``path`` on success, deleted on any error (Ctrl-C too), so ``path`` is
    either the old file or the complete new one. The temporary name keeps ``path``'s suffix; the file gets
    :func:`file_mode` (the umask-derived mode, 0644 under umask 022)."""
    path = Path(path)
    tmp = _temporary(path, f".{path.stem}.", f".tmp{path.suffix}")
    try:
        yield Path(tmp)
        os.chmod(tmp, file_mode())  # also when the writer replaced the file at tmp instead of writing into it
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", **open_kwargs) -> Iterator[object]:
    """:func:`atomic_path` with the temporary file opened (``mode``: ``"w"`` or ``"wb"``)."""
    with atomic_path(path) as tmp, open(tmp, mode, **open_kwargs) as handle:
        yield handle


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def write_json_atomic(path: str | Path, data: object, indent: int | None = 2, sort_keys: bool = False) -> None:
    """Write ``data`` as JSON (one trailing newline) to ``path`` atomically (see :func:`atomic_path`)."""
    import json

    write_text_atomic(path, json.dumps(data, indent=indent, sort_keys=sort_keys) + "\n")


def write_parquet_atomic(frame: object, path: str | Path) -> None:
    """Write a pandas DataFrame (no index) or a pyarrow Table to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        if hasattr(frame, "to_parquet"):
            frame.to_parquet(tmp, index=False)
        else:
            import pyarrow.parquet as pq

            pq.write_table(frame, tmp)
