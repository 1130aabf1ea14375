"""Command line of the control suite.

    python -m sppo_lab.control run --env cartpole --algo sppo --horizon 1000 --seeds 5 \
        --steps 1000000 --out results/control
    python -m sppo_lab.control report results/control
    python -m sppo_lab.control warmstart --env cartpole --seeds 5 --out results/control/warmstart
    python -m sppo_lab.control list

`run` trains one (env, algo, horizon) for seeds first_seed .. first_seed + seeds - 1 and writes
one JSON file per seed, ``OUT/<env>__<algo>__H<horizon>__seed<seed>.json`` (atomically); a seed
whose file already exists is skipped, so an interrupted grid resumes where it stopped.
``--set key=value`` overrides any field of the algorithm's Args dataclass.
`warmstart` builds (or reads from its cache) the warm-start policy of each (env, seed) and measures
its success at each horizon (see lab/sppo_lab/control/warmstart.py); `run --set warm_start=DIR` starts every
algorithm of a seed from it, and the result file then records the warm start's digest and its
success at the run's H.
`report` turns a results directory into report.md plus PNG plots (see lab/sppo_lab/control/report.py).
Bad input fails with one line ``python -m sppo_lab.control <verb>: error: ...`` naming the bad value and
the allowed ones (exit code 2), before any training; a results file made with other settings (they are
recorded under ``config``) is refused unless ``--force``; Ctrl-C prints one line and exits with 130,
keeping the finished seeds (see docs/errors.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time

from sppo.cli_errors import (
    OneLineParser,
    UserError,
    boolean,
    check_output_dir,
    guarded,
    nonempty,
    nonneg_int,
    write_json_atomic,
)

ALGOS = ("sppo", "ppo", "grpo")
PROG = "python -m sppo_lab.control"
#: Settings that do not change a result (progress printing): ignored when results are compared.
NOT_SETTINGS = ("log_every_s",)
MAX_SEEDS = 1000
MAX_STEPS = 10**10
MAX_HORIZON = 10**6


class CliError(UserError):
    """A user error: printed as one line, exit code 2."""


class _Parser(OneLineParser):
    error_class = CliError


def result_path(out: str, env: str, algo: str, horizon: int, seed: int) -> str:
    return os.path.join(out, f"{env}__{algo}__H{horizon}__seed{seed}.json")


def algo_module(algo: str):
    if algo not in ALGOS:
        raise CliError(f"unknown algo '{algo}' (allowed: {', '.join(ALGOS)})")
    import importlib

    return importlib.import_module(f"sppo_lab.control.{algo}")


def _parse_value(field: dataclasses.Field, text: str):
    kind = (
        field.type
        if isinstance(field.type, type)
        else {"int": int, "float": float, "bool": bool, "str": str}[field.type]
    )
    if kind is bool:
        try:
            return boolean(text)
        except argparse.ArgumentTypeError:
            raise CliError(f"--set {field.name}: expected true/false, got '{text}'") from None
    try:
        value = kind(text)
    except ValueError:
        raise CliError(f"--set {field.name}: expected {kind.__name__}, got '{text}'") from None
    if kind is float and not math.isfinite(value):
        raise CliError(f"--set {field.name}: expected a finite number, got '{text}'")
    return value


def build_args(algo: str, env: str, horizon: int, seed: int, steps: int, overrides: list[str]):
    """The algorithm's Args dataclass from CLI values; validated before anything runs."""
    from sppo_lab.control.envs import ENV_NAMES

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


#: Setting values renamed since results files were first written: an old file reads as its new name.
RENAMED_VALUES = {("adv_mode", "standardized"): "bernoulli"}  # 2026-12: the core's name for (R - p) / sqrt(p (1 - p))


def _settings(config: dict) -> dict:
    return {
        k: RENAMED_VALUES.get((k, v), v) if isinstance(v, str) else v
        for k, v in config.items()
        if k not in NOT_SETTINGS
    }


