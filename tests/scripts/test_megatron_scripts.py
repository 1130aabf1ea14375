"""The experiment scripts on verl's Megatron engine (``model_engine=megatron``), dry-run on CPU: every script composes
and passes SPPO's and verl's checks; the shared settings land on Megatron's keys; the summary names the engine, each
role's TP/PP/CP/DP and the critic's batching; the same-size and the small critic share the actor's layout.

    .venv/bin/python -m pytest tests/scripts/test_megatron_scripts.py -q -p no:cacheprovider
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from sppo.config_checks import SPPOConfigError
from sppo.megatron import check_megatron
from tests.scripts.conftest import MEGATRON_CASES
from tests.scripts.test_run_scripts import get

SPPO_7B = ("run_R1-7B_DAPO_SEQUENCE.sh", "run_R1-7B_DAPO_SEQUENCE_small_critic.sh")


@pytest.mark.parametrize("case", sorted(MEGATRON_CASES))
def test_every_script_passes_the_dry_run_on_megatron(dry_runs, case):
    run = dry_runs[case]
    assert run.returncode == 0, run.stderr[-3000:]
    cfg = run.config
    assert cfg["model_engine"] == "megatron"
    assert get(cfg, "actor_rollout_ref.actor.strategy") == "megatron"
    assert "fsdp_config" not in cfg["actor_rollout_ref"]["actor"]
    # the shared settings on Megatron's own keys: constant lr, full recompute for gradient checkpointing
    assert get(cfg, "actor_rollout_ref.actor.optim.lr_decay_style") == "constant"
    recompute = "actor_rollout_ref.actor.megatron.override_transformer_config.recompute_granularity"
    assert get(cfg, recompute) == "full"
    tp = 2 if "R1-7B" in MEGATRON_CASES[case] else 1
    dp = get(cfg, "trainer.n_gpus_per_node") * get(cfg, "trainer.nnodes") // tp  # separate_async trains on 2 of 4
    assert run.summary["engine"]["actor"]["tp"] == tp and run.summary["engine"]["actor"]["dp"] == dp
    assert f"engine   Megatron: actor TP {tp} PP 1 CP 1 DP {dp}" in run.stdout


@pytest.mark.parametrize("script", ["run_ds1.5B_PPO_SEQUENCE_shuffle.sh", *SPPO_7B])
def test_sppo_critic_on_megatron_shares_the_actor_layout(dry_runs, script_env, script):
    run = dry_runs[f"megatron_{script}"]
    cfg, engine = run.config, run.summary["engine"]
    assert get(cfg, "critic.strategy") == "megatron" and "fsdp" not in cfg["critic"]
    assert get(cfg, "critic.optim.lr_decay_style") == "constant"
    assert get(cfg, "critic.megatron.param_offload") is False
    assert engine["critic"]["tp"] == engine["actor"]["tp"] and engine["critic"]["dp"] == engine["actor"]["dp"]
    assert run.summary["roles"]["critic"]["micro_batch_per_gpu"] == "1 prompt/GPU"
    assert "micro-batches: update 1 prompt/GPU" in run.stdout
    if script in SPPO_7B:  # the paper's actor offload, on Megatron's key
        assert get(cfg, "actor_rollout_ref.actor.megatron.param_offload") is True
        assert run.summary["roles"]["actor"]["param_offload"] is True
    check_megatron(_local_models(cfg, script_env))  # the launch check passes on the composed config


def _local_models(cfg: dict, script_env: dict) -> dict:
    """The config with each role's hub id replaced by its snapshot in the offline hub, a local folder (this process
    may not be offline: a hub id would make the head and layer check reach for the network)."""
    cfg = copy.deepcopy(cfg)  # the dry runs are shared by the module's tests
    hub = Path(script_env["HF_HOME"]) / "hub"
    for section in (cfg["actor_rollout_ref"], cfg["critic"]):
        name = section["model"]["path"].replace("/", "--")
        section["model"]["path"] = str(next((hub / f"models--{name}" / "snapshots").iterdir()))
    return cfg


def test_small_critic_refuses_a_tensor_parallel_size_its_kv_heads_do_not_split(dry_runs, script_env):
    """The 1.5B critic has 2 KV heads: TP 4 (fine for the 7B policy's 4) is refused in one line, before any GPU."""
    cfg = _local_models(dry_runs["megatron_run_R1-7B_DAPO_SEQUENCE_small_critic.sh"].config, script_env)
    for role in (cfg["actor_rollout_ref"]["actor"], cfg["critic"]):
        role["megatron"]["tensor_model_parallel_size"] = 4
    with pytest.raises(SPPOConfigError, match="does not divide the 2 key-value heads of the critic model"):
        check_megatron(cfg)
    cfg["critic"]["megatron"]["tensor_model_parallel_size"] = 2
    with pytest.raises(SPPOConfigError, match="critic.megatron.tensor_model_parallel_size=2 differs"):
        check_megatron(cfg)
