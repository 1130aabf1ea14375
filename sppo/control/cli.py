"""Command line of the control suite.

    python -m sppo.control run --env cartpole --algo sppo --horizon 1000 --seeds 5 \
        --steps 1000000 --out results/control
    python -m sppo.control report results/control
    python -m sppo.control list

`run` trains one (env, algo, horizon) for seeds first_seed .. first_seed + seeds - 1 and writes
one JSON file per seed, ``OUT/<env>__<algo>__H<horizon>__seed<seed>.json`` (atomically); a seed
whose file already exists is skipped, so an interrupted grid resumes where it stopped.
``--set key=value`` overrides any field of the algorithm's Args dataclass.
`report` turns a results directory into report.md plus PNG plots (see sppo/control/report.py).
Bad input fails with one line naming the bad value and the allowed ones (exit code 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

ALGOS = ("sppo", "ppo", "grpo")


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + message
        raise CliError(f"{self.prog}: {message}")


def result_path(out: str, env: str, algo: str, horizon: int, seed: int) -> str:
    return os.path.join(out, f"{env}__{algo}__H{horizon}__seed{seed}.json")


def algo_module(algo: str):
    if algo not in ALGOS:
        raise CliError(f"unknown algo '{algo}' (allowed: {', '.join(ALGOS)})")
    import importlib
    return importlib.import_module(f"sppo.control.{algo}")


def _parse_value(field: dataclasses.Field, text: str):
    kind = field.type if isinstance(field.type, type) else {"int": int, "float": float,
                                                            "bool": bool, "str": str}[field.type]
    if kind is bool:
        if text.lower() in ("1", "true", "yes"):
            return True
        if text.lower() in ("0", "false", "no"):
            return False
        raise CliError(f"--set {field.name}: expected true/false, got '{text}'")
    try:
        return kind(text)
    except ValueError:
        raise CliError(f"--set {field.name}: expected {kind.__name__}, got '{text}'") from None


def build_args(algo: str, env: str, horizon: int, seed: int, steps: int, overrides: list[str]):
    """The algorithm's Args dataclass from CLI values; validated before anything runs."""
    from sppo.control.envs import ENV_NAMES
    if env not in ENV_NAMES:
        raise CliError(f"unknown env '{env}' (allowed: {', '.join(ENV_NAMES)})")
    if steps <= 0:
        raise CliError(f"--steps must be a positive integer, got {steps}")
    if horizon <= 0:
        raise CliError(f"--horizon must be a positive integer, got {horizon}")
    mod = algo_module(algo)
    fields = {f.name: f for f in dataclasses.fields(mod.Args)}
    fixed = {"env", "horizon", "seed", "total_steps"}
    values = dict(env=env, horizon=horizon, seed=seed, total_steps=steps)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or key not in fields or key in fixed:
            allowed = ", ".join(sorted(set(fields) - fixed))
            raise CliError(f"--set '{item}': expected key=value with key one of: {allowed}")
        values[key] = _parse_value(fields[key], text)
    args = mod.Args(**values)
    try:
        args.validate()
    except ValueError as e:
        raise CliError(str(e)) from None
    return mod, args


def cmd_run(ns) -> int:
    from sppo.control.common import write_json_atomic
    if ns.seeds <= 0:
        raise CliError(f"--seeds must be a positive integer, got {ns.seeds}")
    # Validate everything (all seeds) before the first run starts.
    jobs = [build_args(ns.algo, ns.env, ns.horizon, ns.first_seed + i, ns.steps, ns.set)
            for i in range(ns.seeds)]
    for k, (mod, args) in enumerate(jobs, 1):
        path = result_path(ns.out, args.env, ns.algo, args.horizon, args.seed)
        tag = f"{args.env} {ns.algo} H={args.horizon} seed={args.seed}"
        if os.path.exists(path) and not ns.force:
            print(f"[run {k}/{len(jobs)}] {tag}: exists, skipped ({path})", flush=True)
            continue
        t0 = time.perf_counter()
        result = mod.train(args)
        result["command"] = " ".join(["python -m sppo.control", *ns.argv])
        write_json_atomic(path, result)
        print(f"[run {k}/{len(jobs)}] {tag}: final_success={result['final_success']} "
              f"steps={result['env_steps']} wall={time.perf_counter() - t0:.1f}s -> {path}",
              flush=True)
    return 0


def cmd_report(ns) -> int:
    from sppo.control.report import write_report
    if not os.path.isdir(ns.results):
        raise CliError(f"report: '{ns.results}' is not a directory")
    md = write_report(ns.results, ns.out or ns.results, title=ns.title)
    print(f"wrote {md}")
    return 0


def cmd_list(ns) -> int:
    from sppo.control.envs import TASKS
    for spec in TASKS.values():
        print(f"{spec.name:12s} {spec.summary}")
    print(f"algos: {', '.join(ALGOS)}")
    return 0


def make_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m sppo.control", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", parser_class=_Parser)
    r = sub.add_parser("run", help="train one (env, algo, horizon) over several seeds")
    r.add_argument("--env", required=True, help="task name (see `list`)")
    r.add_argument("--algo", required=True, help=f"one of {', '.join(ALGOS)}")
    r.add_argument("--horizon", type=int, default=1000, help="episode horizon H (default 1000)")
    r.add_argument("--seeds", type=int, default=1, help="number of seeds (default 1)")
    r.add_argument("--first-seed", type=int, default=0, help="first seed (default 0)")
    r.add_argument("--steps", type=int, required=True, help="environment-step budget per seed")
    r.add_argument("--out", required=True, help="results directory")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a field of the algorithm's Args dataclass (repeatable)")
    r.add_argument("--force", action="store_true", help="re-run seeds whose results exist")
    r.set_defaults(func=cmd_run)
    rep = sub.add_parser("report", help="Markdown table + PNG plots from a results directory")
    rep.add_argument("results", help="directory of result JSON files")
    rep.add_argument("--out", default=None, help="where report.md and the plots go "
                                                 "(default: the results directory)")
    rep.add_argument("--title", default="Control suite results", help="report title")
    rep.set_defaults(func=cmd_report)
    lst = sub.add_parser("list", help="list the tasks and algorithms")
    lst.set_defaults(func=cmd_list)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        ns = make_parser().parse_args(argv)
        ns.argv = argv
        if ns.cmd is None:
            raise CliError("python -m sppo.control: missing command (allowed: run, report, list)")
        return ns.func(ns)
    except CliError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
