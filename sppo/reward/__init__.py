"""Math reward for SPPO: boxed-answer extraction + equivalence check, bounded in time.

Public API:
  compute_score(data_source, solution_str, ground_truth, extra_info=None, **options) -> dict
      verl's ``reward.custom_reward_function`` signature; ``{"score", "acc", "pred", ...}``.
  compute_scores_batch(items, num_workers=None, **options) -> list[dict]
      the same for many responses, in parallel verifier processes.

Importing this package is cheap: math-verify/SymPy are only imported inside the worker processes.
"""

from sppo.reward.extract import extract_answer
from sppo.reward.score import ScoreOptions, compute_score, compute_scores_batch
from sppo.reward.sources import UnknownDataSourceError, is_known, route

__all__ = [
    "ScoreOptions",
    "UnknownDataSourceError",
    "compute_score",
    "compute_scores_batch",
    "extract_answer",
    "is_known",
    "route",
]
