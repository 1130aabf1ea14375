"""The launch checks (run by every launch and by the dry run) on small hand-made configs, in-process (verl is not imported: its need_critic rule is
stubbed), so every error branch is covered without a subprocess."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from sppo import launch_checks as dr
from sppo.config_checks import SPPOConfigError


@pytest.fixture(autouse=True)
def no_verl(monkeypatch):
    monkeypatch.setattr(dr, "critic_on", lambda c: bool(c.critic.enable))
    monkeypatch.setattr(dr, "visible_gpus", lambda: 0)


def make(**over):
    """The 7B SPPO column's batch layout: 512 prompts, mini-batch 32, micro 1, 4 GPUs, TP 4."""
    cfg = OmegaConf.create(
        {
            "algorithm": {"adv_estimator": "sppo"},
            "data": {"train_batch_size": 512, "train_files": [], "val_files": []},
            "trainer": {"n_gpus_per_node": 4, "nnodes": 1, "use_v1": True, "device": "cuda"},
            "actor_rollout_ref": {
                "model": {"path": "org/model"},
                "actor": {"ppo_mini_batch_size": 32, "ppo_micro_batch_size_per_gpu": 1, "use_dynamic_bsz": False},
                "rollout": {"n": 1, "tensor_model_parallel_size": 4},
            },
            "critic": {
                "enable": True,
                "model": {"path": "org/critic"},
                "ppo_mini_batch_size": 32,
                "ppo_micro_batch_size_per_gpu": 1,
                "use_dynamic_bsz": False,
            },
        }
    )
    for key, value in over.items():
        OmegaConf.update(cfg, key, value)
    return cfg


def test_the_paper_layout_passes():
    cfg = make()
    dr.check_estimator(cfg)
    dr.check_batches(cfg)
    dr.check_parallelism(cfg)
    grpo = make(**{"algorithm.adv_estimator": "grpo", "actor_rollout_ref.rollout.n": 8, "critic.enable": False})
    dr.check_estimator(grpo)
    dr.check_batches(grpo)


@pytest.mark.parametrize(
    "over, message",
    [
        ({"data.train_batch_size": 510}, r"510 x 1 = 510 sequences per step do not split over 4 GPUs"),
        ({"actor_rollout_ref.actor.ppo_mini_batch_size": 48}, r"not a multiple of actor_rollout_ref.actor.ppo_mini"),
        ({"critic.ppo_mini_batch_size": 24}, r"not a multiple of critic.ppo_mini_batch_size=24"),
        ({"actor_rollout_ref.actor.ppo_mini_batch_size": 2}, r"2 x 1 = 2 sequences do not split over 4 data-parallel"),
        ({"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu": 3}, r"8 sequences per GPU .* multiple of .*=3"),
        ({"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu": None}, r"set actor_rollout_ref.actor.ppo_micro"),
    ],
)
def test_batch_errors(over, message):
    with pytest.raises(SPPOConfigError, match=message):
        dr.check_batches(make(**over))


def test_dynamic_batching_skips_the_micro_batch_rule():
    dr.check_batches(
        make(
            **{
                "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu": None,
                "actor_rollout_ref.actor.use_dynamic_bsz": True,
            }
        )
    )


def test_parallelism_and_estimator_errors():
    with pytest.raises(SPPOConfigError, match="tensor_model_parallel_size=3 must divide"):
        dr.check_parallelism(make(**{"actor_rollout_ref.rollout.tensor_model_parallel_size": 3}))
    with pytest.raises(SPPOConfigError, match="tensor_model_parallel_size=8 must divide the GPUs per node"):
        dr.check_parallelism(make(**{"actor_rollout_ref.rollout.tensor_model_parallel_size": 8, "trainer.nnodes": 2}))
    with pytest.raises(SPPOConfigError, match="rollout.n >= 2"):
        dr.check_estimator(make(**{"algorithm.adv_estimator": "rloo"}))
    with pytest.raises(SPPOConfigError, match="remax needs trainer.use_v1=False"):
        dr.check_estimator(make(**{"algorithm.adv_estimator": "remax"}))
    dr.check_estimator(make(**{"algorithm.adv_estimator": "remax", "trainer.use_v1": False}))


