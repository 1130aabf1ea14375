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
        # issue 25: verl's own actor, rollout, data and trainer keys that verl accepts and then fails on inside Ray
        # (or trains on something else)
        (
            "actor_rollout_ref.actor.ppo_epochs=0",
            "actor_rollout_ref.actor.ppo_epochs=0; expected a value >= 1 (0 epochs: the policy is never updated)",
        ),
        ("actor_rollout_ref.actor.clip_ratio=-0.2", "actor_rollout_ref.actor.clip_ratio=-0.2; expected a value > 0"),
        (
            "actor_rollout_ref.actor.clip_ratio_low=1.5",
            "actor_rollout_ref.actor.clip_ratio_low=1.5; expected a value in (0, 1]",
        ),
        (
            "actor_rollout_ref.actor.clip_ratio_c=0.5",
            "actor_rollout_ref.actor.clip_ratio_c=0.5; expected a value > 1 (the dual-clip bound)",
        ),
        (
            "actor_rollout_ref.actor.entropy_coeff=-0.01",
            "actor_rollout_ref.actor.entropy_coeff=-0.01; expected a value >= 0 (a negative coefficient",
        ),
        (
            "actor_rollout_ref.actor.optim.weight_decay=-0.1",
            "actor_rollout_ref.actor.optim.weight_decay=-0.1; expected a value >= 0",
        ),
        (
            "actor_rollout_ref.actor.optim.lr_warmup_steps_ratio=2",
            "actor_rollout_ref.actor.optim.lr_warmup_steps_ratio=2; expected a value in [0, 1]",
        ),
        (
            "actor_rollout_ref.actor.optim.betas=[0.9,1.5]",
            "actor_rollout_ref.actor.optim.betas=[0.9, 1.5]; expected [beta1, beta2], each in [0, 1)",
        ),
        (
            "actor_rollout_ref.actor.policy_loss.loss_mode=vanila",
            "actor_rollout_ref.actor.policy_loss.loss_mode='vanila' is unknown; choose one of",
        ),
        (
            "actor_rollout_ref.actor.use_dynamic_bsz=true actor_rollout_ref.actor.ppo_max_token_len_per_gpu=8",
            "actor_rollout_ref.actor.ppo_max_token_len_per_gpu=8 is below one full sequence "
            "(data.max_prompt_length + data.max_response_length = 36)",
        ),
        ("actor_rollout_ref.rollout.top_p=1.5", "actor_rollout_ref.rollout.top_p=1.5; expected a value in (0, 1]"),
        ("actor_rollout_ref.rollout.top_k=-5", "actor_rollout_ref.rollout.top_k=-5; expected a value >= -1"),
        (
            "actor_rollout_ref.rollout.val_kwargs.n=0",
            "actor_rollout_ref.rollout.val_kwargs.n=0; expected a value >= 1",
        ),
        (
            "actor_rollout_ref.rollout.val_kwargs.temperature=-1",
            "actor_rollout_ref.rollout.val_kwargs.temperature=-1; expected a value >= 0",
        ),
        (
            "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=0",
            "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=0; expected a value >= 1",
        ),
        (
            "actor_rollout_ref.rollout.name=vlm",
            "actor_rollout_ref.rollout.name='vlm' is not a rollout engine verl knows here; choose one of hf,",
        ),
        ("data.truncation=sideways", "data.truncation='sideways'; choose one of error, left, right, middle"),
        ("data.filter_overlong_prompts=maybe", "data.filter_overlong_prompts='maybe'; expected true or false"),
        ("data.prompt_key=question", "data.prompt_key='question': data.train_files /"),
        ("critic.optim.weight_decay=-1", "critic.optim.weight_decay=-1; expected a value >= 0"),
        ("trainer.logger=[console,tensorbord]", "trainer.logger has 'tensorbord', which verl cannot log to"),
        ("trainer.save_freq=abc", "trainer.save_freq='abc'; expected an integer (-1: no checkpoints)"),
        ("trainer.resume_mode=resume", "trainer.resume_mode='resume'; choose one of auto, disable, resume_path"),
        ("trainer.resume_mode=resume_path", "trainer.resume_mode=resume_path needs trainer.resume_from_path="),
        (
            "trainer.resume_mode=resume_path trainer.resume_from_path=TMP/global_step_9",
            "trainer.resume_from_path=TMP/global_step_9: no such folder",
        ),
        (
            "platform=gpu actor_rollout_ref.rollout.name=???",
            "actor_rollout_ref.rollout.name is not set (verl has no default): add actor_rollout_ref.rollout.name=vllm",
        ),
        (
            "sppo.calibration_log=/proc/version",
            "sppo.calibration_log=/proc/version exists and cannot be appended to",
        ),
        (
            "reward.custom_reward_function.path=TMP/no_reward.py",
            "reward.custom_reward_function.path=TMP/no_reward.py (name=compute_score) cannot be loaded: "
            "FileNotFoundError: Custom module file not found",
        ),
        (
            "reward.custom_reward_function.name=score_it",
            "reward.custom_reward_function.path=pkg://sppo_lab.quickstart.reward (name=score_it) cannot be loaded: "
            "AttributeError: Object not found in module",
        ),
    ],
)
def test_launch_checks_refuse_nonsense_verl_values(tiny_task, tmp_path, override, message):
    from sppo.launch_checks import launch_checks

    (tmp_path / "a_file").write_text("")  # a path under a file cannot be created, even by root
    override, message = override.replace("TMP", str(tmp_path)), message.replace("TMP", str(tmp_path))
    cfg = _compose(tiny_overrides(tiny_task, tmp_path, steps=1) + override.split())
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