def existing_result_status(path: str, args) -> str:
    """'missing', 'same' (made with these settings: skip it) or raise :class:`CliError` (other settings,
    corrupt file, no recorded settings). A results file records its settings under ``config``."""
    if not os.path.exists(path):
        return "missing"
    try:
        with open(path) as f:
            data = json.load(f)
        config = data["config"]
        if not isinstance(config, dict):
            raise TypeError("config is not an object")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CliError(f"{path}: corrupt results file ({type(e).__name__}: {e}); use --force to rerun it") from None
    old, new = _settings(config), _settings(dataclasses.asdict(args))
    changed = [
        f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)
    ]
    if changed:
        raise CliError(
            f"{path} was made with other settings ({'; '.join(changed)}); use --force to rerun it, or another --out"
        )
    return "same"


def cmd_run(ns) -> int:
    check_output_dir(ns.out)
    # Validate everything (all seeds, every existing results file) before the first run starts.
    jobs = [build_args(ns.algo, ns.env, ns.horizon, ns.first_seed + i, ns.steps, ns.set) for i in range(ns.seeds)]
    status = {}
    for _mod, args in jobs:
        path = result_path(ns.out, args.env, ns.algo, args.horizon, args.seed)
        status[path] = "missing" if ns.force else existing_result_status(path, args)
    for k, (mod, args) in enumerate(jobs, 1):
        path = result_path(ns.out, args.env, ns.algo, args.horizon, args.seed)
        tag = f"{args.env} {ns.algo} H={args.horizon} seed={args.seed}"
        if status[path] == "same":
            print(f"[run {k}/{len(jobs)}] {tag}: exists, skipped ({path})", flush=True)
            continue
        print(f"[run {k}/{len(jobs)}] {tag}: training ...", flush=True)
        t0 = time.perf_counter()
        result = mod.train(args)
        result["command"] = " ".join([PROG, *ns.argv])
        if args.warm_start:  # the starting level, measured once per (env, seed, H) and cached
            from sppo_lab.control.warmstart import WARM_EVAL_EPISODES, warm_start_success

            ws = warm_start_success(args.warm_start, args.env, args.seed, args.horizon, WARM_EVAL_EPISODES)
            result["warm_start_success"], result["warm_start_episodes"] = ws["success"], ws["episodes"]
        write_json_atomic(path, result, indent=1)
        print(
            f"[run {k}/{len(jobs)}] {tag}: final_success={result['final_success']} "
            f"steps={result['env_steps']} wall={time.perf_counter() - t0:.1f}s -> {path}",
            flush=True,
        )
    return 0


def cmd_report(ns) -> int:
    from sppo_lab.control.report import ReportError, write_report

    if not os.path.isdir(ns.results):
        raise CliError(f"'{ns.results}' is not a directory")
    out = ns.out or ns.results
    check_output_dir(out)
    try:
        md = write_report(ns.results, out, title=ns.title)
    except ReportError as e:
        raise CliError(str(e)) from None
    print(f"wrote {md}")
    return 0


def cmd_warmstart(ns) -> int:
    from sppo_lab.control.envs import ENV_NAMES

    if ns.env not in ENV_NAMES:
        raise CliError(f"unknown env '{ns.env}' (allowed: {', '.join(ENV_NAMES)})")
    for flag, value in (("--seeds", ns.seeds), ("--episodes", ns.episodes), *(("--horizons", h) for h in ns.horizons)):
        if value <= 0 or value > MAX_HORIZON:
            raise CliError(f"{flag} must be a positive integer at most {MAX_HORIZON}, got {value}")
    check_output_dir(ns.out)
    import torch

    from sppo_lab.control.warmstart import load_or_build, warm_start_success

    torch.set_num_threads(1)
    for seed in range(ns.first_seed, ns.first_seed + ns.seeds):
        t0 = time.perf_counter()
        load_or_build(ns.out, ns.env, seed)
        rates = [warm_start_success(ns.out, ns.env, seed, h, ns.episodes)["success"] for h in ns.horizons]
        shown = " ".join(f"H={h}:{r:.3f}" for h, r in zip(ns.horizons, rates))
        print(f"[warmstart] {ns.env} seed={seed} success {shown} ({time.perf_counter() - t0:.1f}s)", flush=True)
    return 0


