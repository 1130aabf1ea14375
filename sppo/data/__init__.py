"""Math data for SPPO in verl's parquet format.

    python -m sppo.data.prepare all --out data/      # write the official files (see prepare.py)
    python -m sppo.data.check data/*.parquet         # check any file against the format

Modules: schema (the row format), answers (ground-truth normalisation), sources (the seven data sets),
loading (hub or local rows), prepare and check (the two commands). Row format, accepted answer
types and errors: docs/data_format.md, docs/errors.md. Before training: ``check_training_file(path)``.
"""

from sppo.data.schema import PROMPT_SUFFIX, answer_problem, build_row, row_problems
from sppo.data.sources import SPECS, DatasetSpec


def check_training_file(path, math_scorer: bool = True) -> list[str]:
    """Problems of a train/val parquet file, empty when fine: :func:`sppo.data.check.check_training_file`
    (imported on call, so that ``python -m sppo.data.check`` does not find its module already loaded)."""
    from sppo.data.check import check_training_file as check

    return check(path, math_scorer)


__all__ = [
    "PROMPT_SUFFIX",
    "SPECS",
    "DatasetSpec",
    "answer_problem",
    "build_row",
    "check_training_file",
    "row_problems",
]
