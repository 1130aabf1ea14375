"""SPPO's trainer: verl's synchronous v1 trainer with a prompt-only BCE critic.

``SPPOTrainer`` subclasses ``PPOTrainerSync`` and changes verl's behaviour only where SPPO differs;
with any other estimator (gae, grpo, rloo, remax, ...) every overridden method defers to verl, so
baselines run unchanged through the same entry point.

Overrides (all SPPO-only unless noted):
  _setup              install ``sppo_value_loss`` as the critic loss (verl's own ``set_loss_fn`` hook)
  _compute_values     run the critic on the PROMPT tokens only; V(s_p) = logit at the last prompt token
  _compute_advantage  hand σ(V) to verl's ``compute_advantage`` as ``reward_baselines``
  _update_critic      train the critic on prompt-only sequences against R; log calibration metrics
  _build_replay_buffer  (all estimators) poll finished rollouts every ``sppo.replay_poll_interval_s``
                      instead of verl's hard-coded 2 s, which dominates small-model step time
  on_step_begin/end   (all estimators) stop after ``sppo.max_train_seconds`` of training-step time
  _next_train_batch   with ``sppo.prompt_selection.enable``: score a pool_factor-times larger candidate pool
  prepare_step        with the critic and keep prompts whose σ(V) lies in a band (sppo/prompt_selection.py)
"""

from __future__ import annotations

import json
import logging
import time
from functools import cached_property, partial

import numpy as np
import torch
import transfer_queue as tq
from tensordict import TensorDict
from transfer_queue import KVBatchMeta
from verl.protocol import DataProto
from verl.trainer.ppo.ray_trainer import compute_advantage
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync
from verl.utils import tensordict_utils as tu
from verl.utils.debug import marked_timer
from verl.utils.metric import reduce_metrics
from verl.utils.py_functional import rename_dict
from verl.workers.utils.padding import response_to_nested

from sppo.config_checks import is_sppo, trainer_options
from sppo.critic_batching import critic_dp_size, sppo_critic_batching
from sppo.critic_loss import TARGET_KEY, WEIGHT_KEY, calibration_metrics, last_token_logits, sppo_value_loss
from sppo.critic_prompts import critic_input_ids
from sppo.options import TrainerOptions
from sppo.prompt_selection import select_prompts

logger = logging.getLogger(__name__)


def _nested(rows: list[torch.Tensor]) -> torch.Tensor:
    return torch.nested.as_nested_tensor(rows, layout=torch.jagged)


def prompt_only_batch(prompts: torch.Tensor, position_ids: torch.Tensor | None, weights: torch.Tensor) -> TensorDict:
    """The critic's input: each row's prompt tokens alone (no padding, no response).

    Args:
        prompts: nested `(bs, prompt_len_i)` token ids, as the agent loop stores them (unpadded).
        position_ids: nested `(bs, seq_len_i)` positions of prompt+response; the first prompt_len_i are kept.
            None: positions 0..prompt_len_i-1 (prompts re-tokenized for the critic, see sppo.critic_prompts).
        weights: `(bs,)` 1 for real rows, 0 for verl's synthetic padding rows.

    Returns:
        TensorDict with nested ``input_ids``, ``position_ids`` and ``loss_mask`` (one marked token per real
        row: its last prompt token, so verl's ``batch_num_tokens`` counts real sequences).
    """
    ids = list(prompts.unbind())
    if position_ids is None:
        pos = [torch.arange(len(i), dtype=torch.int64) for i in ids]
    else:
        pos = [p[..., : len(i)] for p, i in zip(position_ids.unbind(), ids, strict=True)]
    loss_mask = []
    for i, w in zip(ids, weights.tolist(), strict=True):
        m = torch.zeros(len(i), dtype=torch.int64)
        m[-1] = int(w > 0)
        loss_mask.append(m)
    return TensorDict(
        {"input_ids": _nested(ids), "position_ids": _nested(pos), "loss_mask": _nested(loss_mask)},
        batch_size=len(ids),
    )


