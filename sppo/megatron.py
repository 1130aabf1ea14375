"""SPPO on verl's Megatron engine (``model_engine=megatron``): the parallel sizes per role, their launch checks, and
the engine line of the dry-run summary.

SPPO's critic path needs no Megatron-specific code, and so subclasses nothing. The trainer builds the
prompt-only batch itself (``sppo/trainer/critic.py``) and calls verl's stock ``critic_wg.infer_batch`` /
``train_mini_batch``; ``sppo_value_loss`` is installed through ``TrainingWorker.set_loss_fn``, the hook verl's own
``value_loss`` uses on every engine. The Megatron value engine of verl 0.9.1
(``verl/workers/engine/megatron/transformer_impl.py`` ``MegatronEngineWithValueHead``) honours the contract the FSDP
engine does. Where it differs from ``FSDPEngineWithValueHead``, and why SPPO still holds:

- **Packed (THD) prompts.** FSDP packs a micro-batch into one ``(1, nnz)`` row and tells flash-attn where each
  sequence starts from the restarting ``position_ids``. Megatron packs with ``preprocess_thd_engine`` into
  ``PackedSeqParams`` (``cu_seqlens``, padded to a multiple of 2·TP·CP per sequence) and passes
  ``position_ids=None`` (``verl/models/mcore/model_forward.py`` ``gptmodel_forward_model_engine``). The sequence
  boundaries come from ``cu_seqlens``, so the ``position_ids`` SPPO puts on the batch are ignored there; a prompt's
  positions restart at 0 either way. ``postprocess_thd_engine`` cuts the padding off again and re-nests the
  value-head output with the input's own offsets, so ``last_token_logits`` (``values.values()[offsets[1:] - 1]``)
  reads V(s_p) at the last prompt token, as on FSDP. Without remove-padding (BSHD) the output is nested the same way.
- **Context parallelism** (CP > 1). Each prompt is split into 2·CP zig-zag chunks; ``postprocess_thd_engine``
  all-gathers the chunks before re-nesting, so every CP rank sees the whole ``values`` and computes the same BCE,
  with a gradient only through its own chunk. Megatron-Bridge then switches on ``calculate_per_token_loss``, and verl
  rescales the loss by the routed token counts (``postprocess_micro_batch_func``). The ``loss × dp_size /
  batch_num_tokens`` contract SPPO's loss follows (as verl's ``value_loss`` does) is the one verl rescales, so the
  gradient stays the mini-batch mean BCE. For prompts of ≤ 2k tokens CP buys nothing.
- **Loss scaling.** Megatron's pipeline schedule divides each micro-batch loss by the number of micro-batches; verl
  multiplies it back (``scaled_loss = loss * num_micro_batch``) before the schedule sees it. Megatron's DDP averages
  gradients over the data-parallel group as FSDP does, so the ×dp_size in ``sppo_value_loss`` cancels it on both.
- **The ×dp metric.** ``critic/bce_loss`` is a ``Metric(SUM)`` of per-micro-batch losses times dp_size; verl's
  ``TrainingWorker`` averages each rank's sum over the data-parallel ranks (``Metric.aggregate_dp``). On Megatron
  the ranks it collects from are the data-parallel ones with TP rank 0, the last pipeline stage and CP rank 0
  (``is_mp_src_rank_with_outputs``), and dp_size is ``mpu.get_data_parallel_world_size()``: GPUs / (TP·PP·CP).
  The loss runs on the last pipeline stage only.
- **Batching keys.** ``prepare_micro_batches`` is the same function on both engines; the keys SPPO puts on its
  batches (``sppo/critic_batching.py``, verl #7462) apply unchanged, over Megatron's data-parallel ranks.
- **Precision.** ``McoreEngineConfig`` accepts bf16 or fp16 only (no fp32 critic, unlike FSDP's mixed precision).
- **Checkpoints.** ``MegatronCheckpointManager`` (role ``critic``) writes Megatron distributed checkpoints (torch_dist)
  under ``global_step_N/critic/``, not FSDP's per-rank shards; verl's trainer saves and resumes both the same way.
- **Gradient checkpointing.** ``critic.model.enable_gradient_checkpointing`` is read by the FSDP engine only; on
  Megatron activation recompute is ``critic.megatron.override_transformer_config.recompute_*``.
- **One parallel layout per process.** verl colocates the actor and the critic in the same Ray worker process and
  initialises Megatron's process-global parallel state once, from whichever engine comes first (the critic:
  ``trainer_base._init_workers`` resets the critic before the actor). verl 0.9.1 has no per-role layout ("TODO: set
  different parallelism for actor, critic, ref"), so the critic's TP/PP/CP/EP must equal the actor's:
  :func:`check_megatron` refuses a launch where they differ instead of letting one role silently run on the other's.
- **No CPU path.** megatron-core 0.16.1 initialises its parallel state with gloo and builds a tiny GPTModel on CPU,
  but its forward calls ``torch.cuda.current_device()`` (rotary embeddings), and verl's Megatron engine builds
  Transformer Engine layers and flash attention; ``platform=cpu`` with Megatron is refused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sppo.config_checks import SPPOConfigError
from sppo.roles import critic_on

MEGATRON = "megatron"

# Where each role's Megatron engine config lives (verl 0.9.1: ``engine/megatron.yaml`` under these keys).
ROLE_SECTIONS = {"actor": "actor_rollout_ref.actor", "critic": "critic"}
# Sizes that define Megatron's process-global parallel state (``mpu.initialize_model_parallel``).
SHARED_SIZES = ("tp", "pp", "cp", "vpp", "ep", "etp")
_KEYS = {
    "tp": "tensor_model_parallel_size",
    "pp": "pipeline_model_parallel_size",
    "cp": "context_parallel_size",
    "vpp": "virtual_pipeline_model_parallel_size",
    "ep": "expert_model_parallel_size",
    "etp": "expert_tensor_parallel_size",
}


def _get(node: Any, dotted: str, default: Any = None) -> Any:
    """``dotted`` of a DictConfig or a plain dict; ``default`` where a part is missing or the value is None."""
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return default if node is None else node


def model_engine(config: Any) -> str:
    """verl's engine choice: ``dp`` (FSDP, the default) or ``megatron`` (hydra's ``model_engine=megatron``)."""
    return str(_get(config, "model_engine", "dp"))


def is_megatron(config: Any) -> bool:
    return model_engine(config) == MEGATRON


@dataclass(frozen=True)
class MegatronSizes:
    """One role's Megatron layout: tensor, pipeline (and virtual), context and expert parallel sizes."""

    tp: int = 1
    pp: int = 1
    cp: int = 1
    vpp: int | None = None
    ep: int = 1
    etp: int | None = None
    sequence_parallel: bool = True  # verl turns it off at TP 1
    distributed_optimizer: bool = True
    param_offload: bool = False
    optimizer_offload: bool = False

    @property
    def model_parallel(self) -> int:
        """GPUs that hold one copy of the model between them: TP x PP x CP."""
        return self.tp * self.pp * self.cp

    def dp(self, gpus: int) -> int:
        """Data-parallel ranks over ``gpus`` GPUs (0 when the layout does not tile them)."""
        return gpus // self.model_parallel if gpus % self.model_parallel == 0 else 0


