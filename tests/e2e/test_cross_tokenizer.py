"""A critic of another model family, with its own tokenizer, through the real trainer on CPU (sppo.critic_retokenize)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from tests.conftest import run_sppo_main, tiny_overrides

pytestmark = [pytest.mark.ray, pytest.mark.timeout(900)]

# operands of different widths, so prompt lengths vary, and differently under the two tokenizers
PAIRS = [(3, 4), (12, 5), (100, 23), (7, 1000), (45, 67), (0, 9), (250, 4), (8, 88)]


def _replace(overrides: list[str], **values: str) -> list[str]:
    keys = {k.replace("__", "."): v for k, v in values.items()}
    kept = [o for o in overrides if o.split("=", 1)[0] not in keys]
    return kept + [f"{k}={v}" for k, v in keys.items()]


def _mean_prompt_tokens(path: str, prompts: list) -> float:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    lengths = [
        len(tok.apply_chat_template(list(p), add_generation_prompt=True, tokenize=True, return_dict=False))
        for p in prompts
    ]
    return sum(lengths) / len(lengths)


def test_other_family_critic_reads_its_own_tokens(tiny_task, other_family_critic, tmp_path):
    from sppo.quickstart import task

    data = tmp_path / "train.parquet"
    pd.DataFrame(task.rows(PAIRS, "train")).to_parquet(data)
    prompts = [list(p) for p in pd.read_parquet(data)["prompt"]]
    critic_mean = _mean_prompt_tokens(other_family_critic, prompts)
    policy_mean = _mean_prompt_tokens(tiny_task.policy, prompts)
    assert abs(critic_mean - policy_mean) > 5, (critic_mean, policy_mean)

    out = tmp_path / "run"
    overrides = _replace(
        tiny_overrides(tiny_task, out, steps=2),
        data__train_files=str(data),
        data__val_files=str(data),
        data__train_batch_size=str(len(PAIRS)),  # every step's batch is the whole data set
        data__max_prompt_length="64",
        critic__model__path=other_family_critic,
    ) + ["sppo.critic_retokenize=true"]
    result = run_sppo_main(overrides, out)
    assert result.returncode == 0, result.log[-4000:]
    assert [r["step"] for r in result.steps] == [1, 2]
    for row in result.steps:
        d = row["data"]
        assert math.isfinite(d["critic/bce_loss"])
        # the critic read its own tokenization of every prompt, not the policy's ids
        assert d["critic/prompt_tokens_mean"] == pytest.approx(critic_mean)
