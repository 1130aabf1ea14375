"""A graded chain-of-thought task: running sums "Compute 7+4+9+2" whose number of terms is the level.

``task`` (prompts, chain of thought, split, the noisy annotator, parquets), ``reward`` (verl's custom reward
function: 0/1 on the final answer), ``warmup`` (``python -m sppo_lab.graded.warmup``: the supervised warm-up and
its per-level report), ``warm_start`` (the committed warm-start checkpoint and its checksum check).
Design and measurements: docs/graded_task.md.
"""