def megatron_sizes(config: Any, role: str) -> MegatronSizes | None:
    """``role``'s (``actor`` or ``critic``) Megatron layout, or None when the run is not on Megatron."""
    if not is_megatron(config):
        return None
    section = _get(config, f"{ROLE_SECTIONS[role]}.megatron", {})

    def size(key: str, default: int | None = 1) -> int | None:
        value = _get(section, _KEYS[key], default)
        return None if value is None else int(value)

    tp = size("tp")
    return MegatronSizes(
        tp=tp,
        pp=size("pp"),
        cp=size("cp"),
        vpp=size("vpp", None),
        ep=size("ep"),
        etp=size("etp", None),
        sequence_parallel=bool(_get(section, "sequence_parallel", True)) and tp > 1,
        distributed_optimizer=bool(_get(section, "use_distributed_optimizer", True)),
        param_offload=bool(_get(section, "param_offload", False)),
        optimizer_offload=bool(_get(section, "optimizer_offload", False)),
    )


def megatron_model_parallel_size(config: Any, role: str) -> int | None:
    """GPUs per model copy of ``role`` on Megatron (TP x PP x CP); None on FSDP (use its Ulysses size there)."""
    sizes = megatron_sizes(config, role)
    return None if sizes is None else sizes.model_parallel


