"""What the time-to-target benchmark hands to ``python -m sppo.main`` for each method."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from sppo_lab.benchmarks.bench_time_to_target import METHODS, parse_args, run_overrides

INFO = {
    "train_file": "/d/train.parquet",
    "val_file": "/d/val.parquet",
    "policy_path": "/m/policy",
    "critic_path": "/m/critic",
    "policy_sized_critic_path": "/m/critic_policy_size",
}


def _overrides(
    name: str, gpu: bool = False, task: str = "addition", sppo_test_freq: int | None = None
) -> dict[str, str]:
    args = argparse.Namespace(
        task=task,
        batch=16,
        seed=3,
        budget_s=90.0,
        gpu=gpu,
        sppo_test_freq=sppo_test_freq,
        overrides=["actor_rollout_ref.actor.clip_ratio=0.3"],
    )
    items = run_overrides(METHODS[name], args, INFO, Path("/r"), steps=500)
    as_dict = dict(o.split("=", 1) for o in items)
    assert len(as_dict) == len(items), "an override is given twice"
    return as_dict


@pytest.mark.parametrize(
    "name, estimator, n",
    [
        ("sppo", "sppo", "1"),
        ("grpo", "grpo", "8"),
        ("rloo", "rloo", "8"),
        ("gae", "gae", "1"),
        ("reinforce_pp", "reinforce_plus_plus_baseline", "1"),
    ],
)
def test_every_v1_method_shares_batch_model_and_budget(name, estimator, n):
    o = _overrides(name)
    assert (o["algorithm.adv_estimator"], o["actor_rollout_ref.rollout.n"]) == (estimator, n)
    assert o["data.train_batch_size"] == "16" and o["data.seed"] == "3"
    assert o["actor_rollout_ref.model.path"] == "/m/policy" and o["critic.model.path"] == "/m/critic"
    assert o["sppo.max_train_seconds"] == "90.0" and o["trainer.total_training_steps"] == "500"
    assert o["trainer.save_freq"] == "-1"  # saving would be counted in the step time
    assert o["platform"] == "cpu" and o["actor_rollout_ref.actor.clip_ratio"] == "0.3"
    assert "trainer.use_v1" not in o and "sppo.calibration_log" not in o
    assert o["trainer.resume_mode"] == "disable" and o["trainer.test_freq"] == "100000"
    # the same micro-batch (16 sequences) for N = 1 and N = 8: per-sample training cost does not depend on N
    for key in (
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu",
        "critic.ppo_micro_batch_size_per_gpu",
    ):
        assert o[key] == "16", key


def test_sppo_test_freq_validates_only_the_plain_sppo_runs_during_training():
    assert _overrides("sppo", sppo_test_freq=20)["trainer.test_freq"] == "20"
    for name in ("sppo_select", "grpo", "gae", "reinforce_pp"):
        assert _overrides(name, sppo_test_freq=20)["trainer.test_freq"] == "100000", name


def test_sppo_test_freq_must_be_positive(capsys):
    with pytest.raises(SystemExit) as exc:
        parse_args(["--sppo-test-freq", "0"])
    assert exc.value.code == 2
    assert "--sppo-test-freq must be a positive number of steps" in capsys.readouterr().err


def test_remax_runs_the_legacy_trainer_for_a_step_count():
    o = _overrides("remax")
    assert o["trainer.use_v1"] == "False" and "sppo.max_train_seconds" not in o
    assert o["trainer.total_training_steps"] == "500"


def test_prompt_selection_variant_and_gpu_platform():
    assert _overrides("sppo_select")["sppo.prompt_selection.enable"] == "true"
    assert "sppo.prompt_selection.enable" not in _overrides("sppo")
    assert _overrides("sppo", gpu=True)["platform"] == "gpu"


def test_arguments_are_checked():
    with pytest.raises(SystemExit):
        parse_args(["--methods", "grpo"])  # ratios need sppo
    with pytest.raises(SystemExit):
        parse_args(["--budget-s", "0"])
    assert parse_args([]).methods == ["sppo", "grpo", "rloo", "gae", "remax"]
    with pytest.raises(SystemExit):
        parse_args(["--targets", "1.5"])
    with pytest.raises(SystemExit):
        parse_args(["--task", "graded", "--methods", "sppo", "sppo_samecritic"])  # an a+b-sized critic


def test_graded_task_gets_its_lengths_reward_learning_rate_and_targets():
    o, plain = _overrides("sppo", task="graded"), _overrides("sppo")
    assert (o["data.max_prompt_length"], o["data.max_response_length"]) == ("64", "128")
    assert o["reward.custom_reward_function.path"] == "pkg://sppo_lab.graded.reward"
    assert (o["actor_rollout_ref.actor.optim.lr"], plain["actor_rollout_ref.actor.optim.lr"]) == ("2e-5", "3e-4")
    assert o["sppo.max_train_seconds"] == "90.0"
    assert parse_args(["--task", "graded"]).targets == [0.4, 0.45, 0.5]
    assert parse_args([]).targets == [0.5, 0.6, 0.7]


def test_async_mode_variants_keep_every_setting_of_sync_sppo():
    sync = _overrides("sppo", task="graded")
    colocate = _overrides("sppo_colocate_async", task="graded")
    assert colocate.pop("trainer.v1.trainer_mode") == "colocate_async" and colocate == sync
    separate = _overrides("sppo_separate_async", task="graded")
    assert separate.pop("trainer.v1.trainer_mode") == "separate_async"
    sync_step = int(separate.pop("trainer.v1.separate_async.parameter_sync_step"))
    assert sync_step * int(separate["actor_rollout_ref.actor.ppo_mini_batch_size"]) == int(
        separate["data.train_batch_size"]
    )  # verl asserts this inside the Ray task runner
    for key in ("actor_rollout_ref.rollout.nnodes", "actor_rollout_ref.rollout.n_gpus_per_node"):
        separate.pop(key)
    separate.pop("ray_kwargs.ray_init.num_gpus")
    assert separate == sync


def test_policy_sized_critic_variant_swaps_only_the_critic(tmp_path):
    from sppo_lab.benchmarks.bench_time_to_target import policy_sized_critic

    same, small = _overrides("sppo_samecritic"), _overrides("sppo")
    assert same.pop("critic.model.path") == "/m/critic_policy_size"
    small.pop("critic.model.path")
    assert same == small
    path = policy_sized_critic(tmp_path, seed=0)
    config = __import__("json").loads((tmp_path / "models" / "critic_policy_size" / "config.json").read_text())
    assert path.endswith("critic_policy_size") and (config["hidden_size"], config["num_hidden_layers"]) == (128, 2)
