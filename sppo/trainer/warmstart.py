"""Critic warm start (``sppo.critic_warmstart``, SPPO only): during verl's ``trainer.critic_warmup`` steps the critic
trains on every warm-up rollout so far, for ``epochs`` epochs (the replay batch: sppo/critic_warmstart.py)."""

from __future__ import annotations

import math

from tensordict import TensorDict
from verl.utils import tensordict_utils as tu

from sppo.config_checks import is_sppo
from sppo.critic_batching import critic_dp_size
from sppo.critic_warmstart import replay_batch, trained_rows
from sppo.trainer.critic import PromptOnlyCriticMixin


class CriticWarmstartMixin(PromptOnlyCriticMixin):
    """Extends ``_critic_training_batch``: at a warm-up step (global_steps < trainer.critic_warmup, the steps at which
    verl's ``_step_once`` skips the actor update) the critic's batch is the replay of all warm-up rows."""

    def _in_warmup(self) -> bool:
        return self.global_steps < self.config.trainer.critic_warmup

    def _critic_training_batch(self, td: TensorDict, mini_batch: int, metrics: dict) -> tuple[TensorDict, int]:
        td, epochs = super()._critic_training_batch(td, mini_batch, metrics)
        options = self.sppo_options.critic_warmstart
        if not (options.epochs > 0 and is_sppo(self.config)):
            return td, epochs
        if not self._in_warmup():
            self._warm_rows = None  # the policy moves from now on: older rollouts are off-policy
            return td, epochs
        if getattr(self, "_warm_rows", None) is None:
            self._warm_rows = []
        self._warm_rows.extend(trained_rows(td))
        metrics["critic_warmstart/replay_rows"] = float(len(self._warm_rows))
        if not self._warm_rows:
            return td, epochs
        replay = replay_batch(self._warm_rows, math.lcm(mini_batch, critic_dp_size(self.config)))
        tu.assign_non_tensor(replay, temperature=self.config.actor_rollout_ref.rollout.temperature)
        return replay, options.epochs
