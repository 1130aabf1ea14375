"""Run control, for every estimator (SPPO and verl's baselines alike): a training-time budget and a faster
replay-buffer poll. Neither changes what a step computes."""

from __future__ import annotations

import logging
import time

from sppo.trainer.base import SPPOOptionsMixin

logger = logging.getLogger(__name__)


class RunControlMixin(SPPOOptionsMixin):
    """``sppo.max_train_seconds`` and ``sppo.replay_poll_interval_s``."""

    def _build_replay_buffer(self):
        # verl polls its replay buffer for finished rollouts every 2 s (hard-coded), which dominates the step time
        # of small models: poll every sppo.replay_poll_interval_s instead.
        replay_buffer = super()._build_replay_buffer()
        if hasattr(replay_buffer, "poll_interval"):
            replay_buffer.poll_interval = self.sppo_options.replay_poll_interval_s
        return replay_buffer

    def on_train_begin(self):
        super().on_train_begin()
        self._train_seconds = 0.0  # time spent in training steps during this launch (sppo.max_train_seconds)

    def on_step_begin(self):
        super().on_step_begin()
        self._step_started = time.monotonic()

    def on_step_end(self):
        # verl stops after trainer.total_training_steps only; with sppo.max_train_seconds the run also stops once
        # its training steps (validation excluded) have taken that long.
        super().on_step_end()
        self._train_seconds += time.monotonic() - self._step_started
        budget = self.sppo_options.max_train_seconds
        if budget is not None and self._train_seconds >= budget and self.global_steps < self.total_training_steps:
            # verl's loop treats the step with global_steps == total_training_steps as the last one (final
            # checkpoint and validation), so the next step becomes it.
            logger.warning(
                "SPPO: sppo.max_train_seconds=%s reached after %.0f s of training steps; step %d is the last",
                budget,
                self._train_seconds,
                self.global_steps + 1,
            )
            self.total_training_steps = self.global_steps + 1
