"""The bundled verifiable task: "What is a+b?" for digits a, b; reward 1 iff the answer is exactly a+b.

Prompts are split once (fixed seed) into training and held-out validation prompts, written as parquet
in verl's RL schema (data_source, prompt, ability, reward_model, extra_info).
"""

from __future__ import annotations

import random
from pathlib import Path

DATA_SOURCE = "sppo_addition"


def question(a: int, b: int) -> str:
    return f"What is {a}+{b}?"


def all_pairs(max_operand: int = 9) -> list[tuple[int, int]]:
    return [(a, b) for a in range(max_operand + 1) for b in range(max_operand + 1)]


def split_pairs(max_operand: int = 9, n_val: int = 20, seed: int = 0) -> tuple[list, list]:
    pairs = all_pairs(max_operand)
    random.Random(seed).shuffle(pairs)
    return pairs[n_val:], pairs[:n_val]


def rows(pairs: list[tuple[int, int]], split: str) -> list[dict]:
    return [
        {
            "data_source": DATA_SOURCE,
            "prompt": [{"role": "user", "content": question(a, b)}],
            "ability": "arithmetic",
            "reward_model": {"style": "rule", "ground_truth": str(a + b)},
            "extra_info": {"index": i, "split": split, "a": a, "b": b},
        }
        for i, (a, b) in enumerate(pairs)
    ]


def write_parquets(out_dir: str | Path, max_operand: int = 9, n_val: int = 20, seed: int = 0) -> tuple[str, str]:
    import pandas as pd

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train, val = split_pairs(max_operand, n_val, seed)
    train_path, val_path = out / "train.parquet", out / "val.parquet"
    pd.DataFrame(rows(train, "train")).to_parquet(train_path)
    pd.DataFrame(rows(val, "val")).to_parquet(val_path)
    return str(train_path), str(val_path)
