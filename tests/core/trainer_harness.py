"""An SPPO trainer without Ray: an in-memory TransferQueue and a recording critic worker, so a step's
``_compute_values`` → ``_compute_advantage`` → ``_update_critic`` run on hand-made samples (tests/core/)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
from omegaconf import OmegaConf
from tensordict import TensorDict
from transfer_queue import KVBatchMeta
from verl.utils import tensordict_utils as tu

from sppo.options import TrainerOptions
from sppo.trainer import SPPOTrainer

EOS = 9


def nested(rows) -> torch.Tensor:
    return torch.nested.as_nested_tensor([torch.as_tensor(r) for r in rows], layout=torch.jagged)


class FakeTransferQueue:
    """``kv_batch_get`` / ``kv_batch_put`` over a dict: key -> {field: per-sample value}."""

    def __init__(self):
        self.rows: dict[str, dict] = {}

    def kv_batch_get(self, keys, partition_id, select_fields):
        out = {}
        for field in select_fields:
            values = [self.rows[k][field] for k in keys]
            if isinstance(values[0], str):
                out[field] = np.array(values, dtype=object)
            else:
                out[field] = nested(values)
        return tu.get_tensordict(out)

    def kv_batch_put(self, keys, partition_id, fields: TensorDict, tags=None):
        for name in fields.keys():
            value = fields[name]
            rows = value.unbind() if isinstance(value, torch.Tensor) else list(value)
            for k, row in zip(keys, rows, strict=True):
                self.rows.setdefault(k, {})[name] = row
        return KVBatchMeta(partition_id=partition_id, keys=list(keys), tags=[{} for _ in keys])


class FakeCriticGroup:
    """The critic worker group: V(s_p) = ``logits[last prompt token]``; records every training batch."""

    def __init__(self, logits: dict[int, float]):
        self.logits = logits
        self.trained: list[TensorDict] = []

    def infer_batch(self, td):
        values = nested([torch.full((len(r),), self.logits[int(r[-1])]) for r in td["input_ids"].unbind()])
        out = tu.get_tensordict(tensor_dict={"values": values}, non_tensor_dict={})
        return SimpleNamespace(get=lambda: out)

    def train_mini_batch(self, td):
        self.trained.append(td)
        out = tu.get_tensordict(tensor_dict={}, non_tensor_dict={"metrics": {}})
        return SimpleNamespace(get=lambda: out)


def options(**sections) -> TrainerOptions:
    """``sppo.*`` options with the given sections (dataclass instances), the rest at their defaults."""
    return TrainerOptions(**sections)


def make_trainer(monkeypatch, logits: dict[int, float], tmp_path=None, **config) -> SPPOTrainer:
    """An SPPOTrainer (sync) with no Ray: ``config`` entries (dotted keys) override the defaults below."""
    import sppo.trainer.critic as critic_module

    t = SPPOTrainer.__new__(SPPOTrainer)
    base = {
        "algorithm": {"adv_estimator": "sppo", "sppo": {}},
        "trainer": {
            "n_gpus_per_node": 1,
            "nnodes": 1,
            "critic_warmup": 0,
            "default_local_dir": str(tmp_path or "/nonexistent"),
            "resume_mode": "auto",
        },
        "data": {"train_batch_size": 4},
        "actor_rollout_ref": {
            "rollout": {"n": 1, "temperature": 1.0, "response_length": 3},
            "actor": {"ppo_mini_batch_size": 2, "ppo_epochs": 1},
            "model": {"path": "/nonexistent"},
        },
        "critic": {
            "ppo_mini_batch_size": 2,
            "ppo_epochs": 1,
            "data_loader_seed": 1,
            "shuffle": False,
            "use_dynamic_bsz": False,
            "ppo_micro_batch_size_per_gpu": 2,
            "forward_micro_batch_size_per_gpu": 2,
            "ppo_max_token_len_per_gpu": 512,
            "ppo_infer_max_token_len_per_gpu": 512,
            "fsdp": {"ulysses_sequence_parallel_size": 1},
        },
    }
    cfg = OmegaConf.create(base)
    for key, value in config.items():
        OmegaConf.update(cfg, key.replace("__", "."), value, force_add=True)
    t.config = cfg
    t.critic_wg = FakeCriticGroup(logits)
    t.tokenizer = SimpleNamespace(eos_token_id=EOS)
    t.global_steps = 1
    t.use_critic = True
    t.parameter_sync_step = 1
    t.__dict__["sppo_options"] = options()
    fake = FakeTransferQueue()
    monkeypatch.setattr(critic_module, "tq", fake)
    t.fake_tq = fake
    return t


def put_samples(t: SPPOTrainer, samples: list[dict]) -> KVBatchMeta:
    """Store samples: each ``{"uid", "prompt": [ids], "response": [ids], "reward": R}``; ``"padding": True`` makes
    one of verl's synthetic padding rows (a one-token response with an all-zero mask). Returns the batch."""
    keys = []
    for i, s in enumerate(samples):
        key = f"{s['uid']}_{i}_0"
        prompt, response = list(s["prompt"]), list(s["response"])
        mask = [0] * len(response) if s.get("padding") else [1] * len(response)
        scores = [0.0] * len(response)
        scores[-1] = float(s.get("reward", 0.0))
        t.fake_tq.rows[key] = {
            "uid": str(s["uid"]),
            "prompts": torch.tensor(prompt),
            "responses": torch.tensor(response),
            "position_ids": torch.arange(len(prompt) + len(response)),
            "response_mask": torch.tensor(mask),
            "rm_scores": torch.tensor(scores),
        }
        keys.append(key)
    return KVBatchMeta(partition_id="train", keys=keys, tags=[{} for _ in keys])


def run_step(t: SPPOTrainer, batch: KVBatchMeta) -> dict:
    """verl's step from values to the critic update (steps 6-8 of ``_step_once``); returns the step's metrics."""
    metrics: dict = {}
    t._compute_values(batch, metrics)
    t._compute_advantage(batch, metrics)
    t._update_critic(batch, metrics)
    return metrics


def advantages(t: SPPOTrainer, batch: KVBatchMeta) -> list[float]:
    """Each sample's sequence advantage (its first response token's)."""
    return [float(t.fake_tq.rows[k]["advantages"][0]) for k in batch.keys]
