"""Issue 28's options refused in one line where they make no sense, before anything starts
(``sppo.config_checks.check_config``, on a minimal config: no hydra, no model files)."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from sppo.config_checks import SPPOConfigError, check_config


def _config(estimator: str = "sppo", sppo: dict | None = None, **dotted):
    cfg = OmegaConf.create(
        {
            "algorithm": {"adv_estimator": estimator, "sppo": {}},
            "critic": {"enable": None, "model": {"path": "/nonexistent/critic"}},
            "actor_rollout_ref": {"model": {"path": "/nonexistent/policy"}, "rollout": {"n": 1}},
            "trainer": {"critic_warmup": 0, "v1": {"trainer_mode": "sync"}},
            "data": {"train_batch_size": 8},
            "sppo": sppo or {},
        }
    )
    for key, value in dotted.items():
        OmegaConf.update(cfg, key.replace("__", "."), value, force_add=True)
    return cfg


def _refusal(cfg) -> str:
    with pytest.raises(SPPOConfigError) as err:
        check_config(cfg)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_every_option_on_at_once_is_accepted():
    cfg = _config(
        sppo={
            "adaptive_norm": {"enable": True},
            "truncation": {"mode": "mask", "penalty": 0.1},
            "critic_warmstart": {"epochs": 2},
            "adaptive_n": {"enable": True, "budget": 16},
        },
        trainer__critic_warmup=3,
    )
    check_config(cfg)
    assert cfg.critic.enable is True


@pytest.mark.parametrize(
    ("sppo", "setting"),
    [
        ({"adaptive_norm": {"enable": True}}, "sppo.adaptive_norm.enable=true"),
        ({"truncation": {"mode": "mask"}}, "sppo.truncation.mode=mask"),
        ({"truncation": {"penalty": 0.5}}, "sppo.truncation.penalty=0.5"),
        ({"critic_warmstart": {"epochs": 3}}, "sppo.critic_warmstart.epochs=3"),
        ({"adaptive_n": {"enable": True}}, "sppo.adaptive_n.enable=true"),
    ],
)
def test_each_option_needs_the_sppo_estimator(sppo, setting):
    assert _refusal(_config("grpo", sppo)) == (
        f"{setting} needs algorithm.adv_estimator=sppo, not 'grpo' (it works on SPPO's prompt-only critic)"
    )


def test_adaptive_norm_and_whitening_exclude_each_other():
    cfg = _config(sppo={"adaptive_norm": {"enable": True}}, algorithm__sppo__whiten=True)
    assert _refusal(cfg) == (
        "sppo.adaptive_norm.enable=true with algorithm.sppo.whiten=true: whitening already normalises every "
        "step's advantages; choose one"
    )


@pytest.mark.parametrize("warmup", [0, 1])
def test_warm_start_needs_warm_up_steps(warmup):
    cfg = _config(sppo={"critic_warmstart": {"epochs": 2}}, trainer__critic_warmup=warmup)
    assert _refusal(cfg) == (
        f"sppo.critic_warmstart.epochs=2 needs warm-up steps, and trainer.critic_warmup={warmup} has none: set "
        "trainer.critic_warmup >= 2 (steps 1 .. critic_warmup - 1 train the critic only)"
    )


def test_adaptive_n_refusals():
    on = {"adaptive_n": {"enable": True}}
    assert _refusal(_config(sppo=on, actor_rollout_ref__rollout__n=8)) == (
        "sppo.adaptive_n.enable=true sets each prompt's sample count itself: leave actor_rollout_ref.rollout.n=1 "
        "(got 8)"
    )
    assert _refusal(_config(sppo=on, trainer__v1__trainer_mode="colocate_async")) == (
        "sppo.adaptive_n.enable=true runs with trainer.v1.trainer_mode=sync only (got colocate_async)"
    )
    for budget in (7, 33):
        cfg = _config(sppo={"adaptive_n": {"enable": True, "budget": budget}})
        assert _refusal(cfg) == (
            f"sppo.adaptive_n.budget={budget} samples per step must lie in [data.train_batch_size, "
            "max_n x data.train_batch_size] = [8, 32]"
        )
    check_config(_config(sppo={"adaptive_n": {"enable": True, "budget": 8}}))  # the edges are fine
    check_config(_config(sppo={"adaptive_n": {"enable": True, "budget": 32}}))


def test_out_of_range_values_are_refused_before_combinations():
    cfg = _config(sppo={"adaptive_n": {"enable": True, "max_n": 1}})
    assert _refusal(cfg) == "sppo.adaptive_n.max_n=1; expected an integer >= 2"
