"""What SPPO's trainer hands verl's critic worker: the user's micro-batching (verl 0.9.1's trainer drops it, #7462),
and forward batches padded to whole micro-batches on every data-parallel rank, which verl's own micro-batching
(``prepare_micro_batches``) then honours."""

from __future__ import annotations

import torch
from omegaconf import OmegaConf
from tensordict import TensorDict
from verl.utils import tensordict_utils as tu
from verl.workers.engine.utils import prepare_micro_batches

from sppo.trainer import SPPOTrainer, _nested, prompt_only_batch


class RecordingCriticGroup:
    """Stands in for the Ray worker group only: records the batch and returns each row's token ids as values."""

    def __init__(self):
        self.batches: list[TensorDict] = []

    def infer_batch(self, td):
        self.batches.append(td)
        values = _nested([row.float() for row in td["input_ids"].unbind()])
        out = tu.get_tensordict(tensor_dict={"values": values}, non_tensor_dict={})
        return type("Ref", (), {"get": lambda self: out})()


def trainer(**critic) -> SPPOTrainer:
    t = SPPOTrainer.__new__(SPPOTrainer)  # no Ray: only the critic-batch helpers are exercised
    base = {
        "use_dynamic_bsz": False,
        "ppo_micro_batch_size_per_gpu": 2,
        "forward_micro_batch_size_per_gpu": 3,
        "ppo_max_token_len_per_gpu": 512,
        "ppo_infer_max_token_len_per_gpu": 32768,
        "fsdp": {"ulysses_sequence_parallel_size": 1},
    }
    base.update(critic)
    t.config = OmegaConf.create(
        {"algorithm": {"adv_estimator": "sppo"}, "trainer": {"n_gpus_per_node": 2, "nnodes": 1}, "critic": base}
    )
    t.critic_wg = RecordingCriticGroup()
    return t


def batch_of(last_tokens: list[int]) -> TensorDict:
    rows = [torch.tensor([7] * (i + 1) + [tok]) for i, tok in enumerate(last_tokens)]
    return prompt_only_batch(_nested(rows), None, torch.ones(len(rows)))


def test_forward_batch_is_padded_to_whole_micro_batches_per_rank_and_trimmed():
    t = trainer()
    logits = t._critic_logits(batch_of([11, 12, 13, 14, 15]))
    assert logits.tolist() == [11.0, 12.0, 13.0, 14.0, 15.0]
    sent = t.critic_wg.batches[0]
    assert len(sent) == 6  # 5 rows padded to a multiple of 2 ranks x 3 prompts
    assert tu.get(sent, "use_dynamic_bsz") is False and tu.get(sent, "micro_batch_size_per_gpu") == 3
    rank0 = tu.index_select_tensor_dict(sent, [0, 1, 2])
    micro_batches, _ = prepare_micro_batches(rank0)
    assert [len(mb) for mb in micro_batches] == [3]


def test_update_uses_the_users_keys_and_dynamic_budgets():
    assert trainer()._critic_batching(training=True) == {"use_dynamic_bsz": False, "micro_batch_size_per_gpu": 2}
    dyn = trainer(use_dynamic_bsz=True)
    assert dyn._critic_batching(training=True) == {"use_dynamic_bsz": True, "max_token_len_per_gpu": 512}
    dyn._critic_logits(batch_of([1, 2, 3]))
    sent = dyn.critic_wg.batches[0]
    assert len(sent) == 4  # dynamic batches: only the split over the 2 ranks needs padding
    assert tu.get(sent, "max_token_len_per_gpu") == 32768


def test_every_verl_trainer_mode_has_an_sppo_trainer_and_the_launch_check_knows_the_same_modes():
    from verl.trainer.ppo.v1.trainer_base import TRAINER_REGISTRY

    from sppo.launch_checks import TRAINER_MODES
    from sppo.trainer import SPPO_TRAINERS

    assert set(SPPO_TRAINERS) == set(TRAINER_MODES) == set(TRAINER_REGISTRY)
    for mode, cls in SPPO_TRAINERS.items():
        assert issubclass(cls, TRAINER_REGISTRY[mode])