def test_files_and_models(tmp_path, monkeypatch):
    present = tmp_path / "train.parquet"
    present.write_bytes(b"")
    cfg = make(**{"data.train_files": [str(present)], "data.val_files": str(tmp_path / "val.parquet")})
    with pytest.raises(SPPOConfigError, match=r"missing: data.val_files: .*val.parquet \("):
        dr.check_files(cfg)
    assert "val.parquet" in dr.check_files(cfg, allow_missing=True)[0]
    cfg = make(**{"actor_rollout_ref.model.path": str(tmp_path / "no_such_model")})
    with pytest.raises(SPPOConfigError, match="actor_rollout_ref.model.path"):
        dr.check_files(cfg)
    assert dr.check_files(make(**{"data.train_files": "hdfs://x/train.parquet"})) == []  # remote, hub ids: unchecked


def test_gpus():
    assert "no CUDA device is visible" in dr.check_gpus(make(), dry_run=True)[0]
    with pytest.raises(SPPOConfigError, match="no CUDA device"):
        dr.check_gpus(make(), dry_run=False)
    assert dr.check_gpus(make(**{"trainer.device": "cpu", "ray_kwargs.ray_init.num_gpus": 4})) == []


def test_too_few_gpus_is_an_error(monkeypatch):
    monkeypatch.setattr(dr, "visible_gpus", lambda: 2)
    with pytest.raises(SPPOConfigError, match="n_gpus_per_node=4 but this node sees 2"):
        dr.check_gpus(make())


def test_sequence_parallel_is_read_from_the_engine_keys():
    """verl's critic engine reads critic.fsdp.ulysses_sequence_parallel_size; the deprecated top-level key is ignored
    by it, so setting only that is refused, and the engine key drives the batch checks."""
    with pytest.raises(SPPOConfigError, match=r"critic.ulysses_sequence_parallel_size=2 is not read .* critic.fsdp"):
        dr.check_sequence_parallel_keys(make(**{"critic.ulysses_sequence_parallel_size": 2}))
    # SP 2 on 4 GPUs leaves 2 data-parallel ranks: a 3-prompt mini-batch does not split over them
    cfg = make(
        **{
            "critic.fsdp": {"ulysses_sequence_parallel_size": 2},
            "critic.ppo_mini_batch_size": 3,
            "data.train_batch_size": 12,
            "actor_rollout_ref.actor.ppo_mini_batch_size": 4,
        }
    )
    dr.check_sequence_parallel_keys(cfg)
    with pytest.raises(
        SPPOConfigError, match=r"critic.ppo_mini_batch_size x rollout.n = 3 x 1 = 3 sequences do not split over 2"
    ):
        dr.check_batches(cfg)
    with pytest.raises(
        SPPOConfigError, match=r"critic.fsdp.ulysses_sequence_parallel_size=3 does not divide the 4 GPUs"
    ):
        dr.check_batches(make(**{"critic.fsdp": {"ulysses_sequence_parallel_size": 3}}))
    # the actor's deprecated key is copied into fsdp_config by verl's ActorConfig, so it counts
    assert dr.actor_sp_size(make(**{"actor_rollout_ref.actor.ulysses_sequence_parallel_size": 2})) == 2
    assert dr.actor_sp_size(make(**{"actor_rollout_ref.actor.fsdp_config": {"ulysses_sequence_parallel_size": 4}})) == 4


def test_missing_flash_attn_is_one_line_at_launch(monkeypatch):
    monkeypatch.setattr(dr, "flash_attn_installed", lambda: False)
    cfg = make()
    assert "flash-attn" in dr.check_flash_attn(cfg, dry_run=True)[0]  # a dry run only warns
    # a launch from a node that sees no GPU (a Ray head) only warns: the GPU nodes are not visible from here
    assert "flash-attn" in dr.check_flash_attn(cfg, dry_run=False)[0]
    monkeypatch.setattr(dr, "visible_gpus", lambda: 4)
    with pytest.raises(SPPOConfigError, match=r"the critic needs flash-attn on GPU .* `bash uv_verl.sh`"):
        dr.check_flash_attn(cfg, dry_run=False)
    assert dr.check_flash_attn(make(**{"trainer.device": "cpu"}), dry_run=False) == []
    assert dr.check_flash_attn(make(**{"critic.enable": False}), dry_run=False) == []
    monkeypatch.setattr(dr, "flash_attn_installed", lambda: True)
    assert dr.check_flash_attn(cfg, dry_run=False) == []


