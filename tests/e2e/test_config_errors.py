"""Invalid combinations fail with one clear line: in-process checks, the CLI's output, and a runtime reward check."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir

from sppo.config_checks import SPPOConfigError, check_config
from tests.conftest import REPO, run_sppo_main, tiny_overrides


def _compose(overrides: list[str]):
    with initialize_config_dir(config_dir=str(REPO / "sppo" / "configs"), version_base=None):
        return compose("sppo_trainer", overrides=overrides)


@pytest.fixture(scope="module")
def critic_without_chat_template(tmp_path_factory):
    """The other-family critic's tokenizer with its chat template removed."""
    from sppo_lab.tiny import build_inst_tokenizer, build_llama_critic, save

    tok = build_inst_tokenizer()
    tok.chat_template = None
    return save(build_llama_critic(tok), tok, tmp_path_factory.mktemp("no_template_critic"))


def test_sppo_turns_the_critic_on(tiny_task, tmp_path):
    cfg = _compose(tiny_overrides(tiny_task, tmp_path, steps=1))
    assert cfg.critic.enable is None
    check_config(cfg)
    assert cfg.critic.enable is True


def test_sppo_with_critic_disabled(tiny_task, tmp_path):
    cfg = _compose(tiny_overrides(tiny_task, tmp_path, steps=1) + ["critic.enable=False"])
    with pytest.raises(SPPOConfigError, match=r"^algorithm.adv_estimator=sppo needs its critic"):
        check_config(cfg)


def test_critic_tokenizer_mismatch(tiny_task, tmp_path, other_family_critic):
    cfg = _compose(tiny_overrides(tiny_task, tmp_path, steps=1) + [f"critic.model.path={other_family_critic}"])
    with pytest.raises(SPPOConfigError) as err:
        check_config(cfg)
    message = str(err.value)
    assert message.startswith(
        f"critic tokenizer ({other_family_critic}) differs from the policy's ({tiny_task.policy})"
    )
    assert "set sppo.critic_retokenize=true" in message
    assert "\n" not in message


def test_critic_retokenize_accepts_another_tokenizer(tiny_task, tmp_path, other_family_critic):
    overrides = [f"critic.model.path={other_family_critic}", "sppo.critic_retokenize=true"]
    cfg = _compose(tiny_overrides(tiny_task, tmp_path, steps=1) + overrides)
    check_config(cfg)
    assert cfg.critic.enable is True


@pytest.mark.parametrize("estimator", ["gae", "grpo"])
def test_critic_retokenize_needs_sppo(tiny_task, tmp_path, other_family_critic, estimator):
    overrides = [f"critic.model.path={other_family_critic}", "sppo.critic_retokenize=true"]
    cfg = _compose(tiny_overrides(tiny_task, tmp_path, steps=1, estimator=estimator) + overrides)
    with pytest.raises(SPPOConfigError) as err:
        check_config(cfg)
    assert str(err.value) == (
        f"sppo.critic_retokenize=true needs algorithm.adv_estimator=sppo, not '{estimator}' "
        "(a token-level critic reads the policy's prompt+response tokens)"
    )


def test_critic_retokenize_needs_a_chat_template(tiny_task, tmp_path, critic_without_chat_template):
    overrides = [f"critic.model.path={critic_without_chat_template}", "sppo.critic_retokenize=true"]
    cfg = _compose(tiny_overrides(tiny_task, tmp_path, steps=1) + overrides)
    with pytest.raises(SPPOConfigError) as err:
        check_config(cfg)
    assert str(err.value) == (
        f"sppo.critic_retokenize=true needs a chat template, and the critic tokenizer ({critic_without_chat_template}) "
        "has none; set critic.model.custom_chat_template"
    )
    check_config(
        _compose(tiny_overrides(tiny_task, tmp_path, steps=1) + overrides + ["critic.model.custom_chat_template=x"])
    )


def test_baselines_keep_stock_behaviour(tiny_task, tmp_path, other_family_critic):
    cfg = _compose(
        tiny_overrides(tiny_task, tmp_path, steps=1, estimator="grpo") + [f"critic.model.path={other_family_critic}"]
    )
    check_config(cfg)  # no SPPO checks for grpo
    assert cfg.critic.enable is None  # verl decides (off for grpo)


