"""The VRAM planner against hand-computed numbers (no verl import, fast)."""

from __future__ import annotations

import json

import pytest

from sppo.tools import plan_memory as pm

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
    weights = R7_LM * 2 / 4 / GIB  # 3.546 GiB
    assert r.phases["rollout"]["vLLM weights (bf16 / TP)"] == pytest.approx(weights)
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
    # vLLM's split of its 64 GiB (vLLM 0.24: KV = request - weights - profiled activations - non-torch):
    # profile run of 8192 tokens x (3 x 18944/4 + 4 x 3584) bf16 values + sampler 256 x 152064 x 2 fp32
    profile = (8192 * (3 * 4736 + 4 * 3584) * 2 + 256 * 152064 * 8) / GIB  # 0.7256 GiB
    assert r.phases["rollout"]["vLLM activations + non-torch"] == pytest.approx(profile + 0.5)
    kv = 64 - weights - profile - 0.5  # 59.23 GiB
    assert r.phases["rollout"]["vLLM KV cache"] == pytest.approx(kv)
    assert r.kv_cache_tokens == int(kv * GIB / (2 * 28 * 128 * 2))
    # the trainer process alone (no vLLM rows, no overhead): the actor update without its 2 GiB
    assert r.trainer_peak_phase == "actor update" and r.trainer_peak_gib == pytest.approx(50.004 - 2, abs=1e-3)


def test_vllm_kv_need_startup_and_window_by_hand():
    """A small example, every vLLM number by hand: 2 layers, 2 KV heads of 16, TP 1, 8 GiB device."""
    tiny = pm.Arch("tiny", layers=2, hidden=64, intermediate=128, heads=4, kv_heads=2, vocab=100)
    actor = pm.RoleSpec(tiny, 1e9, True, True, tokens_per_micro_batch=256, logits=True)
    critic = pm.RoleSpec(tiny, 0.5e9, False, False, tokens_per_micro_batch=64)
    p = pm.PlanInput(
        actor,
        critic,
        gpus=2,
        tp=1,
        gpu_memory_utilization=0.5,
        device_gib=8,
        overhead_gib=1.0,
        max_num_seqs=4,
        max_model_len=256,
        max_num_batched_tokens=1024,
    )
    r = pm.plan(p)
    weights = 1e9 * 2 / GIB  # bf16, TP 1: 1.8626 GiB
    profile = (1024 * (3 * 128 + 4 * 64) * 2 + 4 * 100 * 8) / GIB + 0.5  # 1024 tokens + 4-row sampler + non-torch
    assert r.vllm["requested"] == pytest.approx(4.0)  # 0.5 x 8 GiB, whatever else is on the device
    assert r.vllm["kv_cache"] == pytest.approx(4.0 - weights - profile)
    kv_bytes = 2 * 2 * 2 * 16 * 2  # K and V x 2 layers x 2 KV heads x 16 dims x bf16 = 256 B/token
    assert tiny.kv_bytes_per_token(1) == kv_bytes
    assert r.kv_cache_tokens == int((4.0 - weights - profile) * GIB / kv_bytes)
    assert r.kv_need_tokens == 4 * 256 and r.vllm["kv_need"] == pytest.approx(1024 * 256 / GIB)
    # start-up: the critic's fp32 weights (0.5e9 x 4 / 2 GPUs) and half the overhead are on the device
    assert r.vllm["startup_free"] == pytest.approx(8 - 0.5e9 * 4 / 2 / GIB - 0.5) and r.vllm_starts
    # window: KV need held from (weights + profile + need) / 8; rollout fits up to (8 - critic state - 1) / 8
    low, high = r.utilization_range
    assert low == pytest.approx((weights + profile + 1024 * 256 / GIB) / 8)
    assert high == pytest.approx((8 - 0.5e9 * 12 / 2 / GIB - 1.0) / 8)
    # request more than is free at start-up: vLLM 0.24 refuses to start (request_memory's check)
    p.gpu_memory_utilization = 0.95
    r = pm.plan(p)
    assert not r.vllm_starts and any("refuses to start" in n for n in r.notes)
    # a request too small for the weights and the profile run leaves no KV cache: no start either
    p.gpu_memory_utilization = 0.25
    r = pm.plan(p)
    assert not r.vllm_starts and r.kv_cache_tokens is None
    # a KV cache smaller than the need is a note (vLLM runs fewer sequences at once), not a failure
    p.gpu_memory_utilization, p.max_model_len, p.max_num_seqs = 0.5, 1_000_000, 256
    r = pm.plan(p)
    assert r.vllm_starts and any("fewer sequences run at once" in n for n in r.notes)


