"""Per-GPU peak memory planner for the colocated verl run: actor, vLLM rollout and critic on the same GPUs.

    python -m sppo.plan_memory --script run_scripts/run_R1-7B_DAPO_SEQUENCE.sh           # a run script's config
    python -m sppo.plan_memory --script run_scripts/run_R1-7B_DAPO_SEQUENCE.sh \\
                               --script run_scripts/run_R1-7B_DAPO_SEQUENCE_small_critic.sh   # several, compared
    python -m sppo.plan_memory --config-json dry_run.json            # JSON written by SPPO_DRY_RUN_JSON=...
    python -m sppo.plan_memory --policy 7B --critic 1.5B --gpus 4 --tp 4 --prompt-len 2048 \\
                               --response-len 8192 --micro-batch 1 --actor-offload   # explicit sizes
    python -m sppo.plan_memory --policy-params 7e9 --critic-params 1.5e9 --gpus 4 ...      # bare parameter counts

The model (documented with its assumptions in docs/running.md, "Memory planner"): every role is sharded by
FSDP over all GPUs and keeps fp32 master weights (4 bytes/param), fp32 gradients (4, during its own update
only) and AdamW moments (8). A role's parameters / optimizer states stay on the GPU between its updates
unless offloaded (verl moves offloaded state to the GPU for the update itself and back afterwards).
Activations assume full-length sequences (the upper bound) with gradient checkpointing: one bf16 hidden
state per layer and token, plus one decoder layer's tensors recomputed during backward, plus the actor's
logits (``LOGIT_BYTES`` per vocabulary entry and token). The vLLM engine sleeps during the updates and, in
the rollout, holds ``gpu_memory_utilization x device memory`` (its weights, KV cache and workspace) on top
of what the trainer keeps resident ("per-instance", vLLM >= 0.7, the pinned 0.24); ``--vllm-budget
device-total`` models the older vLLM that capped the whole device at that fraction instead. The peak is
the largest of the three phases: rollout, actor update, critic update.
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

    @property
    def peak_fraction(self) -> float:
        return self.peak_gib / self.device_gib


PHASES = ("rollout", "actor update", "critic update")
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
    "vLLM weights (bf16 / TP)",
    "vLLM KV cache + workspace",
    "overhead (CUDA ctx, NCCL, frag.)",
)


def _state(role: RoleSpec, gpus: int) -> dict[str, float]:
    """Sharded training state of a role during its own update, GiB per GPU."""
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
    gathered through forward/backward, plus the current and the prefetched decoder layer."""
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
    return acts / GIB, logits / GIB


def plan(p: PlanInput) -> Plan:
    """Estimate per-GPU memory of every phase; see the module docstring for the model."""
    g = p.gpus
    actor_res = _resident(p.actor, g)
    critic_res = _resident(p.critic, g)
    overhead = p.overhead_gib
    budget = p.gpu_memory_utilization * p.device_gib
    vllm_weights = p.actor.params * COMPUTE_BYTES / p.tp / GIB

    rollout = {
        "actor params (fp32 shard)": actor_res[0],
        "actor Adam states (fp32 shard)": actor_res[1],
        "critic params (fp32 shard)": critic_res[0],
        "critic Adam states (fp32 shard)": critic_res[1],
    }
    resident = sum(rollout.values())
    if p.vllm_budget == "per-instance":
        vllm_total = budget
    elif p.vllm_budget == "device-total":
        vllm_total = max(budget - resident - overhead, vllm_weights)
    else:
        raise ValueError(f"vllm_budget={p.vllm_budget!r}; choose per-instance or device-total")
    rollout["vLLM weights (bf16 / TP)"] = vllm_weights
    rollout["vLLM KV cache + workspace"] = max(vllm_total - vllm_weights, 0.0)
    rollout["overhead (CUDA ctx, NCCL, frag.)"] = overhead
    kv_tokens = None
    if vllm_total > vllm_weights:
        kv_tokens = int(rollout["vLLM KV cache + workspace"] * GIB / p.actor.arch.kv_bytes_per_token(p.tp))

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
        "overhead (CUDA ctx, NCCL, frag.)": overhead,
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
            "overhead (CUDA ctx, NCCL, frag.)": overhead,
        }
    totals = {k: sum(v.values()) for k, v in phases.items()}
    peak_phase = max(totals, key=totals.get)
    notes = list(p.notes)
    if p.vllm_budget == "device-total" and resident + overhead + vllm_weights > budget:
        notes.append("the trainer's resident state leaves vLLM less than its weights: rollout cannot start")
    return Plan(phases, totals, peak_phase, totals[peak_phase], p.device_gib, kv_tokens, notes)


# --- from a resolved verl config (the dry run's JSON) ------------------------------------------------------


def _get(cfg: dict, dotted: str, default: Any = None) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return default if node is None else node