def test_an_existing_calibration_log_is_appended_to_on_resume(tiny_task, tmp_path):
    """Issue 25: a resumed run (the quickstart's rerun) finds its calibration log from the first launch; appending
    to a file in a writable folder is fine, and the check leaves the file as it was."""
    from sppo.launch_checks import launch_checks

    log = tmp_path / "calibration.jsonl"
    log.write_text('{"step": 1, "p": [0.5], "r": [1.0]}\n')
    before = (log.read_bytes(), log.stat().st_mtime_ns)
    cfg = _compose(tiny_overrides(tiny_task, tmp_path, steps=1) + [f"sppo.calibration_log={log}"])
    check_config(cfg)
    assert launch_checks(cfg, dry_run=False) == []
    assert (log.read_bytes(), log.stat().st_mtime_ns) == before


def test_wandb_without_a_key_is_refused_at_launch_and_a_warning_in_a_dry_run(tiny_task, tmp_path, monkeypatch):
    """verl's default logger is [console, wandb]; without an API key wandb fails inside the Ray task runner."""
    from sppo.launch_checks import launch_checks

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no_netrc"))
    cfg = _compose(tiny_overrides(tiny_task, tmp_path, steps=1) + ["trainer.logger=[console,wandb]"])
    check_config(cfg)
    message = (
        "trainer.logger includes wandb but WANDB_API_KEY is not set (and no `wandb login`); or log elsewhere: "
        "trainer.logger=[console,file] (or WANDB_MODE=offline)"
    )
    with pytest.raises(SPPOConfigError) as err:
        launch_checks(cfg, dry_run=False)
    assert str(err.value) == message
    assert launch_checks(cfg, dry_run=True) == [message]
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert launch_checks(cfg, dry_run=False) == []


