"""verl plugin entry point (``[project.entry-points."verl.plugins"]`` in pyproject.toml).

verl imports this module in every process, Ray workers included, at ``import verl``. It registers the
SPPO advantage estimator and, only when ``VERL_PLATFORM=cpu``, the CPU extension. verl logs a failing
plugin at DEBUG level only, so tests assert that both registrations really happened.
"""

import os

import sppo.advantage  # noqa: F401  (registers "sppo" and "sequence_level_adv")

if os.environ.get("VERL_PLATFORM", "").strip().lower() == "cpu":
    from sppo.cpu import activate

    activate()
