"""``sppo.adaptive_n``: per-prompt sample counts from the critic's uncertainty at a fixed budget, group baselines,
and the configured number of optimizer updates per step (hand-computed values; the trainer's real code, no Ray)."""

import asyncio
import math

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from tensordict import TensorDict
from verl.trainer.ppo.v1 import agent_loop_tq
from verl.trainer.ppo.v1.trainer_base import PPOTrainer
from verl.utils import tensordict_utils as tu

from sppo.adaptive_n import (
    allocate_samples,
    mini_batch_size,
    required_multiple,
    uncertainty_weights,
    updates_per_step,
)
from sppo.advantage import compute_sppo_advantage, group_baselines
from sppo.options import AdaptiveNOptions
from tests.core.trainer_harness import advantages, make_trainer, options, put_samples, run_step

CLUSTERED = torch.tensor([0.6, 0.65, 0.7, 0.62])  # σ(V) as the graded task's critic gives them


def test_weights_of_both_rules():
    assert uncertainty_weights(CLUSTERED, "variance").tolist() == pytest.approx([0.24, 0.2275, 0.21, 0.2356])
    assert uncertainty_weights(CLUSTERED, "rank").tolist() == [4.0, 2.0, 1.0, 3.0]
    assert uncertainty_weights(torch.tensor([0.5, 0.5, 0.9]), "rank").tolist() == [2.5, 2.5, 1.0]
    with pytest.raises(ValueError, match="sppo.adaptive_n.rule must be one of"):
        uncertainty_weights(CLUSTERED, "entropy")


def test_clustered_probabilities_only_the_rank_rule_discriminates():
    # variance shares 4 x [0.24, 0.2275, 0.21, 0.2356] / 0.9131 = [1.05, 1.00, 0.92, 1.03]: one extra sample each
    assert allocate_samples(uncertainty_weights(CLUSTERED, "variance"), budget=8, max_n=4).tolist() == [2, 2, 2, 2]
    # rank shares 4 x [4, 2, 1, 3] / 10 = [1.6, 0.8, 0.4, 1.2]: floors [1, 0, 0, 1], remainders .8 and .6 round up
    assert allocate_samples(uncertainty_weights(CLUSTERED, "rank"), budget=8, max_n=4).tolist() == [3, 2, 1, 2]


def test_allocation_proportional_capped_and_exact():
    assert allocate_samples(torch.tensor([1.0, 2, 3, 4]), budget=8, max_n=4).tolist() == [1, 2, 2, 3]
    # the heavy prompt is capped at 3; the 2 samples it cannot take go uniformly to the weightless rest, by index
    assert allocate_samples(torch.tensor([0.0, 0, 0, 10]), budget=8, max_n=3).tolist() == [2, 2, 1, 3]
    assert allocate_samples(torch.zeros(4), budget=6, max_n=3).tolist() == [2, 2, 1, 1]
    assert allocate_samples(torch.tensor([1.0, 2, 3]), budget=3, max_n=4).tolist() == [1, 1, 1]
    assert allocate_samples(torch.tensor([1.0, 2, 3]), budget=12, max_n=4).tolist() == [4, 4, 4]
    for budget in (2, 13):
        with pytest.raises(ValueError, match=f"a budget of {budget} samples cannot give 3 prompts between 1 and 4"):
            allocate_samples(torch.tensor([1.0, 2, 3]), budget=budget, max_n=4)