def _sppo_main(argv: list[str], cwd, env_extra: dict | None = None, timeout: int = 280) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", **(env_extra or {}))
    env.pop("VERL_PLATFORM", None)
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [sys.executable, "-m", "sppo.main", *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


# hydra's own errors (issue 25): each is one `sppo: error:` line with exit code 2, not hydra's multi-line report
# with exit code 1 (or argparse's usage with 2). Nothing is written (not even hydra's run folder).
HYDRA_CASES = [
    ("unknown flag", ["--foo"], "unrecognized arguments: --foo (hydra flags: --help, --cfg job"),
    ("missing =", ["trainer.total_epochs"], "Error parsing override 'trainer.total_epochs'; missing EQUAL at '<EOF>'"),
    ("unclosed list", ["data.train_files=[a.parquet"], "no viable alternative at input '[a.parquet'"),
    (
        "misspelt key",
        ["trainer.totl_epochs=3"],
        "Could not override 'trainer.totl_epochs'; To append to your config use +trainer.totl_epochs=3; "
        "Key 'totl_epochs' is not in struct (a typo? a key that verl's config does not have needs a + prefix)",
    ),
    (
        "+ on an existing key",
        ["+trainer.total_epochs=3"],
        "Could not append to config. An item is already at 'trainer.total_epochs'",
    ),
    (
        "unknown platform",
        ["platform=gpux"],
        "In 'sppo_trainer': Could not find 'platform/gpux'; Available options in 'platform': cpu, gpu",
    ),
    ("delete a missing key", ["~trainer.nokey"], "Could not delete from config. 'trainer.nokey' does not exist"),
    ("bad --cfg", ["--cfg", "jobs"], "argument --cfg/-c: invalid choice: 'jobs'"),
]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name, argv, needle", HYDRA_CASES, ids=[c[0] for c in HYDRA_CASES])
def test_hydra_errors_are_one_line(tmp_path, name, argv, needle):
    from tests.bad_input import check_case

    line = check_case("sppo.main", "sppo", argv, tmp_path)
    assert line == f"sppo: error: {needle}" or line.startswith(f"sppo: error: {needle}"), line


#: The README's GPU-node command, corrected (issue 25): verl's config has no rollout engine and no micro-batch
#: sizes, saves no checkpoints (so a rerun cannot resume), and its default logger (wandb) needs an API key.
#: MODEL, DATA: local stand-ins in the test.
def _readme_gpu_command() -> list[str]:
    """The overrides of README's GPU-node ``python -m sppo.main`` command, as a shell would split them, with the
    hub model id as MODEL and the data folder as DATA (the test runs what the README says)."""
    import shlex

    text = (REPO / "README.md").read_text().split("## GPU nodes", 1)[1]
    block = text.split("```bash", 1)[1].split("```", 1)[0]
    command = block[block.index("python -m sppo.main") :].replace("\\\n", " ")
    args = shlex.split(command.splitlines()[0])[3:]
    return [a.replace("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", "MODEL").replace("data/", "DATA/", 1) for a in args]


README_GPU_COMMAND = _readme_gpu_command()


@pytest.fixture(scope="module")
def readme_data(tmp_path_factory):
    """DATA/deepscaler-math.parquet and DATA/offline_eval/math__math_500.parquet as sppo.data.prepare writes them
    (both from the MATH-500 fixture: the command only needs files of the right format)."""
    import io
    import shutil

    from sppo.data.prepare import prepare
    from sppo.data.sources import SPECS

    root = tmp_path_factory.mktemp("readme_data")
    prepare(SPECS["math500"], root, source=REPO / "tests" / "fixtures" / "math500_sample.jsonl", log=io.StringIO())
    shutil.copy(root / "offline_eval" / "math__math_500.parquet", root / "deepscaler-math.parquet")
    return root


def _readme_command(data, model, drop: tuple[str, ...] = ()) -> list[str]:
    return [
        a.replace("DATA", str(data)).replace("MODEL", str(model)) for a in README_GPU_COMMAND if not a.startswith(drop)
    ]


@pytest.mark.timeout(600)
def test_the_readme_gpu_command_passes_the_dry_run(tiny_task, readme_data, tmp_path):
    """The corrected command (with a local model for the hub id) passes every launch check and verl's own."""
    proc = _sppo_main(
        [*_readme_command(readme_data, tiny_task.policy), "sppo.dry_run=true", f"trainer.default_local_dir={tmp_path}"],
        tmp_path,
        {"SPPO_DRY_RUN_QUIET": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    warnings = [line for line in proc.stdout.splitlines() if line.startswith("warning:")]
    # this machine has no GPU, and the stand-in training file holds 40 rows
    expected = ("no CUDA device", "the critic needs flash-attn", "the training files hold 40 rows")
    assert [w for w in warnings if not w.startswith(tuple(f"warning: {e}" for e in expected))] == []


@pytest.mark.timeout(600)
def test_the_readme_gpu_command_without_a_rollout_engine_is_one_line(tiny_task, readme_data, tmp_path):
    """As the README wrote it (no rollout engine): one line naming the setting, not a MissingMandatoryValue
    traceback from the dry run's summary or from inside Ray."""
    argv = _readme_command(readme_data, tiny_task.policy, drop=("actor_rollout_ref.rollout.name",))
    proc = _sppo_main([*argv, "sppo.dry_run=true", f"trainer.default_local_dir={tmp_path}"], tmp_path)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.strip()] == [
        "sppo: error: actor_rollout_ref.rollout.name is not set (verl has no default): add "
        "actor_rollout_ref.rollout.name=vllm on a GPU node (or sglang; platform=cpu sets hf)"
    ]


@pytest.mark.timeout(600)
def test_dry_run_json_into_a_folder_is_one_line(tiny_task, tmp_path):
    (tmp_path / "folder").mkdir()
    argv = [*tiny_overrides(tiny_task, tmp_path, steps=1), "sppo.dry_run=true"]
    proc = _sppo_main(argv, tmp_path, {"SPPO_DRY_RUN_JSON": str(tmp_path / "folder")})
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert [line for line in proc.stderr.splitlines() if line.strip()] == [
        f"sppo: error: SPPO_DRY_RUN_JSON {tmp_path / 'folder'}: is a folder, expected a file name"
    ]


def test_training_check_accepts_the_official_files_and_names_the_conversion_of_the_hub_dapo_file(tiny_task, tmp_path):
    """Issue 25: what sppo.data.prepare writes and the official evaluation files (``abality`` column) pass the
    training launch check; the hub's DAPO file (its own "Answer:" template) is one line saying how to convert it."""
    import io
    import shutil

    import pandas as pd

    from sppo.data.prepare import prepare
    from sppo.data.sources import SPECS
    from sppo.launch_checks import launch_checks

    math = ["reward.custom_reward_function.path=pkg://sppo.reward"]
    prepared = tmp_path / "math__math_500.parquet"
    official = tmp_path / "math__aime2025_2025.parquet"
    prepare(SPECS["math500"], tmp_path / "d", source=REPO / "tests/fixtures/math500_sample.jsonl", log=io.StringIO())
    shutil.copy(tmp_path / "d/offline_eval/math__math_500.parquet", prepared)
    pd.read_parquet(prepared).rename(columns={"ability": "abality"}).to_parquet(official)
    files = [f"data.train_files={prepared}", f"data.val_files={official}"]
    cfg = _compose(tiny_overrides(tiny_task, tmp_path, steps=1) + math + files)
    check_config(cfg)
    assert launch_checks(cfg, dry_run=False) == []
    hub = REPO / "tests/fixtures/dapo_math_17k_hubformat_sample.parquet"
    cfg = _compose(tiny_overrides(tiny_task, tmp_path, steps=1) + math + [f"data.train_files={hub}"])
    check_config(cfg)
    with pytest.raises(SPPOConfigError) as err:
        launch_checks(cfg, dry_run=False)
    assert str(err.value) == (
        f"data.train_files: {hub}: prompt carries DAPO's own 'Answer:' template, not a \\boxed{{}} request (the hub's "
        "DAPO-Math-17k file): convert it with python -m sppo.data.prepare dapo17k --source FILE --out DIR: 72 row(s) "
        "(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ...)"
    )


def test_the_file_logger_path_is_checked_before_ray(tiny_task, tmp_path, monkeypatch):
    """trainer.logger=[...,file]: verl opens VERL_FILE_LOGGER_PATH (or ROOT/<project>/<experiment>.jsonl) inside
    the Ray task runner; a folder there, or a path under a file, is one line before anything starts."""
    from sppo.launch_checks import launch_checks

    cfg = _compose(tiny_overrides(tiny_task, tmp_path, steps=1))
    check_config(cfg)
    (tmp_path / "folder").mkdir()
    monkeypatch.setenv("VERL_FILE_LOGGER_PATH", str(tmp_path / "folder"))
    with pytest.raises(SPPOConfigError) as err:
        launch_checks(cfg, dry_run=False)
    assert str(err.value) == (
        f"trainer.logger=file (VERL_FILE_LOGGER_PATH)={tmp_path / 'folder'} is a directory; expected a file path"
    )
    monkeypatch.delenv("VERL_FILE_LOGGER_PATH")
    (tmp_path / "root").write_text("x")
    monkeypatch.setenv("VERL_FILE_LOGGER_ROOT", str(tmp_path / "root"))
    with pytest.raises(SPPOConfigError, match=r"^trainer.logger=file \(VERL_FILE_LOGGER_PATH\)=.*root/sppo_tests/sppo"):
        launch_checks(cfg, dry_run=False)
    monkeypatch.setenv("VERL_FILE_LOGGER_ROOT", str(tmp_path))
    assert launch_checks(cfg, dry_run=False) == []