def test_estimator_name_lists_match_verls_registry():
    """The launch checks name verl estimators (those comparing samples of one prompt); each must still exist in
    verl's registry, so a rename upstream fails here instead of silently skipping a check."""
    from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY, AdvantageEstimator

    import sppo.advantage  # noqa: F401  (registers the SPPO names)
    from sppo.options import SPPO_ESTIMATORS

    known = set(ADV_ESTIMATOR_REGISTRY) | {e.value for e in AdvantageEstimator}
    assert set(dr.GROUP_ESTIMATORS) <= known
    assert set(SPPO_ESTIMATORS) <= set(ADV_ESTIMATOR_REGISTRY)


def _async(mode: str, **over):
    base = {
        "trainer.v1": {"trainer_mode": mode, "separate_async": {"parameter_sync_step": 16}},
        "actor_rollout_ref.rollout.nnodes": 1,
        "actor_rollout_ref.rollout.n_gpus_per_node": 4,
        "actor_rollout_ref.rollout.checkpoint_engine": {"backend": "nccl"},
    }
    return make(**{**base, **over})


def test_trainer_modes_pass_and_an_unknown_mode_is_one_line():
    for mode in ("sync", "colocate_async", "separate_async"):
        dr.check_trainer_mode(_async(mode))  # 512 prompts = 16 syncs x mini-batch 32
    dr.check_trainer_mode(make())  # no v1 section: verl's default, sync
    with pytest.raises(SPPOConfigError, match=r"trainer.v1.trainer_mode='fully_async' is unknown; choose one of sync"):
        dr.check_trainer_mode(_async("fully_async"))


@pytest.mark.parametrize(
    "over, message",
    [
        (
            {"trainer.v1.separate_async.parameter_sync_step": 4},
            r"needs data.train_batch_size = .*parameter_sync_step x .*ppo_mini_batch_size; got 512 != 4 x 32",
        ),
        (
            {"actor_rollout_ref.rollout.nnodes": 0},
            r"needs standalone rollout GPUs: set actor_rollout_ref.rollout.nnodes",
        ),
        ({"actor_rollout_ref.rollout.checkpoint_engine.backend": "naive"}, r"cannot sync weights with .*backend=naive"),
    ],
)
def test_separate_async_requirements_are_one_line_before_ray(over, message):
    with pytest.raises(SPPOConfigError, match=message):
        dr.check_trainer_mode(_async("separate_async", **over))
    dr.check_trainer_mode(_async("colocate_async", **over))  # colocate_async needs none of them


def test_cpu_logical_gpu_slots_cover_trainer_and_standalone_rollout():
    cpu = {"trainer.device": "cpu", "trainer.n_gpus_per_node": 1, "actor_rollout_ref.rollout.n_gpus_per_node": 1}
    assert dr.check_gpus(_async("separate_async", **cpu, **{"ray_kwargs.ray_init.num_gpus": 2})) == []
    assert dr.check_gpus(_async("colocate_async", **cpu, **{"ray_kwargs.ray_init.num_gpus": 1})) == []
    with pytest.raises(SPPOConfigError, match=r"num_gpus=1 logical GPU slots on CPU, but the run places 2 workers"):
        dr.check_gpus(_async("separate_async", **cpu, **{"ray_kwargs.ray_init.num_gpus": 1}))


# ------------------------------------------------------------------------------------------------ issue 25


def test_a_mandatory_value_left_unset_is_one_line():
    """verl's config has ``???`` for the rollout engine (the README's GPU command did not set it): one line, not a
    MissingMandatoryValue traceback from the dry run's summary or from inside Ray."""
    with pytest.raises(SPPOConfigError) as err:
        dr.check_mandatory(make(**{"actor_rollout_ref.rollout.name": "???"}))
    assert str(err.value) == (
        "actor_rollout_ref.rollout.name is not set (verl has no default): add actor_rollout_ref.rollout.name=vllm "
        "on a GPU node (or sglang; platform=cpu sets hf)"
    )
    unused = make(**{"actor_rollout_ref.rollout.name": "vllm", "reward.reward_model": {"enable": False, "x": "???"}})
    dr.check_mandatory(unused)  # the reward model's section is read only when it is enabled
    used = make(**{"actor_rollout_ref.rollout.name": "vllm", "reward.reward_model": {"enable": True, "x": "???"}})
    with pytest.raises(SPPOConfigError, match=r"^reward.reward_model.x is not set \(verl's config has no default\)"):
        dr.check_mandatory(used)
    assert dr.missing_keys(OmegaConf.create({"a": {"b": "???", "c": [1, "???"]}})) == ["a.b", "a.c.1"]


