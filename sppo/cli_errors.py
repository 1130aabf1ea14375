"""The verb-style CLIs (``python -m sppo.eval``, ``python -m sppo.analysis``) report a user error as one line.

``python -m sppo.<tool> <verb>: error: <message>`` on stderr and exit code 2, instead of argparse's usage block
or a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors raise ``error_class`` (set by subclasses) instead of printing usage."""

    error_class: type[Exception] = ValueError

    def error(self, message: str) -> None:
        raise self.error_class(f"{self.prog}: error: {message}")


def run_verb_cli(
    build_parser: Callable[[], argparse.ArgumentParser],
    argv: list[str] | None,
    tool: str,
    verbs: Sequence[str],
    error_class: type[Exception],
) -> int:
    """Parse ``argv`` and run the chosen verb's ``func``; an ``error_class`` error prints one line and returns 2."""
    argv = sys.argv[1:] if argv is None else argv
    verb = next((a for a in argv if not a.startswith("-")), "")
    prog = f"{tool} {verb}" if verb in verbs else tool
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except error_class as exc:
        message = str(exc)
        if not message.startswith(tool):
            message = f"{prog}: error: {message}"
        print(message.splitlines()[0] if message else prog, file=sys.stderr)
        return 2