class ValidationLoop:
    """verl's ``_validate`` reduced to what SPPO's override relies on: it iterates ``self.val_dataloader``, writes
    each prompt's uid into the batch dict it got, samples ``n`` responses per prompt and hands every sample's uid
    and reward to ``_val_metrics_update``."""

    rewards: dict[str, list[float]] = {}

    def on_validate_begin(self):
        pass

    def _validate(self):
        uids, rewards, sources = [], [], []
        for batch in self.val_dataloader:
            batch["uid"] = [f"uid-{m[0]['content']}" for m in batch["raw_prompt"]]
            for uid, messages, source in zip(batch["uid"], batch["raw_prompt"], batch["data_source"]):
                for r in self.rewards[messages[0]["content"]]:
                    uids.append(uid), rewards.append(r), sources.append(source)
        return self._val_metrics_update(sources, uids, {"reward": rewards}, [])

    def _val_metrics_update(self, data_sources, sample_uids, reward_extra_infos_dict, sample_turns, **kwargs):
        return {"val-core/acc": sum(reward_extra_infos_dict["reward"]) / len(sample_uids)}


class ScoredByContent(SPPOTrainer.__bases__[0], ValidationLoop):
    """SPPO's mixin on the reduced loop; the critic's σ(V) of a prompt is the number its message holds."""

    def _score_prompts(self, pool):
        return torch.tensor([float(m[0]["content"]) for m in pool["raw_prompt"]])


def test_validation_adds_the_critics_heldout_ranking_metrics():
    t = ScoredByContent.__new__(ScoredByContent)
    t.config = OmegaConf.create({"algorithm": {"adv_estimator": "sppo"}})
    t.use_critic = True
    t.rewards = {"0.8": [1, 1, 1, 0], "0.5": [1, 0, 0, 0], "0.2": [0, 0, 0, 0]}

    def msg(x):
        return [{"role": "user", "content": x}]

    loader = [
        {"raw_prompt": [msg("0.8"), msg("0.2")], "data_source": ["k2", "k4"]},
        {"raw_prompt": [msg("0.5")], "data_source": ["k2"]},
    ]
    t.val_dataloader = loader
    t.on_validate_begin()  # the critic scores the held-out prompts here, before verl's own hook
    m = t._validate()
    assert t.val_dataloader is loader  # restored
    assert m["val-core/acc"] == 4 / 12  # verl's own metrics are kept
    assert m["val-critic/prompts"] == 3 and m["val-critic/spearman"] == 1.0
    assert m["val-critic/auc"] == 28 / 32  # as in tests/core/test_critic_quality.py
    assert m["val-critic/k2/success_mean"] == 0.5 and m["val-critic/k4/sigmoid_v_mean"] == torch.tensor(0.2).item()

    t.config = OmegaConf.create({"algorithm": {"adv_estimator": "grpo"}})
    t.on_validate_begin()
    assert set(t._validate()) == {"val-core/acc"}  # other estimators: verl's validation only


def test_each_concern_mixin_overrides_its_own_verl_methods():
    """A method overridden by two concerns would silently shadow one of them unless both chain through super()."""
    from sppo.trainer import HeldoutCriticMixin, PromptOnlyCriticMixin, PromptSelectionMixin, RunControlMixin

    own = {
        cls.__name__: {name for name, attr in vars(cls).items() if callable(attr) and not name.startswith("__")}
        for cls in (PromptOnlyCriticMixin, PromptSelectionMixin, HeldoutCriticMixin, RunControlMixin)
    }
    assert own["RunControlMixin"] == {"_build_replay_buffer", "on_train_begin", "on_step_begin", "on_step_end"}
    assert own["PromptSelectionMixin"] == {"on_train_begin", "_next_train_batch", "prepare_step"}
    assert own["HeldoutCriticMixin"] == {
        "on_validate_begin",
        "_validate",
        "_val_metrics_update",
        "_heldout_critic_metrics",
    }
    names = sorted(own)
    shared = {a + "/" + b: own[a] & own[b] for i, a in enumerate(names) for b in names[i + 1 :]}
    assert {pair: s for pair, s in shared.items() if s} == {"PromptSelectionMixin/RunControlMixin": {"on_train_begin"}}