def cmd_list(ns) -> int:
    from sppo_lab.control.envs import TASKS

    for spec in TASKS.values():
        print(f"{spec.name:12s} {spec.summary}")
    print(f"algos: {', '.join(ALGOS)}")
    return 0


def make_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", parser_class=_Parser)
    r = sub.add_parser("run", help="train one (env, algo, horizon) over several seeds")
    r.add_argument("--env", required=True, help="task name (see `list`)")
    r.add_argument("--algo", required=True, help=f"one of {', '.join(ALGOS)}")
    r.add_argument("--horizon", type=int, default=1000, help="episode horizon H (default 1000)")
    r.add_argument("--seeds", type=int, default=1, help=f"number of seeds (default 1, at most {MAX_SEEDS})")
    r.add_argument("--first-seed", type=nonneg_int, default=0, help="first seed (default 0)")
    r.add_argument("--steps", type=int, required=True, help="environment-step budget per seed")
    r.add_argument("--out", required=True, type=nonempty, help="results directory")
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a field of the algorithm's Args dataclass (repeatable)",
    )
    r.add_argument(
        "--force", action="store_true", help="re-run seeds whose results exist (also when made with other settings)"
    )
    r.set_defaults(func=cmd_run)
    rep = sub.add_parser("report", help="Markdown table + PNG plots from a results directory")
    rep.add_argument("results", type=nonempty, help="directory of result JSON files")
    rep.add_argument(
        "--out", default=None, type=nonempty, help="where report.md and the plots go (default: the results directory)"
    )
    rep.add_argument("--title", default="Control suite results", type=nonempty, help="report title")
    rep.set_defaults(func=cmd_report)
    ws = sub.add_parser("warmstart", help="build the warm-start policies and measure their success")
    ws.add_argument("--env", required=True, help="task name (see `list`)")
    ws.add_argument("--seeds", type=int, default=1, help="number of seeds (default 1)")
    ws.add_argument("--first-seed", type=nonneg_int, default=0, help="first seed (default 0)")
    ws.add_argument("--out", required=True, type=nonempty, help="warm-start directory (cache)")
    ws.add_argument("--horizons", type=int, nargs="+", default=[200, 500, 1000], help="horizons to measure at")
    ws.add_argument("--episodes", type=int, default=100, help="held-out episodes per (seed, H) (default 100)")
    ws.set_defaults(func=cmd_warmstart)
    lst = sub.add_parser("list", help="list the tasks and algorithms")
    lst.set_defaults(func=cmd_list)
    return p


def _check_run_numbers(ns) -> None:
    """Ranges of the numeric run flags (before the algorithm module, and torch, is imported)."""
    for flag, value, hi in (
        ("--steps", ns.steps, MAX_STEPS),
        ("--horizon", ns.horizon, MAX_HORIZON),
        ("--seeds", ns.seeds, MAX_SEEDS),
    ):
        if value <= 0:
            raise CliError(f"{flag} must be a positive integer, got {value}")
        if value > hi:
            raise CliError(f"{flag} must be at most {hi}, got {value}")


def main(argv: list[str] | None = None) -> int:
    """Exit code 0 done, 2 bad input (one line on stderr), 130 interrupted (finished seeds kept)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    verb = next((a for a in argv if not a.startswith("-")), "")
    prog = f"{PROG} {verb}" if verb in ("run", "report", "warmstart", "list") else PROG

    def body() -> int:
        ns = make_parser().parse_args(argv)
        ns.argv = argv
        if ns.cmd is None:
            raise CliError("missing command (allowed: run, report, warmstart, list)")
        if ns.cmd == "run":
            _check_run_numbers(ns)
        return ns.func(ns)

    return guarded(prog, body)
