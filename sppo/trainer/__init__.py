"""SPPO's trainers: verl's v1 trainers with a prompt-only BCE critic, in all three of verl's trainer modes.

One mixin per concern, each in its own module and each overriding only the verl methods of that concern; every
override defers to verl where SPPO does not differ, so baselines (gae, grpo, rloo, remax, ...) run unchanged
through the same entry point.

  critic.PromptOnlyCriticMixin       (SPPO only)
      _setup              install ``sppo_value_loss`` as the critic loss (verl's own ``set_loss_fn`` hook)
      _compute_values     run the critic on the PROMPT tokens only; V(s_p) = logit at the last prompt token
      _compute_advantage  hand σ(V) to verl's ``compute_advantage`` as ``reward_baselines``
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

``SPPOTrainerMixin`` composes the four; ``SPPO_TRAINERS`` puts it on each trainer class verl registers.
"""

from __future__ import annotations

from verl.trainer.ppo.v1.trainer_colocate_async import PPOTrainerColocateAsync
from verl.trainer.ppo.v1.trainer_separate_async import PPOTrainerSeparateAsync
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

from sppo.trainer.critic import PromptOnlyCriticMixin, _nested, prompt_only_batch
from sppo.trainer.heldout import HeldoutCriticMixin
from sppo.trainer.prompt_selection import PromptSelectionMixin
from sppo.trainer.run_control import RunControlMixin

__all__ = [
    "SPPO_TRAINERS",
    "HeldoutCriticMixin",
    "PromptOnlyCriticMixin",
    "PromptSelectionMixin",
    "RunControlMixin",
    "SPPOColocateAsyncTrainer",
    "SPPOSeparateAsyncTrainer",
    "SPPOTrainer",
    "SPPOTrainerMixin",
    "_nested",
    "prompt_only_batch",
]


class SPPOTrainerMixin(RunControlMixin, PromptSelectionMixin, HeldoutCriticMixin, PromptOnlyCriticMixin):
    """SPPO's concerns on one verl trainer class. The mixins override disjoint methods (``on_train_begin``
    aside, which each extends through ``super()``), so their order only fixes the MRO."""


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