def test_group_baseline_leave_one_out_shrunk_towards_the_critic():
    rewards = torch.tensor([1.0, 0, 1, 0, 1, 0, 0, 0, 1])
    probs = torch.tensor([0.5, 0.5, 0.5, 0.75, 0.25, 0.25, 0.5, 0.5, 0.5])
    index = np.array(["A", "A", "A", "B", "C", "C", "D", "D", "D"], dtype=object)
    valid = torch.tensor([True] * 8 + [False])  # the last row is padding that shares D's uid: it joins no group
    b = group_baselines(rewards, probs, index, valid, prior_strength=1.0)
    # A: (others + 0.5) / 3; B alone: p; C: (others + 0.25) / 2; D: (0 + 0.5) / 2; padding: p
    assert b.tolist() == pytest.approx([0.5, 2.5 / 3, 0.5, 0.75, 0.125, 0.625, 0.25, 0.25, 0.5])
    rloo = group_baselines(rewards, probs, index, valid, prior_strength=0.0)
    assert rloo.tolist() == pytest.approx([0.5, 1.0, 0.5, 0.75, 0.0, 1.0, 0.0, 0.0, 0.5])
    with pytest.raises(ValueError, match="need the samples' prompt ids"):
        group_baselines(rewards, probs, None, valid, 1.0)


def test_estimator_with_groups_and_bernoulli_scale_by_the_critic():
    rewards = torch.tensor([[1.0], [0.0], [0.0]])
    probs = torch.tensor([0.5, 0.5, 0.8])
    index = ["A", "A", "B"]
    adv, _ = compute_sppo_advantage(
        rewards, torch.ones(3, 1), config={"sppo": {}}, reward_baselines=probs, index=index, prior_strength=1.0
    )
    assert adv[:, 0].tolist() == pytest.approx([1 - 0.25, 0 - 0.75, -0.8])
    bern, _ = compute_sppo_advantage(
        rewards,
        torch.ones(3, 1),
        config={"sppo": {"advantage": "bernoulli"}},
        reward_baselines=probs,
        index=index,
        prior_strength=1.0,
    )
    assert bern[:, 0].tolist() == pytest.approx([0.75 / 0.5, -0.75 / 0.5, -0.8 / 0.4])
    # without prior_strength the groups are ignored: SPPO's R − σ(V) per sample
    plain, _ = compute_sppo_advantage(
        rewards, torch.ones(3, 1), config={"sppo": {}}, reward_baselines=probs, index=index
    )
    assert plain[:, 0].tolist() == pytest.approx([0.5, -0.5, -0.8])


def test_mini_batch_sizing_keeps_the_configured_updates():
    # train_batch_size 8, actor mini-batch 2: verl configures 4 updates per epoch
    assert updates_per_step(8, 2) == 4
    with pytest.raises(ValueError, match="8 prompts do not split into mini-batches of 3"):
        updates_per_step(8, 3)
    assert required_multiple(2, [4 * 2 * 1, 2 * 1 * 3]) == 24
    assert required_multiple(2, []) == 2
    # 13 samples padded to 16: mini-batches of 4, and verl's worker iterates exactly 4 of them (verl's own
    # sizing, ppo_mini_batch_size x rollout.n = 2, would make 8)
    assert mini_batch_size(16, 4) == 4
    rows = TensorDict({"x": torch.arange(16)}, batch_size=16)
    assert len(list(tu.make_iterator(rows, mini_batch_size=4, epochs=1, seed=1))) == 4
    with pytest.raises(ValueError, match="13 samples do not split into 4 equal mini-batches"):
        mini_batch_size(13, 4)


# ---------------------------------------------------------------------------------------------- the trainer
LOGITS = {20: 0.0, 21: math.log(3.0), 22: -math.log(3.0)}  # σ(V) 0.5, 0.75, 0.25


def _on(t, **kw):
    t.__dict__["sppo_options"] = options(adaptive_n=AdaptiveNOptions(enable=True, **kw))


def _prompts(n: int) -> TensorDict:
    return tu.get_tensordict(
        {"raw_prompt": np.array([[{"role": "user", "content": str(i)}] for i in range(n)], dtype=object)}
    )


