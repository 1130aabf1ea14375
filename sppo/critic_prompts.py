"""The critic's view of a prompt: chat messages rendered with the CRITIC's tokenizer and chat template.

SPPO's critic reads the prompt only, so it need not share the policy's tokenizer. With
``sppo.critic_retokenize=true`` the trainer re-renders each sample's ``raw_prompt`` (the dataset's chat
messages, which verl's agent loop stores in TransferQueue) with the critic's tokenizer, in the trainer
process, and hands the ids to verl's stock critic worker. In the default mode the critic tokenizer equals
the policy's (checked at start-up), so ``critic_input_ids`` reproduces the agent loop's prompt ids.

Rendering matches verl's agent loop: ``apply_chat_template(messages, add_generation_prompt=True,
tokenize=True, **data.apply_chat_template_kwargs)`` and, when too long, truncation from the LEFT to
``actor_rollout_ref.rollout.prompt_length`` (verl truncates the policy's prompt the same way). Left, because
the critic's value is read at the last prompt token: the end of the prompt, with the generation prompt,
must be there.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import torch

logger = logging.getLogger(__name__)


def as_message_lists(raw_prompts: Any) -> list[list[dict]]:
    """``raw_prompt`` as fetched from TransferQueue (a ``NonTensorStack``), an object array or a list → lists of dicts."""
    if hasattr(raw_prompts, "tolist"):  # NonTensorStack, np.ndarray
        raw_prompts = raw_prompts.tolist()
    out = []
    for messages in raw_prompts:
        if hasattr(messages, "tolist"):
            messages = messages.tolist()
        if isinstance(messages, str) or not isinstance(messages, Sequence):
            raise TypeError(f"raw_prompt must be a list of chat messages, got {type(messages).__name__}")
        if not all(isinstance(m, Mapping) for m in messages):
            raise TypeError("raw_prompt must be a list of chat messages (dicts with role and content)")
        out.append([dict(m) for m in messages])
    return out


def render_prompt_ids(
    messages: Sequence[Sequence[Mapping]],
    tokenizer: Any,
    chat_template_kwargs: Mapping | None = None,
    max_length: int | None = None,
) -> list[torch.Tensor]:
    """Each prompt's chat messages → 1-D int64 token ids (generation prompt included), left-truncated to ``max_length``."""
    # verl's wrapper of tokenizer.apply_chat_template, the call its agent loop makes for the policy's prompt
    from verl.utils.tokenizer import normalize_token_ids
    from verl.utils.tokenizer.chat_template import apply_chat_template

    kwargs = dict(chat_template_kwargs or {})
    out, truncated = [], 0
    for conversation in messages:
        rendered = apply_chat_template(
            tokenizer, [dict(m) for m in conversation], tokenize=True, add_generation_prompt=True, **kwargs
        )
        ids = normalize_token_ids(rendered)
        if max_length is not None and len(ids) > max_length:
            ids, truncated = ids[-max_length:], truncated + 1
        out.append(torch.tensor(ids, dtype=torch.int64))
    if truncated:
        logger.warning(
            "SPPO: %d of %d critic prompts exceed %d tokens; left-truncated", truncated, len(out), max_length
        )
    return out


@lru_cache(maxsize=4)
def load_critic_tokenizer(
    path: str, trust_remote_code: bool = False, custom_chat_template: str | None = None, use_shm: bool = False
) -> Any:
    """The critic's tokenizer, loaded once per process the way verl's ``HFModelConfig`` loads it."""
    from verl.utils import hf_tokenizer
    from verl.utils.fs import copy_to_local

    from sppo.config_checks import SPPOConfigError

    tokenizer = hf_tokenizer(copy_to_local(path, use_shm=use_shm), trust_remote_code=trust_remote_code)
    if custom_chat_template is not None:
        tokenizer.chat_template = custom_chat_template
    if not getattr(tokenizer, "chat_template", None):
        raise SPPOConfigError(
            f"the critic tokenizer ({path}) has no chat template; set critic.model.custom_chat_template"
        )
    return tokenizer


def critic_tokenizer(config: Any) -> Any:
    """``critic.model.tokenizer_path or critic.model.path``, with ``critic.model.custom_chat_template`` if set."""
    model = config.critic.model
    path = model.get("tokenizer_path", None) or model.path
    return load_critic_tokenizer(
        str(path),
        bool(model.get("trust_remote_code", False)),
        model.get("custom_chat_template", None),
        bool(model.get("use_shm", False)),
    )


def critic_input_ids(config: Any, raw_prompts: Any) -> list[torch.Tensor]:
    """The token ids the critic reads for these prompts (dataset ``raw_prompt`` messages), in either mode.

    Always rendered with the critic's tokenizer; without ``sppo.critic_retokenize`` that tokenizer is the
    policy's, so the ids equal the agent loop's prompt ids.
    """
    from omegaconf import OmegaConf

    max_length = config.actor_rollout_ref.rollout.get("prompt_length", None) or config.data.max_prompt_length
    kwargs = config.data.get("apply_chat_template_kwargs", None) or {}
    if OmegaConf.is_config(kwargs):
        kwargs = OmegaConf.to_container(kwargs, resolve=True)
    return render_prompt_ids(
        as_message_lists(raw_prompts), critic_tokenizer(config), chat_template_kwargs=kwargs, max_length=int(max_length)
    )
