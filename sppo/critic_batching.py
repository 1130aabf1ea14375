"""The critic's micro-batching settings that really apply, in one place.

verl 0.9.1's v1 trainer copies only ``critic.ppo_infer_max_token_len_per_gpu`` into the critic engine's
config (as both its training and inference token budget) and leaves ``EngineConfig.use_dynamic_bsz`` at
its default ``True`` (trainer_base.py ~264-268, upstream issue #7462): ``critic.use_dynamic_bsz``,
``critic.ppo_micro_batch_size_per_gpu`` and ``critic.ppo_max_token_len_per_gpu`` do nothing there.

verl's ``TrainingWorker.train_batch`` / ``infer_batch`` fill these settings in only when the batch does not
carry them (engine_workers.py ~352-360, ~406-414), so SPPO's trainer puts the user's values on its
prompt-only critic batches (:func:`sppo_critic_batching`) and they take effect, with no verl code copied.
A token-level critic (gae) keeps verl's behaviour (:func:`stock_critic_batching`); the dry run and the
memory planner report what applies with :func:`critic_batching`.
"""

from __future__ import annotations

from typing import Any

from sppo.megatron import megatron_model_parallel_size
from sppo.options import SPPO_ESTIMATORS


def _get(section: Any, key: str, default: Any = None) -> Any:
    value = section.get(key, default) if section is not None else default
    return default if value is None else value


def critic_dp_size(config: Any) -> int:
    """Data-parallel ranks of the critic: all GPUs over its GPUs per model copy (Megatron: TP x PP x CP; FSDP: its
    Ulysses sequence-parallel size)."""
    trainer = config["trainer"]
    gpus = int(_get(trainer, "n_gpus_per_node", 1)) * int(_get(trainer, "nnodes", 1))
    return max(1, gpus // (megatron_model_parallel_size(config, "critic") or critic_sp_size(config)))


def critic_sp_size(config: Any) -> int:
    """The Ulysses size verl's FSDP engine reads: ``critic.fsdp.ulysses_sequence_parallel_size``.

    (``critic.ulysses_sequence_parallel_size`` is deprecated and not read by the v1 engine.)
    """
    fsdp = _get(config["critic"], "fsdp", {})
    return int(_get(fsdp, "ulysses_sequence_parallel_size", 1) or 1)


def sppo_critic_batching(critic: Any, dp_size: int, training: bool) -> dict[str, Any]:
    """The micro-batching keys SPPO's trainer puts on a prompt-only critic batch (what the user wrote).

    Args:
        critic: the ``critic`` config section (DictConfig or dict).
        dp_size: the critic's data-parallel ranks (for the deprecated global ``ppo_micro_batch_size``).
        training: the update (``ppo_*`` keys) or the forward that computes V(s_p) (``forward_*`` /
            ``ppo_infer_*`` keys, falling back to the update's).

    Returns:
        ``use_dynamic_bsz`` and either ``max_token_len_per_gpu`` (prompt tokens per micro-batch on one GPU,
        Ulysses ranks included as in verl) or ``micro_batch_size_per_gpu`` (prompts per micro-batch).
    """
    if bool(_get(critic, "use_dynamic_bsz", False)):
        if training:
            budget = _get(critic, "ppo_max_token_len_per_gpu", 32768)
        else:
            budget = _get(critic, "forward_max_token_len_per_gpu", None) or _get(
                critic, "ppo_infer_max_token_len_per_gpu", 32768
            )
        return {"use_dynamic_bsz": True, "max_token_len_per_gpu": int(budget)}
    micro = _get(critic, "ppo_micro_batch_size_per_gpu", None)
    if micro is None and _get(critic, "ppo_micro_batch_size", None) is not None:
        micro = max(1, int(critic["ppo_micro_batch_size"]) // dp_size)
    if not training:
        micro = (
            _get(critic, "ppo_infer_micro_batch_size_per_gpu", None)
            or _get(critic, "forward_micro_batch_size_per_gpu", None)
            or micro
        )
    if micro is None:
        # verl's CriticConfig refuses this combination at start-up; keep the stock budget if it ever gets here
        return stock_critic_batching(critic)
    return {"use_dynamic_bsz": False, "micro_batch_size_per_gpu": int(micro)}


def stock_critic_batching(critic: Any) -> dict[str, Any]:
    """What verl 0.9.1's v1 trainer applies to its own (token-level) critic: dynamic batches of the
    inference token budget, for the update and the forward alike."""
    return {
        "use_dynamic_bsz": True,
        "max_token_len_per_gpu": int(_get(critic, "ppo_infer_max_token_len_per_gpu", 32768)),
    }


def critic_batching(config: Any, training: bool = True) -> dict[str, Any]:
    """The critic micro-batching that applies under ``config`` (a DictConfig or a plain dict)."""
    critic = config["critic"]
    if str(config["algorithm"]["adv_estimator"]) in SPPO_ESTIMATORS:
        return sppo_critic_batching(critic, critic_dp_size(config), training)
    return stock_critic_batching(critic)


def describe(batching: dict[str, Any], unit: str) -> str:
    """One phrase for summaries: 'dynamic, <= 4096 prompt tokens/GPU' or '2 prompts/GPU'."""
    if batching["use_dynamic_bsz"]:
        return f"dynamic, <= {batching['max_token_len_per_gpu']} {unit} tokens/GPU"
    n = batching["micro_batch_size_per_gpu"]
    return f"{n} {unit}{'' if n == 1 else 's'}/GPU"
