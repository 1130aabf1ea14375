"""``sppo.truncation``: responses cut at the length limit, detected, left out of the critic's BCE (mode=mask) and
penalised in the advantage; hand-computed values through the trainer's real step code (no Ray)."""

import math

import pytest
import torch

from sppo.advantage import compute_sppo_advantage
from sppo.critic_loss import TARGET_KEY, WEIGHT_KEY, sppo_value_loss
from sppo.options import TruncationOptions
from sppo.truncation import nested_lengths_and_last_tokens, truncated_responses
from tests.core.trainer_harness import advantages, make_trainer, nested, options, put_samples, run_step

LN3 = math.log(3.0)
LOGITS = {20: 0.0, 21: LN3, 22: -LN3}  # σ(V) = 0.5, 0.75, 0.25 by the prompt's last token
# response_length 3, EOS 9: a finished early, b and d cut at 3 tokens, c exactly 3 tokens ending in EOS
SAMPLES = [
    {"uid": "a", "prompt": [1, 20], "response": [5, 9], "reward": 1.0},
    {"uid": "b", "prompt": [1, 21], "response": [5, 6, 7], "reward": 0.0},
    {"uid": "c", "prompt": [1, 22], "response": [5, 6, 9], "reward": 0.0},
    {"uid": "d", "prompt": [1, 20], "response": [5, 6, 7], "reward": 0.0},
]


def test_truncated_means_the_limit_reached_without_eos():
    responses = nested([[5, 9], [5, 6, 7], [5, 6, 9], [5, 6, 7, 8], [4]])
    lengths, last = nested_lengths_and_last_tokens(responses)
    assert lengths.tolist() == [2, 3, 3, 4, 1] and last.tolist() == [9, 7, 9, 8, 4]
    assert truncated_responses(lengths, last, 3, {9}).tolist() == [False, True, False, True, False]
    assert truncated_responses(lengths, last, 3, {9, 7}).tolist() == [False, False, False, True, False]


def test_empty_responses_are_never_truncated():
    lengths, last = nested_lengths_and_last_tokens(nested([torch.zeros(0, dtype=torch.long), [3]]))
    assert lengths.tolist() == [0, 1] and last.tolist() == [-1, 3]
    assert truncated_responses(lengths, last, 1, [9]).tolist() == [False, True]


def test_estimator_penalty_only_on_truncated_valid_rows():
    rewards = torch.tensor([[1.0, 0], [0, 0], [0, 0]])
    mask = torch.tensor([[1, 1], [1, 1], [0, 0]])
    p = torch.tensor([0.5, 0.75, 0.5])
    truncated = torch.tensor([False, True, True])
    adv, ret = compute_sppo_advantage(
        rewards, mask, config={"sppo": {}}, reward_baselines=p, truncated=truncated, truncation_penalty=0.25
    )
    assert adv[:, 0].tolist() == [0.5, -1.0, 0.0]  # R − p, R − p − 0.25, padding row 0
    assert ret[:, 0].tolist() == [1.0, 0.0, 0.0]  # the critic's target stays R
    plain, _ = compute_sppo_advantage(rewards, mask, config={"sppo": {}}, reward_baselines=p, truncated=truncated)
    assert plain[:, 0].tolist() == [0.5, -0.75, 0.0]


def test_penalty_comes_before_whitening():
    rewards = torch.tensor([[1.0], [0.0], [0.0]])
    p = torch.tensor([0.5, 0.5, 0.5])
    adv, _ = compute_sppo_advantage(
        rewards,
        torch.ones(3, 1),
        config={"sppo": {"whiten": True}},
        reward_baselines=p,
        truncated=torch.tensor([False, False, True]),
        truncation_penalty=0.5,
    )
    raw = torch.tensor([0.5, -0.5, -1.0])
    assert adv[:, 0].tolist() == pytest.approx(((raw - raw.mean()) / (raw.std() + 1e-8)).tolist(), abs=1e-6)


def test_mask_mode_leaves_truncated_rows_out_of_the_bce_and_penalises_their_advantage(monkeypatch):
    t = make_trainer(monkeypatch, LOGITS)
    t.__dict__["sppo_options"] = options(truncation=TruncationOptions(mode="mask", penalty=0.25))
    batch = put_samples(t, SAMPLES)
    metrics = run_step(t, batch)
    assert metrics["truncation/share"] == 0.5
    assert metrics["truncation/critic_rows"] == 2.0
    assert advantages(t, batch) == pytest.approx([0.5, -1.0, -0.25, -0.75], abs=1e-6)
    (trained,) = t.critic_wg.trained
    assert trained[WEIGHT_KEY].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert trained[TARGET_KEY].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert [m.tolist() for m in trained["loss_mask"].unbind()] == [[0, 1], [0, 0], [0, 1], [0, 0]]
    # calibration over the rows the critic trains on (a: p 0.5, R 1; c: p 0.25, R 0)
    assert metrics["critic/brier"] == pytest.approx((0.25 + 0.0625) / 2)
    assert metrics["critic/sigmoid_v_mean"] == pytest.approx(0.375)
    # the BCE the worker computes on this batch: the mean over a and c only
    values = nested([torch.full((2,), LOGITS[int(r[-1])]) for r in trained["input_ids"].unbind()])
    loss, _ = sppo_value_loss(None, {"values": values}, trained)
    assert loss.item() == pytest.approx((math.log(2) - math.log(0.75)) / 2, abs=1e-6)


def test_none_mode_with_a_penalty_still_trains_the_critic_on_every_row(monkeypatch):
    t = make_trainer(monkeypatch, LOGITS)
    t.__dict__["sppo_options"] = options(truncation=TruncationOptions(mode="none", penalty=0.25))
    batch = put_samples(t, SAMPLES)
    metrics = run_step(t, batch)
    assert metrics["truncation/share"] == 0.5 and "truncation/critic_rows" not in metrics
    assert advantages(t, batch) == pytest.approx([0.5, -1.0, -0.25, -0.75], abs=1e-6)
    assert t.critic_wg.trained[0][WEIGHT_KEY].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert metrics["critic/brier"] == pytest.approx((0.25 + 0.5625 + 0.0625 + 0.25) / 4)


def test_off_by_default_is_plain_sppo(monkeypatch):
    t = make_trainer(monkeypatch, LOGITS)
    batch = put_samples(t, SAMPLES + [{"uid": "pad", "prompt": [1, 20], "response": [9], "padding": True}])
    metrics = run_step(t, batch)
    assert not any(k.startswith("truncation/") for k in metrics)
    assert advantages(t, batch) == pytest.approx([0.5, -0.75, -0.25, -0.5, 0.0], abs=1e-6)
    (trained,) = t.critic_wg.trained
    assert trained[WEIGHT_KEY].tolist() == [1.0, 1.0, 1.0, 1.0, 0.0]
    assert [m.tolist() for m in trained["loss_mask"].unbind()][-1] == [0, 0]
    assert metrics["critic/brier"] == pytest.approx((0.25 + 0.5625 + 0.0625 + 0.25) / 4)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"mode": "drop"}, "sppo.truncation.mode='drop'; choose none or mask"),
        ({"penalty": 1.5}, "sppo.truncation.penalty=1.5; expected a value in [0, 1]"),
        ({"penalty": -0.1}, "sppo.truncation.penalty=-0.1; expected a value in [0, 1]"),
    ],
)
def test_nonsense_is_refused_in_one_line(given, message):
    assert TruncationOptions.from_config(given).problems() == [message]
