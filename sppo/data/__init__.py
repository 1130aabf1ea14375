"""Math data for SPPO in verl's parquet format.

    python -m sppo.data.prepare all --out data/      # write the official files (see prepare.py)
    python -m sppo.data.check data/*.parquet         # check any file against the format

Modules: schema (the row format), answers (ground-truth normalisation), sources (the seven data sets),
loading (hub or local rows), prepare and check (the two commands).
"""

from sppo.data.schema import PROMPT_SUFFIX, build_row, row_problems
from sppo.data.sources import SPECS, DatasetSpec

__all__ = ["PROMPT_SUFFIX", "SPECS", "DatasetSpec", "build_row", "row_problems"]
