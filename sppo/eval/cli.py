"""Command line of the evaluation: ``python -m sppo.eval {generate,score,compare}``.

    python -m sppo.eval generate --model MODEL_OR_CKPT --benchmarks all5 --k 8 --out runs/eval/NAME
    python -m sppo.eval score runs/eval/NAME
    python -m sppo.eval compare runs/eval/A runs/eval/B logs/sppo.jsonl --out runs/compare

Each verb's function below gives its full command. Bad input (a missing file or column, an
unreadable parquet, k < 1, an unwritable --out, a prompt longer than the model's context, ...) fails with
one line ``python -m sppo.eval <verb>: error: ...`` and exit code 2, before any model is loaded; Ctrl-C prints
one line and exits with 130, leaving only complete files (docs/errors.md).
"""

from __future__ import annotations

import argparse

from sppo.cli_errors import (
    OneLineParser,
    check_output_dir,
    float_range,
    int_range,
    nonempty,
    nonneg_float,
    nonneg_int,
    positive_int,
    run_verb_cli,
)
from sppo.eval.backends import BACKENDS
from sppo.eval.errors import EvalError


class _Parser(OneLineParser):
    error_class = EvalError


#: Upper bounds where a flag would otherwise make the work unbounded or nonsensical.
MAX_K = 4096
MAX_WORKERS = 256
MAX_TIMEOUT_S = 3600.0


