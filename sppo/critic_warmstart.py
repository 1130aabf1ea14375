"""Critic warm start (``sppo.critic_warmstart``): during verl's ``trainer.critic_warmup`` steps the policy does not
change, so every warm-up rollout is an on-policy sample of the same initial policy. At each warm-up step the critic
trains ``epochs`` epochs on all of them (this step's and every earlier warm-up step's), not on this step's alone:
K warm-up steps of B rollouts give the critic Σ_k k·B·epochs sample-updates instead of K·B·ppo_epochs.

The buffer holds each real row's prompt-only critic input (token ids, positions) and its target R; rows the BCE
leaves out (verl's padding, truncated responses under ``sppo.truncation.mode=mask``) are not kept.
"""

from __future__ import annotations

import math

import torch
from tensordict import TensorDict

from sppo.critic_loss import TARGET_KEY, WEIGHT_KEY


def _nested(rows: list[torch.Tensor]) -> torch.Tensor:
    return torch.nested.as_nested_tensor(rows, layout=torch.jagged)


def trained_rows(td: TensorDict) -> list[dict[str, torch.Tensor]]:
    """The rows of a prompt-only critic batch with a positive BCE weight, each as its own tensors."""
    ids, pos = td["input_ids"].unbind(), td["position_ids"].unbind()
    return [
        {"input_ids": ids[i].clone(), "position_ids": pos[i].clone(), TARGET_KEY: td[TARGET_KEY][i].clone()}
        for i in range(len(td))
        if float(td[WEIGHT_KEY][i]) > 0
    ]


def replay_batch(rows: list[dict[str, torch.Tensor]], multiple: int) -> TensorDict:
    """A prompt-only critic batch of ``rows`` (weight 1), padded to a multiple of ``multiple`` with weight-0 copies
    of the last row (no loss token: verl's ``batch_num_tokens`` counts real rows only).

    Args:
        rows: from ``trained_rows``, at least one.
        multiple: the batch size must divide by this (the mini-batch size and the critic's data-parallel size).

    Returns:
        TensorDict with nested ``input_ids``, ``position_ids``, ``loss_mask`` and `(n,)` ``sppo_target``,
        ``sppo_weight``.
    """
    if not rows:
        raise ValueError("a replay batch needs at least one row")
    n = math.ceil(len(rows) / multiple) * multiple
    padded = rows + [rows[-1]] * (n - len(rows))
    weights = torch.tensor([1.0] * len(rows) + [0.0] * (n - len(rows)))
    loss_mask = []
    for row, w in zip(padded, weights.tolist(), strict=True):
        m = torch.zeros(len(row["input_ids"]), dtype=torch.int64)
        m[-1] = int(w > 0)
        loss_mask.append(m)
    return TensorDict(
        {
            "input_ids": _nested([r["input_ids"] for r in padded]),
            "position_ids": _nested([r["position_ids"] for r in padded]),
            "loss_mask": _nested(loss_mask),
            TARGET_KEY: torch.stack([r[TARGET_KEY].float() for r in padded]),
            WEIGHT_KEY: weights,
        },
        batch_size=n,
    )
