"""Tools around a training run, not part of it: the dry run (``python -m sppo.main sppo.dry_run=true``) and the
per-GPU memory planner (``python -m sppo.tools.plan_memory``)."""
