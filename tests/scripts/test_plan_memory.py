"""The VRAM planner against hand-computed numbers (no verl import, fast)."""

from __future__ import annotations

import json

import pytest

from sppo import plan_memory as pm

GIB = 1024**3

# Parameter counts worked out by hand from config.json (Qwen2 layout: q/k/v biases, untied lm_head).
# 1.5B: layer = q (1536*1536+1536) + k,v 2*(1536*256+256) + o 1536*1536 + mlp 3*1536*8960 + norms 2*1536
#     = 46,797,824; 28 layers = 1,310,339,072; embed = lm_head = 151936*1536 = 233,373,696; final norm 1536
R15_LM = 1_777_088_000  # HF reports 1.78 B
R15_VALUE = R15_LM - 233_373_696 + 1536 + 1  # no lm_head, score head hidden->1 with bias
# 7B: layer = (3584^2+3584) + 2*(3584*512+512) + 3584^2 + 3*3584*18944 + 2*3584 = 233,057,792
R7_LM = 28 * 233_057_792 + 2 * 152064 * 3584 + 3584  # = 7,615,616,512, HF reports 7.62 B
R7_VALUE = R7_LM - 152064 * 3584 + 3584 + 1


def test_parameter_counts():
    a15, a7 = pm.ARCHITECTURES["DeepSeek-R1-Distill-Qwen-1.5B"], pm.ARCHITECTURES["DeepSeek-R1-Distill-Qwen-7B"]
    assert a15.layer_params() == 46_797_824 and a7.layer_params() == 233_057_792
    assert a15.lm_params() == R15_LM
    assert a7.lm_params() == R7_LM == 7_615_616_512
    assert a15.value_params() == R15_VALUE and a7.value_params() == R7_VALUE
    # KV cache per token and GPU: 2 (K,V) x 28 layers x KV heads per rank x 128 x 2 bytes
    assert a7.kv_bytes_per_token(tp=4) == 2 * 28 * 1 * 128 * 2
    assert a15.kv_bytes_per_token(tp=1) == 2 * 28 * 2 * 128 * 2


def test_find_arch(tmp_path):
    assert pm.find_arch("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B").hidden == 3584
    assert pm.find_arch("/models/DeepSeek-R1-Distill-Qwen-1.5B").hidden == 1536
    assert pm.find_arch("7B").layers == 28
    assert pm.find_arch("some/other-model") is None
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "model_type": "qwen2",
                "num_hidden_layers": 2,
                "hidden_size": 64,
                "intermediate_size": 128,
                "num_attention_heads": 4,
                "num_key_value_heads": 2,
                "vocab_size": 300,
                "tie_word_embeddings": True,
            }
        )
    )
    tiny = pm.find_arch(str(tmp_path))
    # layer: q 64*64+64, k/v 2*(64*32+32), o 64*64, mlp 3*64*128, norms 128 -> 37,120; embed 19,200, tied
    assert tiny.layer_params() == 4160 + 4160 + 4096 + 24576 + 128 and tiny.lm_params() == 2 * 37120 + 19200 + 64


def seven_b_small_critic(**kw) -> pm.PlanInput:
    """The 7B small-critic run, by hand: 4 GPUs, TP 4, actor offloaded, critic 1.5B on prompt tokens."""
    a7, a15 = pm.ARCHITECTURES["DeepSeek-R1-Distill-Qwen-7B"], pm.ARCHITECTURES["DeepSeek-R1-Distill-Qwen-1.5B"]
    actor = pm.RoleSpec(a7, a7.lm_params(), True, True, tokens_per_micro_batch=1 * (2048 + 8192), logits=True)
    critic = pm.RoleSpec(a15, a15.value_params(), False, False, tokens_per_micro_batch=1 * 2048)
    return pm.PlanInput(actor, critic, gpus=4, tp=4, gpu_memory_utilization=0.8, device_gib=80, **kw)


def test_plan_matches_hand_computation():
    r = pm.plan(seven_b_small_critic())
    # rollout: vLLM holds 0.8 x 80 = 64 GiB; the offloaded actor keeps nothing; the critic keeps fp32
    # params (4 B/param / 4 GPUs) and Adam (8 B/param / 4 GPUs); + 2 GiB overhead.
    critic_params = R15_VALUE * 4 / 4 / GIB  # 1.4377 GiB
    critic_adam = R15_VALUE * 8 / 4 / GIB  # 2.8754 GiB
    assert r.phases["rollout"]["vLLM weights (bf16 / TP)"] == pytest.approx(R7_LM * 2 / 4 / GIB)  # 3.546 GiB
    assert r.totals["rollout"] == pytest.approx(64 + critic_params + critic_adam + 2)
    assert r.totals["rollout"] == pytest.approx(70.313, abs=1e-3)
    # actor update: full 7B state (16 B/param / 4 GPUs) + all-gather + activations + logits + resident critic
    state = R7_LM * 16 / 4 / GIB  # 28.371 GiB
    gather = 2 * (2 * 152064 * 3584 + 2 * 233_057_792) / GIB  # root (embed + lm_head) + 2 layers, bf16
    tokens = 10240
    acts = (28 * tokens * 3584 * 2 + tokens * (5 * 3584 + 2 * 4 * 128 + 4 * 18944) * 2) / GIB  # 3.7207 GiB
    logits = tokens * 152064 * 6 / GIB  # 8.7012 GiB
    assert r.totals["actor update"] == pytest.approx(state + gather + acts + logits + critic_params + critic_adam + 2)
    assert r.totals["actor update"] == pytest.approx(50.004, abs=1e-3)
    # critic update: 1.5B state + its all-gather (embed + 2 layers) + prompt-only activations; actor offloaded
    c_state = R15_VALUE * 16 / 4 / GIB
    c_gather = 2 * (151936 * 1536 + 2 * 46_797_824) / GIB
    c_acts = (28 * 2048 * 1536 * 2 + 2048 * (5 * 1536 + 2 * 2 * 128 + 4 * 8960) * 2) / GIB
    assert r.totals["critic update"] == pytest.approx(c_state + c_gather + c_acts + 2)
    assert r.peak_phase == "rollout" and r.peak_fraction == pytest.approx(70.313 / 80, abs=1e-4)
    assert r.kv_cache_tokens == int((64 - R7_LM * 2 / 4 / GIB) * GIB / (2 * 28 * 128 * 2))


