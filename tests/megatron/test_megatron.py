"""SPPO on verl's Megatron engine, the pieces a CPU can run: layouts and their launch checks, the engine summary, the
planner's Megatron model, the config group that picks each role's strategy, the GPU stage's overrides and its skip.

    .venv/bin/python -m pytest -q -p no:cacheprovider tests/megatron

The Megatron engine itself needs CUDA (sppo/megatron.py): the GPU check's e2e_megatron stage runs it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sppo.config_checks import SPPOConfigError
from sppo.critic_loss import last_token_logits
from sppo.megatron import (
    MegatronSizes,
    check_megatron,
    describe_engine,
    engine_summary,
    megatron_model_parallel_size,
    megatron_sizes,
)
from sppo.tools import plan_memory as pm


def _config(tmp_path: Path, tp: int = 2, critic_tp: int | None = None, gpus: int = 4, **extra) -> dict:
    """A resolved config (the fields the checks read) with local models: 8 heads / 2 KV heads / 6 layers."""
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    (model / "config.json").write_text(
        json.dumps({"num_attention_heads": 8, "num_key_value_heads": 2, "num_hidden_layers": 6})
    )
    mg = {"tensor_model_parallel_size": tp, "pipeline_model_parallel_size": 1, "context_parallel_size": 1}
    cfg = {
        "model_engine": "megatron",
        "trainer": {"n_gpus_per_node": gpus, "nnodes": 1, "device": "cuda"},
        "algorithm": {"adv_estimator": "sppo"},
        "actor_rollout_ref": {
            "actor": {"strategy": "megatron", "megatron": dict(mg)},
            "model": {"path": str(model)},
            "rollout": {"n": 1},
        },
        "critic": {
            "enable": True,
            "strategy": "megatron",
            "megatron": {**mg, "tensor_model_parallel_size": critic_tp or tp},
            "model": {"path": str(model)},
        },
    }
    for dotted, value in extra.items():
        node = cfg
        *parts, last = dotted.split("__")
        for part in parts:
            node = node.setdefault(part, {})
        node[last] = value
    return cfg


def test_sizes_and_data_parallel_ranks(tmp_path):
    cfg = _config(tmp_path, tp=2)
    sizes = megatron_sizes(cfg, "critic")
    assert sizes == MegatronSizes(tp=2, pp=1, cp=1, sequence_parallel=True)
    assert sizes.model_parallel == 2 and sizes.dp(4) == 2 and sizes.dp(3) == 0
    assert megatron_model_parallel_size(cfg, "actor") == 2
    fsdp = {**cfg, "model_engine": "dp"}
    assert megatron_sizes(fsdp, "actor") is None and megatron_model_parallel_size(fsdp, "critic") is None
    assert megatron_sizes(_config(tmp_path, tp=1), "actor").sequence_parallel is False  # verl: off at TP 1


def test_a_valid_layout_passes(tmp_path):
    check_megatron(_config(tmp_path, tp=2))
    check_megatron({**_config(tmp_path, tp=8), "model_engine": "dp"})  # nothing to check on FSDP


@pytest.mark.parametrize(
    ("tp", "critic_tp", "gpus", "extra", "message"),
    [
        (
            3,
            None,
            4,
            {},
            "critic"
            if False
            else "actor_rollout_ref.actor.megatron: tensor x pipeline x context parallel = 3 x 1 x 1 = 3 does not divide the 4 GPUs",
        ),
        (
            2,
            1,
            4,
            {},
            "critic.megatron.tensor_model_parallel_size=1 differs from actor_rollout_ref.actor.megatron.tensor_model_parallel_size=2",
        ),
        (
            4,
            None,
            4,
            {},
            "actor_rollout_ref.actor.megatron.tensor_model_parallel_size=4 does not divide the 2 key-value heads",
        ),
        (
            1,
            None,
            4,
            {
                "actor_rollout_ref__actor__megatron__pipeline_model_parallel_size": 4,
                "critic__megatron__pipeline_model_parallel_size": 4,
            },
            "actor_rollout_ref.actor.megatron: pipeline x virtual pipeline = 4 stages do not divide the 6 layers",
        ),
        (2, None, 4, {"trainer__device": "cpu"}, "model_engine=megatron needs CUDA GPUs"),
        (2, None, 4, {"critic__strategy": "fsdp2"}, "model_engine=megatron but critic.strategy=fsdp2"),
        (2, None, 4, {"critic__megatron__dynamic_context_parallel": True}, "megatron.dynamic_context_parallel"),
        (2, None, 4, {"trainer__n_gpus_per_node": 2, "trainer__nnodes": 2}, None),
    ],
)
def test_bad_layouts_are_one_line_errors(tmp_path, tp, critic_tp, gpus, extra, message):
    cfg = _config(tmp_path, tp=tp, critic_tp=critic_tp, gpus=gpus, **extra)
    if message is None:
        check_megatron(cfg)
        return
    with pytest.raises(SPPOConfigError) as err:
        check_megatron(cfg)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_uneven_pipeline_stages_are_left_to_megatron(tmp_path):
    cfg = _config(tmp_path, tp=1, **{"actor_rollout_ref__actor__megatron__pipeline_model_parallel_size": 4})
    cfg["actor_rollout_ref"]["actor"]["megatron"]["override_transformer_config"] = {
        "num_layers_in_first_pipeline_stage": 3
    }
    cfg["critic"]["megatron"]["pipeline_model_parallel_size"] = 4
    cfg["critic"]["megatron"]["override_transformer_config"] = {"num_layers_in_last_pipeline_stage": 3}
    check_megatron(cfg)


def test_engine_summary_names_the_layout(tmp_path):
    s = engine_summary(_config(tmp_path, tp=2))
    assert s["critic"]["dp"] == 2 and s["actor"]["tp"] == 2
    assert describe_engine(s) == (
        "Megatron: actor TP 2 PP 1 CP 1 DP 2 (SP, dist. optimizer); critic TP 2 PP 1 CP 1 DP 2 (SP, dist. optimizer)"
    )
    fsdp = _config(tmp_path)
    fsdp.update(model_engine="dp")
    fsdp["actor_rollout_ref"]["actor"].update(strategy="fsdp2", fsdp_config={"ulysses_sequence_parallel_size": 2})
    assert describe_engine(engine_summary(fsdp)) == "FSDP (fsdp2): actor DP 2, Ulysses SP 2; critic DP 4, Ulysses SP 1"


def test_planner_megatron_state_per_gpu():
    arch = pm.ARCHITECTURES["DeepSeek-R1-Distill-Qwen-7B"]
    p = 7.0e9
    role = pm.RoleSpec(arch, p, megatron=MegatronSizes(tp=2, pp=2))
    s = pm._state(role, gpus=8)  # model parallel 4, data parallel 2
    assert s["params"] == pytest.approx(p / 4 * 2 / pm.GIB)
    assert s["grads"] == pytest.approx(p / 4 * 4 / pm.GIB)
    assert s["adam"] == pytest.approx(p / 4 * 12 / 2 / pm.GIB)
    assert pm._gather(role) == 0.0
    no_dist = pm.RoleSpec(arch, p, megatron=MegatronSizes(tp=2, pp=2, distributed_optimizer=False))
    assert pm._state(no_dist, gpus=8)["adam"] == pytest.approx(p / 4 * 12 / pm.GIB)
    fsdp = pm.RoleSpec(arch, p, tokens_per_micro_batch=1000)
    mg = pm.RoleSpec(arch, p, tokens_per_micro_batch=1000, logits=True, megatron=MegatronSizes(tp=2, cp=2))
    assert pm._activations(mg)[0] == pytest.approx(pm._activations(fsdp)[0] / 4)  # sequence parallel x CP


def test_last_prompt_token_of_a_megatron_style_thd_output():
    """Megatron pads each packed sequence to a multiple of 2 x TP x CP and re-nests the value head's output with the
    input's own lengths (postprocess_thd_engine): V(s_p) is then each row's last real token, never a pad."""
    lengths, align = [3, 5, 2], 4
    padded = [(n + align - 1) // align * align for n in lengths]
    packed = torch.arange(sum(padded), dtype=torch.float32)  # (total_padded,): one value per packed position
    starts = [sum(padded[:i]) for i in range(len(lengths))]
    rows = [packed[s : s + n] for s, n in zip(starts, lengths)]  # what postprocess_thd_engine keeps
    values = torch.nested.as_nested_tensor(rows, layout=torch.jagged)
    assert last_token_logits(values).tolist() == [2.0, 8.0, 13.0]


def test_verl_thd_round_trip_reads_the_last_prompt_token():
    """The same with verl's own packing and unpacking (needs megatron-core: the GPU stack's megatron extra)."""
    pytest.importorskip("megatron.core", reason="megatron-core not installed (SPPO_MEGATRON=1 bash uv_verl.sh)")
    import os

    import torch.distributed as dist
    from megatron.core import parallel_state as mpu
    from verl.models.mcore.util import postprocess_thd_engine, preprocess_thd_engine

    if not dist.is_initialized():
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", "29561")
        dist.init_process_group("gloo", rank=0, world_size=1)
    if not mpu.is_initialized():
        mpu.initialize_model_parallel(1, 1)
    ids = torch.nested.as_nested_tensor([torch.tensor([5, 6, 7]), torch.tensor([1, 2, 3, 4, 9])], layout=torch.jagged)
    packed, params, _ = preprocess_thd_engine(ids, pre_process=True)
    values = postprocess_thd_engine(packed.float().unsqueeze(-1), params, ids, batch_size=2).squeeze(-1)
    assert last_token_logits(values).tolist() == [7.0, 9.0]


def test_gpu_stage_overrides_name_megatron_keys_only(tmp_path):
    from sppo_lab.gpu_check import e2e_megatron

    task = {"train": "t.parquet", "val": "v.parquet", "policy": "p", "critic_small": "c", "critic_same": "s"}
    args = e2e_megatron.megatron_overrides(task, tmp_path, 2)
    assert "model_engine=megatron" in args and "critic.megatron.vanilla_mbridge=True" in args
    assert not [a for a in args if "fsdp" in a]
    assert "actor_rollout_ref.actor.megatron.param_offload=True" in args and "critic.model.path=c" in args


def test_gpu_stage_without_megatron_core_is_skipped_and_checks_nothing(tmp_path, monkeypatch, capsys):
    from sppo_lab.gpu_check import e2e_megatron

    monkeypatch.setattr(e2e_megatron, "megatron_available", lambda: False)
    out = tmp_path / "r.json"
    assert e2e_megatron.main(["--root", str(tmp_path), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["assertions"] == [] and "megatron-core is not installed" in result["measured"]["skipped"]
    assert "e2e_megatron: skipped:" in capsys.readouterr().out


def test_config_group_gives_each_engine_its_strategy():
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from sppo.main import CONFIG_DIR

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        megatron = compose("sppo_trainer", overrides=["model_engine=megatron"])
        fsdp = compose("sppo_trainer")
    for key in ("actor_rollout_ref.actor.strategy", "actor_rollout_ref.ref.strategy", "critic.strategy"):
        assert OmegaConf.select(megatron, key) == "megatron" and OmegaConf.select(fsdp, key) == "fsdp2"
    for key in ("actor_rollout_ref.actor.fsdp_config", "critic.fsdp"):
        assert OmegaConf.select(megatron, key) is None
    assert fsdp.critic.fsdp.strategy == "fsdp2" and fsdp.actor_rollout_ref.actor.fsdp_config.strategy == "fsdp2"
