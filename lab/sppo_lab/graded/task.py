"""The graded task: prompts, the chain of thought, the fixed train/held-out split, the noisy annotator, parquets.

A prompt is ``Compute 7+4+9+2``: ``k`` single-digit terms (1..9), and ``k`` is the level (``LEVELS``), visible
in the prompt. The reference solution adds the terms one at a time and ends with the answer after ``. #``::

    7+4=11, 11+9=20, 20+2=22. #22

At the hardest level (k = 10) it is 83 tokens of the byte-level tokenizer of ``sppo_lab.tiny`` (84 with EOS).

Split: a term tuple is held out iff ``crc32("7+4+9+2") % HELD_OUT_MOD == 0`` -- a property of the prompt
itself, so training data, warm-up samples and held-out prompts are disjoint by construction.

The annotator of the warm-up writes each partial sum right with probability ``q``, otherwise one too high
(always +1: symmetric errors would cancel), and continues from its own (possibly wrong) partial sum; its final
answer is its last partial sum. Its success at level k is therefore ``q ** (k - 1)``.
"""

from __future__ import annotations

import random
import zlib
from pathlib import Path

LEVELS = (2, 4, 6, 8, 10)  # number of terms
DATA_SOURCE_PREFIX = "sppo_graded_k"  # one data_source per level: verl's validation reports each separately
HELD_OUT_MOD = 4  # level 2: 20 of its 81 tuples are held out
ANSWER_SEPARATOR = ". #"


def data_source(k: int) -> str:
    return f"{DATA_SOURCE_PREFIX}{k:02d}"


def question(terms: list[int] | tuple[int, ...]) -> str:
    return "Compute " + "+".join(str(t) for t in terms)


def is_held_out(terms: list[int] | tuple[int, ...]) -> bool:
    return zlib.crc32("+".join(str(t) for t in terms).encode()) % HELD_OUT_MOD == 0


def chain_of_thought(terms: list[int] | tuple[int, ...], errors: list[bool] | None = None) -> tuple[str, int]:
    """The step-by-step solution and its final answer.

    ``errors[j]`` (one per addition, ``len(terms) - 1``): the j-th partial sum is written one too high, and
    the next step continues from that wrong sum. ``None``: no errors (the reference solution).
    """
    errors = errors or [False] * (len(terms) - 1)
    if len(terms) < 2 or len(errors) != len(terms) - 1:
        raise ValueError("need at least two terms and one error flag per addition")
    total, steps = terms[0], []
    for term, err in zip(terms[1:], errors, strict=True):
        new = total + term + int(err)
        steps.append(f"{total}+{term}={new}")
        total = new
    return ", ".join(steps) + ANSWER_SEPARATOR + str(total), total


def annotate(terms: list[int] | tuple[int, ...], q: float, rng: random.Random) -> tuple[str, int]:
    """One noisy annotator response: each partial sum is right with probability ``q``, else one too high."""
    return chain_of_thought(terms, [rng.random() >= q for _ in range(len(terms) - 1)])


def sample_terms(k: int, rng: random.Random, held_out: bool = False) -> list[int]:
    """Random terms of level ``k`` from the training (default) or the held-out part of the split."""
    while True:
        terms = [rng.randint(1, 9) for _ in range(k)]
        if is_held_out(terms) == held_out:
            return terms


def held_out_prompts(per_level: int = 16, seed: int = 0, levels: tuple[int, ...] = LEVELS) -> list[list[int]]:
    """A fixed list of distinct held-out term tuples, ``per_level`` for each level of ``levels``, in that order.

    One stream over the levels in turn: levels appended after ``LEVELS`` leave its prompts as they were."""
    rng = random.Random(f"held-out-{seed}")
    out: list[list[int]] = []
    for k in levels:
        seen: set[tuple[int, ...]] = set()
        for _ in range(100 * per_level):
            seen.add(tuple(sample_terms(k, rng, held_out=True)))
            if len(seen) == per_level:
                break
        else:
            raise ValueError(f"level {k} has fewer than {per_level} held-out prompts")
        out += [list(t) for t in sorted(seen)]
    return out


def train_prompts(per_level: int = 640, seed: int = 0) -> list[list[int]]:
    """Training term tuples, ``per_level`` for each level (drawn with replacement: level 2 has only 61)."""
    rng = random.Random(f"train-{seed}")
    return [sample_terms(k, rng) for k in LEVELS for _ in range(per_level)]


def rows(prompts: list[list[int]], split: str) -> list[dict]:
    """Rows in verl's RL schema; ``extra_info`` carries the level (``k``) and the terms."""
    return [
        {
            "data_source": data_source(len(terms)),
            "prompt": [{"role": "user", "content": question(terms)}],
            "ability": "arithmetic",
            "reward_model": {"style": "rule", "ground_truth": str(sum(terms))},
            "extra_info": {"index": i, "split": split, "level": len(terms), "terms": list(terms)},
        }
        for i, terms in enumerate(prompts)
    ]


def write_parquets(
    out_dir: str | Path, train_per_level: int = 640, val_per_level: int = 16, seed: int = 0
) -> tuple[str, str]:
    import pandas as pd

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train_path, val_path = out / "train.parquet", out / "val.parquet"
    pd.DataFrame(rows(train_prompts(train_per_level, seed), "train")).to_parquet(train_path)
    pd.DataFrame(rows(held_out_prompts(val_per_level, seed), "val")).to_parquet(val_path)
    return str(train_path), str(val_path)
