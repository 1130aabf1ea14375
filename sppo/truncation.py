"""Truncation-aware critic target (``sppo.truncation``): responses cut at the length limit.

A response cut at ``max_response_length`` usually scores R = 0 because its answer never came, not because the
prompt is beyond the policy. With ``mode=mask`` the critic's BCE leaves such responses out (their row weight
``sppo.critic_loss.WEIGHT_KEY`` is 0), so σ(V) estimates the success rate of the responses that finish. The policy's
advantage of a truncated response stays A = R − σ(V) (with R = 0: pushed down by what a finished response would
have scored), minus ``penalty`` if one is set (any mode).

verl's single-turn agent loop does not keep the rollout's stop reason, so a response counts as truncated when it
filled the limit (``rollout.response_length`` tokens) and its last token is not an end-of-sequence token.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


def truncated_responses(
    lengths: torch.Tensor, last_tokens: torch.Tensor, max_response_length: int, eos_ids: Iterable[int]
) -> torch.Tensor:
    """Which responses were cut at the length limit.

    Args:
        lengths: `(bs,)` response lengths in tokens.
        last_tokens: `(bs,)` each response's last token id (any value where the length is 0).
        max_response_length: the rollout's response limit (``actor_rollout_ref.rollout.response_length``).
        eos_ids: the ids that end a response (the tokenizer's and the generation config's EOS).

    Returns:
        `(bs,)` bool: length >= the limit and the last token is no EOS.
    """
    eos = torch.tensor(sorted(set(int(i) for i in eos_ids)), dtype=torch.long)
    ends_with_eos = torch.isin(last_tokens.long(), eos) if eos.numel() else torch.zeros_like(lengths, dtype=torch.bool)
    return (lengths >= max_response_length) & ~ends_with_eos


def nested_lengths_and_last_tokens(responses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`(bs,)` lengths and last token ids of verl's nested (jagged) ``responses`` (last token −1 where empty)."""
    lengths = responses.offsets().diff()
    values = responses.values()
    if values.numel() == 0:
        return lengths, torch.full_like(lengths, -1)
    ends = (responses.offsets()[1:] - 1).clamp(min=0)
    last = torch.where(lengths > 0, values[ends], torch.full_like(lengths, -1))
    return lengths, last
