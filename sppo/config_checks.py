"""Start-up checks: a bad SPPO configuration fails before Ray or any model starts, with one clear line."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, open_dict

from sppo.options import SPPO_ESTIMATORS, AdvantageOptions, OptionError, TrainerOptions


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


def trainer_options(config: DictConfig) -> TrainerOptions:
    """The ``sppo.*`` options as one typed object (sppo/options.py); a wrong type is an ``SPPOConfigError``."""
    try:
        return TrainerOptions.from_config(config)
    except OptionError as exc:
        raise SPPOConfigError(str(exc)) from None


def advantage_options(config: DictConfig) -> AdvantageOptions:
    """The ``algorithm.sppo.*`` options as one typed object; a wrong type is an ``SPPOConfigError``."""
    try:
        return AdvantageOptions.from_config(config.algorithm)
    except OptionError as exc:
        raise SPPOConfigError(str(exc)) from None


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
    options = trainer_options(config)
    if options.problems():
        raise SPPOConfigError(options.problems()[0])
    if options.critic_retokenize and not is_sppo(config):
        raise SPPOConfigError(
            f"sppo.critic_retokenize=true needs algorithm.adv_estimator=sppo, not {estimator!r} "
            "(a token-level critic reads the policy's prompt+response tokens)"
        )
    if options.prompt_selection.enable and not is_sppo(config):
        raise SPPOConfigError(
            f"sppo.prompt_selection.enable=true needs algorithm.adv_estimator=sppo, not {estimator!r} (it ranks prompts by sigmoid(V))"
        )
    if not is_sppo(config):
        return
    advantage = advantage_options(config)
    if advantage.problems():
        raise SPPOConfigError(advantage.problems()[0])

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
        raise SPPOConfigError(
            "algorithm.rollout_correction is not supported with sppo; leave rollout_is/rollout_rs null"
        )

    policy_tok = _tokenizer_path(config.actor_rollout_ref.model)
    critic_tok = _tokenizer_path(config.critic.model)
    if options.critic_retokenize:
        if critic_tok:
            check_critic_chat_template(str(critic_tok), config.critic.model.get("custom_chat_template", None))
    elif policy_tok and critic_tok:
        check_tokenizers_match(str(policy_tok), str(critic_tok))
