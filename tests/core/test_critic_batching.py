"""The critic micro-batching that applies: the user's keys for SPPO's prompt-only critic, verl's budget for gae."""

from omegaconf import OmegaConf

from sppo.critic_batching import critic_batching, critic_dp_size, critic_sp_size, describe


def cfg(estimator="sppo", **critic):
    base = {
        "ppo_micro_batch_size_per_gpu": 2,
        "ppo_micro_batch_size": None,
        "forward_micro_batch_size_per_gpu": None,
        "ppo_infer_micro_batch_size_per_gpu": None,
        "use_dynamic_bsz": False,
        "ppo_max_token_len_per_gpu": 4096,
        "forward_max_token_len_per_gpu": None,
        "ppo_infer_max_token_len_per_gpu": 32768,
        "fsdp": {"ulysses_sequence_parallel_size": 1},
    }
    base.update(critic)
    return OmegaConf.create(
        {"algorithm": {"adv_estimator": estimator}, "trainer": {"n_gpus_per_node": 4, "nnodes": 2}, "critic": base}
    )


def test_sppo_uses_what_the_user_wrote():
    assert critic_batching(cfg()) == {"use_dynamic_bsz": False, "micro_batch_size_per_gpu": 2}
    assert critic_batching(cfg(), training=False) == {"use_dynamic_bsz": False, "micro_batch_size_per_gpu": 2}
    assert critic_batching(cfg(forward_micro_batch_size_per_gpu=8), training=False)["micro_batch_size_per_gpu"] == 8
    dyn = cfg(use_dynamic_bsz=True)
    assert critic_batching(dyn) == {"use_dynamic_bsz": True, "max_token_len_per_gpu": 4096}
    assert critic_batching(dyn, training=False) == {"use_dynamic_bsz": True, "max_token_len_per_gpu": 32768}
    # the deprecated global micro-batch is split over the 8 data-parallel ranks
    legacy = cfg(ppo_micro_batch_size_per_gpu=None, ppo_micro_batch_size=16)
    assert critic_batching(legacy)["micro_batch_size_per_gpu"] == 2


def test_gae_gets_verls_inference_budget_whatever_the_user_wrote():
    expected = {"use_dynamic_bsz": True, "max_token_len_per_gpu": 32768}
    assert critic_batching(cfg("gae")) == expected
    assert critic_batching(cfg("gae", use_dynamic_bsz=True, ppo_max_token_len_per_gpu=1000)) == expected


def test_sequence_parallel_and_dp_come_from_the_engine_key():
    c = cfg(fsdp={"ulysses_sequence_parallel_size": 2}, ulysses_sequence_parallel_size=4)
    assert critic_sp_size(c) == 2
    assert critic_dp_size(c) == 4


def test_describe():
    assert (
        describe({"use_dynamic_bsz": True, "max_token_len_per_gpu": 4096}, "prompt")
        == "dynamic, <= 4096 prompt tokens/GPU"
    )
    assert describe({"use_dynamic_bsz": False, "micro_batch_size_per_gpu": 2}, "prompt") == "2 prompts/GPU"
    assert describe({"use_dynamic_bsz": False, "micro_batch_size_per_gpu": 1}, "prompt") == "1 prompt/GPU"