class SPPOTrainer(PPOTrainerSync):
    """verl's sync trainer + SPPO's sequence-level critic (see module docstring)."""

    @cached_property
    def sppo_options(self) -> TrainerOptions:
        """The ``sppo.*`` options, parsed once (checked by sppo.config_checks before the trainer starts)."""
        return trainer_options(self.config)

    def _build_replay_buffer(self):
        replay_buffer = super()._build_replay_buffer()
        if hasattr(replay_buffer, "poll_interval"):
            replay_buffer.poll_interval = self.sppo_options.replay_poll_interval_s
        return replay_buffer

    def on_train_begin(self):
        super().on_train_begin()
        self._train_seconds = 0.0  # time spent in training steps during this launch (sppo.max_train_seconds)
        self._selection_metrics: dict[str, float] = {}  # prompt selection's statistics for the next step

    def on_step_begin(self):
        super().on_step_begin()
        self._step_started = time.monotonic()

    def on_step_end(self):
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

    # ------------------------------------------------------------------ prompt selection
    def _next_train_batch(self, num_prompts: int | None = None) -> TensorDict:
        """Fetch prompts for generation; with prompt selection, the critic's picks from a larger pool."""
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

    def _score_prompts(self, pool: TensorDict) -> torch.Tensor:
        """σ(V(s_p)) of each dataloader prompt: one prompt-only critic forward, no generation."""
        ids = critic_input_ids(self.config, pool["raw_prompt"])
        td = prompt_only_batch(_nested(ids), None, torch.ones(len(ids)))
        tu.assign_non_tensor(td, temperature=self.config.actor_rollout_ref.rollout.temperature)
        return torch.sigmoid(self._critic_logits(td))

    def prepare_step(self) -> dict:
        metrics = super().prepare_step() or {}
        metrics.update(self._selection_metrics)
        self._selection_metrics = {}
        return metrics

    # ------------------------------------------------------------------ critic helpers
    def _setup(self):
        super()._setup()
        if self.use_critic and is_sppo(self.config):
            self.critic_wg.set_loss_fn(partial(sppo_value_loss, config=None))
            logger.info("SPPO: prompt-only BCE critic loss installed")

    def _critic_batching(self, training: bool) -> dict:
        """The user's critic micro-batching (sppo/critic_batching.py): verl 0.9.1's trainer drops it, and its
        worker keeps batch-level settings, so SPPO's critic batches carry it."""
        return sppo_critic_batching(self.config.critic, critic_dp_size(self.config), training)

    def _critic_batch(self, batch: KVBatchMeta, extra_fields: list[str]) -> tuple[TensorDict, TensorDict, torch.Tensor]:
        """Prompt-only critic input, the fetched fields, and the padded response mask `(bs, max_resp)`.

        With ``sppo.critic_retokenize`` the critic reads each sample's ``raw_prompt`` rendered with its own
        tokenizer and chat template, and the returned ``data["prompts"]`` holds those ids (what it read).
        """
        retokenize = self.sppo_options.critic_retokenize
        fields = ["prompts", "position_ids", "response_mask", *extra_fields]
        if retokenize:
            fields.append("raw_prompt")
        data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=fields)
        mask = data["response_mask"].to_padded_tensor(0).float()
        weights = (mask.sum(-1) > 0).float()  # verl's synthetic padding rows have no response token
        if retokenize:
            # Re-tokenized here, in the trainer, so verl's stock critic worker still just takes token ids
            # (no worker subclass, and remove-padding / dynamic batch size apply to the critic's own ids).
            data["prompts"] = _nested(critic_input_ids(self.config, data["raw_prompt"]))
            td = prompt_only_batch(data["prompts"], None, weights)
        else:
            td = prompt_only_batch(data["prompts"], data["position_ids"], weights)
        tu.assign_non_tensor(td, temperature=self.config.actor_rollout_ref.rollout.temperature)
        return td, data, mask

    def _critic_logits(self, td: TensorDict) -> torch.Tensor:
        """`(bs,)` V(s_p) logits of a prompt-only critic batch: one forward of the stock critic worker.

        verl splits a batch evenly over the critic's data-parallel ranks and, without dynamic batching, each
        rank's share into whole micro-batches. A batch of any size (a prompt-selection pool, a forward
        micro-batch that does not divide the step's batch) is padded up to that multiple with copies of its
        last row, whose values are dropped.
        """
        batching = self._critic_batching(training=False)
        n = len(td)
        multiple = critic_dp_size(self.config) * batching.get("micro_batch_size_per_gpu", 1)
        if n % multiple:
            td = tu.index_select_tensor_dict(td, list(range(n)) + [n - 1] * (-n % multiple))
        tu.assign_non_tensor(td, compute_loss=False, **batching)
        output = self.critic_wg.infer_batch(td).get()
        return last_token_logits(tu.get(output, "values")).float().cpu()[:n]

    # ------------------------------------------------------------------ overrides
    def _compute_values(self, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        """verl runs the critic over prompt+response; SPPO's V(s_p) needs the prompt only."""
        if not is_sppo(self.config):
            return super()._compute_values(batch, metrics)
        td, data, _ = self._critic_batch(batch, [])
        logits = self._critic_logits(td)
        response_mask = data["response_mask"]
        # stored broadcast over the response, the shape verl's advantage and metric code expect
        width = int(response_mask.offsets().diff().max())
        values = response_to_nested(logits.unsqueeze(-1).expand(-1, width).contiguous(), response_mask)
        tq.kv_batch_put(
            keys=batch.keys, partition_id=batch.partition_id, fields=TensorDict({"values": values}, len(batch))
        )
        return batch

    def _compute_advantage(self, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        """verl forwards ``reward_baselines`` to custom estimators only if the batch has it: put σ(V) there."""
        if not is_sppo(self.config):
            return super()._compute_advantage(batch, metrics)
        fields = ["response_mask", "rm_scores", "values"]
        data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=fields)
        response_mask = data["response_mask"]
        proto = DataProto(batch=data.to_padded_tensor())
        proto.batch["token_level_rewards"] = proto.batch["rm_scores"].float()
        proto.batch["reward_baselines"] = torch.sigmoid(proto.batch["values"][:, 0].float())
        proto = compute_advantage(
            proto, adv_estimator=self.config.algorithm.adv_estimator, config=self.config.algorithm
        )
        output = {k: response_to_nested(proto.batch[k], response_mask) for k in ("advantages", "returns")}
        return tq.kv_batch_put(
            keys=batch.keys, partition_id=batch.partition_id, fields=TensorDict(output, batch_size=len(batch))
        )

    def _update_critic(self, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        """Train V(s_p) with BCE against R on prompt-only sequences; log how well σ(V) was calibrated."""
        if not is_sppo(self.config):
            return super()._update_critic(batch, metrics)
        td, data, mask = self._critic_batch(batch, ["returns", "values"])
        n_tokens = mask.sum(-1)
        returns = (data["returns"].to_padded_tensor(0).float() * mask).sum(-1) / n_tokens.clamp(min=1)
        real = n_tokens > 0  # verl's synthetic padding rows have no response token
        td[TARGET_KEY] = returns
        td[WEIGHT_KEY] = real.float()
        prior_probs = torch.sigmoid(data["values"].to_padded_tensor(0)[:, 0].float())[real]
        calib = calibration_metrics(prior_probs, returns[real])

        mini_batch = self.config.critic.ppo_mini_batch_size * self.config.actor_rollout_ref.rollout.n
        tu.assign_non_tensor(
            td,
            global_batch_size=mini_batch,
            mini_batch_size=mini_batch,
            epochs=self.config.critic.ppo_epochs,
            seed=self.config.critic.data_loader_seed,
            dataloader_kwargs={"shuffle": self.config.critic.shuffle},
            **self._critic_batching(training=True),
        )
        output = self.critic_wg.train_mini_batch(td).get()
        critic_metrics = rename_dict(tu.get(output, "metrics"), "critic/")  # keeps keys already prefixed
        if "critic/mfu" in critic_metrics:
            critic_metrics["perf/mfu/critic"] = critic_metrics.pop("critic/mfu")
        metrics.update(reduce_metrics(critic_metrics))
        metrics.update({f"critic/{k}": v for k, v in calib.items()})
        metrics["critic/prompt_tokens_mean"] = float(np.mean([len(p) for p in data["prompts"].unbind()]))
        self._log_calibration(prior_probs, returns[real])
        return batch

    def _log_calibration(self, probs: torch.Tensor, outcomes: torch.Tensor) -> None:
        """Append this step's per-sample (σ(V), R) to ``sppo.calibration_log`` (JSON lines), if set.

        Rows are subsampled to ``sppo.calibration_log_max_rows`` per step (deterministically by step).
        Read by ``python -m sppo.analysis calibration``.
        """
        path = self.sppo_options.calibration_log
        if not path:
            return
        limit = self.sppo_options.calibration_log_max_rows
        if len(probs) > limit:
            keep = torch.randperm(len(probs), generator=torch.Generator().manual_seed(self.global_steps))[:limit]
            probs, outcomes = probs[keep], outcomes[keep]
        row = {
            "step": int(self.global_steps),
            "p": [round(float(x), 5) for x in probs],
            "r": [float(x) for x in outcomes],
        }
        with open(path, "a") as f:
            f.write(json.dumps(row) + "\n")