def test_vllm_does_not_sleep_without_free_cache_engine():
    r = pm.plan(seven_b_small_critic(vllm_sleeps=False))
    vllm = sum(r.phases["rollout"][k] for k in pm.VLLM_ROWS)
    assert vllm == pytest.approx(64.0)
    assert r.totals["actor update"] == pytest.approx(pm.plan(seven_b_small_critic()).totals["actor update"] + vllm)


def test_seven_b_same_size_critic_needs_a_lower_utilization():
    """Defect 5: under vLLM 0.24 the same-size critic's resident state plus 0.8 x 80 GiB does not fit; the
    window the planner reports holds the KV a full batch needs and fits, and 0.6 (the scripts' value) is in it."""
    a7 = pm.ARCHITECTURES["DeepSeek-R1-Distill-Qwen-7B"]
    p = seven_b_small_critic(max_model_len=10240, max_num_batched_tokens=32768)
    p.critic = pm.RoleSpec(a7, a7.value_params(), False, False, tokens_per_micro_batch=2048)
    r = pm.plan(p)
    resident = R7_VALUE * 12 / 4 / GIB  # 19.76 GiB: the critic's fp32 weights + Adam, never offloaded
    assert r.totals["rollout"] == pytest.approx(64 + resident + 2) and r.peak_fraction > 1
    assert r.vllm_starts  # at start-up only the critic's fp32 weights (no Adam yet) are there: 72.4 GiB free
    assert any("CUDA OOM at the first rollout" in n for n in r.notes)
    low, high = r.utilization_range
    assert r.vllm["kv_need"] == pytest.approx(35.0)  # 256 x 10240 tokens x 14 KiB
    assert low < 0.6 < high
    p.gpu_memory_utilization = 0.6
    fixed = pm.plan(p)
    assert fixed.peak_gib < 80 and fixed.kv_cache_tokens > 256 * 10240


def test_sppo_critic_forward_while_vllm_is_awake_counts_in_the_rollout():
    """SPPO's critic scores the held-out prompts at every validation (and selection's pool at a step's start) after
    verl's update_weights woke vLLM: its all-gather and one no-grad forward micro-batch add to the rollout phase."""
    a7 = pm.ARCHITECTURES["DeepSeek-R1-Distill-Qwen-7B"]
    p = seven_b_small_critic(max_model_len=10240, max_num_batched_tokens=32768)
    p.gpu_memory_utilization = 0.6
    p.critic = pm.RoleSpec(a7, a7.value_params(), False, False, tokens_per_micro_batch=2048)
    without = pm.plan(p)
    p.critic.awake_forward_tokens = 2048
    r = pm.plan(p)
    # 7B critic: root (embed 152064 x 3584, no lm_head) + 2 layers of 233,057,792, bf16; one layer's tensors and the
    # hidden state for 2048 tokens: (5 x 3584 + 2 x 4 x 128 + 4 x 18944 + 3584) x 2048 x 2 bytes
    gather = 2 * (152064 * 3584 + 2 * 233_057_792) / GIB  # 1.8832 GiB
    acts = 2048 * (5 * 3584 + 2 * 4 * 128 + 4 * 18944 + 3584) * 2 / GIB  # 0.3750 GiB
    assert r.phases["rollout"][pm.AWAKE_ROW] == pytest.approx(gather + acts)
    assert r.totals["rollout"] - without.totals["rollout"] == pytest.approx(gather + acts)
    assert pm.AWAKE_ROW not in without.phases["rollout"]
    assert r.totals["actor update"] == pytest.approx(without.totals["actor update"])  # vLLM asleep there
    # at 0.6 the same-size 7B run goes from 87.2 % to just over 90 % of 80 GiB; the window's top moves down
    assert 100 * without.peak_fraction == pytest.approx(87.2, abs=0.05) and 0.90 < r.peak_fraction < 0.901
    assert r.utilization_range[1] == pytest.approx(without.utilization_range[1] - (gather + acts) / 80)
    p.gpu_memory_utilization = 0.58  # the 7B scripts' value (run_scripts/common.sh)
    assert pm.plan(p).peak_fraction < 0.90


