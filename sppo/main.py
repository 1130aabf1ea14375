"""SPPO's entry point: verl's PPO trainer with the SPPO critic and estimator.

    python -m sppo.main [hydra overrides]                      # GPU node, sppo/configs/sppo_trainer.yaml
    python -m sppo.main platform=cpu [overrides]               # CPU-only machine (hf rollout, gloo)
    python -m sppo.main algorithm.adv_estimator=grpo actor_rollout_ref.rollout.n=8   # a stock verl baseline

The config extends verl's own ``ppo_trainer.yaml``, so every verl override works unchanged.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

INTERRUPTED = "sppo: interrupted; rerun the same command to resume from the latest checkpoint"

if __name__ == "__main__":  # python -m sppo.main: Ctrl-C while hydra, torch and verl are still being imported

    def _interrupted_while_importing(signum, frame):
        print(INTERRUPTED, file=sys.stderr, flush=True)
        os._exit(130)  # nothing has started yet

    signal.signal(signal.SIGINT, _interrupted_while_importing)

import hydra  # noqa: E402 - after the Ctrl-C handler of the import phase
from omegaconf import DictConfig, open_dict  # noqa: E402

from sppo.cli_errors import ignore_further_interrupts  # noqa: E402

CONFIG_DIR = str(Path(__file__).resolve().parent / "configs")  # packaged with the plug-in: works from a wheel


def _select_platform(config: DictConfig) -> None:
    """The sppo plugin reads VERL_PLATFORM when verl is imported, in this process and in Ray workers.

    Hydra already imported verl here (to read verl's packaged configs), so the CPU extension is also
    activated explicitly in this process.
    """
    if str(config.trainer.get("device", "cuda")) == "cpu":
        os.environ["VERL_PLATFORM"] = "cpu"
        from sppo.cpu import activate

        activate()
        with open_dict(config):
            env = config.ray_kwargs.ray_init.setdefault("runtime_env", {}).setdefault("env_vars", {})
            env["VERL_PLATFORM"] = "cpu"


def _make_task_runner():
    import ray
    from verl.trainer.main_ppo import TaskRunnerV1

    class SPPOTaskRunner(TaskRunnerV1.__ray_actor_class__):
        """verl's v1 task runner, building the SPPO trainer of the configured ``trainer.v1.trainer_mode``.

        verl picks the trainer class with ``get_trainer_cls(trainer.v1.trainer_mode)`` inside ``run`` and has
        no hook to pass another class; registering new mode names would change behaviour (verl branches on
        the mode's name) and re-registering verl's names is refused. So, in this actor's process only, the
        lookup is rebound to return SPPO's trainer for each of verl's modes, and verl's own ``run`` does the
        rest. A mode without an SPPO trainer is refused (sppo.launch_checks refuses it before Ray starts).
        """

        def run(self, config):
            import verl.trainer.ppo.v1 as v1

            from sppo.trainer import SPPO_TRAINERS

            stock_lookup = v1.get_trainer_cls

            def sppo_lookup(name: str):
                if name not in SPPO_TRAINERS:
                    raise ValueError(f"SPPO needs trainer.v1.trainer_mode in {sorted(SPPO_TRAINERS)}, got {name!r}")
                return SPPO_TRAINERS[name]

            v1.get_trainer_cls = sppo_lookup
            try:
                return super().run(config)
            finally:
                v1.get_trainer_cls = stock_lookup

    return ray.remote(num_cpus=1)(SPPOTaskRunner)


def _sppo_error_message(exc: BaseException) -> str | None:
    """The one-line message of an SPPO error, also when it arrives wrapped by Ray."""
    from sppo.config_checks import SPPOConfigError

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, SPPOConfigError) or (isinstance(exc, ValueError) and str(exc).startswith("SPPO needs")):
            return str(exc).strip().splitlines()[-1] if isinstance(exc, SPPOConfigError) else str(exc).splitlines()[0]
        text = str(exc)
        if "SPPO needs outcome rewards" in text:
            line = next(ln for ln in text.splitlines() if "SPPO needs outcome rewards" in ln)
            return line[line.index("SPPO needs") :]
        exc = getattr(exc, "cause", None) or exc.__cause__
    return None


def run(config: DictConfig) -> None:
    """Validate (one-line errors), then hand ``config`` to verl's ``run_ppo`` with SPPO's task runner."""
    from sppo.config_checks import check_config
    from sppo.launch_checks import launch_checks, validate_with_verl
    from sppo.tools.dry_run import dry_run

    _select_platform(config)
    # this process's one parse of sppo.*: every check below reads this object (the trainer, in its Ray actor,
    # parses the config it receives once more: sppo/trainer/base.py)
    options = check_config(config)
    if options.dry_run or os.environ.get("SPPO_DRY_RUN", "0") not in ("", "0"):
        dry_run(config, options)  # resource checks, resolved config, one-screen summary; never starts Ray
        return
    for warning in launch_checks(config, dry_run=False, options=options):
        print(f"sppo: warning: {warning}", file=sys.stderr)
    validate_with_verl(config)

    from verl.trainer.main_ppo import run_ppo

    if not config.trainer.get("use_v1", True):
        # verl's legacy trainer (ReMax's greedy baseline exists only there in verl 0.9.1); SPPO refuses it
        from verl.trainer.main_ppo_v0 import TaskRunner

        run_ppo(config, task_runner_class=TaskRunner)
        return
    run_ppo(config, task_runner_class=_make_task_runner())


@hydra.main(config_path=CONFIG_DIR, config_name="sppo_trainer", version_base=None)
def _hydra_main(config: DictConfig) -> None:
    try:
        run(config)
    except KeyboardInterrupt:
        # verl writes latest_checkpointed_iteration.txt only after a checkpoint is complete, so a rerun resumes
        # from the last complete one (trainer.resume_mode=auto)
        ignore_further_interrupts()
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - turn SPPO and config errors into one line, re-raise the rest
        message = _sppo_error_message(exc) or _config_error_message(exc)
        if message is None:
            raise
        print(f"sppo: error: {message}", file=sys.stderr)
        sys.exit(2)


class _CommandLineError(Exception):
    """A command line hydra cannot parse (an unknown flag, an override without ``=``, an unclosed bracket)."""


def _check_command_line(argv: list[str]) -> None:
    """hydra's own flags and override grammar, checked first so that a typo is one line (hydra prints its usage or
    a multi-line report and exits with 1 or 2)."""
    from hydra._internal.utils import get_args_parser
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = get_args_parser()

    def error(message: str) -> None:
        raise _CommandLineError(f"{message} (hydra flags: --help, --cfg job, --resolve, ...; settings: key=value)")

    parser.error = error  # argparse reports bad flags through this method
    args = parser.parse_args(argv)
    try:
        OverridesParser.create().parse_overrides(args.overrides)
    except OverrideParseException as exc:
        raise _CommandLineError(_hydra_message(exc)) from None


def _hydra_message(exc: BaseException) -> str:
    """hydra's multi-line report as one line: its lines joined, without the links and the config search path."""
    lines: list[str] = []
    options: list[str] = []
    for raw in str(exc).splitlines():
        line = raw.strip()
        if line.startswith("Config search path") or line.startswith("provider="):
            break
        if not line or line.startswith("See https://hydra.cc"):
            continue
        line = line.rstrip(".")
        if raw.startswith("\t") and lines and lines[-1].startswith("Available options"):
            options.append(line)
            continue
        if options:
            lines[-1] += " " + ", ".join(options)
            options = []
        lines.append(line)
    if options:
        lines[-1] += " " + ", ".join(options)
    cause = exc.__cause__
    if cause is not None and str(cause).strip():
        first = str(cause).strip().splitlines()[0]
        if "is not in struct" in first:
            first += " (a typo? a key that verl's config does not have needs a + prefix)"
        lines.append(first)
    return "; ".join(lines) if lines else type(exc).__name__


def _config_error_message(exc: BaseException) -> str | None:
    """One line for a hydra or omegaconf error (a setting that is missing, of the wrong type, or cannot be
    resolved), or None for any other exception."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    if not isinstance(exc, (HydraException, OmegaConfBaseException)):
        return None
    if isinstance(exc, OmegaConfBaseException):
        key = getattr(exc, "full_key", None)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if type(exc).__name__ == "MissingMandatoryValue" and key:
            return f"{key} is not set (verl's config has no default): add {key}=<value>"
        return f"{key}: {first}" if key and key not in first else first
    return _hydra_message(exc)


def main() -> None:
    """``python -m sppo.main [hydra overrides]``: hydra's errors (a misspelt key, a missing ``=``, an unknown key
    without ``+``, a config group option that does not exist) are one ``sppo: error:`` line with exit code 2, as are
    SPPO's and the launch checks' (docs/errors.md); Ctrl-C is one line with exit code 130."""
    import warnings

    signal.signal(signal.SIGINT, signal.default_int_handler)  # from here on, Ctrl-C is a KeyboardInterrupt
    # verl announces at import that optional engines (megatron, torchtitan, ...) are not installed: noise on the
    # stderr whose error contract is one line
    warnings.filterwarnings("ignore", message=r".* engine is not available", category=UserWarning)
    try:
        _check_command_line(sys.argv[1:])
    except KeyboardInterrupt:
        ignore_further_interrupts()
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(130)
    except _CommandLineError as exc:
        print(f"sppo: error: {exc}", file=sys.stderr)
        sys.exit(2)
    user_setting = os.environ.get("HYDRA_FULL_ERROR")
    if user_setting is None:
        os.environ["HYDRA_FULL_ERROR"] = "1"  # hydra raises its errors instead of printing a multi-line report
    try:
        _hydra_main()
    except KeyboardInterrupt:  # while hydra composes the config, before the run (which reports its own)
        ignore_further_interrupts()
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - hydra's own errors (composition) become one line
        message = _config_error_message(exc) if user_setting is None else None
        if message is None:
            raise
        print(f"sppo: error: {message}", file=sys.stderr)
        sys.exit(2)
    finally:
        if user_setting is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)


if __name__ == "__main__":
    main()