def _gpus(config: Any) -> tuple[int, int]:
    per_node = int(_get(config, "trainer.n_gpus_per_node", 1))
    return per_node, per_node * int(_get(config, "trainer.nnodes", 1))


def model_config(path: str) -> dict | None:
    """The ``config.json`` numbers of a local folder or a hub id (the HF cache, or the hub), or None if unreachable.

    A model that cannot load is reported by verl's own config check (``validate_with_verl``) in one line."""
    local = os.path.join(os.path.expanduser(path), "config.json")
    if os.path.isfile(local):
        with open(local) as f:
            return json.load(f)
    try:
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(path).to_dict()
    except Exception:  # noqa: BLE001 - unreachable hub, not cached: no architecture checks here
        return None


def _layout_problem(name: str, sizes: MegatronSizes, per_node: int, gpus: int) -> str | None:
    key = f"{ROLE_SECTIONS[name]}.megatron"
    for k in ("tp", "pp", "cp", "ep"):
        if getattr(sizes, k) < 1:
            return f"{key}.{_KEYS[k]}={getattr(sizes, k)} must be >= 1"
    if gpus % sizes.model_parallel:
        return (
            f"{key}: tensor x pipeline x context parallel = {sizes.tp} x {sizes.pp} x {sizes.cp} = "
            f"{sizes.model_parallel} does not divide the {gpus} GPUs (trainer.n_gpus_per_node x trainer.nnodes)"
        )
    if per_node % sizes.tp:
        return (
            f"{key}.{_KEYS['tp']}={sizes.tp} must divide trainer.n_gpus_per_node={per_node}: a tensor-parallel group "
            "exchanges activations at every layer and stays inside a node"
        )
    dp_cp = sizes.dp(gpus) * sizes.cp
    if sizes.ep > 1 and dp_cp % sizes.ep:
        return (
            f"{key}.{_KEYS['ep']}={sizes.ep} must divide data x context parallel = {dp_cp} "
            "(Megatron carves expert groups out of those ranks)"
        )
    return None


def _architecture_problem(name: str, path: str, sizes: MegatronSizes, hf: dict, uneven_stages: bool) -> str | None:
    """Heads and layers ``sizes`` must split: Megatron refuses them only after the model starts building.

    ``uneven_stages``: override_transformer_config sets the first/last pipeline stage's layers itself."""
    key = f"{ROLE_SECTIONS[name]}.megatron"
    heads = int(hf.get("num_attention_heads", 0) or 0)
    kv_heads = int(hf.get("num_key_value_heads", 0) or heads)
    layers = int(hf.get("num_hidden_layers", 0) or 0)
    if heads and heads % sizes.tp:
        return f"{key}.{_KEYS['tp']}={sizes.tp} does not divide the {heads} attention heads of the {name} model {path}"
    if kv_heads and kv_heads % sizes.tp:
        return (
            f"{key}.{_KEYS['tp']}={sizes.tp} does not divide the {kv_heads} key-value heads of the {name} model {path} "
            f"(Megatron splits the query groups over TP ranks); use a tensor-parallel size dividing {kv_heads}"
        )
    stages = sizes.pp * (sizes.vpp or 1)
    if layers and stages > 1 and layers % stages and not uneven_stages:
        return (
            f"{key}: pipeline x virtual pipeline = {stages} stages do not divide the {layers} layers of the {name} "
            f"model {path} (or set override_transformer_config.num_layers_in_first/last_pipeline_stage)"
        )
    return None


def _uneven_stages(config: Any, role: str) -> bool:
    override = _get(config, f"{ROLE_SECTIONS[role]}.megatron.override_transformer_config", {})
    return any(
        _get(override, k) is not None
        for k in ("num_layers_in_first_pipeline_stage", "num_layers_in_last_pipeline_stage")
    )