def test_from_config_sets_the_awake_forward_for_sppo_only():
    sppo = _cfg("sppo", {"ppo_micro_batch_size_per_gpu": 1, "forward_micro_batch_size_per_gpu": 2})
    assert pm.from_config(sppo).critic.awake_forward_tokens == 2 * 1024  # the forward's micro-batch, prompt tokens
    sppo["critic"].update(use_dynamic_bsz=True, ppo_infer_max_token_len_per_gpu=8192)
    assert pm.from_config(sppo).critic.awake_forward_tokens == 8192  # the inference budget, not capped
    gae = _cfg("gae", {"ppo_micro_batch_size_per_gpu": 1})
    assert pm.from_config(gae).critic.awake_forward_tokens == 0  # GAE's values are computed while vLLM sleeps


def test_separate_async_puts_vllm_on_gpus_of_its_own():
    """trainer_mode separate_async: the rollout column is vLLM alone on the rollout GPUs (its request, its overhead),
    the update columns the trainer's GPUs without vLLM; SPPO's critic forward no longer meets vLLM."""
    cfg = _cfg("sppo", {"ppo_micro_batch_size_per_gpu": 1})
    cfg["trainer"].update(n_gpus_per_node=2, v1={"trainer_mode": "separate_async"})
    cfg["actor_rollout_ref"]["rollout"].update(nnodes=1, n_gpus_per_node=2, gpu_memory_utilization=0.7)
    cfg["data"]["train_batch_size"] = 256
    p = pm.from_config(cfg)
    assert p.colocated is False and p.gpus == 2
    r = pm.plan(p)
    assert set(r.phases["rollout"]) == {*pm.VLLM_ROWS, pm.OVERHEAD_ROW}
    assert r.totals["rollout"] == pytest.approx(0.7 * 80 + 2)
    assert r.vllm["startup_resident"] == 0.0 and r.vllm_starts
    # the updates: 2-way shards, no vLLM rows even with free_cache_engine off
    a15 = pm.ARCHITECTURES["DeepSeek-R1-Distill-Qwen-1.5B"]
    assert r.phases["critic update"]["critic params (fp32 shard)"] == pytest.approx(a15.value_params() * 4 / 2 / GIB)
    assert any("separate_async: vLLM runs on 2 GPU(s) of its own" in n for n in p.notes)
    assert any("2 vLLM replica(s) of TP 1: ~128 sequences each" in n for n in p.notes)  # 256 prompts over 2
    cfg["actor_rollout_ref"]["rollout"]["free_cache_engine"] = False
    assert not set(pm.VLLM_ROWS) & set(pm.plan(pm.from_config(cfg)).phases["actor update"])


