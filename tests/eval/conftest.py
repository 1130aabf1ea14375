"""Shared fixtures of the evaluation tests: a tiny random policy and a 40-problem MATH-500 file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> None:
    """Keep torch to one thread: the tests run on a shared 2-core machine."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny Qwen2 policy with the byte-level ChatML tokenizer, saved as an HF directory."""
    from sppo_lab import tiny

    tokenizer = tiny.build_char_tokenizer()
    model = tiny.build_policy(tokenizer, tiny.TinyQwen2(max_position_embeddings=2048))
    return Path(tiny.save(model, tokenizer, tmp_path_factory.mktemp("tiny") / "model"))


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``offline_eval/math__math_500.parquet`` written by ``sppo.data.prepare`` from the fixture."""
    import io

    from sppo.data.prepare import prepare
    from sppo.data.sources import SPECS

    root = tmp_path_factory.mktemp("data")
    prepare(SPECS["math500"], root, source=FIXTURES / "math500_sample.jsonl", log=io.StringIO())
    return root / "offline_eval"


def verl_row(source: str, question: str, answer: str, **extra: Any) -> dict[str, Any]:
    """One benchmark row in verl's format (as sppo.data.prepare writes it)."""
    return {
        "data_source": source,
        "prompt": [{"role": "user", "content": question}],
        "ability": "math",
        "reward_model": {"style": "rule", "ground_truth": answer},
        "extra_info": {"index": 0, **extra},
    }
