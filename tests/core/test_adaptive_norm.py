"""``sppo.adaptive_norm``: batch-normalised advantages until the critic's explained variance passes a threshold, then
plain R − σ(V); hand-computed values, and the regime across steps of the trainer's real step code (no Ray)."""

import json
import math

import pytest
import torch
from verl.trainer.ppo.v1.trainer_base import PPOTrainer

from sppo.adaptive_norm import AdaptiveNormState
from sppo.advantage import compute_sppo_advantage, normalize_advantages
from sppo.options import AdaptiveNormOptions
from tests.core.trainer_harness import advantages, make_trainer, options, put_samples, run_step

ALL = torch.tensor([True, True, True])


def test_whiten_regime_on_hand_values():
    # A = [0.5, -0.5, -0.25]: mean -1/12, unbiased std sqrt(0.541667 / 2) = 0.520416
    out, applied = normalize_advantages(torch.tensor([0.5, -0.5, -0.25]), torch.tensor([1.0, 0, 0]), ALL)
    assert applied
    assert out.tolist() == pytest.approx([1.120897, -0.800641, -0.320256], abs=1e-5)


def test_scale_regime_divides_only():
    out, applied = normalize_advantages(torch.tensor([0.5, -0.5, -0.25]), torch.tensor([1.0, 0, 0]), ALL, center=False)
    assert applied
    assert out.tolist() == pytest.approx([0.960769, -0.960769, -0.480384], abs=1e-5)


def test_no_outcome_contrast_is_left_alone():
    # all rewards 0 and σ(V) nearly constant: normalising would blow the critic's noise up to ±1 (or -500 scaled)
    adv = torch.tensor([-0.5, -0.501, -0.499, 0.3])
    valid = torch.tensor([True, True, True, False])
    out, applied = normalize_advantages(adv, torch.tensor([0.0, 0, 0, 1]), valid)
    assert not applied
    assert out.tolist() == pytest.approx([-0.5, -0.501, -0.499, 0.0])
    one, applied = normalize_advantages(torch.tensor([0.5, 0.2]), torch.tensor([1.0, 0]), torch.tensor([True, False]))
    assert not applied and one.tolist() == [0.5, 0.0]


def test_estimator_normalize_argument():
    rewards = torch.tensor([[1.0], [0.0], [0.0]])
    p = torch.tensor([0.5, 0.5, 0.25])
    adv, _ = compute_sppo_advantage(
        rewards, torch.ones(3, 1), config={"sppo": {}}, reward_baselines=p, normalize="whiten"
    )
    assert adv[:, 0].tolist() == pytest.approx([1.120897, -0.800641, -0.320256], abs=1e-5)
    with pytest.raises(ValueError, match="normalize must be None or one of"):
        compute_sppo_advantage(rewards, torch.ones(3, 1), config={"sppo": {}}, reward_baselines=p, normalize="std")


def test_state_moving_average_and_hand_over():
    s = AdaptiveNormState()
    s.update(float("nan"), decay=0.5, threshold=0.1)  # undefined (equal rewards): skipped
    assert s.ema is None and s.normalizing
    s.update(-0.2, decay=0.5, threshold=0.1)
    assert s.ema == -0.2  # the first defined value starts the average
    s.update(0.1, decay=0.5, threshold=0.1)
    assert s.ema == pytest.approx(-0.05) and s.normalizing
    s.update(0.4, decay=0.5, threshold=0.1)
    assert s.ema == pytest.approx(0.175) and not s.normalizing
    s.update(-1.0, decay=0.5, threshold=0.1)  # handed over for good
    assert not s.normalizing
    assert AdaptiveNormState.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    last = AdaptiveNormState()
    last.update(0.3, decay=0.0, threshold=0.5)
    last.update(0.2, decay=0.0, threshold=0.5)
    assert last.ema == 0.2 and last.normalizing


def _step(t, tag: str, prompts: list[int]):
    """Four samples, the first solved; prompt i ends in token prompts[i] (the critic's logit lookup)."""
    samples = [
        {"uid": f"{tag}{i}", "prompt": [1, tok], "response": [5, 9], "reward": float(i == 0)}
        for i, tok in enumerate(prompts)
    ]
    batch = put_samples(t, samples)
    return batch, run_step(t, batch)


