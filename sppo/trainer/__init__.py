"""SPPO's trainers: verl's v1 trainers with a prompt-only BCE critic, in all three of verl's trainer modes.

One mixin per concern, each in its own module and each overriding only the verl methods of that concern; every
override defers to verl where SPPO does not differ, so baselines (gae, grpo, rloo, remax, ...) run unchanged
through the same entry point.

  critic.PromptOnlyCriticMixin       (SPPO only)
      _setup              install ``sppo_value_loss`` as the critic loss (verl's own ``set_loss_fn`` hook)
      _compute_values     run the critic on the PROMPT tokens only; V(s_p) = logit at the last prompt token
      _compute_advantage  call the registered estimator with σ(V) as ``reward_baselines`` (and the options' inputs)
      _update_critic      train the critic on prompt-only sequences against R; log calibration metrics
                          (and, with ``sppo.calibration_log``, each sample's (σ(V), R))
  prompt_selection.PromptSelectionMixin   (``sppo.prompt_selection.enable``, SPPO only)
      _next_train_batch   score a pool_factor-times larger candidate pool with the critic and keep prompts
      prepare_step        whose σ(V) lies in a band (sppo/prompt_selection.py); log the selection's statistics
  heldout.HeldoutCriticMixin              (SPPO only)
      on_validate_begin   load the held-out batches once and score each prompt with the critic
      _validate           log how well those σ(V) rank the prompts' measured success (``val-critic/*``,
      _val_metrics_update sppo/critic_quality.py) beside verl's validation metrics
  run_control.RunControlMixin             (every estimator)
      _build_replay_buffer  poll finished rollouts every ``sppo.replay_poll_interval_s`` instead of verl's
                          hard-coded 2 s, which dominates small-model step time
      on_step_begin/end   stop after ``sppo.max_train_seconds`` of training-step time
  adaptive_n.AdaptiveNMixin               (``sppo.adaptive_n.enable``, SPPO only)
      _next_train_batch   score the step's prompts with the critic; each gets n_i samples (``__rollout_n__``)
      _get_required_batch_multiple, _update_actor
                          keep the configured number of optimizer updates per step (sppo/adaptive_n.py)
  adaptive_norm.AdaptiveNormMixin         (``sppo.adaptive_norm.enable``, SPPO only)
      _update_critic      fold the step's ``critic/explained_var`` into a moving average; hand over once it passes
      _save/_load_checkpoint  the regime's state beside the models
  truncation.TruncationMixin              (``sppo.truncation``, SPPO only)
                          responses cut at the length limit: left out of the BCE (``mode=mask``), advantage penalty
  warmstart.CriticWarmstartMixin          (``sppo.critic_warmstart.epochs``, SPPO only)
                          at verl's critic_warmup steps the critic trains on every warm-up rollout so far

The option mixins extend the critic's step hooks (``_advantage_inputs``, ``_critic_weights``,
``_critic_mini_batch``, ``_critic_training_batch``, sppo/trainer/critic.py) through ``super()``; off, each adds
nothing.

``SPPOTrainerMixin`` composes them; ``SPPO_TRAINERS`` puts it on each trainer class verl registers.
"""

from __future__ import annotations

from verl.trainer.ppo.v1.trainer_colocate_async import PPOTrainerColocateAsync
from verl.trainer.ppo.v1.trainer_separate_async import PPOTrainerSeparateAsync
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

from sppo.trainer.adaptive_n import AdaptiveNMixin
from sppo.trainer.adaptive_norm import AdaptiveNormMixin
from sppo.trainer.critic import PromptOnlyCriticMixin, _nested, prompt_only_batch
from sppo.trainer.heldout import HeldoutCriticMixin
from sppo.trainer.prompt_selection import PromptSelectionMixin
from sppo.trainer.run_control import RunControlMixin
from sppo.trainer.truncation import TruncationMixin
from sppo.trainer.warmstart import CriticWarmstartMixin

__all__ = [
    "SPPO_TRAINERS",
    "AdaptiveNMixin",
    "AdaptiveNormMixin",
    "CriticWarmstartMixin",
    "HeldoutCriticMixin",
    "PromptOnlyCriticMixin",
    "PromptSelectionMixin",
    "RunControlMixin",
    "SPPOColocateAsyncTrainer",
    "SPPOSeparateAsyncTrainer",
    "SPPOTrainer",
    "SPPOTrainerMixin",
    "TruncationMixin",
    "_nested",
    "prompt_only_batch",
]


class SPPOTrainerMixin(
    RunControlMixin,
    AdaptiveNMixin,
    PromptSelectionMixin,
    HeldoutCriticMixin,
    AdaptiveNormMixin,
    TruncationMixin,
    CriticWarmstartMixin,
    PromptOnlyCriticMixin,
):
    """SPPO's concerns on one verl trainer class. The mixins override disjoint verl methods or extend the same ones
    (``on_train_begin``, ``prepare_step``, the critic's hooks) through ``super()``; one order matters: adaptive N
    comes before prompt selection, so it allocates samples to the prompts selection kept."""


class SPPOTrainer(SPPOTrainerMixin, PPOTrainerSync):
    """``trainer.v1.trainer_mode=sync``: generation, then training, then a weight sync, every step."""


class SPPOColocateAsyncTrainer(SPPOTrainerMixin, PPOTrainerColocateAsync):
    """``colocate_async``: partial rollouts; generation is aborted at each weight update and resumed after it."""


class SPPOSeparateAsyncTrainer(SPPOTrainerMixin, PPOTrainerSeparateAsync):
    """``separate_async``: standalone rollout replicas, weights synchronised every ``parameter_sync_step``."""


# verl's registered trainer modes (verl.trainer.ppo.v1.get_trainer_cls) -> the SPPO trainer built on each
SPPO_TRAINERS: dict[str, type] = {
    "sync": SPPOTrainer,
    "colocate_async": SPPOColocateAsyncTrainer,
    "separate_async": SPPOSeparateAsyncTrainer,
}
