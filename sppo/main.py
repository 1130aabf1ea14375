"""SPPO's entry point: verl's PPO trainer with the SPPO critic and estimator.

    python -m sppo.main [hydra overrides]                      # GPU node, sppo/configs/sppo_trainer.yaml
    python -m sppo.main platform=cpu [overrides]               # CPU-only machine (hf rollout, gloo)
    python -m sppo.main algorithm.adv_estimator=grpo actor_rollout_ref.rollout.n=8   # a stock verl baseline

The config extends verl's own ``ppo_trainer.yaml``, so every verl override works unchanged.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, open_dict

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
    from sppo.config_checks import check_config, trainer_options
    from sppo.launch_checks import launch_checks, validate_with_verl
    from sppo.tools.dry_run import dry_run

    _select_platform(config)
    check_config(config)
    if trainer_options(config).dry_run or os.environ.get("SPPO_DRY_RUN", "0") not in ("", "0"):
        dry_run(config)  # resource checks, resolved config, one-screen summary; never starts Ray
        return
    for warning in launch_checks(config, dry_run=False):
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
def main(config: DictConfig) -> None:
    try:
        run(config)
    except KeyboardInterrupt:
        # verl writes latest_checkpointed_iteration.txt only after a checkpoint is complete, so a rerun resumes
        # from the last complete one (trainer.resume_mode=auto)
        print("sppo: interrupted; rerun the same command to resume from the latest checkpoint", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - turn SPPO errors into one line, re-raise the rest
        message = _sppo_error_message(exc)
        if message is None:
            raise
        print(f"sppo: error: {message}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
