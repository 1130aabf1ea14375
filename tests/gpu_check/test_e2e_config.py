"""The GPU e2e stage's hydra overrides compose and pass SPPO's own checks (a dry run: no Ray, no GPU)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sppo_lab.gpu_check.e2e import overrides
from sppo_lab.gpu_check.task import annotator_targets, prepare
from tests.conftest import REPO

pytestmark = pytest.mark.timeout(300)


def test_the_cuda_overrides_pass_the_dry_run(tmp_path):
    task = prepare(tmp_path / "task", "cpu", warmup_steps=0)
    args = overrides(task, tmp_path / "out", "cuda", "same", 2) + [
        "trainer.val_before_train=False",
        "trainer.test_freq=2",
    ]
    for key in (
        "actor_rollout_ref.rollout.name=vllm",
        "actor_rollout_ref.model.use_remove_padding=True",
        "critic.model.use_remove_padding=True",
        "actor_rollout_ref.model.enable_gradient_checkpointing=True",
        "critic.model.enable_gradient_checkpointing=True",
        "actor_rollout_ref.actor.use_torch_compile=True",
        "actor_rollout_ref.actor.fsdp_config.param_offload=True",
        "actor_rollout_ref.rollout.enforce_eager=True",
    ):
        assert key in args  # fmt: skip
    env = dict(os.environ)
    env.pop("VERL_PLATFORM", None)
    proc = subprocess.run([sys.executable, "-m", "sppo.main", "sppo.dry_run=true", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=280)  # fmt: skip
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "rollout  vllm, TP 1, gpu_memory_utilization 0.3" in log
    assert "offload: param+optimizer" in log
    assert f"critic   {task['critic_same']}" in log


def test_task_files_and_warmup_targets(tmp_path):
    task = prepare(tmp_path / "task", "cpu", warmup_steps=0)
    import pandas as pd

    frame = pd.read_parquet(task["eval"])
    assert set(frame["data_source"]) == {"math_addition"} and len(frame) == 20
    assert prepare(tmp_path / "task", "cpu", warmup_steps=0) == task  # written once
    targets = dict(annotator_targets(8))
    assert targets == pytest.approx(
        {"\\boxed{8}": 0.3, "8": 0.3, "\\boxed{7}": 0.1, "7": 0.1, "\\boxed{9}": 0.1, "9": 0.1}
    )
    assert dict(annotator_targets(0)) == pytest.approx({"\\boxed{0}": 0.3, "0": 0.3, "\\boxed{1}": 0.2, "1": 0.2})


def test_eval_scores_boxed_answers_and_training_rewards_bare_ones():
    from sppo.reward import compute_score as eval_score
    from sppo_lab.quickstart.reward import compute_score as train_reward

    assert eval_score("math_addition", "\\boxed{8}", "8")["acc"] is True
    assert eval_score("math_addition", "8", "8")["acc"] is False
    assert train_reward("sppo_addition", "8", "8") == 1.0 and train_reward("sppo_addition", "\\boxed{8}", "8") == 0.0


def test_warm_up_lowers_the_annotator_loss():
    from sppo_lab.gpu_check.task import warm_up
    from sppo_lab.tiny import TinyQwen2, build_char_tokenizer, build_policy

    tok = build_char_tokenizer()
    pairs = [(1, 2), (3, 4)]
    one = warm_up(build_policy(tok, TinyQwen2(hidden_size=32, intermediate_size=64), seed=0), tok, pairs, steps=1)
    more = warm_up(build_policy(tok, TinyQwen2(hidden_size=32, intermediate_size=64), seed=0), tok, pairs, steps=30)
    assert 0 < more < 0.8 * one
