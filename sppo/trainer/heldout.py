"""The critic on held-out prompts (SPPO only): at every validation, how well σ(V(s_p)) ranks the held-out prompts by
their measured success (``val-critic/*``, sppo/critic_quality.py), beside verl's validation metrics."""

from __future__ import annotations

from sppo.config_checks import is_sppo
from sppo.critic_quality import heldout_critic_metrics
from sppo.trainer.critic import PromptOnlyCriticMixin


class HeldoutCriticMixin(PromptOnlyCriticMixin):
    """Scores each held-out prompt with the critic's ``_score_prompts`` (one prompt-only forward, no generation)."""

    def on_validate_begin(self):
        # Scored before verl's hook: in separate_async it switches the hybrid engine to rollout mode, which may put
        # the trainer's workers (the critic among them) to sleep until the next step.
        self._val_scored = None
        if self.use_critic and is_sppo(self.config):
            batches = list(self.val_dataloader)  # loaded once: verl's _validate iterates these same dicts
            raw_prompts = [p for b in batches for p in b["raw_prompt"]]
            probs = self._score_prompts({"raw_prompt": raw_prompts}).tolist() if raw_prompts else []
            self._val_scored = (batches, probs)
        super().on_validate_begin()

    def _validate(self) -> dict[str, float]:
        """verl's validation, plus the critic's σ(V) of each held-out prompt against its measured success.

        verl's ``_validate`` has no hook that sees prompts and rewards together. It iterates the batches scored in
        ``on_validate_begin`` (and writes each prompt's uid into its batch dict); the per-sample rewards come from
        ``_val_metrics_update``.
        """
        scored = getattr(self, "_val_scored", None)
        if scored is None:
            return super()._validate()
        batches, probs = scored
        loader, self.val_dataloader, self._val_rewards = self.val_dataloader, batches, None
        try:
            metrics = super()._validate()
        finally:
            self.val_dataloader, self._val_scored = loader, None
        if self._val_rewards is not None:
            metrics.update(self._heldout_critic_metrics(batches, probs, *self._val_rewards))
        return metrics

    def _val_metrics_update(self, data_sources, sample_uids, reward_extra_infos_dict, sample_turns, **kwargs):
        # unchanged verl metrics; the per-sample uids and rewards are kept for _validate's val-critic/* metrics
        self._val_rewards = (list(sample_uids), list(reward_extra_infos_dict.get("reward", [])))
        return super()._val_metrics_update(data_sources, sample_uids, reward_extra_infos_dict, sample_turns, **kwargs)

    @staticmethod
    def _heldout_critic_metrics(
        batches: list[dict], probs: list[float], sample_uids: list, rewards: list
    ) -> dict[str, float]:
        """``probs[i]`` is σ(V) of the i-th prompt of ``batches``, whose uid verl wrote into its batch dict."""
        uids = [str(u) for b in batches for u in b["uid"]]
        sources = [str(s) for b in batches for s in b.get("data_source", ["unknown"] * len(b["uid"]))]
        outcomes: dict[str, list[float]] = {u: [] for u in uids}
        for uid, reward in zip(sample_uids, rewards, strict=True):
            if str(uid) in outcomes:
                outcomes[str(uid)].append(float(reward))
        return heldout_critic_metrics(
            dict(zip(uids, probs, strict=True)), outcomes, dict(zip(uids, sources, strict=True))
        )
