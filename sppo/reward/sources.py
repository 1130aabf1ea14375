"""Which ``data_source`` values our math scorer accepts.

Every math data set of the SPPO recipe goes to the same boxed-answer scorer: the official evaluation
files' names (``aime2025``, ``math__aime_repeated_8x``, ``math_deepscaler``, ``math__math``, ...),
the names our preparation writes (``math__*``, see :mod:`sppo.data.sources`) and the hub ids. An
unknown name is an error listing what is accepted: never a silent fallback to verl's
"Answer:"-line scorer, which scores a ``\\boxed{}`` answer as wrong.
"""

from __future__ import annotations

#: Lower-cased prefixes routed to the math scorer (``"aime"`` covers ``aime2024``, ``aime2025``...).
MATH_PREFIXES: tuple[str, ...] = (
    "math",  # math, math_dapo, math_deepscaler, math__math, math__aime_repeated_8x, math__*, math500
    "aime",
    "amc",
    "minerva",
    "deepscaler",
    "dapo",
    "olympiad",
    "huggingfaceh4/",  # MATH-500, aime_2024
    "lighteval/math",
    "digitallearninggmbh/math",
    "agentica-org/deepscaler",
    "bytedtsinghua-sia/dapo",
    "open-r1/dapo",
    "maxwell-jia/aime",
    "yentinglin/aime",
    "opencompass/aime",
    "math-ai/",
    "zwhe99/amc",
    "knoveleng/",
    "ai-mo/",
)


class UnknownDataSourceError(ValueError):
    """A ``data_source`` that no scorer of ours handles."""


def route(data_source: object) -> str:
    """The scorer name for ``data_source`` (always ``"math"`` today), or raise
    :class:`UnknownDataSourceError` naming the accepted prefixes."""
    name = str(data_source).strip().lower()
    if name and name.startswith(MATH_PREFIXES):
        return "math"
    raise UnknownDataSourceError(
        f"sppo.reward: unknown data_source {str(data_source)!r}; "
        f"accepted prefixes (case-insensitive): {', '.join(MATH_PREFIXES)}"
    )


def is_known(data_source: object) -> bool:
    """True when :func:`route` accepts ``data_source``."""
    try:
        route(data_source)
    except UnknownDataSourceError:
        return False
    return True
