"""Per-GPU peak memory planner for the colocated verl run: actor, vLLM rollout and critic on the same GPUs.

    python -m sppo.tools.plan_memory --script run_scripts/run_R1-7B_DAPO_SEQUENCE.sh           # a run script's config
    python -m sppo.tools.plan_memory --script run_scripts/run_R1-7B_DAPO_SEQUENCE.sh \\
                               --script run_scripts/run_R1-7B_DAPO_SEQUENCE_small_critic.sh   # several, compared
    python -m sppo.tools.plan_memory --config-json dry_run.json            # JSON written by SPPO_DRY_RUN_JSON=...
    python -m sppo.tools.plan_memory --policy 7B --critic 1.5B --gpus 4 --tp 4 --prompt-len 2048 \\
                               --response-len 8192 --micro-batch 1 --actor-offload   # explicit sizes
    python -m sppo.tools.plan_memory --policy-params 7e9 --critic-params 1.5e9 --gpus 4 ...      # bare parameter counts

The model (documented with its assumptions in docs/running.md, "Memory planner"): every role is sharded by
FSDP over all GPUs and keeps fp32 master weights (4 bytes/param), fp32 gradients (4, during its own update
only) and AdamW moments (8). A role's parameters / optimizer states stay on the GPU between its updates
unless offloaded (verl moves offloaded state to the GPU for the update itself and back afterwards); torch
creates the AdamW moments at the first optimizer step, so they do not exist yet when vLLM starts.
Activations assume full-length sequences (the upper bound) with gradient checkpointing: one bf16 hidden
state per layer and token, plus one decoder layer's tensors recomputed during backward, plus the actor's
logits (``LOGIT_BYTES`` per vocabulary entry and token). The critic's tokens per micro-batch are those of the
batching that really applies (:mod:`sppo.critic_batching`).

vLLM (the pinned 0.24; ``vllm/v1/worker/utils.py`` ``request_memory``, ``vllm/v1/worker/gpu_worker.py``
``init_device`` / ``determine_available_memory``, ``vllm/utils/mem_utils.py`` ``memory_profiling``): at start-up
it requests ``gpu_memory_utilization x total device memory`` for itself and refuses to start unless that much is
free; its KV cache is that request minus its own weights, the activation peak of a profile run over
``max_num_batched_tokens`` tokens and its non-torch memory. Memory other processes hold is not subtracted
("per-instance" budget), so the request adds to what the trainer keeps resident. verl sleeps the engine
(weights and KV cache freed) during the updates and wakes it for the rollout at the size fixed at start-up.
``--vllm-budget device-total`` models older vLLM V1 workers, which counted every process's memory on the
device against the fraction when they sized the KV cache at start-up. The peak is the largest of the three
phases: rollout, actor update, critic update.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sppo.cli_errors import OneLineParser, UserError, guarded, write_text_atomic
from sppo.critic_batching import SPPO_ESTIMATORS, critic_batching, critic_sp_size, describe
from sppo.megatron import MegatronSizes, megatron_sizes
from sppo.roles import critic_on, ref_on

GIB = 1024**3
# Bytes per parameter and role state (FSDP mixed precision: fp32 master weights, bf16 compute).
PARAM_BYTES = 4  # fp32 master weights (verl's fsdp_config.model_dtype: fp32)
GRAD_BYTES = 4  # fp32 gradients, only during the role's own update
ADAM_BYTES = 8  # AdamW first and second moments, fp32
COMPUTE_BYTES = 2  # bf16: gathered weights, activations, vLLM weights, KV cache
# Actor logits per token and vocabulary entry: bf16 logits (2) + their gradient (2) + ~2 for the fused
# cross-entropy / log-softmax temporaries. The largest single uncertainty of the model; see docs/running.md.
LOGIT_BYTES = 6
DEFAULT_OVERHEAD_GIB = 2.0  # CUDA contexts of the trainer and vLLM processes, NCCL buffers, fragmentation
TRAINER_OVERHEAD_SHARE = 0.5  # the trainer's part of the overhead (its CUDA context, NCCL) when vLLM starts
# vLLM defaults as verl 0.9.1 passes them (verl/trainer/config/rollout/rollout.yaml: max_num_seqs 256,
# max_num_batched_tokens 8192; verl/workers/rollout/vllm_rollout/vllm_async_server.py hands both to vLLM).
VLLM_MAX_NUM_SEQS = 256
VLLM_MAX_NUM_BATCHED_TOKENS = 8192
# vLLM's non-torch memory counted inside its budget (NCCL / custom all-reduce buffers; an estimate).
VLLM_NON_TORCH_GIB = 0.5


@dataclass(frozen=True)
class Arch:
    """A decoder-only (Qwen2-style) transformer: what the parameter and activation formulas need."""

    name: str
    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    vocab: int
    tied_embeddings: bool = False
    qkv_bias: bool = True

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def layer_params(self) -> int:
        h, d = self.hidden, self.head_dim
        q = h * self.heads * d + (self.heads * d if self.qkv_bias else 0)
        kv = 2 * (h * self.kv_heads * d + (self.kv_heads * d if self.qkv_bias else 0))
        o = self.heads * d * h
        mlp = 3 * h * self.intermediate  # gate, up, down (SwiGLU)
        return q + kv + o + mlp + 2 * h  # + two RMSNorm weights

    def embed_params(self) -> int:
        return self.vocab * self.hidden

    def lm_params(self) -> int:
        """Causal LM: embeddings, layers, final norm, lm_head (unless tied)."""
        head = 0 if self.tied_embeddings else self.embed_params()
        return self.embed_params() + self.layers * self.layer_params() + self.hidden + head

    def value_params(self) -> int:
        """Value model (verl's AutoModelForTokenClassification, 1 label): no lm_head, a hidden->1 score head."""
        return self.embed_params() + self.layers * self.layer_params() + self.hidden + self.hidden + 1

    def layer_activation_elems(self) -> int:
        """Elements per token one decoder layer keeps for its backward (bf16): norm inputs, q/k/v, attention
        output, residual, and the MLP's gate, up, activation and down-projection input."""
        return 5 * self.hidden + 2 * self.kv_heads * self.head_dim + 4 * self.intermediate

    def kv_bytes_per_token(self, tp: int) -> int:
        """vLLM KV cache per token on one GPU (K and V, every layer, bf16); KV heads split over TP ranks."""
        kv_heads_per_rank = max(1, math.ceil(self.kv_heads / tp))
        return 2 * self.layers * kv_heads_per_rank * self.head_dim * COMPUTE_BYTES


# Known architectures (config.json of the released checkpoints). DeepSeek-R1-Distill-Qwen-1.5B is
# Qwen2.5-Math-1.5B-based, with untied embeddings (1.78 B parameters); -7B is Qwen2.5-7B-based (7.62 B).
ARCHITECTURES: dict[str, Arch] = {
    "DeepSeek-R1-Distill-Qwen-1.5B": Arch("DeepSeek-R1-Distill-Qwen-1.5B", 28, 1536, 8960, 12, 2, 151936),
    "DeepSeek-R1-Distill-Qwen-7B": Arch("DeepSeek-R1-Distill-Qwen-7B", 28, 3584, 18944, 28, 4, 152064),
}
_ALIASES = {"1.5b": "DeepSeek-R1-Distill-Qwen-1.5B", "7b": "DeepSeek-R1-Distill-Qwen-7B"}


def find_arch(model: str) -> Arch | None:
    """The architecture of ``model``: a local checkpoint's config.json, else the table by name or size alias."""
    cfg_file = Path(os.path.expanduser(str(model))) / "config.json"
    if cfg_file.is_file():
        c = json.loads(cfg_file.read_text())
        try:
            return Arch(
                name=str(model),
                layers=int(c["num_hidden_layers"]),
                hidden=int(c["hidden_size"]),
                intermediate=int(c["intermediate_size"]),
                heads=int(c["num_attention_heads"]),
                kv_heads=int(c.get("num_key_value_heads", c["num_attention_heads"])),
                vocab=int(c["vocab_size"]),
                tied_embeddings=bool(c.get("tie_word_embeddings", False)),
                qkv_bias=bool(c.get("attention_bias", c.get("model_type") == "qwen2")),
            )
        except KeyError:
            return None
    text = str(model).lower()
    for name, arch in ARCHITECTURES.items():
        if name.lower() in text:
            return arch
    if text in _ALIASES:
        return ARCHITECTURES[_ALIASES[text]]
    return None


def nearest_arch(params: float, value_model: bool = False) -> Arch:
    """The table entry closest in parameter count (used for activation shapes when only a count is given)."""

    def count(a: Arch) -> int:
        return a.value_params() if value_model else a.lm_params()

    return min(ARCHITECTURES.values(), key=lambda a: abs(math.log(count(a) / params)))


@dataclass
class RoleSpec:
    """One trained role (actor or critic)."""

    arch: Arch
    params: float  # parameter count actually used (may override the architecture's own count)
    param_offload: bool = False
    optimizer_offload: bool = False
    tokens_per_micro_batch: int = 0  # tokens of one micro-batch on one GPU (upper bound)
    gradient_checkpointing: bool = True
    logits: bool = False  # actor: materialises vocabulary logits; critic: a 1-wide value head
    batching: str = ""  # the micro-batching that applies, in words (for the report)
    # tokens of one no-grad forward micro-batch on one GPU that runs while vLLM is awake (0: none). SPPO's
    # prompt-only critic scores the held-out prompts at every validation (sppo/trainer/heldout.py) and the pool of
    # prompt selection at a step's start, both after verl's update_weights has woken vLLM at its full size.
    awake_forward_tokens: int = 0
    # verl's Megatron engine (model_engine=megatron): the role's TP/PP/CP layout; None: FSDP (fully sharded)
    megatron: MegatronSizes | None = None


# Megatron (verl's McoreEngineConfig: bf16 weights, fp32 gradient buffer, distributed optimizer with fp32 master
# weights and Adam moments): bytes per parameter of one model-parallel shard
MEGATRON_PARAM_BYTES = 2  # bf16 weights on every data-parallel rank
MEGATRON_GRAD_BYTES = 4  # fp32 gradient buffer (grad_reduce_in_fp32), on every data-parallel rank
MEGATRON_OPTIM_BYTES = 12  # fp32 master weights + two Adam moments, sharded over data-parallel ranks


@dataclass
class PlanInput:
    """Everything the planner needs; built from a resolved config (``from_config``) or from the CLI."""

    actor: RoleSpec
    critic: RoleSpec | None
    gpus: int  # GPUs the FSDP roles are sharded over (n_gpus_per_node x nnodes)
    tp: int  # vLLM tensor parallel size
    gpu_memory_utilization: float
    device_gib: float = 80.0
    vllm_budget: str = "per-instance"  # or "device-total"
    overhead_gib: float = DEFAULT_OVERHEAD_GIB
    notes: list[str] = field(default_factory=list)
    max_num_seqs: int = VLLM_MAX_NUM_SEQS  # sequences vLLM runs at once (each replica)
    max_model_len: int = 0  # longest sequence vLLM holds (0: unknown, no KV need computed)
    max_num_batched_tokens: int = VLLM_MAX_NUM_BATCHED_TOKENS  # vLLM's profile run (and step) size
    vllm_sleeps: bool = True  # verl's rollout.free_cache_engine: vLLM frees its memory during the updates
    # False: vLLM runs on GPUs of its own (trainer_mode separate_async); the rollout column is those GPUs, the update
    # columns the trainer's, and nothing of the trainer shares a device with vLLM
    colocated: bool = True


@dataclass
class Plan:
    """Per-GPU estimate in GiB: ``phases[phase][component]``, plus the peak."""

    phases: dict[str, dict[str, float]]
    totals: dict[str, float]
    peak_phase: str
    peak_gib: float
    device_gib: float
    kv_cache_tokens: int | None
    notes: list[str]
    # vLLM: requested, weights, activations, non_torch, kv_cache, kv_need, startup_resident, startup_free (GiB)
    vllm: dict[str, float] = field(default_factory=dict)
    kv_need_tokens: int | None = None  # max_num_seqs x max_model_len
    vllm_starts: bool = True  # vLLM's start-up check passes and leaves room for a KV cache
    trainer_peak_gib: float = 0.0  # the trainer process alone (torch allocations, no vLLM, no overhead)
    trainer_peak_phase: str = ""
    # gpu_memory_utilization range: the KV cache holds kv_need (low) and the rollout fits the device (high)
    utilization_range: tuple[float | None, float | None] = (None, None)

    @property
    def peak_fraction(self) -> float:
        return self.peak_gib / self.device_gib


PHASES = ("rollout", "actor update", "critic update")
VLLM_ROWS = ("vLLM weights (bf16 / TP)", "vLLM activations + non-torch", "vLLM KV cache")
OVERHEAD_ROW = "overhead (CUDA ctx, NCCL, frag.)"
AWAKE_ROW = "critic forward, vLLM awake (SPPO)"
ROWS = (
    "actor params (fp32 shard)",
    "actor grads (fp32 shard)",
    "actor Adam states (fp32 shard)",
    "actor FSDP all-gather (bf16)",
    "actor activations (micro-batch)",
    "actor logits (micro-batch)",
    "critic params (fp32 shard)",
    "critic grads (fp32 shard)",
    "critic Adam states (fp32 shard)",
    "critic FSDP all-gather (bf16)",
    "critic activations (micro-batch)",
    AWAKE_ROW,
    *VLLM_ROWS,
    OVERHEAD_ROW,
)


def _state(role: RoleSpec, gpus: int) -> dict[str, float]:
    """Sharded training state of a role during its own update, GiB per GPU.

    FSDP shards everything over all GPUs. Megatron splits the model over TP x PP ranks and keeps weights and the
    gradient buffer whole on each data-parallel rank; its distributed optimizer shards the fp32 master weights and
    Adam moments (the "Adam states" row) over the data-parallel ranks too."""
    m = role.megatron
    if m is not None:
        shard = role.params / (m.tp * m.pp)
        dp = max(1, m.dp(gpus)) if m.distributed_optimizer else 1
        return {
            "params": shard * MEGATRON_PARAM_BYTES / GIB,
            "grads": shard * MEGATRON_GRAD_BYTES / GIB,
            "adam": shard * MEGATRON_OPTIM_BYTES / dp / GIB,
        }
    return {
        "params": role.params * PARAM_BYTES / gpus / GIB,
        "grads": role.params * GRAD_BYTES / gpus / GIB,
        "adam": role.params * ADAM_BYTES / gpus / GIB,
    }


def _resident(role: RoleSpec | None, gpus: int) -> tuple[float, float]:
    """(params, optimizer) GiB a role keeps on each GPU outside its own update."""
    if role is None:
        return 0.0, 0.0
    s = _state(role, gpus)
    return (0.0 if role.param_offload else s["params"]), (0.0 if role.optimizer_offload else s["adam"])


def _gather(role: RoleSpec) -> float:
    """FSDP all-gather buffers (bf16): the root unit (embeddings, and the lm_head of an untied LM) stays
    gathered through forward/backward, plus the current and the prefetched decoder layer. Megatron gathers
    nothing: each rank computes with its own TP/PP shard."""
    if role.megatron is not None:
        return 0.0
    a = role.arch
    root = a.embed_params() + (a.embed_params() if role.logits and not a.tied_embeddings else 0)
    return COMPUTE_BYTES * (root + 2 * a.layer_params()) / GIB


def _activations(role: RoleSpec) -> tuple[float, float]:
    """(activations, logits) GiB of one micro-batch on one GPU."""
    a, t = role.arch, role.tokens_per_micro_batch
    per_layer = a.layer_activation_elems() * COMPUTE_BYTES * t
    if role.gradient_checkpointing:
        acts = a.layers * t * a.hidden * COMPUTE_BYTES + per_layer
    else:
        acts = a.layers * per_layer
    logits = t * a.vocab * LOGIT_BYTES if role.logits else 0
    m = role.megatron
    if m is not None:
        # sequence parallel splits the activations over TP ranks, context parallel every sequence over CP ranks; a
        # pipeline stage holds layers / PP layers for up to PP micro-batches in flight (1F1B), about all of them
        acts /= (m.tp if m.sequence_parallel else 1) * m.cp
        logits /= m.tp * m.cp  # vocabulary-parallel output layer
    return acts / GIB, logits / GIB


def _awake_forward(role: RoleSpec | None) -> float:
    """GiB of a critic's no-grad forward while vLLM is awake: its FSDP all-gather (root + current and prefetched
    layer) plus one layer's tensors and the hidden state for ``awake_forward_tokens`` tokens (nothing is kept for
    a backward). 0 when the role runs no such forward."""
    if role is None or role.awake_forward_tokens <= 0:
        return 0.0
    a = role.arch
    acts = role.awake_forward_tokens * (a.layer_activation_elems() + a.hidden) * COMPUTE_BYTES
    if role.megatron is not None:
        acts /= (role.megatron.tp if role.megatron.sequence_parallel else 1) * role.megatron.cp
    return _gather(role) + acts / GIB


def vllm_profile_gib(arch: Arch, tp: int, max_num_batched_tokens: int, max_num_seqs: int) -> float:
    """vLLM's activation peak in its start-up profile run (no grad, one layer live at a time), GiB per GPU:
    ``max_num_batched_tokens`` tokens through the MLP (gate+up output, activation: 3 x intermediate / TP) and
    ~4 hidden-sized temporaries (residual, norm, attention in/out), bf16; plus the dummy sampler run over
    ``max_num_seqs`` rows of fp32 logits and one fp32 temporary."""
    per_token = 3 * math.ceil(arch.intermediate / tp) + 4 * arch.hidden
    sampler = max_num_seqs * arch.vocab * 4 * 2
    return (max_num_batched_tokens * per_token * COMPUTE_BYTES + sampler) / GIB


def _check_input(p: PlanInput) -> None:
    """Refuse values no GPU run can have (raises ``ValueError`` naming the value)."""

    def positive(name: str, value: float) -> None:
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")

    positive("device memory (GiB)", p.device_gib)
    if not (math.isfinite(p.gpu_memory_utilization) and 0 < p.gpu_memory_utilization <= 1):
        raise ValueError(f"gpu_memory_utilization must be in (0, 1], got {p.gpu_memory_utilization!r}")
    if not (math.isfinite(p.overhead_gib) and p.overhead_gib >= 0):
        raise ValueError(f"overhead must be a finite number >= 0 GiB, got {p.overhead_gib!r}")
    for name, value in (("GPUs", p.gpus), ("tensor parallel size", p.tp), ("max_num_seqs", p.max_num_seqs)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    if p.max_num_batched_tokens < 1 or p.max_model_len < 0:
        raise ValueError("max_num_batched_tokens must be >= 1 and max_model_len >= 0")
    for role in (p.actor, p.critic):
        if role is not None:
            positive("parameter count", role.params)
            if role.tokens_per_micro_batch < 1:
                raise ValueError(f"tokens per micro-batch must be >= 1, got {role.tokens_per_micro_batch}")
    if p.vllm_budget not in ("per-instance", "device-total"):
        raise ValueError(f"vllm_budget={p.vllm_budget!r}; choose per-instance or device-total")


def plan(p: PlanInput) -> Plan:
    """Estimate per-GPU memory of every phase; see the module docstring for the model. Raises ``ValueError``
    on impossible input (zero or non-finite memory, utilisation outside (0, 1], counts < 1)."""
    _check_input(p)
    g = p.gpus
    actor_res = _resident(p.actor, g)
    critic_res = _resident(p.critic, g)
    overhead = p.overhead_gib
    notes = list(p.notes)

    # --- vLLM: what it requests, what it finds free at start-up, how it splits the request ---
    requested = p.gpu_memory_utilization * p.device_gib
    vllm_weights = p.actor.params * COMPUTE_BYTES / p.tp / GIB
    vllm_act = vllm_profile_gib(p.actor.arch, p.tp, p.max_num_batched_tokens, p.max_num_seqs) + VLLM_NON_TORCH_GIB
    # when vLLM starts, the FSDP roles hold their (non-offloaded) fp32 weights; AdamW moments come later
    startup_resident = actor_res[0] + critic_res[0] if p.colocated else 0.0
    startup_free = p.device_gib - startup_resident - TRAINER_OVERHEAD_SHARE * overhead
    if p.vllm_budget == "per-instance":
        vllm_total = requested  # request_memory(): total x utilisation, whatever other processes hold
        starts = startup_free >= requested
        if not starts:
            notes.append(
                f"vLLM refuses to start: {startup_free:.1f} GiB free at start-up < gpu_memory_utilization x "
                f"device = {requested:.1f} GiB (vLLM's request_memory check)"
            )
    else:  # older V1 workers: the fraction capped the whole device as seen at start-up
        vllm_total = requested - startup_resident - overhead
    kv = vllm_total - vllm_weights - vllm_act
    if kv <= 0:
        starts = False
        notes.append("no memory left for vLLM's KV cache after its weights and activations: vLLM cannot start")
    elif p.vllm_budget == "device-total":
        starts = True
    kv = max(kv, 0.0)
    kv_bytes = p.actor.arch.kv_bytes_per_token(p.tp)
    kv_tokens = int(kv * GIB / kv_bytes) if kv > 0 else None
    need_tokens = p.max_num_seqs * p.max_model_len if p.max_model_len else None
    kv_need = need_tokens * kv_bytes / GIB if need_tokens else None
    if kv_tokens is not None and need_tokens is not None and kv_tokens < need_tokens:
        notes.append(
            f"vLLM's KV cache holds {kv_tokens:,} tokens < max_num_seqs x max_model_len = {need_tokens:,}: "
            "fewer sequences run at once (slower rollout, not an OOM)"
        )
    vllm_rows = {VLLM_ROWS[0]: vllm_weights, VLLM_ROWS[1]: vllm_act, VLLM_ROWS[2]: kv}
    asleep: dict[str, float] = {} if p.vllm_sleeps or not p.colocated else vllm_rows

    if p.colocated:
        rollout = {
            "actor params (fp32 shard)": actor_res[0],
            "actor Adam states (fp32 shard)": actor_res[1],
            "critic params (fp32 shard)": critic_res[0],
            "critic Adam states (fp32 shard)": critic_res[1],
            **vllm_rows,
            OVERHEAD_ROW: overhead,
        }
        awake = _awake_forward(p.critic)
        if awake > 0:
            rollout[AWAKE_ROW] = awake
    else:
        rollout = {**vllm_rows, OVERHEAD_ROW: overhead}
    s = _state(p.actor, g)
    acts, logits = _activations(p.actor)
    actor_update = {
        "actor params (fp32 shard)": s["params"],
        "actor grads (fp32 shard)": s["grads"],
        "actor Adam states (fp32 shard)": s["adam"],
        "actor FSDP all-gather (bf16)": _gather(p.actor),
        "actor activations (micro-batch)": acts,
        "actor logits (micro-batch)": logits,
        "critic params (fp32 shard)": critic_res[0],
        "critic Adam states (fp32 shard)": critic_res[1],
        **asleep,
        OVERHEAD_ROW: overhead,
    }
    phases = {"rollout": rollout, "actor update": actor_update}
    if p.critic is not None:
        c = _state(p.critic, g)
        cacts, _ = _activations(p.critic)
        phases["critic update"] = {
            "actor params (fp32 shard)": actor_res[0],
            "actor Adam states (fp32 shard)": actor_res[1],
            "critic params (fp32 shard)": c["params"],
            "critic grads (fp32 shard)": c["grads"],
            "critic Adam states (fp32 shard)": c["adam"],
            "critic FSDP all-gather (bf16)": _gather(p.critic),
            "critic activations (micro-batch)": cacts,
            **asleep,
            OVERHEAD_ROW: overhead,
        }
    totals = {k: sum(v.values()) for k, v in phases.items()}
    peak_phase = max(totals, key=totals.get)
    trainer = {k: sum(x for r, x in v.items() if r not in VLLM_ROWS and r != OVERHEAD_ROW) for k, v in phases.items()}
    trainer_phase = max(trainer, key=trainer.get)

    # the utilisation window (per-instance): enough KV for the need, and a rollout that fits the device
    low = high = None
    if p.vllm_budget == "per-instance":
        # what the trainer holds while vLLM is awake (the resident states, and SPPO's critic forward)
        resident = sum(rollout[r] for r in rollout if r not in VLLM_ROWS and r != OVERHEAD_ROW)
        high = (p.device_gib - resident - overhead) / p.device_gib
        if kv_need is not None:
            low = (vllm_weights + vllm_act + kv_need) / p.device_gib
        if totals["rollout"] > p.device_gib:
            notes.append(
                "vLLM wakes up into memory the trainer still holds: CUDA OOM at the first rollout after a "
                f"critic/actor update; gpu_memory_utilization <= {high:.2f} fits"
                + (f" (the KV need wants >= {low:.2f})" if low is not None else "")
            )
    vllm = {
        "requested": requested,
        "weights": vllm_weights,
        "activations": vllm_act,
        "kv_cache": kv,
        "startup_resident": startup_resident,
        "startup_free": startup_free,
    }
    if kv_need is not None:
        vllm["kv_need"] = kv_need
    return Plan(
        phases,
        totals,
        peak_phase,
        totals[peak_phase],
        p.device_gib,
        kv_tokens,
        notes,
        vllm=vllm,
        kv_need_tokens=need_tokens,
        vllm_starts=starts,
        trainer_peak_gib=trainer[trainer_phase],
        trainer_peak_phase=trainer_phase,
        utilization_range=(low, high),
    )


# --- from a resolved verl config (the dry run's JSON) ------------------------------------------------------


def _get(cfg: dict, dotted: str, default: Any = None) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return default if node is None else node


def actor_sp_size(cfg: dict) -> int:
    """The Ulysses size verl 0.9.1's actor engine reads: ``actor_rollout_ref.actor.fsdp_config.
    ulysses_sequence_parallel_size``; the deprecated ``actor_rollout_ref.actor.ulysses_sequence_parallel_size``
    overrides it only when > 1 (``FSDPActorConfig.__post_init__``, verl/workers/config/actor.py)."""
    old = int(_get(cfg, "actor_rollout_ref.actor.ulysses_sequence_parallel_size", 1) or 1)
    new = int(_get(cfg, "actor_rollout_ref.actor.fsdp_config.ulysses_sequence_parallel_size", 1) or 1)
    return old if old > 1 else new


def _checkpointing(cfg: dict, role: str, model: str, megatron: MegatronSizes | None) -> bool:
    """Activation recompute: the model's ``enable_gradient_checkpointing`` on FSDP; on Megatron (which ignores that
    key) ``<role>.megatron.override_transformer_config.recompute_granularity`` set."""
    if megatron is None:
        return bool(_get(cfg, f"{model}.enable_gradient_checkpointing", True))
    return _get(cfg, f"{role}.megatron.override_transformer_config.recompute_granularity") is not None


def _layout(m: MegatronSizes | None) -> str:
    return "" if m is None else f", Megatron TP {m.tp} PP {m.pp} CP {m.cp}"


def _micro_tokens(batching: dict, seq_len: int, per_rank: int, sp: int) -> int:
    """Tokens of one micro-batch on one GPU under ``batching`` (``critic_batching``'s form): a fixed number of
    sequences, or a dynamic token budget per GPU (verl scales it by the Ulysses size, then splits each sequence
    over those ranks) that never exceeds the rank's mini-batch and always holds one whole sequence."""
    if batching["use_dynamic_bsz"]:
        budget = int(batching["max_token_len_per_gpu"])
        return max(min(budget, per_rank * seq_len // sp), math.ceil(seq_len / sp))
    return int(batching["micro_batch_size_per_gpu"]) * math.ceil(seq_len / sp)


def _actor_batching(cfg: dict, dp: int) -> dict:
    a = "actor_rollout_ref.actor"
    if _get(cfg, f"{a}.use_dynamic_bsz", False):
        budget = int(_get(cfg, f"{a}.ppo_max_token_len_per_gpu", 16384))
        return {"use_dynamic_bsz": True, "max_token_len_per_gpu": budget}
    micro = _get(cfg, f"{a}.ppo_micro_batch_size_per_gpu")
    if micro is None:
        micro = max(1, int(_get(cfg, f"{a}.ppo_micro_batch_size", 1) or 1) // dp)
    return {"use_dynamic_bsz": False, "micro_batch_size_per_gpu": int(micro)}


def from_config(
    cfg: dict,
    device_gib: float = 80.0,
    vllm_budget: str = "per-instance",
    overhead_gib: float = DEFAULT_OVERHEAD_GIB,
) -> PlanInput:
    """Build the planner input from a resolved verl/SPPO config (as a plain dict). Raises ``ValueError``
    when a model's architecture is unknown (neither a local config.json nor a table entry) or a value is
    impossible (lengths or counts < 1, utilisation outside (0, 1])."""
    notes: list[str] = []
    prompt = int(_get(cfg, "data.max_prompt_length", 512))
    response = int(_get(cfg, "data.max_response_length", 512))
    if prompt < 1 or response < 1:
        raise ValueError(f"data.max_prompt_length={prompt} and data.max_response_length={response} must be >= 1")
    gpus = int(_get(cfg, "trainer.n_gpus_per_node", 1)) * int(_get(cfg, "trainer.nnodes", 1))
    if gpus < 1:
        raise ValueError(f"trainer.n_gpus_per_node x trainer.nnodes = {gpus}; must be >= 1")
    estimator = str(_get(cfg, "algorithm.adv_estimator", "gae"))
    n = max(1, int(_get(cfg, "actor_rollout_ref.rollout.n", 1) or 1))

    def arch_of(path: str, role: str) -> Arch:
        arch = find_arch(path)
        if arch is None:
            raise ValueError(
                f"unknown architecture for the {role} model {path!r}: give a local checkpoint "
                f"(config.json) or one of {', '.join(ARCHITECTURES)}"
            )
        return arch

    a_arch = arch_of(_get(cfg, "actor_rollout_ref.model.path", ""), "policy")
    a_mg = megatron_sizes(cfg, "actor")
    a_sp = actor_sp_size(cfg) if a_mg is None else 1  # Ulysses splits sequences; Megatron's CP is in _activations
    a_dp = gpus // a_sp if a_mg is None else max(1, a_mg.dp(gpus))
    a_batching = _actor_batching(cfg, gpus if a_mg is None else a_dp)
    a_mini = int(_get(cfg, "actor_rollout_ref.actor.ppo_mini_batch_size", 1) or 1)
    a_per_rank = max(1, a_mini * n // max(1, a_dp))  # sequences of one mini-batch on one dp rank
    a_engine = "actor_rollout_ref.actor.fsdp_config" if a_mg is None else "actor_rollout_ref.actor.megatron"
    actor = RoleSpec(
        arch=a_arch,
        params=a_arch.lm_params(),
        param_offload=bool(_get(cfg, f"{a_engine}.param_offload", False)),
        optimizer_offload=bool(_get(cfg, f"{a_engine}.optimizer_offload", False)),
        tokens_per_micro_batch=_micro_tokens(a_batching, prompt + response, a_per_rank, a_sp),
        gradient_checkpointing=_checkpointing(cfg, "actor_rollout_ref.actor", "actor_rollout_ref.model", a_mg),
        logits=True,
        batching=describe(a_batching, "sequence") + (f", Ulysses SP {a_sp}" if a_sp > 1 else "") + _layout(a_mg),
        megatron=a_mg,
    )
    critic = None
    if critic_on(cfg):
        c_arch = arch_of(_get(cfg, "critic.model.path", ""), "critic")
        prompt_only = estimator in SPPO_ESTIMATORS
        view = {  # what sppo.critic_batching reads, with verl's defaults where a plain dict lacks a section
            "critic": _get(cfg, "critic", {}),
            "algorithm": {"adv_estimator": estimator},
            "trainer": _get(cfg, "trainer", {}),
        }
        batching = critic_batching(view, training=True)
        c_mg = megatron_sizes(cfg, "critic")
        c_sp = critic_sp_size(view) if c_mg is None else 1
        c_dp = gpus // c_sp if c_mg is None else max(1, c_mg.dp(gpus))
        c_per_rank = max(1, int(_get(cfg, "critic.ppo_mini_batch_size", 1) or 1) * n // max(1, c_dp))
        unit = "prompt" if prompt_only else "sequence"
        # SPPO scores prompts with the critic while vLLM is awake (validation, prompt selection): the forward's
        # batching, over a pool larger than any budget (a dynamic budget is not capped by a mini-batch there)
        awake = _micro_tokens(critic_batching(view, training=False), prompt, 10**9, c_sp) if prompt_only else 0
        critic = RoleSpec(
            arch=c_arch,
            params=c_arch.value_params(),
            param_offload=bool(_get(cfg, f"critic.{'fsdp' if c_mg is None else 'megatron'}.param_offload", False)),
            optimizer_offload=bool(
                _get(cfg, f"critic.{'fsdp' if c_mg is None else 'megatron'}.optimizer_offload", False)
            ),
            tokens_per_micro_batch=_micro_tokens(
                batching, prompt if prompt_only else prompt + response, c_per_rank, c_sp
            ),
            gradient_checkpointing=_checkpointing(cfg, "critic", "critic.model", c_mg),
            batching=describe(batching, unit) + (f", Ulysses SP {c_sp}" if c_sp > 1 else "") + _layout(c_mg),
            awake_forward_tokens=awake,
            megatron=c_mg,
        )
        notes.append(f"critic reads {'the prompt only (SPPO)' if prompt_only else 'prompt + response (token-level)'}")
    if a_mg is not None:
        notes.append(
            "Megatron: bf16 weights and the fp32 gradient buffer / (TP x PP) on every rank, fp32 master weights + Adam "
            "moments (the 'Adam states' rows) / (TP x PP x DP) with the distributed optimizer, no FSDP all-gather, "
            "activations / (TP with sequence parallel x CP)"
        )
    if ref_on(cfg):
        notes.append("reference model: kept on CPU by verl (FSDP CPU offload), not counted")
    r = "actor_rollout_ref.rollout"
    if not _get(cfg, f"{r}.enforce_eager", True):
        notes.append("vLLM captures CUDA graphs (enforce_eager=False): vLLM 0.24 takes them out of the KV cache")
    tp = int(_get(cfg, f"{r}.tensor_model_parallel_size", 1))
    colocated = str(_get(cfg, "trainer.v1.trainer_mode", "sync")) != "separate_async"
    rollout_gpus = gpus
    if not colocated:  # verl's standalone rollout: its own rollout.nnodes x rollout.n_gpus_per_node GPUs
        rollout_gpus = int(_get(cfg, f"{r}.nnodes", 0) or 0) * int(_get(cfg, f"{r}.n_gpus_per_node", 0) or 0)
        notes.append(
            f"separate_async: vLLM runs on {rollout_gpus} GPU(s) of its own (the rollout column), the trainer on "
            f"{gpus} (the update columns); no trainer state shares a device with vLLM"
        )
    if tp >= 1 and rollout_gpus >= tp and rollout_gpus % tp == 0:
        replicas = rollout_gpus // tp
        per_replica = math.ceil(int(_get(cfg, "data.train_batch_size", 0) or 0) * n / replicas)
        notes.append(
            f"{replicas} vLLM replica(s) of TP {tp}: ~{per_replica} sequences each per training step, at most "
            f"max_num_seqs at once (the KV need below assumes max_num_seqs, an upper bound)"
        )
    vllm_sleeps = bool(_get(cfg, f"{r}.free_cache_engine", True))
    if not vllm_sleeps:
        notes.append("rollout.free_cache_engine=False: vLLM keeps its memory through the updates")
    p = PlanInput(
        actor=actor,
        critic=critic,
        gpus=gpus,
        tp=tp,
        gpu_memory_utilization=float(_get(cfg, f"{r}.gpu_memory_utilization", 0.5)),
        device_gib=device_gib,
        vllm_budget=vllm_budget,
        overhead_gib=overhead_gib,
        notes=notes,
        max_num_seqs=int(_get(cfg, f"{r}.max_num_seqs", VLLM_MAX_NUM_SEQS)),
        max_model_len=int(_get(cfg, f"{r}.max_model_len", prompt + response)),
        max_num_batched_tokens=int(_get(cfg, f"{r}.max_num_batched_tokens", VLLM_MAX_NUM_BATCHED_TOKENS)),
        vllm_sleeps=vllm_sleeps,
        colocated=colocated,
    )
    _check_input(p)
    return p


# --- output -------------------------------------------------------------------------------------------------


def format_plan(p: PlanInput, result: Plan, title: str = "") -> str:
    """The per-GPU table: components x phases, totals, the peak, vLLM's budget and KV cache."""
    phases = list(result.phases)
    rows = [r for r in ROWS if any(r in result.phases[ph] for ph in phases)]
    width = max(len(r) for r in rows) + 2
    lines = []
    if title:
        lines.append(title)
    critic = (
        f"critic {p.critic.arch.name} ({p.critic.params / 1e9:.2f} B params"
        f"{', offload' if p.critic.param_offload or p.critic.optimizer_offload else ''})"
        if p.critic
        else "no critic"
    )
    lines.append(
        f"policy {p.actor.arch.name} ({p.actor.params / 1e9:.2f} B params"
        f"{', offload' if p.actor.param_offload or p.actor.optimizer_offload else ''}), {critic}"
    )
    lines.append(
        f"{p.gpus} GPUs x {p.device_gib:g} GiB, vLLM TP {p.tp} at gpu_memory_utilization {p.gpu_memory_utilization:g} "
        f"({p.vllm_budget}), tokens per micro-batch: actor {p.actor.tokens_per_micro_batch}"
        + (f", critic {p.critic.tokens_per_micro_batch}" if p.critic else "")
    )
    if p.critic and p.critic.batching:
        lines.append(f"critic batching that applies: {p.critic.batching}")
    lines.append("per-GPU GiB".ljust(width) + "".join(f"{ph:>15s}" for ph in phases))
    for r in rows:
        cells = []
        for ph in phases:
            v = result.phases[ph].get(r)
            cells.append(f"{'-':>15s}" if v is None else f"{v:15.2f}")
        lines.append(r.ljust(width) + "".join(cells))
    lines.append("total".ljust(width) + "".join(f"{result.totals[ph]:15.2f}" for ph in phases))
    lines.append(
        f"peak: {result.peak_gib:.1f} GiB = {100 * result.peak_fraction:.1f}% of {result.device_gib:g} GiB "
        f"({result.peak_phase})" + ("  ** over device memory: expect OOM **" if result.peak_fraction > 1 else "")
    )
    v = result.vllm
    if v:
        lines.append(
            f"vLLM: requests {v['requested']:.1f} GiB; free at its start-up {v['startup_free']:.1f} GiB "
            f"(the FSDP roles hold {v['startup_resident']:.1f} GiB of fp32 weights, no Adam states yet): "
            + ("starts" if result.vllm_starts else "does NOT start")
        )
    if result.kv_cache_tokens is not None:
        line = f"vLLM KV cache: {v['kv_cache']:.1f} GiB = ~{result.kv_cache_tokens:,} tokens per GPU"
        if result.kv_need_tokens:
            line += (
                f"; a full batch needs max_num_seqs {p.max_num_seqs} x max_model_len {p.max_model_len:,} = "
                f"{result.kv_need_tokens:,} tokens = {v['kv_need']:.1f} GiB"
            )
        lines.append(line)
    low, high = result.utilization_range
    if high is not None:
        lines.append(
            "gpu_memory_utilization window: "
            + (f">= {low:.2f} holds that KV need, " if low is not None else "")
            + f"<= {high:.2f} fits the rollout in {result.device_gib:g} GiB"
        )
    lines.append(
        f"trainer process alone (what verl's perf/max_memory_*_gb can see; no vLLM, no CUDA context): "
        f"{result.trainer_peak_gib:.1f} GiB ({result.trainer_peak_phase})"
    )
    for n in result.notes:
        lines.append(f"note: {n}")
    return "\n".join(lines)


def plan_to_dict(p: PlanInput, result: Plan) -> dict:
    return {
        "input": asdict(p),
        "phases": result.phases,
        "totals": result.totals,
        "peak_phase": result.peak_phase,
        "peak_gib": result.peak_gib,
        "peak_fraction": result.peak_fraction,
        "device_gib": result.device_gib,
        "kv_cache_tokens": result.kv_cache_tokens,
        "kv_need_tokens": result.kv_need_tokens,
        "vllm": result.vllm,
        "vllm_starts": result.vllm_starts,
        "trainer_peak_gib": result.trainer_peak_gib,
        "trainer_peak_phase": result.trainer_peak_phase,
        "utilization_range": list(result.utilization_range),
        "notes": result.notes,
    }


# --- CLI ------------------------------------------------------------------------------------------------------

PROG = "python -m sppo.tools.plan_memory"


class UsageError(UserError):
    """Bad input to the CLI: one ``python -m sppo.tools.plan_memory: error: ...`` line, exit code 2 (the project's
    contract, sppo.cli_errors)."""


class _Parser(OneLineParser):
    error_class = UsageError


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def _positive(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def _non_negative(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def _fraction(text: str) -> float:
    value = _number(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def dry_run_config(script: str, overrides: list[str], timeout: int = 600) -> dict:
    """Run ``script`` in dry-run mode and return its resolved config (data files may be missing)."""
    with tempfile.TemporaryDirectory(prefix="sppo_plan_") as tmp:
        out = Path(tmp) / "dry.json"
        env = dict(
            os.environ,
            SPPO_DRY_RUN="1",
            SPPO_DRY_RUN_JSON=str(out),
            SPPO_DRY_RUN_ALLOW_MISSING="1",
            SPPO_DRY_RUN_QUIET="1",
            PYTHON=os.environ.get("PYTHON", sys.executable),
        )
        proc = subprocess.run(
            ["bash", script, *overrides, f"hydra.run.dir={tmp}/hydra", "hydra.output_subdir=null"],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0 or not out.is_file():
            lines = [ln for ln in (proc.stderr or proc.stdout or "").strip().splitlines() if ln.strip()]
            said = [ln for ln in lines if "error:" in ln] or lines[-1:]
            reason = f": {said[-1].strip()}" if said else ""
            raise RuntimeError(f"dry run of {script} failed (exit {proc.returncode}){reason}")
        return json.loads(out.read_text())["config"]


def _read_config_json(path: str) -> dict:
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"--config-json {path}: no such file")
    try:
        data = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"--config-json {path}: not readable JSON ({type(exc).__name__})") from None
    cfg = data.get("config", data) if isinstance(data, dict) else None
    if not isinstance(cfg, dict):
        raise UsageError(f"--config-json {path}: expected a JSON object (a dry run's SPPO_DRY_RUN_JSON output)")
    return cfg


def _check_output(path: str) -> Path:
    """A writable ``--json`` target, checked before any work: not a folder, in an existing, writable folder."""
    out = Path(path)
    parent = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        raise UsageError(f"--json {path}: is a folder")
    if not parent.is_dir():
        raise UsageError(f"--json {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise UsageError(f"--json {path}: not writable")
    return out


def _write_json(out: Path, data: dict) -> None:
    """Write atomically with the project's one writer (never a partial file; the umask's file mode)."""
    write_text_atomic(out, json.dumps(data, indent=2))


def _explicit_input(args: argparse.Namespace) -> PlanInput:
    def role(name: str | None, params: float | None, value_model: bool) -> tuple[Arch, float, str] | None:
        if name is None and params is None:
            return None
        note = ""
        if name is not None:
            arch = find_arch(name)
            if arch is None:
                known = ", ".join(ARCHITECTURES)
                raise UsageError(f"unknown architecture {name!r} (one of {known}, or a checkpoint dir)")
        else:
            arch = nearest_arch(params, value_model)
            note = f"activation shapes of {arch.name} (nearest in size) for {params / 1e9:.2f} B params"
        count = params if params is not None else (arch.value_params() if value_model else arch.lm_params())
        return arch, count, note

    if args.tp > args.gpus or args.gpus % args.tp:
        raise UsageError(f"--tp {args.tp} must divide --gpus {args.gpus}")
    seq = args.prompt_len + args.response_len
    pol = role(args.policy, args.policy_params, False)
    if pol is None:
        raise UsageError("give --script, --config-json, or --policy/--policy-params")
    notes = [pol[2]] if pol[2] else []
    actor = RoleSpec(pol[0], pol[1], args.actor_offload, args.actor_offload, args.micro_batch * seq, True, True)
    critic = None
    crit = role(args.critic, args.critic_params, True)
    if crit is not None and args.critic_tokens != "none":
        if crit[2]:
            notes.append(crit[2])
        ctoks = args.prompt_len if args.critic_tokens == "prompt" else seq
        unit = "prompt" if args.critic_tokens == "prompt" else "sequence"
        critic = RoleSpec(
            crit[0],
            crit[1],
            args.critic_offload,
            args.critic_offload,
            args.critic_micro_batch * ctoks,
            True,
            False,
            batching=f"{args.critic_micro_batch} {unit}s/GPU (--critic-micro-batch)",
            # a prompt-only (SPPO) critic also scores prompts while vLLM is awake, one micro-batch at a time
            awake_forward_tokens=args.critic_micro_batch * ctoks if args.critic_tokens == "prompt" else 0,
        )
    return PlanInput(
        actor,
        critic,
        args.gpus,
        args.tp,
        args.gpu_memory_utilization,
        args.gpu_mem_gib,
        args.vllm_budget,
        args.overhead_gib,
        notes,
        max_num_seqs=args.max_num_seqs,
        max_model_len=args.max_model_len or seq,
        max_num_batched_tokens=args.max_num_batched_tokens,
    )


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(
        prog=PROG,
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = ap.add_argument_group("source (one of)")
    src.add_argument("--script", action="append", default=[], help="run script (repeat to compare); dry-run")
    src.add_argument("--config-json", action="append", default=[], help="JSON from SPPO_DRY_RUN_JSON=...")
    src.add_argument("--policy", help="policy architecture: a table name, 1.5B, 7B, or a checkpoint dir")
    src.add_argument("--policy-params", type=_positive, help="policy parameter count, e.g. 7e9")
    src.add_argument("--critic", help="critic architecture (as --policy)")
    src.add_argument("--critic-params", type=_positive, help="critic parameter count, e.g. 1.5e9")
    ex = ap.add_argument_group("explicit sizes (with --policy/--policy-params)")
    ex.add_argument("--gpus", type=_count, default=4)
    ex.add_argument("--tp", type=_count, default=1, help="vLLM tensor parallel size")
    ex.add_argument("--prompt-len", type=_count, default=1024)
    ex.add_argument("--response-len", type=_count, default=8192)
    ex.add_argument("--micro-batch", type=_count, default=1, help="actor sequences per micro-batch per GPU")
    ex.add_argument("--critic-micro-batch", type=_count, default=1)
    ex.add_argument(
        "--critic-tokens",
        choices=("prompt", "all", "none"),
        default="prompt",
        help="prompt: SPPO critic; all: token-level (GAE) critic; none: no critic",
    )
    ex.add_argument("--actor-offload", action="store_true", help="actor param + optimizer offload")
    ex.add_argument("--critic-offload", action="store_true", help="critic param + optimizer offload")
    ex.add_argument("--gpu-memory-utilization", type=_fraction, default=0.8, help="vLLM's fraction, in (0, 1]")
    ex.add_argument("--max-num-seqs", type=_count, default=VLLM_MAX_NUM_SEQS, help="vLLM sequences at once (256)")
    ex.add_argument("--max-model-len", type=_count, default=None, help="vLLM max_model_len [prompt + response]")
    ex.add_argument("--max-num-batched-tokens", type=_count, default=VLLM_MAX_NUM_BATCHED_TOKENS)
    common = ap.add_argument_group("device")
    common.add_argument("--gpu-mem-gib", type=_positive, default=80.0, help="device memory per GPU (default 80)")
    common.add_argument("--vllm-budget", choices=("per-instance", "device-total"), default="per-instance")
    common.add_argument("--overhead-gib", type=_non_negative, default=DEFAULT_OVERHEAD_GIB)
    ap.add_argument("--json", help="also write the estimates to this JSON file (replaced if it exists)")
    ap.add_argument("overrides", nargs="*", help="hydra overrides passed to every --script")
    return ap


def _run(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    explicit = any(x is not None for x in (args.policy, args.policy_params, args.critic, args.critic_params))
    if (args.script or args.config_json) and explicit:
        raise UsageError("give one source: --script/--config-json, or explicit sizes (--policy/--policy-params ...)")
    if args.overrides and not args.script:
        raise UsageError(f"unrecognized arguments: {' '.join(args.overrides)} (hydra overrides need --script)")
    for s in args.script:
        if not Path(s).is_file():
            raise UsageError(f"--script {s}: no such file")
    out = _check_output(args.json) if args.json else None

    inputs: list[tuple[str, PlanInput]] = []
    kw = {"device_gib": args.gpu_mem_gib, "vllm_budget": args.vllm_budget, "overhead_gib": args.overhead_gib}
    try:
        for path in args.config_json:
            inputs.append((path, from_config(_read_config_json(path), **kw)))
        if args.script:
            with ThreadPoolExecutor(max_workers=min(4, len(args.script))) as pool:
                cfgs = list(pool.map(lambda s: dry_run_config(s, args.overrides), args.script))
            inputs += [(s, from_config(c, **kw)) for s, c in zip(args.script, cfgs)]
        if not inputs:
            inputs.append(("explicit sizes", _explicit_input(args)))
        results = [(name, p, plan(p)) for name, p in inputs]
    except (ValueError, RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(str(exc)) from None

    for name, p, r in results:
        print(format_plan(p, r, title=f"== {name}"))
        print()
    if len(results) > 1:
        print(
            "summary: "
            + "; ".join(
                f"{Path(n).stem}: {r.peak_gib:.1f} GiB ({100 * r.peak_fraction:.1f}%, {r.peak_phase})"
                for n, _, r in results
            )
        )
    if out is not None:
        try:
            _write_json(out, {n: plan_to_dict(p, r) for n, p, r in results})
        except OSError as exc:
            raise UsageError(f"--json {args.json}: {exc.strerror or exc}") from None
    return 0


def main(argv: list[str] | None = None) -> int:
    """Exit codes: 0 success, 2 bad input (one ``python -m sppo.tools.plan_memory: error: ...`` line), 130 Ctrl-C."""
    return guarded(PROG, lambda: _run(argv))


if __name__ == "__main__":
    sys.exit(main())