def test_device_total_budget_caps_the_rollout():
    r = pm.plan(seven_b_small_critic(vllm_budget="device-total"))
    assert r.totals["rollout"] == pytest.approx(64.0)  # vLLM fills the device up to 0.8 x 80 GiB
    assert r.peak_phase == "rollout"


def test_offload_and_critic_size_move_memory_where_expected():
    small = pm.plan(seven_b_small_critic())
    p = seven_b_small_critic()
    a7 = pm.ARCHITECTURES["DeepSeek-R1-Distill-Qwen-7B"]
    p.critic = pm.RoleSpec(a7, a7.value_params(), False, False, tokens_per_micro_batch=2048)
    big = pm.plan(p)
    # the same-size critic adds (7B - 1.5B value params) x 12 B / 4 GPUs to every phase it is resident in
    extra = (R7_VALUE - R15_VALUE) * 12 / 4 / GIB
    assert big.totals["rollout"] - small.totals["rollout"] == pytest.approx(extra)
    assert big.totals["actor update"] - small.totals["actor update"] == pytest.approx(extra)
    p.actor.param_offload = p.actor.optimizer_offload = False
    no_offload = pm.plan(p)
    assert no_offload.totals["rollout"] - big.totals["rollout"] == pytest.approx(R7_LM * 12 / 4 / GIB)
    assert no_offload.totals["actor update"] == pytest.approx(big.totals["actor update"])  # loaded for the update


def test_from_config_reads_the_verl_keys():
    cfg = {
        "algorithm": {"adv_estimator": "gae"},
        "data": {"max_prompt_length": 1024, "max_response_length": 8192},
        "trainer": {"n_gpus_per_node": 4, "nnodes": 1},
        "actor_rollout_ref": {
            "model": {"path": "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", "enable_gradient_checkpointing": True},
            "actor": {
                "ppo_micro_batch_size_per_gpu": 2,
                "use_dynamic_bsz": False,
                "fsdp_config": {"param_offload": False, "optimizer_offload": False},
            },
            "rollout": {"tensor_model_parallel_size": 1, "gpu_memory_utilization": 0.8},
        },
        "critic": {
            "enable": None,
            "model": {"path": "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"},
            "ppo_micro_batch_size_per_gpu": 1,
            "fsdp": {"param_offload": False, "optimizer_offload": False},
        },
    }
    p = pm.from_config(cfg)
    assert p.gpus == 4 and p.tp == 1 and p.gpu_memory_utilization == 0.8
    assert p.actor.tokens_per_micro_batch == 2 * 9216
    assert p.critic.tokens_per_micro_batch == 9216  # token-level critic: prompt + response
    cfg["algorithm"]["adv_estimator"] = "sppo"
    assert pm.from_config(cfg).critic.tokens_per_micro_batch == 1024  # SPPO critic: the prompt only
    cfg["critic"]["enable"] = False
    assert pm.from_config(cfg).critic is None
    cfg["actor_rollout_ref"]["model"]["path"] = "unknown/model"
    with pytest.raises(ValueError, match="unknown architecture"):
        pm.from_config(cfg)


def test_cli_explicit_sizes(capsys, tmp_path):
    out = tmp_path / "plan.json"
    rc = pm.main(
        [
            "--policy-params",
            "7e9",
            "--critic-params",
            "1.5e9",
            "--gpus",
            "4",
            "--tp",
            "4",
            "--prompt-len",
            "2048",
            "--actor-offload",
            "--json",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0
    assert "peak:" in text and "vLLM KV cache + workspace" in text
    assert "nearest in size" in text  # bare counts borrow the nearest architecture's shapes
    data = json.loads(out.read_text())["explicit sizes"]
    # 1.5e9 critic, resident: 12 B/param / 4 GPUs; rollout = 64 + that + 2
    assert data["totals"]["rollout"] == pytest.approx(64 + 1.5e9 * 12 / 4 / GIB + 2)


def test_cli_reads_dry_run_json(tmp_path, capsys):
    cfg = {
        "algorithm": {"adv_estimator": "grpo"},
        "data": {"max_prompt_length": 2048, "max_response_length": 8192},
        "trainer": {"n_gpus_per_node": 4, "nnodes": 1},
        "actor_rollout_ref": {
            "model": {"path": "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"},
            "actor": {
                "ppo_micro_batch_size_per_gpu": 1,
                "fsdp_config": {"param_offload": True, "optimizer_offload": True},
            },
            "rollout": {"tensor_model_parallel_size": 4, "gpu_memory_utilization": 0.8},
        },
        "critic": {"enable": False},
    }
    path = tmp_path / "dry.json"
    path.write_text(json.dumps({"config": cfg, "summary": {}, "warnings": []}))
    assert pm.main(["--config-json", str(path)]) == 0
    text = capsys.readouterr().out
    assert "no critic" in text and "critic update" not in text
    assert "peak: 66.0 GiB = 82.5% of 80 GiB (rollout)" in text  # 64 (vLLM) + 0 (offloaded actor) + 2