def critic_enabled(cfg: dict) -> bool:
    """verl's rule (trainer/ppo/utils.need_critic) plus SPPO's: on for gae and sppo unless set."""
    enable = _get(cfg, "critic.enable")
    if enable is not None:
        return bool(enable)
    return str(_get(cfg, "algorithm.adv_estimator", "gae")) in ("gae", "sppo", "sequence_level_adv")


def from_config(
    cfg: dict,
    device_gib: float = 80.0,
    vllm_budget: str = "per-instance",
    overhead_gib: float = DEFAULT_OVERHEAD_GIB,
) -> PlanInput:
    """Build the planner input from a resolved verl/SPPO config (as a plain dict). Raises ``ValueError``
    when a model's architecture is unknown (neither a local config.json nor a table entry)."""
    notes: list[str] = []
    prompt = int(_get(cfg, "data.max_prompt_length", 512))
    response = int(_get(cfg, "data.max_response_length", 512))
    gpus = int(_get(cfg, "trainer.n_gpus_per_node", 1)) * int(_get(cfg, "trainer.nnodes", 1))
    estimator = str(_get(cfg, "algorithm.adv_estimator", "gae"))

    def tokens(section: str, seq_len: int, sp_key: str) -> int:
        sp = int(_get(cfg, sp_key, 1) or 1)
        if _get(cfg, f"{section}.use_dynamic_bsz", False):
            return int(_get(cfg, f"{section}.ppo_max_token_len_per_gpu", 16384)) // sp
        micro = _get(cfg, f"{section}.ppo_micro_batch_size_per_gpu")
        if micro is None:
            micro = max(1, int(_get(cfg, f"{section}.ppo_micro_batch_size", 1) or 1) // gpus)
        return int(micro) * seq_len // sp

    def arch_of(path: str, role: str) -> Arch:
        arch = find_arch(path)
        if arch is None:
            raise ValueError(
                f"unknown architecture for the {role} model {path!r}: give a local checkpoint "
                f"(config.json) or one of {', '.join(ARCHITECTURES)}"
            )
        return arch

    a_arch = arch_of(_get(cfg, "actor_rollout_ref.model.path", ""), "policy")
    actor = RoleSpec(
        arch=a_arch,
        params=a_arch.lm_params(),
        param_offload=bool(_get(cfg, "actor_rollout_ref.actor.fsdp_config.param_offload", False)),
        optimizer_offload=bool(_get(cfg, "actor_rollout_ref.actor.fsdp_config.optimizer_offload", False)),
        tokens_per_micro_batch=tokens(
            "actor_rollout_ref.actor", prompt + response, "actor_rollout_ref.actor.ulysses_sequence_parallel_size"
        ),
        gradient_checkpointing=bool(_get(cfg, "actor_rollout_ref.model.enable_gradient_checkpointing", True)),
        logits=True,
    )
    critic = None
    if critic_enabled(cfg):
        c_arch = arch_of(_get(cfg, "critic.model.path", ""), "critic")
        prompt_only = estimator in ("sppo", "sequence_level_adv")
        critic = RoleSpec(
            arch=c_arch,
            params=c_arch.value_params(),
            param_offload=bool(_get(cfg, "critic.fsdp.param_offload", False)),
            optimizer_offload=bool(_get(cfg, "critic.fsdp.optimizer_offload", False)),
            tokens_per_micro_batch=tokens(
                "critic", prompt if prompt_only else prompt + response, "critic.ulysses_sequence_parallel_size"
            ),
            gradient_checkpointing=bool(_get(cfg, "critic.model.enable_gradient_checkpointing", True)),
        )
        notes.append(f"critic reads {'the prompt only (SPPO)' if prompt_only else 'prompt + response (token-level)'}")
    if _get(cfg, "actor_rollout_ref.actor.use_kl_loss", False) or _get(cfg, "algorithm.use_kl_in_reward", False):
        notes.append("reference model: kept on CPU by verl (FSDP CPU offload), not counted")
    return PlanInput(
        actor=actor,
        critic=critic,
        gpus=gpus,
        tp=int(_get(cfg, "actor_rollout_ref.rollout.tensor_model_parallel_size", 1)),
        gpu_memory_utilization=float(_get(cfg, "actor_rollout_ref.rollout.gpu_memory_utilization", 0.5)),
        device_gib=device_gib,
        vllm_budget=vllm_budget,
        overhead_gib=overhead_gib,
        notes=notes,
    )


# --- output -------------------------------------------------------------------------------------------------


def format_plan(p: PlanInput, result: Plan, title: str = "") -> str:
    """The per-GPU table: components x phases, totals, the peak."""
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
    if result.kv_cache_tokens is not None:
        lines.append(f"vLLM KV cache holds ~{result.kv_cache_tokens:,} tokens per GPU")
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
        "notes": result.notes,
    }


