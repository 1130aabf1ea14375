"""Adaptive normalisation (``sppo.adaptive_norm``): batch-normalised advantages while the critic explains little.

A fresh critic's σ(V) is a poor baseline: its advantages R − σ(V) carry its bias (a mean of −0.145 in the first
steps of the graded task) and little of the outcome's variance. Until the critic explains enough of it, the
advantages are normalised over the batch (sppo/advantage.py ``normalize_advantages``); once the exponential moving
average of ``critic/explained_var`` reaches the threshold, the run hands over to plain R − σ(V) for good.

The decision of step t uses the explained variance of steps 1 .. t − 1 only (each measured before that step's
critic update, on σ(V) against the step's outcomes): a step's regime never depends on its own outcomes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass
class AdaptiveNormState:
    """The trainer's running state (checkpointed beside the models)."""

    ema: float | None = None
    """Exponential moving average of ``critic/explained_var``; ``None`` until a step defined it."""
    handed_over: bool = False
    """True once ``ema`` reached the threshold: every later step uses plain R − σ(V)."""

    @property
    def normalizing(self) -> bool:
        return not self.handed_over

    def update(self, explained_var: float | None, decay: float, threshold: float) -> None:
        """Fold one step's explained variance in; undefined values (a batch of equal rewards: NaN) are skipped.

        ema ← explained_var at the first defined value, then decay · ema + (1 − decay) · explained_var
        (``decay`` 0: the last value). Hands over when ema >= threshold.
        """
        if explained_var is None or not math.isfinite(explained_var):
            return
        self.ema = explained_var if self.ema is None else decay * self.ema + (1.0 - decay) * explained_var
        if self.ema >= threshold:
            self.handed_over = True

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> AdaptiveNormState:
        return cls(ema=d.get("ema"), handed_over=bool(d.get("handed_over", False)))
