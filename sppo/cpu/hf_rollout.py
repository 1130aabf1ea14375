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

Concurrent requests are batched, as vLLM batches them: verl's agent loop sends one request per sample, all at once,
and the server generates every waiting request with the same sampling settings in one left-padded ``generate``
call (up to ``MAX_BATCH`` sequences). On a CPU a small model's decoding step costs about the same for 1 row as for
64, so a step's generation no longer grows with the number of samples the way it did one request at a time.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import ray
import torch
from transformers import StoppingCriteria, StoppingCriteriaList
from verl.workers.rollout.base import _ROLLOUT_REGISTRY, BaseRollout
from verl.workers.rollout.replica import RolloutReplica, RolloutReplicaRegistry, TokenOutput

logger = logging.getLogger(__name__)

MAX_BATCH = 128  # sequences per generate call
BATCH_WAIT_S = 0.005  # how long the first waiting request waits for others to join its batch


@dataclass
class _Request:
    prompt_ids: list[int]
    params: dict[str, Any]
    future: asyncio.Future


def sampling_key(params: dict[str, Any], response_length: int) -> tuple:
    """The settings a batch must share: (max new tokens, temperature, top-p, top-k, log-probs wanted)."""
    max_tokens = params.get("max_tokens") or params.get("max_new_tokens") or response_length
    return (
        int(min(max_tokens, response_length)),
        float(params.get("temperature", 1.0) or 0.0),
        float(params.get("top_p", 1.0) or 1.0),
        int(params.get("top_k", -1) or -1),
        bool(params.get("logprobs")),
    )


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
    """Holds a copy of the policy and samples with ``transformers.generate``, concurrent requests in one batch."""

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
        # requests waiting to be batched, and the task serving them (one at a time: the model is not shared)
        self._pending: list[_Request] = []
        self._drainer: asyncio.Task | None = None

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

    def _sample_batch(self, prompts: list[list[int]], key: tuple) -> list[TokenOutput]:
        """One ``generate`` call for prompts sharing ``key`` (``sampling_key``): left-padded, cut at each row's EOS."""
        max_tokens, temperature, top_p, top_k, want_logprobs = key
        pad = (self.eos_ids or [0])[0]
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        attention_mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, prompt in enumerate(prompts):
            input_ids[i, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
            attention_mask[i, width - len(prompt) :] = 1
        gen_kwargs: dict[str, Any] = dict(
            max_new_tokens=max_tokens,
            eos_token_id=self.eos_ids or None,
            pad_token_id=pad,
            output_scores=True,
            return_dict_in_generate=True,
        )
        if temperature > 0:
            gen_kwargs.update(do_sample=True, temperature=temperature, top_p=top_p, top_k=top_k if top_k > 0 else 0)
        else:
            gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        gen_kwargs["stopping_criteria"] = StoppingCriteriaList([_StopOnAbort(self._abort)])
        with self._lock, torch.no_grad():
            if self._abort.is_set():  # paused while these requests waited for the model
                return [self._aborted() for _ in prompts]
            out = self.model.generate(input_ids, attention_mask=attention_mask, **gen_kwargs)
            aborted = self._abort.is_set()
        outputs = []
        for i in range(len(prompts)):
            tokens = out.sequences[i, width:].tolist()
            # HF pads finished sequences; cut after the first EOS
            finished = False
            for t, tok in enumerate(tokens):
                if tok in self.eos_ids:
                    tokens = tokens[: t + 1]
                    finished = True
                    break
            stop_reason = "aborted" if aborted and not finished and len(tokens) < max_tokens else "completed"
            log_probs = None
            if want_logprobs:
                # scores are the processed logits (temperature / top-k / top-p applied), like vLLM's sampled
                # logprobs; rows decode in lockstep, so step t's scores hold every row's t-th token
                log_probs = [
                    torch.log_softmax(score[i].float(), dim=-1)[tok].item()
                    for score, tok in zip(out.scores, tokens, strict=False)
                ]
            outputs.append(
                TokenOutput(
                    token_ids=tokens,
                    log_probs=log_probs,
                    stop_reason=stop_reason,
                    extra_fields={"global_steps": self.global_steps},
                )
            )
        return outputs

    async def _drain(self) -> None:
        """Serve the waiting requests, one batch of equal sampling settings after another."""
        try:
            while self._pending:
                await asyncio.sleep(BATCH_WAIT_S)  # let the requests sent together arrive
                key = sampling_key(self._pending[0].params, self.response_length)
                batch, rest = [], []
                for r in self._pending:
                    same = len(batch) < MAX_BATCH and sampling_key(r.params, self.response_length) == key
                    (batch if same else rest).append(r)
                self._pending = rest
                try:
                    outputs = await asyncio.to_thread(self._sample_batch, [r.prompt_ids for r in batch], key)
                except Exception as exc:  # noqa: BLE001 - every waiting caller gets the error, none hangs
                    for r in batch:
                        if not r.future.done():
                            r.future.set_exception(exc)
                    continue
                for r, output in zip(batch, outputs, strict=True):
                    if not r.future.done():
                        r.future.set_result(output)
        finally:
            self._drainer = None

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
        request = _Request(list(prompt_ids), dict(sampling_params), asyncio.get_running_loop().create_future())
        self._pending.append(request)
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain())
        return await request.future

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
