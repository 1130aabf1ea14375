"""The SPPO critic: a scalar logit V(s_p) read at the last prompt token, trained with BCE against R.

``sppo_value_loss`` is installed into verl's critic ``TrainingWorker`` with ``set_loss_fn`` (the same
hook verl uses for its own ``value_loss``). The trainer feeds it PROMPT-ONLY sequences, so the critic's
forward and backward cost O(prompt length). Calibration metrics of the predictions are computed by the
trainer on the whole batch with ``calibration_metrics``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from tensordict import TensorDict
from verl.utils import tensordict_utils as tu
from verl.utils.metric import AggregationType, Metric

from sppo.critic_quality import explained_variance

# Fields the trainer adds to the prompt-only critic batch.
TARGET_KEY = "sppo_target"  # R in [0, 1], shape (bs,)
WEIGHT_KEY = "sppo_weight"  # 1 for real rows, 0 for verl's synthetic padding rows, shape (bs,)


def last_token_logits(values: torch.Tensor) -> torch.Tensor:
    """V(s_p): the value-head output at the last token of each (prompt-only) sequence.

    Args:
        values: nested jagged tensor `(bs, j)` of per-token value-head outputs, or a padded `(bs, L)`
            tensor whose rows are all full length.

    Returns:
        `(torch.Tensor)` shape `(bs,)`.
    """
    if values.is_nested:
        return values.values()[values.offsets()[1:] - 1]
    return values[:, -1]


def weighted_bce_sum(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Σ_i w_i · BCE(σ(v_i), R_i). Its gradient w.r.t. v_i is w_i · (σ(v_i) − R_i).

    Args:
        logits, targets, weights: `(torch.Tensor)` shape `(bs,)`.
    """
    losses = F.binary_cross_entropy_with_logits(logits.float(), targets.float(), reduction="none")
    return (losses * weights.float()).sum()


def sppo_value_loss(config: Any, model_output: dict, data: TensorDict, dp_group: Any = None):
    """BCE critic loss for verl's ``TrainingWorker.set_loss_fn``.

    The micro-batch's loss is Σ w·BCE / batch_num_tokens · dp_size, where the trainer's ``loss_mask``
    marks exactly one token (the last prompt token) per real row, so verl's ``batch_num_tokens`` is the
    number of real sequences in the global mini-batch. Summed over micro-batches and averaged over
    data-parallel ranks, that is the mini-batch mean BCE, whatever the micro-batch or dp split.

    Args:
        config: verl's CriticConfig (unused; kept for the ``partial(loss, config=...)`` convention).
        model_output: ``{"values": nested (bs, prompt_len)}`` from the value engine.
        data: the micro-batch, with ``sppo_target`` and ``sppo_weight`` of shape `(bs,)`.
    """
    logits = last_token_logits(model_output["values"])
    targets = data[TARGET_KEY].to(logits.device)
    weights = data[WEIGHT_KEY].to(logits.device)
    dp_size = int(tu.get_non_tensor_data(data=data, key="dp_size", default=1) or 1)
    batch_num_tokens = tu.get_non_tensor_data(data=data, key="batch_num_tokens", default=None)
    if batch_num_tokens is None:
        batch_num_tokens = weights.sum().item()
    denom = max(float(batch_num_tokens), 1.0)
    loss = weighted_bce_sum(logits, targets, weights) / denom * dp_size
    n_real = weights.sum().clamp(min=1.0)
    metrics = {
        # A partial sum of the global mini-batch mean, times dp_size: verl sums a rank's micro-batches and then
        # AVERAGES the ranks (Metric.aggregate_dp), so the x dp_size must stay in, as in verl's own vf_loss.
        "critic/bce_loss": Metric(value=loss.detach(), aggregation=AggregationType.SUM),
        "critic/vpred_mean": ((logits.detach() * weights).sum() / n_real).item(),
    }
    return loss, metrics


def calibration_metrics(probs: torch.Tensor, outcomes: torch.Tensor, n_bins: int = 10) -> dict[str, float]:
    """How well p = σ(V) predicts the outcome R, over one batch of real rows.

    Args:
        probs: `(torch.Tensor)` shape `(n,)`, predictions in [0, 1].
        outcomes: `(torch.Tensor)` shape `(n,)`, R in [0, 1].
        n_bins: equal-width bins for the expected calibration error.

    Returns:
        ``sigmoid_v_mean``, ``brier`` (mean (p − R)²), ``ece`` (Σ_b n_b/n · |mean p_b − mean R_b|),
        ``explained_var`` (``explained_variance`` of R by p: NaN when Var(R) = 0), ``reward_mean``.
    """
    probs = probs.double().reshape(-1)
    outcomes = outcomes.double().reshape(-1)
    n = probs.numel()
    if n == 0:
        return {}
    bins = torch.clamp((probs * n_bins).long(), max=n_bins - 1)
    ece = torch.zeros((), dtype=torch.float64)
    for b in range(n_bins):
        in_bin = bins == b
        if in_bin.any():
            ece += in_bin.sum().double() / n * (probs[in_bin].mean() - outcomes[in_bin].mean()).abs()
    return {
        "sigmoid_v_mean": probs.mean().item(),
        "brier": ((probs - outcomes) ** 2).mean().item(),
        "ece": ece.item(),
        "explained_var": explained_variance(probs, outcomes),
        "reward_mean": outcomes.mean().item(),
    }