def test_device_total_budget_sizes_the_kv_cache_at_start_up():
    """Older vLLM V1 workers counted every process's memory against the fraction, at start-up, when the critic
    had weights but no Adam states yet: the rollout then holds 0.8 x device + the critic's Adam states."""
    r = pm.plan(seven_b_small_critic(vllm_budget="device-total"))
    critic_adam = R15_VALUE * 8 / 4 / GIB
    assert r.totals["rollout"] == pytest.approx(64.0 + critic_adam)
    assert r.peak_phase == "rollout"
    a7 = pm.ARCHITECTURES["DeepSeek-R1-Distill-Qwen-7B"]
    p = seven_b_small_critic(vllm_budget="device-total")
    p.critic = pm.RoleSpec(a7, a7.value_params(), False, False, tokens_per_micro_batch=2048)
    big = pm.plan(p)
    # the gap is the Adam states' difference, 12.9 points of 80 GiB (the paper reports 91.5 - 78.7 = 12.8)
    gap = 100 * (big.peak_gib - r.peak_gib) / 80
    assert gap == pytest.approx(100 * (R7_VALUE - R15_VALUE) * 8 / 4 / GIB / 80) and 12.8 < gap < 13.0


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
    # vLLM settings: verl's defaults (max_num_seqs 256, max_num_batched_tokens 8192), max_model_len = 9216
    assert (p.max_num_seqs, p.max_num_batched_tokens, p.max_model_len) == (256, 8192, 9216)
    assert p.critic.tokens_per_micro_batch == 9216  # token-level critic: one prompt + response (mini-batch 1)
    cfg["algorithm"]["adv_estimator"] = "sppo"
    assert pm.from_config(cfg).critic.tokens_per_micro_batch == 1024  # SPPO critic: the prompt only
    cfg["critic"]["enable"] = False
    assert pm.from_config(cfg).critic is None
    cfg["actor_rollout_ref"]["model"]["path"] = "unknown/model"
    with pytest.raises(ValueError, match="unknown architecture"):
        pm.from_config(cfg)


def _cfg(estimator: str, critic: dict, actor: dict | None = None) -> dict:
    return {
        "algorithm": {"adv_estimator": estimator},
        "data": {"max_prompt_length": 1024, "max_response_length": 8192},
        "trainer": {"n_gpus_per_node": 4, "nnodes": 1},
        "actor_rollout_ref": {
            "model": {"path": "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"},
            "actor": {"ppo_mini_batch_size": 128, "ppo_micro_batch_size_per_gpu": 2, **(actor or {})},
            "rollout": {"tensor_model_parallel_size": 1, "gpu_memory_utilization": 0.8, "n": 1},
        },
        "critic": {
            "model": {"path": "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"},
            "ppo_mini_batch_size": 128,
            **critic,
        },
    }


def test_critic_tokens_are_the_batching_that_applies():
    """Defect 2: the critic's tokens per micro-batch come from sppo.critic_batching (what really applies)."""
    # gae: verl 0.9.1 ignores the critic's micro-batch keys and runs dynamic batches of the inference budget
    # over prompt + response: min(32768, 32 sequences per rank x 9216) = 32768 tokens, not 1 x 9216
    gae = _cfg("gae", {"ppo_micro_batch_size_per_gpu": 1, "use_dynamic_bsz": False})
    p = pm.from_config(gae)
    assert p.critic.tokens_per_micro_batch == 32768
    assert p.critic.batching == "dynamic, <= 32768 sequence tokens/GPU"
    gae["critic"]["ppo_infer_max_token_len_per_gpu"] = 20000
    assert pm.from_config(gae).critic.tokens_per_micro_batch == 20000
    # SPPO: the user's micro-batch over prompt tokens takes effect
    sppo = _cfg("sppo", {"ppo_micro_batch_size_per_gpu": 4, "use_dynamic_bsz": False})
    p = pm.from_config(sppo)
    assert p.critic.tokens_per_micro_batch == 4 * 1024 and p.critic.batching == "4 prompts/GPU"
    # SPPO, dynamic: the user's training budget, capped by the rank's mini-batch (32 prompts x 1024)
    sppo["critic"].update(use_dynamic_bsz=True, ppo_max_token_len_per_gpu=4096)
    assert pm.from_config(sppo).critic.tokens_per_micro_batch == 4096
    sppo["critic"]["ppo_max_token_len_per_gpu"] = 10**6
    assert pm.from_config(sppo).critic.tokens_per_micro_batch == 32 * 1024
    # the report names the budget that applies
    text = pm.format_plan(p, pm.plan(p))
    assert "critic batching that applies: 4 prompts/GPU" in text


