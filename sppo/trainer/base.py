"""What every SPPO trainer mixin reads: the ``sppo.*`` options, parsed once per trainer."""

from __future__ import annotations

from functools import cached_property

from sppo.config_checks import trainer_options
from sppo.options import TrainerOptions


class SPPOOptionsMixin:
    """Gives ``self.sppo_options``; the base of each concern's mixin (it overrides nothing of verl)."""

    @cached_property
    def sppo_options(self) -> TrainerOptions:
        """The ``sppo.*`` options, parsed once (checked by sppo.config_checks before the trainer starts)."""
        return _staged(trainer_options(self.config), self.config)


class _Staged:
    """STAGING (issue 28): TrainerOptions plus the new sections until sppo/options.py carries them."""

    def __init__(self, base, extra: dict):
        self._base, self._extra = base, extra

    def __getattr__(self, name):
        if name in self._extra:
            return self._extra[name]
        return getattr(self._base, name)


def _staged(options, config):
    if hasattr(options, "adaptive_norm"):
        return options
    from sppo import _issue28_options as o

    section = config.get("sppo", None) or {}
    return _Staged(
        options,
        {
            "adaptive_norm": o.AdaptiveNormOptions.from_config(section.get("adaptive_norm", None)),
            "truncation": o.TruncationOptions.from_config(section.get("truncation", None)),
            "critic_warmstart": o.CriticWarmstartOptions.from_config(section.get("critic_warmstart", None)),
            "adaptive_n": o.AdaptiveNOptions.from_config(section.get("adaptive_n", None)),
        },
    )