@pytest.mark.parametrize(
    "override, message",
    [
        ("algorithm.adv_estimator=nonsense", "algorithm.adv_estimator='nonsense' is unknown; choose one of"),
        ("algorithm.sppo.advantage=gaussian", "algorithm.sppo.advantage='gaussian'; choose residual or bernoulli"),
        ("algorithm.sppo.reward_range=[1,0]", "algorithm.sppo.reward_range=[1.0, 0.0]; expected [lo, hi] with hi > lo"),
        ("algorithm.sppo.whiten=no", "algorithm.sppo.whiten='no'; expected true or false"),
        ("algorithm.sppo.eps=-1", "algorithm.sppo.eps=-1; expected a value in (0, 0.25]"),
        ("+sppo.calibration_bins=10", "sppo.calibration_bins is not an SPPO option; known:"),
        ("sppo.calibration_log_max_rows=0", "sppo.calibration_log_max_rows=0; expected an integer in [1, 1,000,000]"),
        ("algorithm.use_kl_in_reward=True", "algorithm.use_kl_in_reward=True is not supported with sppo"),
        ("sppo.max_train_seconds=0", "sppo.max_train_seconds=0; expected a positive number of seconds or null"),
        (
            "sppo.prompt_selection.enable=true sppo.prompt_selection.band=[0.9,0.1]",
            "sppo.prompt_selection.band=[0.9, 0.1]; expected [lo, hi] with 0 <= lo < hi <= 1",
        ),
    ],
)
def test_other_bad_settings(tiny_task, tmp_path, override, message):
    cfg = _compose(tiny_overrides(tiny_task, tmp_path, steps=1) + override.split())
    with pytest.raises(SPPOConfigError) as err:
        check_config(cfg)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


@pytest.mark.timeout(300)
def test_cli_prints_one_line_and_exits_2(tiny_task, tmp_path):
    env = dict(os.environ)
    env.pop("VERL_PLATFORM", None)
    proc = subprocess.run(
        [sys.executable, "-m", "sppo.main", *tiny_overrides(tiny_task, tmp_path, steps=1), "critic.enable=False"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("sppo: error:")]
    assert errors == [
        "sppo: error: algorithm.adv_estimator=sppo needs its critic: remove critic.enable=False "
        "(SPPO's baseline is sigmoid(V(prompt)))"
    ]
    assert "Traceback" not in proc.stderr


@pytest.mark.ray
@pytest.mark.slow  # the message's path through Ray is unit-tested in tests/core/test_advantage.py
@pytest.mark.timeout(900)
def test_reward_outside_unit_interval_stops_the_run_with_one_line(tiny_task, tmp_path):
    reward_file = tmp_path / "bad_reward.py"
    reward_file.write_text(
        "def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kw):\n    return 2.0\n"
    )
    overrides = tiny_overrides(tiny_task, tmp_path, steps=1) + [f"reward.custom_reward_function.path={reward_file}"]
    result = run_sppo_main(overrides, tmp_path / "run")
    assert result.returncode == 2, result.log[-3000:]
    errors = [line for line in result.log.splitlines() if line.startswith("sppo: error:")]
    assert len(errors) == 1
    assert errors[0].startswith("sppo: error: SPPO needs outcome rewards in [0, 1]; got 2 (8 of 8 sequences)")


@pytest.mark.parametrize(
    "override, message",
    [
        ("actor_rollout_ref.actor.optim.lr=-1e-6", "actor_rollout_ref.actor.optim.lr=-1e-06; expected a value > 0"),
        ("critic.optim.lr=abc", "critic.optim.lr='abc'; expected a finite number"),
        ("data.max_response_length=-5", "data.max_response_length=-5; expected a value >= 1"),
        ("data.max_prompt_length=0", "data.max_prompt_length=0; expected a value >= 1"),
        ("trainer.total_training_steps=0", "trainer.total_training_steps=0; expected a value >= 1"),
        ("actor_rollout_ref.rollout.n=0", "actor_rollout_ref.rollout.n=0; expected a value >= 1"),
        (
            "sppo.calibration_log=TMP/a_file/calibration.jsonl",
            "sppo.calibration_log=TMP/a_file/calibration.jsonl cannot",
        ),
        (
            "trainer.default_local_dir=TMP/a_file",
            "trainer.default_local_dir=TMP/a_file is a file; expected a directory",
        ),
    ],
)
def test_launch_checks_refuse_nonsense_verl_values(tiny_task, tmp_path, override, message):
    from sppo.launch_checks import launch_checks

    (tmp_path / "a_file").write_text("")  # a path under a file cannot be created, even by root
    override, message = override.replace("TMP", str(tmp_path)), message.replace("TMP", str(tmp_path))
    cfg = _compose(tiny_overrides(tiny_task, tmp_path, steps=1) + [override])
    check_config(cfg)
    with pytest.raises(SPPOConfigError) as err:
        launch_checks(cfg, dry_run=False)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_launch_checks_run_the_data_file_checks(tiny_task, tmp_path):
    import pandas as pd

    from sppo.launch_checks import launch_checks

    bad = tmp_path / "bad.parquet"
    pd.read_parquet(tiny_task.train).assign(prompt="What is 1+1?").to_parquet(bad)  # a plain string, not chat messages
    cfg = _compose(tiny_overrides(tiny_task, tmp_path, steps=1) + [f"data.train_files={bad}"])
    check_config(cfg)
    assert launch_checks(_compose(tiny_overrides(tiny_task, tmp_path, steps=1)), dry_run=False) == []
    with pytest.raises(SPPOConfigError, match=r"^data.train_files: .*bad.parquet"):
        launch_checks(cfg, dry_run=False)
