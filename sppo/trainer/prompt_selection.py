"""Critic-guided prompt selection (``sppo.prompt_selection.enable``, SPPO only): the critic scores a larger pool of
dataloader prompts and the step trains on those whose σ(V) lies in a band (the pure rule: sppo/prompt_selection.py)."""

from __future__ import annotations

import torch
from tensordict import TensorDict
from verl.utils import tensordict_utils as tu
from verl.utils.debug import marked_timer

from sppo.config_checks import is_sppo
from sppo.prompt_selection import select_prompts
from sppo.trainer.critic import PromptOnlyCriticMixin


class PromptSelectionMixin(PromptOnlyCriticMixin):
    """Scores prompts with the critic's ``_score_prompts``; off (or another estimator): verl's batches unchanged."""

    def on_train_begin(self):
        super().on_train_begin()
        self._selection_metrics: dict[str, float] = {}  # prompt selection's statistics for the next step

    def _next_train_batch(self, num_prompts: int | None = None) -> TensorDict:
        """Fetch prompts for generation; with prompt selection, the critic's picks from a larger pool."""
        # verl takes the next train_batch_size prompts of the dataloader; selection takes pool_factor times as many
        # and keeps the batch's worth whose σ(V) lies in the band (plus an explore_fraction drawn uniformly).
        selection = self.sppo_options.prompt_selection
        if not (selection.enable and is_sppo(self.config)):
            return super()._next_train_batch(num_prompts)
        wanted = num_prompts or self.config.data.train_batch_size
        # the dataloader is consumed pool_factor times faster; it restarts at the end of the data as usual
        pool = super()._next_train_batch(wanted * selection.pool_factor)
        with marked_timer("select_prompts", getattr(self, "timing_raw", {})):
            probs = self._score_prompts(pool)
            # one reproducible stream per (data.seed, step); the prime keeps streams of nearby seeds apart
            generator = torch.Generator().manual_seed(
                int(self.config.data.get("seed", 1) or 1) * 100003 + self.global_steps
            )
            indices, stats = select_prompts(probs, wanted, selection.band, selection.explore_fraction, generator)
        self._selection_metrics = {f"prompt_selection/{k}": v for k, v in stats.items()}
        self._selection_metrics["prompt_selection/sigmoid_v_pool_mean"] = float(probs.mean())
        self._selection_metrics["prompt_selection/sigmoid_v_batch_mean"] = float(probs[indices].mean())
        return tu.index_select_tensor_dict(pool, indices)

    def prepare_step(self) -> dict:
        # verl's step metrics, plus the selection's statistics of this step's batch (prompt_selection/*)
        metrics = super().prepare_step() or {}
        metrics.update(self._selection_metrics)
        self._selection_metrics = {}
        return metrics
