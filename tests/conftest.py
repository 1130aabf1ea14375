"""Shared fixtures: a tiny task (tokenizer, policy, smaller critic, parquet data) and a runner for sppo.main."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@dataclass
class TinyTask:
    root: Path
    policy: str
    critic: str
    train: str
    val: str


@pytest.fixture(scope="session")
def tiny_task(tmp_path_factory) -> TinyTask:
    """Random tiny Qwen2 policy (hidden 128, 2 layers) + smaller critic (hidden 64, 1 layer) + a+b data."""
    from sppo_lab.quickstart import task
    from sppo_lab.tiny import build_char_tokenizer, build_critic, build_policy, save

    root = tmp_path_factory.mktemp("tiny_task")
    tok = build_char_tokenizer()
    policy = save(build_policy(tok, seed=1), tok, root / "policy")
    critic = save(build_critic(tok, seed=1), tok, root / "critic")
    train, val = task.write_parquets(root / "data", n_val=8)
    return TinyTask(root, policy, critic, train, val)


@pytest.fixture(scope="session")
def other_family_critic(tiny_task) -> str:
    """A tiny Llama critic (hidden 32, 1 layer) with its own tokenizer: Mistral-style [INST] template, other ids."""
    from sppo_lab.tiny import build_inst_tokenizer, build_llama_critic, save

    tok = build_inst_tokenizer()
    return save(build_llama_critic(tok, seed=1), tok, tiny_task.root / "llama_critic")


def tiny_overrides(t: TinyTask, out: Path, steps: int, estimator: str = "sppo", n: int = 1) -> list[str]:
    """A few fast steps of the real trainer on CPU (batch 8, responses of at most 4 tokens)."""
    return [
        "platform=cpu",
        f"algorithm.adv_estimator={estimator}",
        f"data.train_files={t.train}",
        f"data.val_files={t.val}",
        "data.train_batch_size=8",
        "data.max_prompt_length=32",
        "data.max_response_length=4",
        f"actor_rollout_ref.model.path={t.policy}",
        f"critic.model.path={t.critic}",
        "reward.custom_reward_function.path=pkg://sppo_lab.quickstart.reward",
        f"actor_rollout_ref.rollout.n={n}",
        "actor_rollout_ref.rollout.temperature=1.0",
        "actor_rollout_ref.actor.ppo_mini_batch_size=8",
        f"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu={8 * n}",
        f"actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu={8 * n}",
        "actor_rollout_ref.actor.optim.lr=1e-3",
        "critic.ppo_mini_batch_size=8",
        f"critic.ppo_micro_batch_size_per_gpu={8 * n}",
        "critic.optim.lr=1e-3",
        f"trainer.total_training_steps={steps}",
        "trainer.test_freq=-1",
        "trainer.val_before_train=False",
        "trainer.save_freq=-1",
        f"trainer.default_local_dir={out / 'ckpt'}",
        "trainer.project_name=sppo_tests",
        f"trainer.experiment_name={estimator}",
        "trainer.logger=[console,file]",
    ]


@dataclass
class RunResult:
    returncode: int
    log: str
    metrics: list[dict]

    @property
    def steps(self) -> list[dict]:
        return [r for r in self.metrics if "critic/score/mean" in r["data"]]


def run_sppo_main(overrides: list[str], out: Path, timeout: int = 900) -> RunResult:
    """``python -m sppo.main`` in a subprocess (its own Ray cluster), metrics from verl's file logger."""
    from sppo_lab.launch import launch_training, training_env

    out.mkdir(parents=True, exist_ok=True)
    metrics, log_path = out / "metrics.jsonl", out / "run.log"
    env = training_env(metrics, drop=("VERL_PLATFORM",))
    log_path.unlink(missing_ok=True)  # a relaunch into the same folder (a resume) gets a log of its own
    code = launch_training(overrides, metrics, log_path, env=env, cwd=REPO, timeout_s=timeout, who="run_sppo_main:")
    rows = [json.loads(line) for line in metrics.read_text().splitlines()] if metrics.exists() else []
    return RunResult(code, log_path.read_text(errors="replace"), rows)


# --- test lanes (README, "Tests") ------------------------------------------------------------------------------
# fast:    unit tests: no Ray, no subprocess, no model training (`bash run_scripts/test.sh -m fast`, < 3 min)
# default: everything but `slow` (CI)
# slow:    repeated long scenarios (`-m slow`)
# Modules whose tests start Ray, subprocesses or train models; every other test is marked `fast` unless it is
# marked `ray` or `slow` itself.
INTEGRATION_MODULES = {
    "tests.test_output_modes",
    "tests.test_clean_tree",
    "tests.test_no_machine_paths",
    "tests.control.test_control_without_gymnasium",
    "tests.graded.test_graded_progress",
    "tests.graded.test_graded_cli_errors",
    "tests.e2e.test_interrupt_early",
    "tests.e2e.test_launch",
    "tests.scripts.test_megatron_scripts",
    "tests.beyond.test_run_script",
    "tests.beyond.test_real_run",
    "tests.test_lint",
    "tests.analysis.test_bad_input_analysis",
    "tests.analysis.test_calibration",
    "tests.analysis.test_tail_effect",
    "tests.benchmarks.test_critic_cost",
    "tests.benchmarks.test_time_to_target_runs",
    "tests.control.test_bad_input_control",
    "tests.critic_pays.test_comparison",
    "tests.control.test_control_cli_report",
    "tests.control.test_control_learning",
    "tests.core.test_value_engine_packed",
    "tests.data.test_bad_input_data",
    "tests.data.test_data_check",
    "tests.data.test_data_prepare",
    "tests.e2e.test_config_errors",
    "tests.eval.test_bad_input_eval",
    "tests.eval.test_generate",
    "tests.eval.test_run_scripts",
    "tests.gpu_check.test_driver",
    "tests.gpu_check.test_e2e_config",
    "tests.layout.test_packages",
    "tests.quickstart.test_quickstart_parts",
    "tests.reward.test_reward_bounds",
    "tests.reward.test_reward_score",
    "tests.scripts.test_plan_memory_cli",
    "tests.scripts.test_run_scripts",
    "tests.scripts.test_uv_verl",
    "tests.scripts.test_wandb_offline",
}


def pytest_configure(config):
    """The session must leave the git checkout as it found it (tests/clean_tree.py), whatever is collected."""
    from tests.clean_tree import register

    register(config)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook reads the xdist_group marks
def pytest_collection_modifyitems(config, items):
    for item in items:
        marks = {m.name for m in item.iter_markers()}
        if "ray" in marks:
            # one Ray cluster at a time: with SPPO_TEST_WORKERS=N (run_scripts/test.sh: -n N --dist loadgroup) every
            # Ray test runs on the same worker, one after another, while the others take the rest of the suite (Ray
            # gives a starting node 30 s to register, which two clusters starting at once on 2 cores can miss)
            item.add_marker(pytest.mark.xdist_group("ray"))
        if not marks & {"ray", "slow"} and item.module.__name__ not in INTEGRATION_MODULES:
            item.add_marker(pytest.mark.fast)
    # the Ray group is the longest chain of the suite: it goes first, so the other worker runs everything else
    # beside it instead of waiting for it at the end
    items.sort(key=lambda item: item.get_closest_marker("ray") is None)
