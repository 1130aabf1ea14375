"""``sppo.critic_warmstart``: at verl's critic_warmup steps the critic trains ``epochs`` epochs on every warm-up rollout
so far; after them, on the step's own rollouts again (the trainer's real step code, no Ray)."""

import math

import pytest
import torch
from verl.utils import tensordict_utils as tu

from sppo.critic_loss import TARGET_KEY, WEIGHT_KEY, sppo_value_loss
from sppo.critic_warmstart import replay_batch, trained_rows
from sppo.options import CriticWarmstartOptions, TruncationOptions
from sppo.trainer import prompt_only_batch
from tests.core.trainer_harness import make_trainer, nested, options, put_samples, run_step

LOGITS = {20: 0.0, 21: math.log(3.0)}  # σ(V) 0.5 and 0.75


def _td(prompts, targets, weights):
    td = prompt_only_batch(nested(prompts), None, torch.tensor(weights))
    td[TARGET_KEY] = torch.tensor(targets)
    td[WEIGHT_KEY] = torch.tensor(weights)
    return td


def test_replay_keeps_trained_rows_and_pads_with_weightless_copies():
    rows = trained_rows(_td([[1, 20], [1, 2, 21], [1, 21]], [1.0, 0.0, 0.0], [1.0, 0.0, 1.0]))
    assert [r["input_ids"].tolist() for r in rows] == [[1, 20], [1, 21]]
    batch = replay_batch(rows, multiple=4)
    assert len(batch) == 4
    assert [r.tolist() for r in batch["input_ids"].unbind()] == [[1, 20], [1, 21], [1, 21], [1, 21]]
    assert [r.tolist() for r in batch["position_ids"].unbind()] == [[0, 1]] * 4
    assert batch[WEIGHT_KEY].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert batch[TARGET_KEY].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert [m.tolist() for m in batch["loss_mask"].unbind()] == [[0, 1], [0, 1], [0, 0], [0, 0]]
    assert len(replay_batch(rows, multiple=2)) == 2
    with pytest.raises(ValueError, match="at least one row"):
        replay_batch([], multiple=2)


def _samples(tag, solved):
    return [
        {"uid": f"{tag}{i}", "prompt": [1, 20 + (i % 2)], "response": [5, 9], "reward": float(i in solved)}
        for i in range(4)
    ]


def test_each_warmup_step_replays_all_warmup_rollouts_then_stops(monkeypatch):
    t = make_trainer(monkeypatch, LOGITS, trainer__critic_warmup=3)  # steps 1 and 2 skip the actor update
    t.__dict__["sppo_options"] = options(critic_warmstart=CriticWarmstartOptions(epochs=3))

    m1 = run_step(t, put_samples(t, _samples("a", {0})))
    t.global_steps = 2
    m2 = run_step(t, put_samples(t, _samples("b", {1, 2})))
    t.global_steps = 3
    m3 = run_step(t, put_samples(t, _samples("c", {3})))

    first, second, third = t.critic_wg.trained
    assert m1["critic_warmstart/replay_rows"] == 4.0 and m2["critic_warmstart/replay_rows"] == 8.0
    assert "critic_warmstart/replay_rows" not in m3
    assert [len(first), len(second), len(third)] == [4, 8, 4]
    assert second[TARGET_KEY].tolist() == [1.0, 0, 0, 0, 0, 1, 1, 0]  # step 1's rows, then step 2's
    assert [r.tolist() for r in second["input_ids"].unbind()] == [[1, 20], [1, 21]] * 4
    assert third[TARGET_KEY].tolist() == [0.0, 0, 0, 1]
    assert [tu.get(b, "epochs") for b in (first, second, third)] == [3, 3, 1]  # then critic.ppo_epochs again
    assert [tu.get(b, "mini_batch_size") for b in (first, second, third)] == [2, 2, 2]  # 1, 4 then 2 updates/epoch
    # the replayed batch's BCE is the mean over all 8 warm-up rollouts
    values = nested([torch.full((2,), LOGITS[int(r[-1])]) for r in second["input_ids"].unbind()])
    loss, _ = sppo_value_loss(None, {"values": values}, second)
    bce = {(20, 1.0): math.log(2), (20, 0.0): math.log(2), (21, 1.0): -math.log(0.75), (21, 0.0): -math.log(0.25)}
    expected = sum(bce[(20 + i % 2, r)] for i, r in enumerate(second[TARGET_KEY].tolist())) / 8
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_truncated_rows_masked_from_the_bce_are_not_replayed(monkeypatch):
    t = make_trainer(monkeypatch, LOGITS, trainer__critic_warmup=2)
    t.__dict__["sppo_options"] = options(
        critic_warmstart=CriticWarmstartOptions(epochs=2), truncation=TruncationOptions(mode="mask")
    )
    samples = _samples("a", {0})
    samples[1]["response"] = [5, 6, 7]  # cut at response_length 3
    m = run_step(t, put_samples(t, samples))
    (trained,) = t.critic_wg.trained
    assert m["critic_warmstart/replay_rows"] == 3.0
    assert trained[WEIGHT_KEY].tolist() == [1.0, 1.0, 1.0, 0.0]  # three rows, one weightless copy to make 2 x 2
    assert trained[TARGET_KEY].tolist() == [1.0, 0.0, 0.0, 0.0]


def test_off_trains_on_the_step_alone(monkeypatch):
    t = make_trainer(monkeypatch, LOGITS, trainer__critic_warmup=3)
    run_step(t, put_samples(t, _samples("a", {0})))
    t.global_steps = 2
    m = run_step(t, put_samples(t, _samples("b", {1})))
    assert [len(b) for b in t.critic_wg.trained] == [4, 4]
    assert not any(k.startswith("critic_warmstart/") for k in m)


def test_negative_epochs_are_refused_in_one_line():
    assert CriticWarmstartOptions.from_config({"epochs": -1}).problems() == [
        "sppo.critic_warmstart.epochs=-1; expected an integer >= 0 (0: off)"
    ]
