"""Adaptive normalisation (``sppo.adaptive_norm``, SPPO only): the advantages are normalised over the batch until the
critic's explained variance passes a threshold, then plain R − σ(V) (the state: sppo/adaptive_norm.py)."""

from __future__ import annotations

import json
import logging
import os

from tensordict import TensorDict

from sppo.adaptive_norm import AdaptiveNormState
from sppo.config_checks import is_sppo
from sppo.trainer.critic import PromptOnlyCriticMixin

logger = logging.getLogger(__name__)

STATE_FILE = "sppo_adaptive_norm.json"  # beside verl's data.pt in each global_step_N checkpoint folder


class AdaptiveNormMixin(PromptOnlyCriticMixin):
    """Extends ``_advantage_inputs`` (this step's regime) and ``_update_critic`` (folds in the step's
    ``critic/explained_var``); ``_save_checkpoint`` / ``_load_checkpoint`` keep the state across a resume."""

    @property
    def _norm_state(self) -> AdaptiveNormState:
        if getattr(self, "_adaptive_norm_state", None) is None:
            self._adaptive_norm_state = AdaptiveNormState()
        return self._adaptive_norm_state

    def _adaptive_norm_on(self) -> bool:
        return self.sppo_options.adaptive_norm.enable and is_sppo(self.config)

    def _advantage_inputs(self, data: TensorDict, metrics: dict) -> dict:
        inputs = super()._advantage_inputs(data, metrics)
        if not self._adaptive_norm_on():
            return inputs
        state = self._norm_state
        # 1: this step's advantages are normalised over the batch (a batch of equal rewards is left as it is, see
        # sppo.advantage.normalize_advantages); 0: handed over to plain R − σ(V)
        metrics["adaptive_norm/normalizing"] = float(state.normalizing)
        if state.ema is not None:
            metrics["adaptive_norm/explained_var_ema"] = state.ema
        if state.normalizing:
            inputs["normalize"] = "whiten" if self.sppo_options.adaptive_norm.center else "scale"
        return inputs

    def _update_critic(self, batch, metrics: dict):
        # the explained variance SPPO's critic update measures (σ(V) before the update against R) decides the
        # regime of the NEXT steps
        batch = super()._update_critic(batch, metrics)
        if self._adaptive_norm_on():
            options = self.sppo_options.adaptive_norm
            was_normalizing = self._norm_state.normalizing
            value = metrics.get("critic/explained_var")
            self._norm_state.update(None if value is None else float(value), options.ema_decay, options.threshold)
            if was_normalizing and not self._norm_state.normalizing:
                logger.warning(
                    "SPPO: critic/explained_var moving average %.3f >= %g at step %d; advantages are plain "
                    "R - sigmoid(V) from the next step on",
                    self._norm_state.ema,
                    options.threshold,
                    self.global_steps,
                )
        return batch

    def _state_folder(self) -> str:
        trainer = self.config.trainer
        if trainer.resume_mode == "resume_path" and trainer.get("resume_from_path"):
            folder = str(trainer.resume_from_path)
        else:
            folder = os.path.join(str(trainer.default_local_dir), f"global_step_{self.global_steps}")
        return folder if os.path.isabs(folder) else os.path.join(os.getcwd(), folder)

    def _save_checkpoint(self):
        super()._save_checkpoint()
        if self._adaptive_norm_on():
            folder = os.path.join(str(self.config.trainer.default_local_dir), f"global_step_{self.global_steps}")
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, STATE_FILE), "w") as f:
                json.dump(self._norm_state.to_dict(), f)

    def _load_checkpoint(self):
        super()._load_checkpoint()
        if self._adaptive_norm_on() and self.global_steps > 0:
            path = os.path.join(self._state_folder(), STATE_FILE)
            if os.path.exists(path):
                with open(path) as f:
                    self._adaptive_norm_state = AdaptiveNormState.from_dict(json.load(f))
            else:
                logger.warning("SPPO: no %s in the checkpoint; adaptive normalisation starts afresh", STATE_FILE)
