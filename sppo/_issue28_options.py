"""STAGING (issue 28): these dataclasses move into sppo/options.py once it is free; then this file is deleted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sppo.options import _bool, _integer, _number, _unknown

TRUNCATION_MODES = ("none", "mask")
ALLOCATION_RULES = ("rank", "variance")


@dataclass(frozen=True)
class AdaptiveNormOptions:
    """``sppo.adaptive_norm``: batch-normalised advantages until the critic explains enough of the outcome
    (sppo/adaptive_norm.py; sppo estimator only)."""

    enable: bool = False
    """Normalise the sequence advantages over the batch while the critic is poor, then hand over to R − σ(V)."""
    threshold: float = 0.05
    """Hand over for good once the moving average of ``critic/explained_var`` reaches this; in (0, 1)."""
    ema_decay: float = 0.9
    """Decay of that moving average, in [0, 1); 0 uses the last step's value alone."""
    center: bool = True
    """``true``: (A − mean) / std, PPO's advantage normalisation; ``false``: A / std (the division alone)."""

    PREFIX = "sppo.adaptive_norm."

    @classmethod
    def from_config(cls, section: Any) -> AdaptiveNormOptions:
        given = dict(section or {})
        _unknown(cls.PREFIX, given, cls)
        d, p = cls(), cls.PREFIX
        return cls(
            enable=_bool(p, "enable", given.get("enable", d.enable)),
            threshold=_number(p, "threshold", given.get("threshold", d.threshold)),
            ema_decay=_number(p, "ema_decay", given.get("ema_decay", d.ema_decay)),
            center=_bool(p, "center", given.get("center", d.center)),
        )

    def problems(self) -> list[str]:
        out = []
        if not 0.0 < self.threshold < 1.0:
            out.append(f"{self.PREFIX}threshold={self.threshold:g}; expected a value in (0, 1) (an explained variance)")
        if not 0.0 <= self.ema_decay < 1.0:
            out.append(f"{self.PREFIX}ema_decay={self.ema_decay:g}; expected a value in [0, 1)")
        return out


@dataclass(frozen=True)
class TruncationOptions:
    """``sppo.truncation``: responses cut at the length limit (sppo/truncation.py; sppo estimator only)."""

    mode: str = "none"
    """``none``: truncated responses train the critic like any other; ``mask``: left out of the critic's BCE."""
    penalty: float = 0.0
    """Subtracted from the advantage A = R − σ(V) of every truncated response (any mode); in [0, 1]."""

    PREFIX = "sppo.truncation."

    @classmethod
    def from_config(cls, section: Any) -> TruncationOptions:
        given = dict(section or {})
        _unknown(cls.PREFIX, given, cls)
        d, p = cls(), cls.PREFIX
        return cls(
            mode=str(given.get("mode", d.mode)),
            penalty=_number(p, "penalty", given.get("penalty", d.penalty)),
        )

    @property
    def enabled(self) -> bool:
        return self.mode != "none" or self.penalty != 0.0

    def problems(self) -> list[str]:
        out = []
        if self.mode not in TRUNCATION_MODES:
            out.append(f"{self.PREFIX}mode={self.mode!r}; choose none or mask")
        if not 0.0 <= self.penalty <= 1.0:
            out.append(f"{self.PREFIX}penalty={self.penalty:g}; expected a value in [0, 1]")
        return out


@dataclass(frozen=True)
class CriticWarmstartOptions:
    """``sppo.critic_warmstart``: fit the critic on every warm-up rollout before the first actor update
    (with verl's ``trainer.critic_warmup``; sppo estimator only)."""

    epochs: int = 0
    """At each warm-up step, train the critic this many epochs on ALL warm-up rollouts so far; 0: off."""

    PREFIX = "sppo.critic_warmstart."

    @classmethod
    def from_config(cls, section: Any) -> CriticWarmstartOptions:
        given = dict(section or {})
        _unknown(cls.PREFIX, given, cls)
        d, p = cls(), cls.PREFIX
        return cls(epochs=_integer(p, "epochs", given.get("epochs", d.epochs)))

    def problems(self) -> list[str]:
        if self.epochs < 0:
            return [f"{self.PREFIX}epochs={self.epochs}; expected an integer >= 0 (0: off)"]
        return []


@dataclass(frozen=True)
class AdaptiveNOptions:
    """``sppo.adaptive_n``: per-prompt sample counts from the critic's uncertainty (sppo/adaptive_n.py; sppo only)."""

    enable: bool = False
    """Give each prompt n_i in [1, max_n] samples, more where σ(V) is least certain, at ``budget`` samples a step."""
    max_n: int = 4
    """Most samples one prompt gets; an integer >= 2."""
    budget: int | None = None
    """Samples per step, in [data.train_batch_size, max_n x data.train_batch_size]; ``null``: 2 x train_batch_size."""
    rule: str = "rank"
    """``rank``: weights by the rank of p(1 − p) (discriminates however tightly σ(V) clusters); ``variance``: p(1 − p)."""
    prior_strength: float = 1.0
    """κ >= 0: a prompt's samples get the leave-one-out mean of its other samples with σ(V) counted κ times."""

    PREFIX = "sppo.adaptive_n."

    @classmethod
    def from_config(cls, section: Any) -> AdaptiveNOptions:
        given = dict(section or {})
        _unknown(cls.PREFIX, given, cls)
        d, p = cls(), cls.PREFIX
        budget = given.get("budget", d.budget)
        return cls(
            enable=_bool(p, "enable", given.get("enable", d.enable)),
            max_n=_integer(p, "max_n", given.get("max_n", d.max_n)),
            budget=None if budget is None else _integer(p, "budget", budget),
            rule=str(given.get("rule", d.rule)),
            prior_strength=_number(p, "prior_strength", given.get("prior_strength", d.prior_strength)),
        )

    def samples_per_step(self, train_batch_size: int) -> int:
        """The step's sample budget (``budget``, or 2 x the batch, at most max_n x the batch)."""
        if self.budget is not None:
            return self.budget
        return min(2, self.max_n) * train_batch_size

    def problems(self) -> list[str]:
        out = []
        if self.max_n < 2:
            out.append(f"{self.PREFIX}max_n={self.max_n}; expected an integer >= 2")
        if self.budget is not None and self.budget < 1:
            out.append(f"{self.PREFIX}budget={self.budget}; expected a positive number of samples per step or null")
        if self.rule not in ALLOCATION_RULES:
            out.append(f"{self.PREFIX}rule={self.rule!r}; choose rank or variance")
        if not self.prior_strength >= 0.0:
            out.append(f"{self.PREFIX}prior_strength={self.prior_strength:g}; expected a number >= 0")
        return out