def cmd_generate(args: argparse.Namespace) -> int:
    """Sample k responses per problem row of each benchmark (resumable).

        python -m sppo.eval generate --model MODEL_OR_CKPT --benchmarks official_val \
            --data-dir data/offline_eval --k 1 --out runs/eval/NAME \
            [--temperature 0.6] [--top-p 1.0] [--max-tokens 8192] [--seed 0] [--backend auto]
    """
    from sppo.eval import generate
    from sppo.eval.backends import SamplingSettings

    check_output_dir(args.out)
    if args.merged_dir:
        check_output_dir(args.merged_dir, flag="--merged-dir")
    options = {"tensor_parallel_size": args.tensor_parallel_size, "gpu_memory_utilization": args.gpu_memory_utilization}
    config = generate.GenerateConfig(
        model=args.model,
        benchmarks=args.benchmarks,
        out=args.out,
        data_dir=args.data_dir,
        k=args.k,
        sampling=SamplingSettings(args.temperature, args.top_p, args.max_tokens),
        seed=args.seed,
        limit=args.limit,
        stop_after=args.stop_after,
        backend=args.backend,
        merged_dir=args.merged_dir,
        backend_options=options,
        force=args.force,
    )
    generate.run(config)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    """Score a responses parquet (ours or verl's main_generation output) and write the tables/plots.

        python -m sppo.eval score runs/eval/NAME [--out DIR] [--benchmark LABEL] \
            [--tokenizer MODEL --max-tokens 8192] [--workers 4] [--no-plots]
    """
    from sppo.eval import score

    if args.out is not None:
        check_output_dir(args.out)
    score.run(
        args.responses,
        out=args.out,
        benchmark=args.benchmark,
        tokenizer=args.tokenizer,
        max_tokens=args.max_tokens,
        num_workers=args.workers,
        timeout_s=args.timeout,
        plots=not args.no_plots,
    )
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Side-by-side table of runs, and score vs step / hours plot.

    python -m sppo.eval compare RUN [RUN ...] [--labels A B ...] [--out DIR]
    """
    from sppo.eval import compare

    if args.out is not None:
        check_output_dir(args.out)
    print(compare.run(args.runs, args.labels, args.out), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m sppo.eval", description="Offline evaluation of math policies (see docs/evaluation.md)."
    )
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)

    g = verbs.add_parser("generate", help="sample k responses per problem", description=cmd_generate.__doc__,
                         formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    g.add_argument("--model", required=True, type=nonempty,
                   help="HF model dir, verl checkpoint (training dir, global_step_N[/actor]) or hf://ORG/NAME")  # fmt: skip
    g.add_argument("--benchmarks", nargs="+", required=True, metavar="NAME", type=nonempty,
                   help="aime24 aime25 amc23 math500 minerva, suites official_val / all5, or .parquet paths")  # fmt: skip
    g.add_argument("--data-dir", default="data/offline_eval", help="folder of the official benchmark files")
    g.add_argument("--out", required=True, type=nonempty, help="output folder (an existing one is resumed)")
    g.add_argument(
        "--k", type=int_range(1, MAX_K), default=1, help=f"samples per benchmark row (default 1, at most {MAX_K})"
    )
    g.add_argument(
        "--temperature", type=nonneg_float, default=0.6, help="sampling temperature >= 0 (default 0.6, the paper's)"
    )
    g.add_argument(
        "--top-p",
        type=float_range(0.0, 1.0, lo_open=True),
        default=1.0,
        help="nucleus sampling mass in (0, 1] (default 1.0)",
    )
    g.add_argument("--max-tokens", type=positive_int, default=8192, help="response token limit (default 8192)")
    g.add_argument("--seed", type=int_range(0, 2**63 - 1), default=0, help="base seed of the per-sample seeds (>= 0)")
    g.add_argument("--limit", type=positive_int, default=None, help="only the first N problems of each benchmark")
    g.add_argument("--stop-after", type=nonneg_int, default=None, help="stop after N problems in this run")
    g.add_argument("--backend", default="auto", choices=BACKENDS, help="auto (vLLM with CUDA, else hf), vllm or hf")
    g.add_argument("--merged-dir", default=None, type=nonempty,
                   help="where an FSDP checkpoint is merged (default OUT/model_hf; FSDP checkpoints only)")  # fmt: skip
    g.add_argument("--tensor-parallel-size", type=int_range(1, 64), default=None,
                   help="vLLM tensor parallel size (default 1; vllm backend only)")  # fmt: skip
    g.add_argument("--gpu-memory-utilization", type=float_range(0.0, 1.0, lo_open=True), default=None,
                   help="vLLM GPU memory fraction in (0, 1] (default 0.85; vllm backend only)")  # fmt: skip
    g.add_argument("--force", action="store_true",
                   help="OUT holds a run with other settings: delete its samples and start again")  # fmt: skip
    g.set_defaults(func=cmd_generate)

    s = verbs.add_parser("score", help="metrics from a responses parquet", description=cmd_score.__doc__,
                         formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    s.add_argument("responses", type=nonempty, help="a generate output folder or a responses parquet (ours or verl's)")
    s.add_argument("--out", default=None, type=nonempty, help="output folder (default: the responses' folder)")
    s.add_argument(
        "--benchmark", default=None, type=nonempty, help="label for all rows (default: from the file/data_source)"
    )
    s.add_argument(
        "--tokenizer", default=None, type=nonempty, help="verl format only: count response tokens with this tokenizer"
    )
    s.add_argument(
        "--max-tokens", type=positive_int, default=None, help="verl format only: the generation limit (for 'truncated')"
    )
    s.add_argument("--workers", type=int_range(1, MAX_WORKERS), default=None,
                   help=f"verifier processes (default: CPU count, at most 8; at most {MAX_WORKERS})")  # fmt: skip
    s.add_argument("--timeout", type=float_range(0.0, MAX_TIMEOUT_S, lo_open=True), default=5.0,
                   help=f"symbolic check limit per response, seconds in (0, {MAX_TIMEOUT_S:g}]")  # fmt: skip
    s.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    s.set_defaults(func=cmd_score)

    c = verbs.add_parser("compare", help="compare runs", description=cmd_compare.__doc__,
                         formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    c.add_argument("runs", nargs="+", type=nonempty, help="verl file-logger JSONL files or score output folders")
    c.add_argument("--labels", nargs="+", default=None, type=nonempty, help="one name per run")
    c.add_argument("--out", default=None, type=nonempty, help="write compare.md and compare.png here")
    c.set_defaults(func=cmd_compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse and run one verb; a user error prints one line to stderr and returns 2."""
    return run_verb_cli(build_parser, argv, "python -m sppo.eval", ("generate", "score", "compare"), EvalError)
