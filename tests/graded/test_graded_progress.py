"""Issue 25: the graded warm-up printed nothing for 203 s: progress lines come at least every ``progress_s``
seconds during training, and one per level during the held-out evaluation."""

from __future__ import annotations

import pytest

from sppo_lab.graded import warmup


@pytest.fixture(scope="module")
def tiny():
    import torch

    from sppo_lab.tiny import TinyQwen2, build_char_tokenizer, build_policy

    torch.set_num_threads(1)
    tokenizer = build_char_tokenizer()
    return build_policy(
        tokenizer, TinyQwen2(hidden_size=32, intermediate_size=64, num_hidden_layers=1), seed=0
    ), tokenizer


def test_training_logs_at_least_every_progress_interval(tiny):
    model, tokenizer = tiny
    lines: list[str] = []
    cfg = warmup.WarmupConfig(steps=3, batch=2, warmup_steps=1)
    warmup.warm_up(model, tokenizer, cfg, log=lines.append, progress_s=0.0)
    assert [line.split("  ")[0] for line in lines] == [f"[graded warm-up] step {i}/3" for i in (1, 2, 3)]
    lines.clear()
    warmup.warm_up(model, tokenizer, cfg, log=lines.append, progress_s=3600.0)
    assert [line.split("  ")[0] for line in lines] == ["[graded warm-up] step 3/3"]  # the last step only


def test_evaluation_logs_one_line_per_level(tiny):
    model, tokenizer = tiny
    lines: list[str] = []
    prompts = [[1, 2], [3, 4], [1, 2, 3, 4]]
    result = warmup.evaluate(model, tokenizer, prompts, samples=2, max_new_tokens=3, log=lines.append)
    assert sorted(result) == ["2", "4"]
    assert [line.split(":")[0] for line in lines] == [
        "[graded evaluation] level k=2 (1/2)",
        "[graded evaluation] level k=4 (2/2)",
    ]
    assert lines[0].split(": ")[1].startswith(f"success {result['2']['success']:.3f} on 4 samples, ")
