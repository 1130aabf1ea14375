"""Issue 28's options through the real verl trainer on CPU (``python -m sppo.main``: Ray, FSDP2 on gloo, hf rollout).

One launch turns on adaptive normalisation, the truncation-aware critic target and the critic warm start together,
with responses of at most 2 tokens so that many are cut; a second launch runs adaptive N. Each launch costs minutes on
2 cores, so each runs 2-3 steps and checks the logged metrics against each other and against the per-sample
calibration log (the rows the critic trained on), exactly.

The policy is built for the test: a tiny Qwen2 whose next-token distribution is the same after every prompt (the
first embedding dimension is a constant that the final norm alone passes to the output layer), about 0.45 on "3",
0.3 on the end-of-sequence token and 0.25 spread over the rest. Every prompt asks for a sum of 3, so "3" then EOS
solves it (R = 1 for about 0.14 of responses) and about half of the 2-token responses are cut at the limit.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import run_sppo_main, tiny_overrides

pytestmark = [pytest.mark.ray, pytest.mark.timeout(1500)]

SUM_3 = [(0, 3), (1, 2), (2, 1), (3, 0)] * 2  # eight training prompts, every answer "3"
TARGET_PROBS = {"3": 0.45, "eos": 0.3}  # the rest (257 tokens) share 0.25


def _answering_policy(root: Path) -> str:
    """The tiny policy described in the module docstring, saved with its tokenizer."""
    import torch
    from transformers import GenerationConfig, Qwen2ForCausalLM

    from sppo_lab.tiny import TinyQwen2, build_char_tokenizer, save

    tok = build_char_tokenizer()
    config = TinyQwen2().config(tok)
    config.tie_word_embeddings = False
    torch.manual_seed(1)
    model = Qwen2ForCausalLM(config).eval()
    rest = len(tok) - 2
    z = rest / (1.0 - sum(TARGET_PROBS.values()))  # the other tokens keep logit 0
    with torch.no_grad():
        model.model.embed_tokens.weight[:, 0] = 50.0
        model.model.norm.weight.zero_()
        model.model.norm.weight[0] = 1.0
        prompt = tok.apply_chat_template(
            [{"role": "user", "content": "What is 1+2?"}], add_generation_prompt=True, tokenize=True, return_dict=False
        )
        h0 = float(model(torch.tensor([prompt]), output_hidden_states=True).hidden_states[-1][0, -1, 0])
        model.lm_head.weight.zero_()
        for token, p in (("3", TARGET_PROBS["3"]), (tok.eos_token, TARGET_PROBS["eos"])):
            model.lm_head.weight[tok.convert_tokens_to_ids(token), 0] = math.log(p * z) / h0
    model.generation_config = GenerationConfig(
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, do_sample=True
    )
    return save(model, tok, root / "answering_policy")


def _data(root: Path) -> str:
    from sppo_lab.quickstart import task

    path = root / "sum3.parquet"
    pd.DataFrame(task.rows(SUM_3, "train")).to_parquet(path)
    return str(path)


def _replace(overrides: list[str], **values: str) -> list[str]:
    keys = {k.replace("__", "."): v for k, v in values.items()}
    return [o for o in overrides if o.split("=", 1)[0] not in keys] + [f"{k}={v}" for k, v in keys.items()]


def _calibration_rows(path: Path) -> dict[int, int]:
    """step -> samples the critic trained on (sppo.calibration_log: one line per step)."""
    return {row["step"]: len(row["p"]) for row in map(json.loads, path.read_text().splitlines())}


def test_adaptive_norm_truncation_mask_and_critic_warmstart_together(tiny_task, tmp_path):
    out = tmp_path / "run"
    calib = out / "calibration.jsonl"
    data = _data(tmp_path)
    overrides = _replace(
        tiny_overrides(tiny_task, out, steps=3),
        actor_rollout_ref__model__path=_answering_policy(tmp_path),
        data__train_files=data,
        data__val_files=data,
        data__max_response_length="2",
    ) + [
        f"sppo.calibration_log={calib}",
        "trainer.critic_warmup=3",  # steps 1 and 2 train the critic only
        "sppo.critic_warmstart.epochs=2",
        "sppo.truncation.mode=mask",
        "sppo.truncation.penalty=0.1",
        "sppo.adaptive_norm.enable=true",
        "sppo.adaptive_norm.threshold=0.05",
        "sppo.adaptive_norm.ema_decay=0.5",
    ]
    result = run_sppo_main(overrides, out)
    assert result.returncode == 0, result.log[-4000:]
    steps = result.steps
    assert [r["step"] for r in steps] == [1, 2, 3]
    d = [r["data"] for r in steps]
    trained = _calibration_rows(calib)

    # truncation: the logged share, the BCE's rows and the calibration log's rows agree at every step
    shares = [x["truncation/share"] for x in d]
    for step, x in enumerate(d, start=1):
        assert x["truncation/critic_rows"] == round(8 * (1 - x["truncation/share"]))
        assert trained.get(step, 0) == x["truncation/critic_rows"]
    assert 0.0 < sum(shares) / 3 < 1.0, shares  # many cut at 2 tokens, not all

    # warm start: steps 1 and 2 replay every warm-up row so far; the actor first updates at step 3
    assert d[0]["critic_warmstart/replay_rows"] == d[0]["truncation/critic_rows"]
    assert d[1]["critic_warmstart/replay_rows"] == d[0]["truncation/critic_rows"] + d[1]["truncation/critic_rows"]
    assert "critic_warmstart/replay_rows" not in d[2]
    assert ["actor/pg_loss" in x for x in d] == [False, False, True]

    # adaptive normalisation: step 1 normalises (no history); each later step's regime follows the moving average
    # (decay 0.5) of the earlier steps' critic/explained_var, which is undefined (null) where all rewards were equal
    ema, handed_over = None, False
    for x in d:
        assert x["adaptive_norm/normalizing"] == (0.0 if handed_over else 1.0)
        assert x.get("adaptive_norm/explained_var_ema") == (None if ema is None else pytest.approx(ema))
        ev = x.get("critic/explained_var")
        if ev is not None and math.isfinite(ev):
            ema = ev if ema is None else 0.5 * ema + 0.5 * ev
            handed_over = handed_over or ema >= 0.05
    assert all(math.isfinite(x["critic/bce_loss"]) for x in d)


def test_adaptive_n_allocates_the_budget_and_keeps_the_configured_updates(tiny_task, tmp_path):
    out = tmp_path / "run"
    calib = out / "calibration.jsonl"
    data = _data(tmp_path)
    overrides = _replace(
        tiny_overrides(tiny_task, out, steps=2),
        actor_rollout_ref__model__path=_answering_policy(tmp_path),
        data__train_files=data,
        data__val_files=data,
        # 8 prompts in 2 updates of 4 prompts each (verl's sizing would make 3 updates of 4 out of 12 samples)
        actor_rollout_ref__actor__ppo_mini_batch_size="4",
        actor_rollout_ref__actor__ppo_micro_batch_size_per_gpu="2",
        actor_rollout_ref__rollout__log_prob_micro_batch_size_per_gpu="2",
        critic__ppo_mini_batch_size="4",
        critic__ppo_micro_batch_size_per_gpu="2",
    ) + [
        f"sppo.calibration_log={calib}",
        "sppo.adaptive_n.enable=true",
        "sppo.adaptive_n.max_n=3",
        "sppo.adaptive_n.budget=12",
    ]
    result = run_sppo_main(overrides, out)
    assert result.returncode == 0, result.log[-4000:]
    d = [r["data"] for r in result.steps]
    assert len(d) == 2
    for step, x in enumerate(d, start=1):
        assert x["adaptive_n/samples"] == 12.0 and x["adaptive_n/n_mean"] == 1.5
        assert 2.0 <= x["adaptive_n/n_max"] <= 3.0
        # the step trained on the 12 generated samples (a multiple of 2 updates x micro-batches of 2: no padding)
        assert _calibration_rows(calib)[step] == 12
        assert x["adaptive_n/actor_updates"] == 2.0 and x["adaptive_n/actor_mini_batch"] == 6.0
        assert math.isfinite(x["actor/pg_loss"]) and math.isfinite(x["critic/bce_loss"])