def test_next_train_batch_writes_each_prompts_sample_count(monkeypatch):
    monkeypatch.setattr(PPOTrainer, "_next_train_batch", lambda self, num_prompts=None: _prompts(num_prompts or 4))
    monkeypatch.setattr(PPOTrainer, "prepare_step", lambda self: {})
    t = make_trainer(monkeypatch, LOGITS)
    _on(t, max_n=4, budget=8, rule="rank")
    t._score_prompts = lambda batch: CLUSTERED[: len(batch["raw_prompt"])]
    t.on_train_begin()
    batch = t._next_train_batch()
    assert batch["__rollout_n__"].tolist() == [3, 2, 1, 2]
    metrics = t.prepare_step()
    assert metrics["adaptive_n/samples"] == 8.0 and metrics["adaptive_n/n_max"] == 3.0
    assert metrics["adaptive_n/multi_sample_share"] == 0.75 and metrics["adaptive_n/n_mean"] == 2.0
    assert metrics["adaptive_n/sigmoid_v_std"] == pytest.approx(float(CLUSTERED.std()))
    assert t.prepare_step() == {}  # reported once
    # a refill of 2 prompts (verl replaces failed groups) gets its share, 4 samples: ranks [2, 1], extra shares
    # 2 x [2/3, 1/3] = [1.33, 0.67], floors [1, 0], the larger remainder rounds up
    assert t._next_train_batch(2)["__rollout_n__"].tolist() == [2, 2]
    # default budget: 2 x train_batch_size
    _on(t, max_n=4)
    assert int(t._next_train_batch()["__rollout_n__"].sum()) == 8


def test_off_leaves_verls_batch_alone(monkeypatch):
    monkeypatch.setattr(PPOTrainer, "_next_train_batch", lambda self, num_prompts=None: _prompts(4))
    t = make_trainer(monkeypatch, LOGITS)
    assert "__rollout_n__" not in t._next_train_batch().keys()
    monkeypatch.setattr(PPOTrainer, "_get_required_batch_multiple", lambda self, dp: 99)
    assert t._get_required_batch_multiple(1) == 99  # verl's own
    assert t._critic_mini_batch(16) == 2  # verl's critic.ppo_mini_batch_size x rollout.n


def test_verls_agent_loop_runs_each_rows_count_of_sessions(monkeypatch):
    """verl's own ``_run_prompt`` (agent_loop_tq.py), fed rows the way its ``generate_sequences`` cuts them."""
    worker = agent_loop_tq.AgentLoopWorkerTQ.__ray_metadata__.modified_class.__new__(
        agent_loop_tq.AgentLoopWorkerTQ.__ray_metadata__.modified_class
    )
    worker.config = OmegaConf.create({"actor_rollout_ref": {"rollout": {"n": 1, "val_kwargs": {"n": 1}}}})
    sessions: list[tuple[str, int]] = []

    async def run_agent_loop(sampling_params, trajectory, trace, session_id, **prompt):
        sessions.append((prompt["uid"], session_id))

    async def kv_put(**kwargs):
        return None

    worker._run_agent_loop = run_agent_loop
    monkeypatch.setattr(agent_loop_tq.tq, "async_kv_put", kv_put)
    batch = tu.get_tensordict({"uid": np.array(["u0", "u1", "u2"], dtype=object)})
    batch["__rollout_n__"] = torch.tensor([3, 1, 2])  # what AdaptiveNMixin._next_train_batch writes

    async def run_all():
        for i in range(len(batch)):
            # generate_sequences' cut: a tensor's row, a NonTensorStack's item
            prompt = {k: (v[i] if isinstance(v, torch.Tensor) else v[i].data) for k, v in batch.items()}
            await worker._run_prompt(prompt, {}, trajectory={"validate": False})

    asyncio.run(run_all())
    assert sessions == [("u0", 0), ("u0", 1), ("u0", 2), ("u1", 0), ("u2", 0), ("u2", 1)]