@pytest.mark.parametrize(
    "rule, value, problem",
    [
        (dr.Rule("k", "int", 1), True, "k=True; expected an integer"),
        (dr.Rule("k", "int", 1), 2.0, "k=2.0; expected an integer"),
        (dr.Rule("k", "int", 1, nullable=True), "x", "k='x'; expected an integer or null"),
        (dr.Rule("k", "float", 0.0), float("nan"), "k=nan; expected a finite number"),
        (dr.Rule("k", "float", 0.0), float("inf"), "k=inf; expected a finite number"),
        (dr.Rule("k", "float", 0.0, 1.0, lo_open=True), 0.0, "k=0.0; expected a value in (0, 1]"),
        (dr.Rule("k", "float", 0.0, 1.0, hi_open=True), 1, "k=1; expected a value in [0, 1)"),
        (dr.Rule("k", "bool"), "yes", "k='yes'; expected true or false"),
        (dr.Rule("k", "bool"), 1, "k=1; expected true or false"),
        (dr.Rule("k", "choice", choices=("a", "b")), "c", "k='c'; choose one of a, b"),
        (dr.Rule("k", "int", 1), None, "k=None; expected an integer"),
        (dr.Rule("k", "int", 1, nullable=True), None, None),
        (dr.Rule("k", "float", 0.0, 1.0), 1, None),
    ],
)
def test_rule_types_and_ranges(rule, value, problem):
    assert dr.rule_problem(rule, value) == problem


def test_every_rule_names_a_key_of_verls_config():
    """A rule on a key verl renamed would never fire: every VERL_RULES key exists in the composed config."""
    from hydra import compose, initialize_config_dir

    from tests.conftest import REPO

    with initialize_config_dir(config_dir=str(REPO / "sppo" / "configs"), version_base=None):
        cfg = compose("sppo_trainer")
    missing = [rule.key for rule in dr.VERL_RULES if OmegaConf.select(cfg, rule.key, default="<absent>") == "<absent>"]
    assert missing == []


def test_dynamic_batching_budget_and_resume_path(tmp_path):
    cfg = make(
        **{
            "data.max_prompt_length": 100,
            "data.max_response_length": 28,
            "critic.use_dynamic_bsz": True,
            "critic.ppo_max_token_len_per_gpu": 127,
        }
    )
    with pytest.raises(SPPOConfigError, match=r"^critic.ppo_max_token_len_per_gpu=127 is below one full sequence"):
        dr.check_dynamic_batching(cfg)
    dr.check_dynamic_batching(make(**{**{"data.max_prompt_length": 100, "data.max_response_length": 28},
                                      "critic.use_dynamic_bsz": True, "critic.ppo_max_token_len_per_gpu": 128}))  # fmt: skip
    dr.check_resume(
        make(**{"trainer.resume_mode": "resume_path", "trainer.resume_from_path": "hdfs://x/global_step_3"})
    )
    (tmp_path / "global_step_3").mkdir()
    dr.check_resume(
        make(**{"trainer.resume_mode": "resume_path", "trainer.resume_from_path": str(tmp_path / "global_step_3")})
    )
    with pytest.raises(SPPOConfigError, match=r"global_step_4: no such folder"):
        dr.check_resume(
            make(**{"trainer.resume_mode": "resume_path", "trainer.resume_from_path": str(tmp_path / "global_step_4")})
        )


def test_loggers_and_wandb(monkeypatch, tmp_path):
    with pytest.raises(SPPOConfigError, match=r"^trainer.logger has 'wandbb', which verl cannot log to; choose from"):
        dr.check_loggers(make(**{"trainer.logger": ["console", "wandbb"]}))
    dr.check_loggers(make(**{"trainer.logger": "console"}))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    netrc = tmp_path / "netrc"
    monkeypatch.setenv("NETRC", str(netrc))
    cfg = make(**{"trainer.logger": ["console", "wandb"]})
    with pytest.raises(SPPOConfigError, match=r"^trainer.logger includes wandb but WANDB_API_KEY is not set"):
        dr.check_wandb(cfg, dry_run=False)
    netrc.write_text("machine api.wandb.ai\n  login user\n  password x\n")  # what `wandb login` writes
    assert dr.check_wandb(cfg, dry_run=False) == []