def check_megatron(config: Any) -> None:
    """Megatron's parallel sizes against the GPUs, the models' heads and layers, and each other (one line, exit 2).

    Nothing to check on FSDP. Runs before the batch checks, which split batches over the data-parallel ranks
    :func:`megatron_model_parallel_size` leaves.
    """
    if not is_megatron(config):
        return
    if str(_get(config, "trainer.device", "cuda")) == "cpu":
        raise SPPOConfigError(
            "model_engine=megatron needs CUDA GPUs (megatron-core's forward and verl's Transformer Engine layers): "
            "platform=cpu runs FSDP only"
        )
    roles = ["actor", *(["critic"] if critic_on(config) else [])]
    for role in roles:
        strategy = str(_get(config, f"{ROLE_SECTIONS[role]}.strategy", MEGATRON))
        if strategy != MEGATRON:
            raise SPPOConfigError(
                f"model_engine=megatron but {ROLE_SECTIONS[role]}.strategy={strategy}: remove that override "
                "(model_engine selects every role's engine)"
            )
    per_node, gpus = _gpus(config)
    sizes = {role: megatron_sizes(config, role) for role in roles}
    for role in roles:
        if (problem := _layout_problem(role, sizes[role], per_node, gpus)) is not None:
            raise SPPOConfigError(problem)
    if "critic" in sizes:
        actor, critic = sizes["actor"], sizes["critic"]
        for k in SHARED_SIZES:
            if getattr(actor, k) != getattr(critic, k):
                raise SPPOConfigError(
                    f"critic.megatron.{_KEYS[k]}={getattr(critic, k)} differs from actor_rollout_ref.actor.megatron."
                    f"{_KEYS[k]}={getattr(actor, k)}: verl 0.9.1 runs the actor and the critic in one worker process "
                    "and sets up Megatron's parallel groups once for both; give the critic the actor's sizes"
                )
        if bool(_get(config, "actor_rollout_ref.actor.megatron.dynamic_context_parallel", False)) or bool(
            _get(config, "critic.megatron.dynamic_context_parallel", False)
        ):
            raise SPPOConfigError(
                "megatron.dynamic_context_parallel: verl 0.9.1's Megatron value model does not support it, and the "
                "colocated actor and critic must agree on it; switch it off"
            )
    for role in roles:
        path = str(_get(config, f"{'actor_rollout_ref' if role == 'actor' else 'critic'}.model.path", ""))
        hf = model_config(path) if path else None
        if hf is None:
            continue
        if (problem := _architecture_problem(role, path, sizes[role], hf, _uneven_stages(config, role))) is not None:
            raise SPPOConfigError(problem)


def engine_summary(config: Any) -> dict:
    """The dry run's engine facts: verl's engine and, per role, its layout and data-parallel ranks."""
    _, gpus = _gpus(config)
    roles = ["actor", *(["critic"] if critic_on(config) else [])]
    if not is_megatron(config):
        out: dict[str, Any] = {"name": "fsdp", "strategy": str(_get(config, "actor_rollout_ref.actor.strategy", ""))}
        for role in roles:
            fsdp = "fsdp_config" if role == "actor" else "fsdp"
            sp = int(_get(config, f"{ROLE_SECTIONS[role]}.{fsdp}.ulysses_sequence_parallel_size", 1) or 1)
            out[role] = {"ulysses_sp": sp, "dp": gpus // sp if sp and gpus % sp == 0 else 0}
        return out
    out = {"name": MEGATRON, "strategy": MEGATRON}
    for role in roles:
        sizes = megatron_sizes(config, role)
        out[role] = {**asdict(sizes), "dp": sizes.dp(gpus)}
    return out


def describe_engine(summary: dict) -> str:
    """One line: 'Megatron: actor TP 2 PP 1 CP 1 DP 2 (SP, dist. optimizer); critic TP 2 PP 1 CP 1 DP 2'."""
    parts = []
    for role in ("actor", "critic"):
        r = summary.get(role)
        if r is None:
            continue
        if summary["name"] == MEGATRON:
            extras = [
                x for x, on in (("SP", r["sequence_parallel"]), ("dist. optimizer", r["distributed_optimizer"])) if on
            ]
            vpp = f" VPP {r['vpp']}" if r.get("vpp") else ""
            ep = f" EP {r['ep']}" if r.get("ep", 1) > 1 else ""
            text = f"{role} TP {r['tp']} PP {r['pp']}{vpp} CP {r['cp']}{ep} DP {r['dp']}"
            parts.append(text + (f" ({', '.join(extras)})" if extras else ""))
        else:
            parts.append(f"{role} DP {r['dp']}, Ulysses SP {r['ulysses_sp']}")
    name = "Megatron" if summary["name"] == MEGATRON else f"FSDP ({summary['strategy']})"
    return f"{name}: {'; '.join(parts)}"