# --- CLI ------------------------------------------------------------------------------------------------------


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
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
            raise RuntimeError(f"dry run of {script} failed (exit {proc.returncode}):\n{tail}")
        return json.loads(out.read_text())["config"]


def _explicit_input(args: argparse.Namespace) -> PlanInput:
    def role(name: str | None, params: float | None, value_model: bool) -> tuple[Arch, float, str] | None:
        if name is None and params is None:
            return None
        note = ""
        if name is not None:
            arch = find_arch(name)
            if arch is None:
                raise SystemExit(f"plan_memory: error: unknown architecture {name!r} ({', '.join(ARCHITECTURES)})")
        else:
            arch = nearest_arch(params, value_model)
            note = f"activation shapes of {arch.name} (nearest in size) for {params / 1e9:.2f} B params"
        count = params if params is not None else (arch.value_params() if value_model else arch.lm_params())
        return arch, count, note

    seq = args.prompt_len + args.response_len
    pol = role(args.policy, args.policy_params, False)
    if pol is None:
        raise SystemExit("plan_memory: error: give --script, --config-json, or --policy/--policy-params")
    notes = [pol[2]] if pol[2] else []
    actor = RoleSpec(pol[0], pol[1], args.actor_offload, args.actor_offload, args.micro_batch * seq, True, True)
    critic = None
    crit = role(args.critic, args.critic_params, True)
    if crit is not None and args.critic_tokens != "none":
        if crit[2]:
            notes.append(crit[2])
        ctoks = args.prompt_len if args.critic_tokens == "prompt" else seq
        critic = RoleSpec(
            crit[0], crit[1], args.critic_offload, args.critic_offload, args.critic_micro_batch * ctoks, True, False
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
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m sppo.plan_memory",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = ap.add_argument_group("source (one of)")
    src.add_argument("--script", action="append", default=[], help="run script (repeat to compare); dry-run")
    src.add_argument("--config-json", action="append", default=[], help="JSON from SPPO_DRY_RUN_JSON=...")
    src.add_argument("--policy", help="policy architecture: a table name, 1.5B, 7B, or a checkpoint dir")
    src.add_argument("--policy-params", type=float, help="policy parameter count, e.g. 7e9")
    src.add_argument("--critic", help="critic architecture (as --policy)")
    src.add_argument("--critic-params", type=float, help="critic parameter count, e.g. 1.5e9")
    ex = ap.add_argument_group("explicit sizes (with --policy/--policy-params)")
    ex.add_argument("--gpus", type=int, default=4)
    ex.add_argument("--tp", type=int, default=1, help="vLLM tensor parallel size")
    ex.add_argument("--prompt-len", type=int, default=1024)
    ex.add_argument("--response-len", type=int, default=8192)
    ex.add_argument("--micro-batch", type=int, default=1, help="actor sequences per micro-batch per GPU")
    ex.add_argument("--critic-micro-batch", type=int, default=1)
    ex.add_argument(
        "--critic-tokens",
        choices=("prompt", "all", "none"),
        default="prompt",
        help="prompt: SPPO critic; all: token-level (GAE) critic; none: no critic",
    )
    ex.add_argument("--actor-offload", action="store_true", help="actor param + optimizer offload")
    ex.add_argument("--critic-offload", action="store_true", help="critic param + optimizer offload")
    ex.add_argument("--gpu-memory-utilization", type=float, default=0.8)
    common = ap.add_argument_group("device")
    common.add_argument("--gpu-mem-gib", type=float, default=80.0, help="device memory per GPU (default 80)")
    common.add_argument("--vllm-budget", choices=("per-instance", "device-total"), default="per-instance")
    common.add_argument("--overhead-gib", type=float, default=DEFAULT_OVERHEAD_GIB)
    ap.add_argument("--json", help="also write the estimates to this JSON file")
    ap.add_argument("overrides", nargs="*", help="hydra overrides passed to every --script")
    args = ap.parse_args(argv)

    inputs: list[tuple[str, PlanInput]] = []
    kw = {"device_gib": args.gpu_mem_gib, "vllm_budget": args.vllm_budget, "overhead_gib": args.overhead_gib}
    try:
        for path in args.config_json:
            data = json.loads(Path(path).read_text())
            inputs.append((path, from_config(data.get("config", data), **kw)))
        if args.script:
            with ThreadPoolExecutor(max_workers=min(4, len(args.script))) as pool:
                cfgs = list(pool.map(lambda s: dry_run_config(s, args.overrides), args.script))
            inputs += [(s, from_config(c, **kw)) for s, c in zip(args.script, cfgs)]
        if not inputs:
            inputs.append(("explicit sizes", _explicit_input(args)))
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"plan_memory: error: {exc}", file=sys.stderr)
        return 2

    results = []
    for name, p in inputs:
        r = plan(p)
        results.append((name, p, r))
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
    if args.json:
        Path(args.json).write_text(json.dumps({n: plan_to_dict(p, r) for n, p, r in results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
