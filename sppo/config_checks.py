"""Start-up checks: a bad SPPO configuration fails before Ray or any model starts, with one clear line."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, open_dict

from sppo.prompt_selection import PromptSelectionConfig

SPPO_ESTIMATORS = ("sppo", "sequence_level_adv")


class SPPOConfigError(ValueError):
    """A configuration SPPO cannot run with; the message is one line naming the setting."""


def is_sppo(config: DictConfig) -> bool:
    return str(config.algorithm.adv_estimator) in SPPO_ESTIMATORS


def _tokenizer_path(model_cfg: Any) -> str | None:
    return model_cfg.get("tokenizer_path", None) or model_cfg.get("path", None)


def _tokenizer(path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def _vocab(path: str) -> dict:
    return _tokenizer(path).get_vocab()


def sppo_option(config: DictConfig, key: str, default: Any = None) -> Any:
    """``config.sppo.<key>`` (the trainer options of configs/sppo_trainer.yaml), or ``default`` if unset."""
    return (config.get("sppo", None) or {}).get(key, default)


def critic_retokenize(config: DictConfig) -> bool:
    return bool(sppo_option(config, "critic_retokenize", False))


def check_tokenizers_match(policy_path: str, critic_path: str) -> None:
    """Compare the two vocabularies; hub ids not yet downloaded are compared when verl has fetched them."""
    import os

    if policy_path == critic_path or not (os.path.isdir(policy_path) and os.path.isdir(critic_path)):
        return
    if _vocab(policy_path) != _vocab(critic_path):
        raise SPPOConfigError(
            f"critic tokenizer ({critic_path}) differs from the policy's ({policy_path}): the SPPO critic reads the "
            "policy's prompt token ids; use a critic with the policy's tokenizer, or set sppo.critic_retokenize=true "
            "to feed it the prompt text in its own tokenizer"
        )


def check_critic_chat_template(critic_path: str, custom_chat_template: str | None) -> None:
    """``sppo.critic_retokenize`` renders the prompt with the critic's chat template (hub ids: checked at run time)."""
    import os

    if custom_chat_template or not os.path.isdir(critic_path):
        return
    if not getattr(_tokenizer(critic_path), "chat_template", None):
        raise SPPOConfigError(
            f"sppo.critic_retokenize=true needs a chat template, and the critic tokenizer ({critic_path}) has none; "
            "set critic.model.custom_chat_template"
        )


def check_config(config: DictConfig) -> None:
    """Validate and complete ``config`` in place. Raises ``SPPOConfigError``."""
    from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY, AdvantageEstimator

    estimator = str(config.algorithm.adv_estimator)
    known = sorted(set(ADV_ESTIMATOR_REGISTRY) | {e.value for e in AdvantageEstimator})
    if estimator not in known:
        raise SPPOConfigError(f"algorithm.adv_estimator={estimator!r} is unknown; choose one of {', '.join(known)}")
    budget = sppo_option(config, "max_train_seconds")
    if budget is not None and not float(budget) > 0:
        raise SPPOConfigError(f"sppo.max_train_seconds={budget}; expected a positive number of seconds or null")
    if critic_retokenize(config) and not is_sppo(config):
        raise SPPOConfigError(
            f"sppo.critic_retokenize=true needs algorithm.adv_estimator=sppo, not {estimator!r} "
            "(a token-level critic reads the policy's prompt+response tokens)"
        )
    selection = PromptSelectionConfig.from_config(sppo_option(config, "prompt_selection"))
    if selection.enable and not is_sppo(config):
        raise SPPOConfigError(
            f"sppo.prompt_selection.enable=true needs algorithm.adv_estimator=sppo, not {estimator!r} (it ranks prompts by sigmoid(V))"
        )
    if selection.enable and selection.problems():
        raise SPPOConfigError(selection.problems()[0])
    if not is_sppo(config):
        return

    sppo_opts = config.algorithm.get("sppo", {}) or {}
    mode = sppo_opts.get("advantage", "residual")
    if mode not in ("residual", "bernoulli"):
        raise SPPOConfigError(f"algorithm.sppo.advantage={mode!r}; choose residual or bernoulli")
    reward_range = sppo_opts.get("reward_range", None)
    if reward_range is not None:
        if len(reward_range) != 2 or not float(reward_range[1]) > float(reward_range[0]):
            raise SPPOConfigError(f"algorithm.sppo.reward_range={list(reward_range)}; expected [lo, hi] with hi > lo")

    if config.critic.enable is None:
        with open_dict(config):
            config.critic.enable = True
    if not config.critic.enable:
        raise SPPOConfigError(
            "algorithm.adv_estimator=sppo needs its critic: remove critic.enable=False (SPPO's baseline is sigmoid(V(prompt)))"
        )
    if config.algorithm.get("use_kl_in_reward", False):
        raise SPPOConfigError("algorithm.use_kl_in_reward=True is not supported with sppo (R must be the 0/1 outcome)")
    corr = config.algorithm.get("rollout_correction", None) or {}
    if corr.get("rollout_is", None) or corr.get("rollout_rs", None) or corr.get("bypass_mode", False):
        raise SPPOConfigError("algorithm.rollout_correction is not supported with sppo; leave rollout_is/rollout_rs null")

    policy_tok = _tokenizer_path(config.actor_rollout_ref.model)
    critic_tok = _tokenizer_path(config.critic.model)
    if critic_retokenize(config):
        if critic_tok:
            check_critic_chat_template(str(critic_tok), config.critic.model.get("custom_chat_template", None))
    elif policy_tok and critic_tok:
        check_tokenizers_match(str(policy_tok), str(critic_tok))
