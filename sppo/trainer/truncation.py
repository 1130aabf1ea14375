"""Truncation-aware critic target (``sppo.truncation``, SPPO only): responses cut at the length limit are left out of
the critic's BCE (``mode=mask``) and may carry an advantage penalty (the pure rule: sppo/truncation.py)."""

from __future__ import annotations

from functools import cached_property

import torch
from tensordict import TensorDict

from sppo.trainer.critic import PromptOnlyCriticMixin
from sppo.truncation import nested_lengths_and_last_tokens, truncated_responses


class TruncationMixin(PromptOnlyCriticMixin):
    """Extends the critic's hooks: ``_advantage_inputs`` (truncated rows and their penalty) and ``_critic_weights``
    (weight 0 for truncated rows with ``mode=mask``). Off: the hooks add nothing."""

    @cached_property
    def _eos_ids(self) -> set[int]:
        """The ids that end a response: the tokenizer's EOS and the policy's generation config's."""
        from verl.utils.model import get_generation_config

        ids = {self.tokenizer.eos_token_id} if getattr(self, "tokenizer", None) is not None else set()
        try:
            generation = get_generation_config(str(self.config.actor_rollout_ref.model.path))
        except Exception:  # a remote path verl copies itself: the tokenizer's EOS is all we know
            generation = None
        eos = getattr(generation, "eos_token_id", None) if generation is not None else None
        ids |= {eos} if isinstance(eos, int) else set(eos or [])
        return {int(i) for i in ids if i is not None}

    def _truncated(self, data: TensorDict) -> torch.Tensor:
        """`(bs,)` bool: the responses of ``data`` (nested ``responses``) cut at the rollout's length limit."""
        lengths, last = nested_lengths_and_last_tokens(data["responses"])
        limit = int(self.config.actor_rollout_ref.rollout.response_length)
        return truncated_responses(lengths, last, limit, self._eos_ids)

    def _advantage_fields(self) -> list[str]:
        fields = super()._advantage_fields()
        return [*fields, "responses"] if self.sppo_options.truncation.enabled else fields

    def _advantage_inputs(self, data: TensorDict, metrics: dict) -> dict:
        inputs = super()._advantage_inputs(data, metrics)
        options = self.sppo_options.truncation
        if not options.enabled:
            return inputs
        truncated = self._truncated(data)
        real = data["response_mask"].to_padded_tensor(0).sum(-1) > 0  # verl's padding rows have no response token
        metrics["truncation/share"] = float(truncated[real].float().mean()) if bool(real.any()) else 0.0
        inputs.update(truncated=truncated & real, truncation_penalty=options.penalty)
        return inputs

    def _critic_fields(self) -> list[str]:
        fields = super()._critic_fields()
        return [*fields, "responses"] if self.sppo_options.truncation.mode == "mask" else fields

    def _critic_weights(self, data: TensorDict, real: torch.Tensor, metrics: dict) -> torch.Tensor:
        # verl's critic learns from every sample; with mode=mask a response cut at the length limit teaches the
        # critic nothing about whether the prompt is solvable, so its BCE weight is 0.
        weights = super()._critic_weights(data, real, metrics)
        if self.sppo_options.truncation.mode != "mask":
            return weights
        weights = weights * (~self._truncated(data)).float()
        metrics["truncation/critic_rows"] = float((weights > 0).sum())
        return weights