def test_regime_follows_the_explained_variance_of_earlier_steps(monkeypatch):
    logits = {20: 0.0, 21: math.log(3.0), 22: -math.log(3.0)}  # σ(V) 0.5, 0.75, 0.25
    t = make_trainer(monkeypatch, logits)
    t.__dict__["sppo_options"] = options(adaptive_norm=AdaptiveNormOptions(enable=True, threshold=0.1, ema_decay=0.0))

    # step 1: σ(V) = 0.5 everywhere explains nothing (EV 0); no history yet: normalised
    batch, m = _step(t, "s1_", [20, 20, 20, 20])
    assert m["adaptive_norm/normalizing"] == 1.0 and "adaptive_norm/explained_var_ema" not in m
    assert advantages(t, batch) == pytest.approx([1.5, -0.5, -0.5, -0.5], abs=1e-6)  # whitened [.5,-.5,-.5,-.5]
    assert m["critic/explained_var"] == pytest.approx(0.0, abs=1e-12)

    # step 2: σ(V) now separates the outcomes (EV 0.75), but the regime comes from step 1's EV 0: normalised
    t.global_steps = 2
    batch, m = _step(t, "s2_", [21, 22, 22, 22])
    assert m["adaptive_norm/normalizing"] == 1.0 and m["adaptive_norm/explained_var_ema"] == pytest.approx(0.0)
    assert advantages(t, batch) == pytest.approx([1.5, -0.5, -0.5, -0.5], abs=1e-6)  # whitened [.25,-.25,-.25,-.25]
    assert m["critic/explained_var"] == pytest.approx(0.75)

    # step 3: handed over (0.75 >= 0.1): plain R − σ(V)
    t.global_steps = 3
    batch, m = _step(t, "s3_", [21, 22, 22, 22])
    assert m["adaptive_norm/normalizing"] == 0.0 and m["adaptive_norm/explained_var_ema"] == pytest.approx(0.75)
    assert advantages(t, batch) == pytest.approx([0.25, -0.25, -0.25, -0.25], abs=1e-6)


def test_scale_regime_through_the_trainer(monkeypatch):
    t = make_trainer(monkeypatch, {20: 0.0})
    t.__dict__["sppo_options"] = options(adaptive_norm=AdaptiveNormOptions(enable=True, center=False))
    batch, m = _step(t, "x", [20, 20, 20, 20])
    # [.5,-.5,-.5,-.5] / unbiased std 0.5
    assert advantages(t, batch) == pytest.approx([1.0, -1.0, -1.0, -1.0], abs=1e-6)


def test_off_leaves_the_advantage_and_metrics_alone(monkeypatch):
    t = make_trainer(monkeypatch, {20: 0.0})
    batch, m = _step(t, "x", [20, 20, 20, 20])
    assert advantages(t, batch) == pytest.approx([0.5, -0.5, -0.5, -0.5])
    assert not any(k.startswith("adaptive_norm/") for k in m)


def test_state_survives_a_checkpoint_and_resume(monkeypatch, tmp_path):
    monkeypatch.setattr(PPOTrainer, "_save_checkpoint", lambda self: None)  # verl's model/optimizer saving

    def load(self):
        self.global_steps = 7

    monkeypatch.setattr(PPOTrainer, "_load_checkpoint", load)
    t = make_trainer(monkeypatch, {20: 0.0}, tmp_path=tmp_path)
    t.__dict__["sppo_options"] = options(adaptive_norm=AdaptiveNormOptions(enable=True))
    t.global_steps = 7
    t._adaptive_norm_state = AdaptiveNormState(ema=0.3, handed_over=True)
    t._save_checkpoint()
    saved = tmp_path / "global_step_7" / "sppo_adaptive_norm.json"
    assert json.loads(saved.read_text()) == {"ema": 0.3, "handed_over": True}

    resumed = make_trainer(monkeypatch, {20: 0.0}, tmp_path=tmp_path)
    resumed.__dict__["sppo_options"] = options(adaptive_norm=AdaptiveNormOptions(enable=True))
    resumed._load_checkpoint()
    assert resumed._norm_state == AdaptiveNormState(ema=0.3, handed_over=True)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"threshold": 0.0}, "sppo.adaptive_norm.threshold=0; expected a value in (0, 1) (an explained variance)"),
        ({"threshold": 1.0}, "sppo.adaptive_norm.threshold=1; expected a value in (0, 1) (an explained variance)"),
        ({"ema_decay": 1.0}, "sppo.adaptive_norm.ema_decay=1; expected a value in [0, 1)"),
    ],
)
def test_nonsense_is_refused_in_one_line(given, message):
    assert AdaptiveNormOptions.from_config({"enable": True, **given}).problems() == [message]
