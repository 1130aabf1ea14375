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
        return trainer_options(self.config)