def test_required_multiple_and_actor_update_keep_the_configured_updates(monkeypatch):
    seen = {}

    def verl_update_actor(self, batch, metrics):
        actor = self.config.actor_rollout_ref.actor
        seen["mini_batch"] = actor.ppo_mini_batch_size * self.config.actor_rollout_ref.rollout.n  # verl's sizing
        return batch

    monkeypatch.setattr(PPOTrainer, "_update_actor", verl_update_actor)
    t = make_trainer(
        monkeypatch,
        LOGITS,
        data__train_batch_size=8,
        trainer__n_gpus_per_node=2,
        actor_rollout_ref__actor__ppo_mini_batch_size=2,
        actor_rollout_ref__actor__use_dynamic_bsz=True,
        critic__ppo_mini_batch_size=4,
        critic__ppo_micro_batch_size_per_gpu=1,
    )
    _on(t, max_n=4, budget=13)
    t.use_reference_policy = False
    # actor: 4 updates x 2 ranks (dynamic micro-batches); critic: 2 updates x 2 ranks x micro 1
    assert t._get_required_batch_multiple(2) == 8
    t.config.trainer.critic_warmup = 5  # a warm-up step: no actor update, only the critic's multiple counts
    assert t._get_required_batch_multiple(2) == 4
    t.config.trainer.critic_warmup = 0
    # fixed micro-batches: actor 4 updates x 2 ranks x 3, the log-prob forward 2 ranks x 5, critic 2 x 2 x 2
    t.config.actor_rollout_ref.actor.use_dynamic_bsz = False
    t.config.actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu = 3
    t.config.actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu = 5
    t.config.critic.ppo_micro_batch_size_per_gpu = 2
    assert t._get_required_batch_multiple(2) == 120  # lcm(2, 24, 10, 8)
    t.config.actor_rollout_ref.actor.use_dynamic_bsz = True
    OmegaConf.set_readonly(t.config, True)
    batch = put_samples(t, [{"uid": f"u{i}", "prompt": [1, 20], "response": [9]} for i in range(16)])  # 13 + 3 pad
    metrics: dict = {}
    t._update_actor(batch, metrics)
    assert seen["mini_batch"] == 4  # 16 samples / 4 configured updates
    assert t.config.actor_rollout_ref.actor.ppo_mini_batch_size == 2  # restored
    assert metrics["adaptive_n/actor_mini_batch"] == 4.0 and metrics["adaptive_n/actor_updates"] == 4.0
    assert t._critic_mini_batch(16) == 8  # 2 configured critic updates


def test_step_with_groups_hand_values(monkeypatch):
    t = make_trainer(monkeypatch, LOGITS)  # train_batch_size 4, critic mini-batch 2: 2 critic updates
    _on(t, prior_strength=1.0)
    rows = [("A", 20, 1.0), ("A", 20, 0.0), ("A", 20, 1.0), ("B", 21, 0.0), ("C", 22, 1.0), ("C", 22, 0.0)]
    rows += [("D", 20, 0.0), ("D", 20, 0.0)]
    batch = put_samples(t, [{"uid": u, "prompt": [1, tok], "response": [5, 9], "reward": r} for u, tok, r in rows])
    run_step(t, batch)
    assert advantages(t, batch) == pytest.approx([0.5, -2.5 / 3, 0.5, -0.75, 0.875, -0.625, -0.25, -0.25])
    (trained,) = t.critic_wg.trained
    assert tu.get(trained, "mini_batch_size") == 4  # 8 samples in the configured 2 critic updates


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"max_n": 1}, "sppo.adaptive_n.max_n=1; expected an integer >= 2"),
        ({"budget": 0}, "sppo.adaptive_n.budget=0; expected a positive number of samples per step or null"),
        ({"rule": "entropy"}, "sppo.adaptive_n.rule='entropy'; choose rank or variance"),
        ({"prior_strength": -1.0}, "sppo.adaptive_n.prior_strength=-1; expected a number >= 0"),
    ],
)
def test_nonsense_is_refused_in_one_line(given, message):
    assert AdaptiveNOptions.from_config({"enable": True, **given}).problems() == [message]