def test_sequence_parallel_sizes_are_read_from_the_engine_keys():
    """Defect 3: the critic's Ulysses size is critic.fsdp.ulysses_sequence_parallel_size (the deprecated
    critic.ulysses_sequence_parallel_size is not read by verl 0.9.1's engine); the actor's is
    actor.fsdp_config.ulysses_sequence_parallel_size, which the deprecated actor key overrides when > 1."""
    cfg = _cfg("sppo", {"ppo_micro_batch_size_per_gpu": 2, "ulysses_sequence_parallel_size": 2})
    assert pm.from_config(cfg).critic.tokens_per_micro_batch == 2 * 1024  # deprecated key: no effect
    cfg["critic"]["fsdp"] = {"ulysses_sequence_parallel_size": 2}
    p = pm.from_config(cfg)
    assert p.critic.tokens_per_micro_batch == 2 * 1024 // 2 and "Ulysses SP 2" in p.critic.batching
    assert p.actor.tokens_per_micro_batch == 2 * 9216
    cfg["actor_rollout_ref"]["actor"]["fsdp_config"] = {"ulysses_sequence_parallel_size": 4}
    assert pm.from_config(cfg).actor.tokens_per_micro_batch == 2 * 9216 // 4
    cfg["actor_rollout_ref"]["actor"]["fsdp_config"] = {}
    cfg["actor_rollout_ref"]["actor"]["ulysses_sequence_parallel_size"] = 2  # verl copies it when > 1
    assert pm.from_config(cfg).actor.tokens_per_micro_batch == 2 * 9216 // 2


def test_from_config_refuses_impossible_values():
    for key, value in (("gpu_memory_utilization", 0), ("gpu_memory_utilization", 1.5), ("max_num_seqs", 0)):
        cfg = _cfg("sppo", {"ppo_micro_batch_size_per_gpu": 1})
        cfg["actor_rollout_ref"]["rollout"][key] = value
        with pytest.raises(ValueError, match=key.split("_")[0]):
            pm.from_config(cfg)
    cfg = _cfg("sppo", {"ppo_micro_batch_size_per_gpu": 1})
    cfg["data"]["max_response_length"] = -5
    with pytest.raises(ValueError, match="max_response_length=-5"):
        pm.from_config(cfg)
    with pytest.raises(ValueError, match="device memory"):
        pm.from_config(_cfg("sppo", {"ppo_micro_batch_size_per_gpu": 1}), device_gib=0)


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
    assert "peak:" in text and "vLLM KV cache" in text and "gpu_memory_utilization window" in text
    assert "nearest in size" in text  # bare counts borrow the nearest architecture's shapes
    data = json.loads(out.read_text())["explicit sizes"]
    # 1.5e9 critic, resident: 12 B/param / 4 GPUs; rollout = 64 + that + 2, plus the prompt-only (SPPO) critic's
    # forward while vLLM is awake: the 1.5B shapes' all-gather and one 2048-token micro-batch
    awake = 2 * (151936 * 1536 + 2 * 46_797_824) / GIB + 2048 * (5 * 1536 + 2 * 2 * 128 + 4 * 8960 + 1536) * 2 / GIB
    assert data["phases"]["rollout"][pm.AWAKE_ROW] == pytest.approx(awake)
    assert data["totals"]["rollout"] == pytest.approx(64 + 1.5e9 * 12 / 4 / GIB + 2 + awake)


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
