"""SPPO's options as typed objects: each field documented once, parsed strictly and checked in one place.

    AdvantageOptions  ``algorithm.sppo.*``  read by the estimator (sppo/advantage.py)
    TrainerOptions    ``sppo.*``            read by the trainer and the entry point (sppo/trainer/, sppo/main.py),
                                            with one section per option group (prompt selection, adaptive
                                            normalisation, truncation, critic warm start, adaptive N)

``sppo/configs/sppo_trainer.yaml`` carries the same defaults for hydra (a test keeps the two equal). ``from_config``
never guesses: a boolean must be a boolean (``whiten=no`` is an error, not ``bool("no") == True``), a number
must be a finite number, and ``problems()`` lists every out-of-range value as a one-line message that names
the key. ``sppo.config_checks.check_config`` raises the first of them before anything starts.

Each block is parsed once per process: the driver's ``check_config`` returns the ``TrainerOptions`` that
``sppo.main`` hands to the launch checks and the dry run; a trainer (in its Ray actor, which receives only the
config) parses once and keeps them (sppo/trainer/base.py); the estimator parses ``algorithm.sppo.*`` once per config
object (sppo/advantage.py ``estimator_options``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

SPPO_ESTIMATORS = ("sppo", "sequence_level_adv")  # the names sppo/advantage.py registers in verl's registry
ADVANTAGE_MODES = ("residual", "bernoulli")
TRUNCATION_MODES = ("none", "mask")  # sppo.truncation.mode (sppo/truncation.py)
ALLOCATION_RULES = ("rank", "variance")  # sppo.adaptive_n.rule (sppo/adaptive_n.py)
CALIBRATION_LOG_MAX_ROWS_CAP = 1_000_000  # one JSON line per step holds this many samples at most


class OptionError(ValueError):
    """A value of the wrong type; the message is one line naming the key."""


def _section(config: Any, key: str) -> dict:
    node = config.get(key, None) if config is not None else None
    return dict(node) if node else {}


def _bool(prefix: str, key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise OptionError(f"{prefix}{key}={value!r}; expected true or false")


def _number(prefix: str, key: str, value: Any, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise OptionError(f"{prefix}{key}={value!r}; expected a number{' or null' if optional else ''}")
    if not math.isfinite(float(value)):
        raise OptionError(f"{prefix}{key}={value}; expected a finite number")
    return float(value)


def _integer(prefix: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise OptionError(f"{prefix}{key}={value!r}; expected an integer")
    return int(value)


def _pair(prefix: str, key: str, value: Any, optional: bool = False) -> tuple[float, float] | None:
    if value is None and optional:
        return None
    try:
        items = list(value)
    except TypeError:
        items = None
    if items is None or isinstance(value, str) or len(items) != 2:
        raise OptionError(f"{prefix}{key}={value!r}; expected [lo, hi]{' or null' if optional else ''}")
    return (_number(prefix, f"{key}[0]", items[0]), _number(prefix, f"{key}[1]", items[1]))


def _unknown(prefix: str, given: dict, cls: type) -> None:
    known = {f.name for f in fields(cls)}
    extra = sorted(set(given) - known)
    if extra:
        raise OptionError(f"{prefix}{extra[0]} is not an SPPO option; known: {', '.join(sorted(known))}")


@dataclass(frozen=True)
class AdvantageOptions:
    """``algorithm.sppo``: how the sequence advantage is formed from R and p = σ(V(s_p))."""

    advantage: str = "residual"
    """``residual``: A = R − p (official code). ``bernoulli``: (R − p) / sqrt(p(1 − p)) (paper text)."""
    eps: float = 1e-6
    """Floor on p(1 − p) in the Bernoulli form; in (0, 0.25]."""
    whiten: bool = False
    """Standardise the per-sequence advantages over the batch."""
    reward_range: tuple[float, float] | None = None
    """``None``: rewards must lie in [0, 1]. ``[lo, hi]``: rewards are mapped linearly from [lo, hi] onto [0, 1]."""

    PREFIX = "algorithm.sppo."

    @classmethod
    def from_config(cls, algorithm: Any) -> AdvantageOptions:
        """From the ``algorithm`` config section (DictConfig, dict or verl's AlgoConfig). Raises ``OptionError``."""
        given = _section(algorithm, "sppo")
        _unknown(cls.PREFIX, given, cls)
        d, p = cls(), cls.PREFIX
        return cls(
            advantage=str(given.get("advantage", d.advantage)),
            eps=_number(p, "eps", given.get("eps", d.eps)),
            whiten=_bool(p, "whiten", given.get("whiten", d.whiten)),
            reward_range=_pair(p, "reward_range", given.get("reward_range", d.reward_range), optional=True),
        )

    def problems(self) -> list[str]:
        out = []
        if self.advantage not in ADVANTAGE_MODES:
            out.append(f"{self.PREFIX}advantage={self.advantage!r}; choose residual or bernoulli")
        if not 0.0 < self.eps <= 0.25:
            out.append(f"{self.PREFIX}eps={self.eps:g}; expected a value in (0, 0.25] (a floor on p(1 - p))")
        if self.reward_range is not None and not self.reward_range[1] > self.reward_range[0]:
            out.append(f"{self.PREFIX}reward_range={list(self.reward_range)}; expected [lo, hi] with hi > lo")
        return out


@dataclass(frozen=True)
class PromptSelectionOptions:
    """``sppo.prompt_selection``: critic-guided prompt selection (sppo/prompt_selection.py; sppo estimator only)."""

    enable: bool = False
    """Score ``pool_factor`` x ``data.train_batch_size`` dataloader prompts with the critic and keep a batch."""
    pool_factor: int = 4
    """Candidate pool size, in batches; an integer >= 1."""
    band: tuple[float, float] = (0.2, 0.8)
    """Keep prompts with band[0] <= σ(V) <= band[1] (if too few, the nearest to the band); 0 <= lo < hi <= 1."""
    explore_fraction: float = 0.25
    """Share of the batch drawn uniformly from the pool, in band or not; in [0, 1]."""

    PREFIX = "sppo.prompt_selection."

    @classmethod
    def from_config(cls, section: Any) -> PromptSelectionOptions:
        given = dict(section or {})
        _unknown(cls.PREFIX, given, cls)
        d, p = cls(), cls.PREFIX
        return cls(
            enable=_bool(p, "enable", given.get("enable", d.enable)),
            pool_factor=_integer(p, "pool_factor", given.get("pool_factor", d.pool_factor)),
            band=_pair(p, "band", given.get("band", d.band)),
            explore_fraction=_number(p, "explore_fraction", given.get("explore_fraction", d.explore_fraction)),
        )

    def problems(self) -> list[str]:
        out = []
        if self.pool_factor < 1:
            out.append(f"{self.PREFIX}pool_factor={self.pool_factor}; expected an integer >= 1")
        lo, hi = self.band
        if not 0.0 <= lo < hi <= 1.0:
            out.append(f"{self.PREFIX}band={[lo, hi]}; expected [lo, hi] with 0 <= lo < hi <= 1")
        if not 0.0 <= self.explore_fraction <= 1.0:
            out.append(f"{self.PREFIX}explore_fraction={self.explore_fraction:g}; expected a value in [0, 1]")
        return out


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


@dataclass(frozen=True)
class TrainerOptions:
    """``sppo``: options of SPPO's trainer and entry point (any estimator unless noted)."""

    replay_poll_interval_s: float = 0.05
    """verl's replay buffer polls for finished rollouts every 2 s (hard-coded); this interval replaces it. > 0."""
    critic_retokenize: bool = False
    """``true``: the critic reads ``raw_prompt`` rendered with its own tokenizer and chat template (sppo only)."""
    calibration_log: str | None = None
    """Append each step's per-sample (σ(V), R) as JSON lines to this file (``null``: off)."""
    calibration_log_max_rows: int = 256
    """At most this many samples per step in the calibration log; 1 .. 1,000,000."""
    max_train_seconds: float | None = None
    """Stop after this many seconds of training steps (validation excluded, per launch); ``null``: no budget."""
    prompt_selection: PromptSelectionOptions = field(default_factory=PromptSelectionOptions)
    """Critic-guided prompt selection (sppo estimator only)."""
    adaptive_norm: AdaptiveNormOptions = field(default_factory=AdaptiveNormOptions)
    """Batch-normalised advantages until the critic explains enough of the outcome (sppo estimator only)."""
    truncation: TruncationOptions = field(default_factory=TruncationOptions)
    """Responses cut at the length limit: the critic's target and the advantage (sppo estimator only)."""
    critic_warmstart: CriticWarmstartOptions = field(default_factory=CriticWarmstartOptions)
    """The critic fitted on every warm-up rollout before the first actor update (sppo estimator only)."""
    adaptive_n: AdaptiveNOptions = field(default_factory=AdaptiveNOptions)
    """Per-prompt sample counts from the critic's uncertainty (sppo estimator only)."""
    dry_run: bool = False
    """Compose + validate + print a summary, never start Ray (also ``SPPO_DRY_RUN=1``)."""

    PREFIX = "sppo."

    @classmethod
    def from_config(cls, config: Any) -> TrainerOptions:
        """From the whole config (its ``sppo`` section; missing or null: the defaults). Raises ``OptionError``."""
        given = _section(config, "sppo")
        _unknown(cls.PREFIX, given, cls)
        d, p = cls(), cls.PREFIX
        log = given.get("calibration_log", d.calibration_log)
        if log is not None and (not isinstance(log, str) or (log and not log.strip()) or log != log.strip()):
            raise OptionError(f"{p}calibration_log={log!r}; expected a file path or null")
        return cls(
            replay_poll_interval_s=_number(
                p, "replay_poll_interval_s", given.get("replay_poll_interval_s", d.replay_poll_interval_s)
            ),
            critic_retokenize=_bool(p, "critic_retokenize", given.get("critic_retokenize", d.critic_retokenize)),
            calibration_log=log or None,
            calibration_log_max_rows=_integer(
                p, "calibration_log_max_rows", given.get("calibration_log_max_rows", d.calibration_log_max_rows)
            ),
            max_train_seconds=_number(
                p, "max_train_seconds", given.get("max_train_seconds", d.max_train_seconds), optional=True
            ),
            prompt_selection=PromptSelectionOptions.from_config(given.get("prompt_selection", None)),
            adaptive_norm=AdaptiveNormOptions.from_config(given.get("adaptive_norm", None)),
            truncation=TruncationOptions.from_config(given.get("truncation", None)),
            critic_warmstart=CriticWarmstartOptions.from_config(given.get("critic_warmstart", None)),
            adaptive_n=AdaptiveNOptions.from_config(given.get("adaptive_n", None)),
            dry_run=_bool(p, "dry_run", given.get("dry_run", d.dry_run)),
        )

    def problems(self) -> list[str]:
        out = []
        if not self.replay_poll_interval_s > 0:
            out.append(
                f"{self.PREFIX}replay_poll_interval_s={self.replay_poll_interval_s:g}; expected a positive number of seconds"
            )
        if not 1 <= self.calibration_log_max_rows <= CALIBRATION_LOG_MAX_ROWS_CAP:
            out.append(
                f"{self.PREFIX}calibration_log_max_rows={self.calibration_log_max_rows}; "
                f"expected an integer in [1, {CALIBRATION_LOG_MAX_ROWS_CAP:,}]"
            )
        if self.max_train_seconds is not None and not self.max_train_seconds > 0:
            out.append(
                f"{self.PREFIX}max_train_seconds={self.max_train_seconds:g}; expected a positive number of seconds or null"
            )
        sections = (self.prompt_selection, self.adaptive_norm, self.truncation, self.critic_warmstart, self.adaptive_n)
        return out + [problem for section in sections for problem in section.problems()]
