"""``checkpoint_engine.backend=sppo_mailbox``: weight sync to standalone rollout replicas without NCCL.

verl's ``separate_async`` trainer refuses the ``naive`` backend (it only works in-process, for colocated replicas)
and its other backends need NCCL/NIXL/Mooncake. On CPU this backend carries the weights through Ray's object store:
actor rank 0 puts the full state dict into a named mailbox actor under the step's version, and every standalone
replica's checkpoint-engine worker takes it from there and hands it to its server adapter. It is for CPU runs and
tests (tiny models); on GPUs use ``nccl``.

verl loads it by name: ``actor_rollout_ref.rollout.checkpoint_engine.custom_backend_module=sppo.cpu.checkpoint_engine``
(``sppo/configs/platform/cpu.yaml`` sets both keys).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Generator
from typing import Any

import ray
import torch
from verl.checkpoint_engine.base import CheckpointEngine, CheckpointEngineRegistry

from sppo.cpu.hf_rollout import collect_full_weights

BACKEND = "sppo_mailbox"
MAILBOX_NAME = "sppo_weight_mailbox"


class WeightMailbox:
    """Holds the latest posted weights, keyed by version, until every reader of that version has taken them."""

    def __init__(self) -> None:
        self.weights: dict[int, dict[str, torch.Tensor]] = {}

    def post(self, version: int, state_dict: dict[str, torch.Tensor]) -> None:
        self.weights = {version: state_dict}  # older versions are never read again

    def take(self, version: int) -> dict[str, torch.Tensor] | None:
        return self.weights.get(version)


def _mailbox():
    return (
        ray.remote(WeightMailbox)
        .options(name=MAILBOX_NAME, get_if_exists=True, num_cpus=0.01, lifetime="detached")
        .remote()
    )


@CheckpointEngineRegistry.register(BACKEND)
class MailboxCheckpointEngine(CheckpointEngine):
    """Actor rank 0 posts, rollout workers take; the other actor ranks only join FSDP's collective gathers."""

    def __init__(self, bucket_size: int, is_master: bool = False, poll_interval_s: float = 0.05, **kwargs: Any):
        self.is_master = is_master
        self.poll_interval_s = poll_interval_s

    def prepare(self) -> dict[str, Any]:
        return {}

    @classmethod
    def build_topology(cls, actor_wg_world_size: int, rollout_world_size: int, metadata: list[dict]):
        return {}, {}  # no process group: the mailbox is found by name

    def init_process_group(self, **kwargs: Any) -> None:
        return None

    def finalize(self) -> None:
        return None

    async def send_weights(
        self, weights: Generator[tuple[str, torch.Tensor], None, None], global_steps: int | None = None
    ) -> dict:
        state_dict = await collect_full_weights(weights, keep=self.is_master)
        if self.is_master:
            await _mailbox().post.remote(int(global_steps or 0), state_dict)
        return {}

    async def receive_weights(self, global_steps: int | None = None) -> AsyncGenerator[tuple[str, torch.Tensor]]:
        mailbox = _mailbox()
        while (state_dict := await mailbox.take.remote(int(global_steps or 0))) is None:
            await asyncio.sleep(self.poll_interval_s)  # the sender posts concurrently with this call
        for name, tensor in state_dict.items():
            yield name, tensor
