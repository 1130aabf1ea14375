"""Command line of the analyses: ``python -m sppo_lab.analysis {calibration,tail-effect}``.

    python -m sppo_lab.analysis calibration runs/quickstart [--out DIR] [--bins 10] [--window 10]
    python -m sppo_lab.analysis tail-effect [--out runs/tail_effect] [--updates 300] [--seed 0] [--format plain]

``calibration`` reads a run's ``calibration.jsonl`` (lab/sppo_lab/analysis/calibration.py); ``tail-effect`` runs
the token-critic study (lab/sppo_lab/analysis/tail_effect.py; every field of its ``Args`` is a flag). Bad input
(a missing, empty or malformed log, p outside [0, 1], a bad option, an unwritable --out) fails with one line
``python -m sppo_lab.analysis <verb>: error: ...`` and exit code 2, before any model is built (and before torch is
imported when the error is in the options); Ctrl-C prints one line and exits with 130 (docs/errors.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from sppo.cli_errors import OneLineParser, any_int, check_output_dir, finite_float, int_range, nonempty, run_verb_cli
from sppo_lab.analysis.errors import AnalysisError

VERBS = ("calibration", "tail-effect")
#: Caps of the calibration flags (bounded work: bins are looped over and plotted one by one).
MAX_BINS = 1000
MAX_WINDOW = 1_000_000


class _Parser(OneLineParser):
    error_class = AnalysisError


def cmd_calibration(args: argparse.Namespace) -> int:
    """Reliability diagram, Brier and ECE of the SPPO critic over a run.

    python -m sppo_lab.analysis calibration RUN [--out DIR] [--bins 10] [--window 10]
    """
    from sppo_lab.analysis.calibration import write_report

    if args.out is not None:
        check_output_dir(args.out)
    summary = write_report(args.run, args.out, n_bins=args.bins, window=args.window)
    if summary["skipped_lines"]:
        print(
            f"warning: skipped {summary['skipped_lines']} line(s) of {summary['source']} that are not valid JSON "
            f"(first: line {summary['first_skipped_line']})",
            file=sys.stderr,
        )
    if summary["empty_steps"]:
        print(
            f"warning: left out {summary['empty_steps']} step(s) of {summary['source']} that hold no sample",
            file=sys.stderr,
        )
    first, last = summary["first_window"]["metrics"] or {}, summary["last_window"]["metrics"] or {}
    print(
        f"{summary['n_steps']} steps, {summary['n_rows']} rows; first {summary['first_window']['n_steps']} steps: "
        f"Brier {first.get('brier', float('nan')):.4f} ECE {first.get('ece', float('nan')):.4f}; "
        f"last {summary['last_window']['n_steps']} steps: Brier {last.get('brier', float('nan')):.4f} "
        f"ECE {last.get('ece', float('nan')):.4f}"
    )
    print("wrote " + ", ".join(summary["files"].values()))
    return 0


def cmd_tail_effect(args: argparse.Namespace) -> int:
    """Token-level critic vs SPPO critic on the quickstart task (plain PyTorch).

    python -m sppo_lab.analysis tail-effect [--out runs/tail_effect] [--updates 300] [--seed 0] [--format plain]
    """
    from sppo_lab.analysis.tail_effect_args import Args

    names = [f.name for f in dataclasses.fields(Args)]
    study = Args(**{name: getattr(args, name) for name in names})
    study.check()
    check_output_dir(study.out)
    if study.cache_dir:
        check_output_dir(study.cache_dir, flag="--cache-dir")
    from sppo_lab.analysis import tail_effect  # torch: only once every setting is known to be good

    result = tail_effect.run(study)
    ev = result["eval"]
    print(
        json.dumps(
            {
                "success_rate": result["policy"]["eval_success_rate"],
                "n_correct": ev["n_correct"],
                "n_incorrect": ev["n_incorrect"],
                "seconds": result["seconds"],
                **result["files"],
            }
        )
    )
    return 0


def _add_dataclass_flags(parser: argparse.ArgumentParser, cls) -> None:
    """One ``--flag`` per dataclass field, typed from its annotation (ints are ints, floats finite), with the
    field's help text; the ranges are checked by ``cls.check()``."""
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        default = f.default
        kind = {"int": any_int, "float": finite_float, "str": nonempty, "int | None": any_int,
                "str | None": nonempty}.get(str(f.type), type(default))  # fmt: skip
        text = f.metadata.get("help", "")
        kwargs = {
            "default": default,
            "type": kind,
            "help": text if "default" in text else f"{text} (default: {default})",
        }
        if f.name == "format":
            from sppo_lab.analysis.tail_effect_args import FORMATS

            kwargs["choices"] = FORMATS
        parser.add_argument(flag, dest=f.name, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    from sppo_lab.analysis.tail_effect_args import Args

    parser = _Parser(prog="python -m sppo_lab.analysis", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)
    cal = sub.add_parser(
        "calibration",
        help="reliability diagram, Brier and ECE of the SPPO critic over a run",
        description=cmd_calibration.__doc__,
    )
    cal.add_argument("run", type=nonempty, help="run directory holding calibration.jsonl, or the path of such a file")
    cal.add_argument("--out", default=None, type=nonempty, help="output directory (default: the directory of the log)")
    cal.add_argument(
        "--bins",
        type=int_range(1, MAX_BINS),
        default=10,
        help=f"equal-width bins of p (10 = the trainer's ECE bins; at most {MAX_BINS})",
    )
    cal.add_argument(
        "--window",
        type=int_range(1, MAX_WINDOW),
        default=10,
        help="steps in the first/last reliability windows and in the moving average",
    )
    cal.set_defaults(func=cmd_calibration)
    tail = sub.add_parser(
        "tail-effect",
        help="token-level critic vs SPPO critic along the response (plain PyTorch)",
        description=cmd_tail_effect.__doc__,
    )
    _add_dataclass_flags(tail, Args)
    tail.set_defaults(func=cmd_tail_effect)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse and run one verb; a user error prints one line to stderr and returns 2."""
    return run_verb_cli(build_parser, argv, "python -m sppo_lab.analysis", VERBS, AnalysisError)
