"""``rollout.name=hf``: a Hugging Face ``generate`` rollout backend for CPU runs.

verl 0.9.1's trainer only talks to rollout *servers* (vLLM / SGLang / TRT-LLM replicas); its
``HFRollout`` class is not wired to any trainer. This backend plugs into the same two registries the
built-in servers use:

* ``RolloutReplicaRegistry.register("hf", ...)`` -> ``HFReplica``: starts one ``HFRolloutServer`` Ray actor
  per replica; the agent loop calls its ``generate`` (token ids in, token ids + log-probs out).
* ``_ROLLOUT_REGISTRY[("hf", "async")]`` -> ``HFServerAdapter``: lives in the actor worker (checkpoint engine
  ``naive``: colocated modes) or in a standalone replica's checkpoint-engine worker (``separate_async``, weights from
  ``sppo.cpu.checkpoint_engine``) and pushes the trained policy's state dict to the server.

The server supports what verl's asynchronous trainer modes use: ``abort_all_requests`` stops in-flight generation
at the next token and returns the partial tokens with ``stop_reason="aborted"`` (verl's
``FullyAsyncLLMServerClient`` resumes them with prompt + partial tokens), requests that arrive while generation is
paused wait for ``resume_generation`` (or are refused as aborted with ``reject_request=True``), as vLLM's server does.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Generator
from typing import Any

import ray
import torch
from transformers import StoppingCriteria, StoppingCriteriaList
from verl.workers.rollout.base import _ROLLOUT_REGISTRY, BaseRollout
from verl.workers.rollout.replica import RolloutReplica, RolloutReplicaRegistry, TokenOutput

logger = logging.getLogger(__name__)


def _server_name(replica_rank: int) -> str:
    return f"sppo_hf_rollout_server_{replica_rank}"


async def collect_full_weights(weights: Any, keep: bool) -> dict[str, torch.Tensor]:
    """Walk a weight stream (sync or async iterable of ``(name, tensor)``); with ``keep``, return full CPU copies.

    Every rank must walk the stream: FSDP gathers each full tensor collectively. Only the rank that sends keeps them.
    """
    state_dict: dict[str, torch.Tensor] = {}

    def take(name: str, tensor: torch.Tensor) -> None:
        full = tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor
        if keep:
            state_dict[name] = full.detach().to("cpu", copy=True)

    if hasattr(weights, "__aiter__"):  # a checkpoint engine's receive_weights
        async for name, tensor in weights:
            take(name, tensor)
    else:  # the actor's own FSDP engine
        for name, tensor in weights:
            take(name, tensor)
    return state_dict


class _StopOnAbort(StoppingCriteria):
    """Ends ``generate`` after the current token once the server is told to abort."""

    def __init__(self, abort: threading.Event):
        self.abort = abort

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.abort.is_set(), dtype=torch.bool)


class HFRolloutServer:
    """Holds a copy of the policy and samples with ``transformers.generate`` (one request at a time)."""

    def __init__(self, model_path: str, trust_remote_code: bool, prompt_length: int, response_length: int):
        from transformers import AutoModelForCausalLM

        torch.set_num_threads(1)
        self.model = AutoModelForCausalLM.from_pretrained(
            model_path, dtype=torch.float32, trust_remote_code=trust_remote_code, attn_implementation="sdpa"
        ).eval()
        self.eos_ids = self._eos_ids()
        self.prompt_length = prompt_length
        self.response_length = response_length
        self._lock = threading.Lock()
        # the weights' training step: verl tags every trajectory with it (off-policy bookkeeping)
        self.global_steps = 0
        # abort_all_requests .. resume_generation: in-flight generation stops, new requests wait (or are refused)
        self._abort = threading.Event()
        self._paused = False
        self._rejecting = False

    def _eos_ids(self) -> list[int]:
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.model.config.eos_token_id
        return [eos] if isinstance(eos, int) else list(eos or [])

    def load_weights(self, state_dict: dict[str, torch.Tensor], global_steps: int | None = None) -> int:
        with self._lock:
            missing, unexpected = self.model.load_state_dict(state_dict, strict=False)
            if global_steps is not None:
                self.global_steps = int(global_steps)
        if unexpected:
            raise RuntimeError(f"hf rollout: unexpected weights from the actor: {unexpected[:5]}")
        return len(state_dict)

    def _sample(self, prompt_ids: list[int], params: dict[str, Any]) -> TokenOutput:
        max_tokens = params.get("max_tokens") or params.get("max_new_tokens") or self.response_length
        max_tokens = int(min(max_tokens, self.response_length))
        temperature = float(params.get("temperature", 1.0) or 0.0)
        top_p = float(params.get("top_p", 1.0) or 1.0)
        top_k = int(params.get("top_k", -1) or -1)
        input_ids = torch.tensor([prompt_ids], dtype=torch.long)
        gen_kwargs: dict[str, Any] = dict(
            max_new_tokens=max_tokens,
            eos_token_id=self.eos_ids or None,
            pad_token_id=(self.eos_ids or [0])[0],
            output_scores=True,
            return_dict_in_generate=True,
        )
        if temperature > 0:
            gen_kwargs.update(do_sample=True, temperature=temperature, top_p=top_p, top_k=top_k if top_k > 0 else 0)
        else:
            gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        gen_kwargs["stopping_criteria"] = StoppingCriteriaList([_StopOnAbort(self._abort)])
        with self._lock, torch.no_grad():
            if self._abort.is_set():  # paused while this request waited for the model
                return self._aborted()
            out = self.model.generate(input_ids, attention_mask=torch.ones_like(input_ids), **gen_kwargs)
            aborted = self._abort.is_set()
        tokens = out.sequences[0, input_ids.shape[1] :].tolist()
        # HF pads finished sequences; cut after the first EOS
        finished = False
        for i, tok in enumerate(tokens):
            if tok in self.eos_ids:
                tokens = tokens[: i + 1]
                finished = True
                break
        stop_reason = "aborted" if aborted and not finished and len(tokens) < max_tokens else "completed"
        log_probs = None
        if params.get("logprobs"):
            # scores are the processed logits (temperature / top-k / top-p applied), like vLLM's sampled logprobs
            log_probs = [
                torch.log_softmax(score[0].float(), dim=-1)[tok].item()
                for score, tok in zip(out.scores, tokens, strict=False)
            ]
        return TokenOutput(
            token_ids=tokens,
            log_probs=log_probs,
            stop_reason=stop_reason,
            extra_fields={"global_steps": self.global_steps},
        )

    def _aborted(self) -> TokenOutput:
        return TokenOutput(
            token_ids=[], log_probs=[], stop_reason="aborted", extra_fields={"global_steps": self.global_steps}
        )

    async def generate(
        self,
        prompt_ids: list[int],
        sampling_params: dict[str, Any],
        request_id: str,
        image_data: list[Any] | None = None,
        video_data: list[Any] | None = None,
        **kwargs: Any,
    ) -> TokenOutput:
        if image_data or video_data:
            raise NotImplementedError("the hf rollout backend is text-only")
        while self._paused:  # by abort_all_requests, until resume_generation
            if self._rejecting:
                return self._aborted()  # the client retries, on another replica if there is one
            await asyncio.sleep(0.02)
        return await asyncio.to_thread(self._sample, list(prompt_ids), dict(sampling_params))

    async def abort_all_requests(self, reject_request: bool = False) -> dict[str, Any]:
        """Pause: in-flight generation returns its tokens so far as "aborted"; new requests wait for resume."""
        self._rejecting = bool(reject_request)
        self._paused = True
        self._abort.set()
        await asyncio.to_thread(self._lock.acquire)  # the running generate has stopped once the lock is free
        self._lock.release()
        return {"aborted_count": 0, "request_ids": []}

    async def resume_generation(self):
        self._abort.clear()
        self._rejecting = False
        self._paused = False

    # Server control verbs the trainer calls on every replica; nothing to free on CPU.
    async def wake_up(self):
        return None

    async def sleep(self):
        return None

    async def clear_kv_cache(self):
        return None

    async def release_kv_cache(self):
        return None

    async def resume_kv_cache(self):
        return None

    async def start_profile(self, **kwargs):
        return None

    async def stop_profile(self):
        return None


class HFReplica(RolloutReplica):
    """One HF server actor per replica, placed on no accelerator (it shares the host's CPUs)."""

    async def launch_servers(self):
        cfg, model_cfg = self.config, self.model_config
        model_path = model_cfg.local_path if hasattr(model_cfg, "local_path") else model_cfg.path
        server_cls = ray.remote(HFRolloutServer)
        server = server_cls.options(
            name=_server_name(self.replica_rank), num_cpus=0.01, max_concurrency=self.max_concurrency
        ).remote(
            model_path=model_path,
            trust_remote_code=bool(getattr(model_cfg, "trust_remote_code", False)),
            prompt_length=cfg.prompt_length,
            response_length=cfg.response_length,
        )
        self.servers = [server]
        self._server_handle = server
        self._server_address = f"hf-rollout-{self.replica_rank}"


class HFServerAdapter(BaseRollout):
    """Actor-side half of the hf backend: forwards synced weights to this replica's server."""

    def __init__(self, config, model_config, device_mesh, *args, replica_rank: int = -1, **kwargs):
        super().__init__(config, model_config, device_mesh)
        rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
        world = self.config.tensor_model_parallel_size * self.config.data_parallel_size
        world *= self.config.pipeline_model_parallel_size
        # a standalone replica's checkpoint-engine worker is told its replica (separate_async); the actor's
        # colocated adapter derives it from its rank
        self.replica_rank = rank // world if replica_rank < 0 else replica_rank
        self.is_leader = rank % world == 0
        self.is_leader_rank = self.is_leader

    async def resume(self, tags: list[str]):
        return None

    async def release(self):
        return None

    async def update_weights(
        self, weights: Generator[tuple[str, torch.Tensor], None, None], wire_format: str = "named_tensors", **kwargs
    ):
        if wire_format != "named_tensors":
            raise NotImplementedError(f"hf rollout: weight wire format {wire_format!r} is not supported")
        state_dict = await collect_full_weights(weights, keep=self.is_leader)  # only the leader sends
        if self.is_leader:
            server = ray.get_actor(_server_name(self.replica_rank))
            await server.load_weights.remote(state_dict, kwargs.get("global_steps"))


def register() -> None:
    RolloutReplicaRegistry.register("hf", lambda: HFReplica)
    _ROLLOUT_REGISTRY[("hf", "async")] = f"{__name__}.HFServerAdapter"
