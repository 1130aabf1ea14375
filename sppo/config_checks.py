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
    """The ``sppo.*`` options as one typed object (sppo/options.py); a wrong type is an ``SPPOConfigError``.

    The one parser of ``sppo.*``, called once per process: in the driver by ``check_config`` (which returns the
    options for ``sppo.main`` to hand on), in the trainer's Ray actor by ``sppo.trainer.base.SPPOOptionsMixin``.
    """
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


def _critic_option_settings(options: TrainerOptions) -> list[str]:
    """The issue-28 options that are on, as the ``key=value`` a refusal names (each works on SPPO's critic)."""
    on = []
    if options.adaptive_norm.enable:
        on.append("sppo.adaptive_norm.enable=true")
    if options.truncation.mode != "none":
        on.append(f"sppo.truncation.mode={options.truncation.mode}")
    if options.truncation.penalty != 0.0:
        on.append(f"sppo.truncation.penalty={options.truncation.penalty:g}")
    if options.critic_warmstart.epochs > 0:
        on.append(f"sppo.critic_warmstart.epochs={options.critic_warmstart.epochs}")
    if options.adaptive_n.enable:
        on.append("sppo.adaptive_n.enable=true")
    return on


def check_option_combinations(config: DictConfig, options: TrainerOptions, advantage: AdvantageOptions) -> None:
    """SPPO's options that make no sense together, or with verl's settings (one line each)."""
    if options.adaptive_norm.enable and advantage.whiten:
        raise SPPOConfigError(
            "sppo.adaptive_norm.enable=true with algorithm.sppo.whiten=true: whitening already normalises every "
            "step's advantages; choose one"
        )
    warmup = int(config.trainer.get("critic_warmup", 0) or 0)
    if options.critic_warmstart.epochs > 0 and warmup < 2:
        raise SPPOConfigError(
            f"sppo.critic_warmstart.epochs={options.critic_warmstart.epochs} needs warm-up steps, and "
            f"trainer.critic_warmup={warmup} has none: set trainer.critic_warmup >= 2 (steps 1 .. critic_warmup - 1 "
            "train the critic only)"
        )
    adaptive_n = options.adaptive_n
    if not adaptive_n.enable:
        return
    n = int(config.actor_rollout_ref.rollout.n)
    if n != 1:
        raise SPPOConfigError(
            f"sppo.adaptive_n.enable=true sets each prompt's sample count itself: leave actor_rollout_ref.rollout.n=1 "
            f"(got {n})"
        )
    mode = (config.trainer.get("v1") or {}).get("trainer_mode", "sync") if config.trainer.get("use_v1", True) else None
    if mode != "sync":
        raise SPPOConfigError(
            f"sppo.adaptive_n.enable=true runs with trainer.v1.trainer_mode=sync only (got {mode or 'the legacy trainer'})"
        )
    batch = int(config.data.train_batch_size)
    samples = adaptive_n.samples_per_step(batch)
    if not batch <= samples <= adaptive_n.max_n * batch:
        raise SPPOConfigError(
            f"sppo.adaptive_n.budget={samples} samples per step must lie in [data.train_batch_size, "
            f"max_n x data.train_batch_size] = [{batch}, {adaptive_n.max_n * batch}]"
        )


def check_config(config: DictConfig) -> TrainerOptions:
    """Validate and complete ``config`` in place; return the parsed ``sppo.*`` options, which the later readers in
    this process (launch checks, dry run) take instead of parsing again. Raises ``SPPOConfigError``."""
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
    for setting in _critic_option_settings(options):
        if not is_sppo(config):
            raise SPPOConfigError(
                f"{setting} needs algorithm.adv_estimator=sppo, not {estimator!r} (it works on SPPO's prompt-only critic)"
            )
    if not is_sppo(config):
        return options
    advantage = advantage_options(config)
    if advantage.problems():
        raise SPPOConfigError(advantage.problems()[0])
    check_option_combinations(config, options, advantage)

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
    return options
