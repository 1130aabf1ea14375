"""What every SPPO trainer mixin reads: the ``sppo.*`` options, parsed once per trainer."""

from __future__ import annotations

from functools import cached_property

from sppo.config_checks import trainer_options
from sppo.options import TrainerOptions


class SPPOOptionsMixin:
    """Gives ``self.sppo_options``; the base of each concern's mixin (it overrides nothing of verl)."""

    @cached_property
    def sppo_options(self) -> TrainerOptions:
        """The ``sppo.*`` options, parsed on first use and kept on the trainer: every step reads this object.

        The trainer lives in a Ray actor, another process that receives only the config, so it cannot take the
        driver's parsed object; this is that process's one parse (sppo.main's ``check_config`` validated the same
        values before Ray started)."""
        return trainer_options(self.config)
