"""Adaptive N (``sppo.adaptive_n``, SPPO only, sync mode): the critic scores the step's prompts before rollout and
each gets n_i ∈ [1, max_n] samples at a fixed sample budget; the number of optimizer updates per step stays as
configured (the pure rules: sppo/adaptive_n.py)."""

from __future__ import annotations

import contextlib

from omegaconf import open_dict, read_write
from tensordict import TensorDict
from verl.utils.debug import marked_timer

from sppo.adaptive_n import allocate_samples, mini_batch_size, required_multiple, uncertainty_weights, updates_per_step
from sppo.config_checks import is_sppo
from sppo.critic_batching import critic_dp_size
from sppo.trainer.critic import PromptOnlyCriticMixin

ROLLOUT_N_KEY = "__rollout_n__"  # the per-row sample count verl's agent loop reads (agent_loop_tq.py _run_prompt)


@contextlib.contextmanager
def _temporarily(node, key: str, value):
    """Set ``node[key]`` for the duration of the block (read-only or struct configs included)."""
    old = node[key]
    with read_write(node), open_dict(node):
        node[key] = value
    try:
        yield
    finally:
        with read_write(node), open_dict(node):
            node[key] = old


class AdaptiveNMixin(PromptOnlyCriticMixin):
    """Overrides ``_next_train_batch`` (per-prompt sample counts), ``_get_required_batch_multiple`` and
    ``_update_actor`` (the configured number of updates), extends ``prepare_step`` (the allocation's metrics) and
    the critic's ``_advantage_inputs`` / ``_critic_mini_batch`` hooks. Off: verl's behaviour."""

    def _adaptive_n_on(self) -> bool:
        return self.sppo_options.adaptive_n.enable and is_sppo(self.config)

    def on_train_begin(self):
        super().on_train_begin()
        self._adaptive_n_metrics: dict[str, float] = {}

    # ------------------------------------------------------------------ how many samples each prompt gets
    def _next_train_batch(self, num_prompts: int | None = None) -> TensorDict:
        """verl's (or prompt selection's) prompts, each with its sample count in ``__rollout_n__``."""
        batch = super()._next_train_batch(num_prompts)
        if not self._adaptive_n_on():
            return batch
        options = self.sppo_options.adaptive_n
        configured = self.config.data.train_batch_size
        prompts = len(batch)
        # a refill of fewer prompts (verl replaces failed groups) gets its share of the step's budget
        budget = round(options.samples_per_step(configured) * prompts / configured)
        budget = min(max(budget, prompts), options.max_n * prompts)
        with marked_timer("allocate_samples", getattr(self, "timing_raw", {})):
            probs = self._score_prompts(batch)
            counts = allocate_samples(uncertainty_weights(probs, options.rule), budget, options.max_n)
        batch[ROLLOUT_N_KEY] = counts
        self._adaptive_n_metrics = {
            "adaptive_n/samples": float(counts.sum()),
            "adaptive_n/n_mean": float(counts.float().mean()),
            "adaptive_n/n_max": float(counts.max()),
            "adaptive_n/multi_sample_share": float((counts > 1).float().mean()),
            "adaptive_n/sigmoid_v_std": float(probs.std()) if len(probs) > 1 else 0.0,
        }
        return batch

    def prepare_step(self) -> dict:
        metrics = super().prepare_step() or {}
        metrics.update(getattr(self, "_adaptive_n_metrics", {}))
        self._adaptive_n_metrics = {}
        return metrics

    # ------------------------------------------------------------------ the configured number of updates
    def _updates(self, role: str) -> int:
        """Optimizer updates per epoch verl configures for ``role`` (actor or critic): prompts / ppo_mini_batch_size."""
        section = self.config.actor_rollout_ref.actor if role == "actor" else self.config.critic
        prompts = self.config.data.train_batch_size // self.parameter_sync_step
        return updates_per_step(prompts, int(section.ppo_mini_batch_size))

    def _get_required_batch_multiple(self, dp_size: int) -> int:
        # verl pads a step's samples to a multiple of ppo_mini_batch_size x rollout.n (for each model trained); with
        # Σ n_i samples the mini-batches are (samples / configured updates), so the samples pad to a multiple of
        # updates x data-parallel size x micro-batch instead (and of the log-prob forward's micro-batches: verl's
        # worker splits each rank's share into whole micro-batches)
        if not self._adaptive_n_on():
            return super()._get_required_batch_multiple(dp_size)
        arr = self.config.actor_rollout_ref
        actor_dynamic = bool(arr.actor.get("use_dynamic_bsz", False))
        granules = []
        log_prob_dynamic = arr.rollout.get("log_prob_use_dynamic_bsz", None)
        if not (actor_dynamic if log_prob_dynamic is None else bool(log_prob_dynamic)):
            granules.append(dp_size * int(arr.rollout.get("log_prob_micro_batch_size_per_gpu", None) or 1))
        if getattr(self, "use_reference_policy", False) and not bool(arr.ref.get("log_prob_use_dynamic_bsz", False)):
            granules.append(dp_size * int(arr.ref.get("log_prob_micro_batch_size_per_gpu", None) or 1))
        if self.config.trainer.critic_warmup <= self.global_steps:
            micro = 1 if actor_dynamic else int(arr.actor.get("ppo_micro_batch_size_per_gpu", None) or 1)
            granules.append(self._updates("actor") * dp_size * micro)
        if self.use_critic:
            batching = self._critic_batching(training=True)
            micro = 1 if batching["use_dynamic_bsz"] else batching["micro_batch_size_per_gpu"]
            granules.append(self._updates("critic") * critic_dp_size(self.config) * micro)
        return required_multiple(dp_size, granules)

    def _critic_mini_batch(self, num_rows: int) -> int:
        if not self._adaptive_n_on():
            return super()._critic_mini_batch(num_rows)
        return mini_batch_size(num_rows, self._updates("critic"))

    def _update_actor(self, batch, metrics: dict):
        # verl's _update_actor sizes mini-batches as actor.ppo_mini_batch_size x rollout.n (trainer_base.py:1830) and
        # has no hook for a per-step size; with adaptive N (rollout.n = 1) the step holds Σ n_i samples, so for this
        # call the mini-batch is set to samples / configured updates
        if not self._adaptive_n_on():
            return super()._update_actor(batch, metrics)
        updates = self._updates("actor")
        size = mini_batch_size(len(batch), updates)
        with _temporarily(self.config.actor_rollout_ref.actor, "ppo_mini_batch_size", size):
            batch = super()._update_actor(batch, metrics)
        metrics["adaptive_n/actor_mini_batch"] = float(size)
        metrics["adaptive_n/actor_updates"] = float(updates * self.config.actor_rollout_ref.actor.ppo_epochs)
        return batch

    def _advantage_inputs(self, data: TensorDict, metrics: dict) -> dict:
        inputs = super()._advantage_inputs(data, metrics)
        if self._adaptive_n_on():
            # samples sharing a uid (one prompt) get a baseline from each other, shrunk towards σ(V)
            inputs["prior_strength"] = self.sppo_options.adaptive_n.prior_strength
        return inputs
