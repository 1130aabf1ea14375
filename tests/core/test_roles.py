"""sppo.roles states verl's role rules once: equal to verl's own need_critic / need_reference_policy."""

from __future__ import annotations

import itertools

import pytest
from omegaconf import OmegaConf
from verl.trainer.ppo.utils import need_critic, need_reference_policy

from sppo.roles import critic_on, ref_on


def _config(estimator: str, enable, kl_loss: bool, kl_reward: bool) -> dict:
    return {
        "algorithm": {"adv_estimator": estimator, "use_kl_in_reward": kl_reward},
        "critic": {"enable": enable},
        "actor_rollout_ref": {"actor": {"use_kl_loss": kl_loss}},
    }


@pytest.mark.parametrize(
    "estimator,enable,kl_loss,kl_reward",
    list(itertools.product(["gae", "grpo", "no_baseline", "sppo"], [None, True, False], [False, True], [False, True])),
)
def test_rules_equal_verls(estimator, enable, kl_loss, kl_reward):
    cfg = _config(estimator, enable, kl_loss, kl_reward)
    verl_cfg = OmegaConf.create(cfg)
    assert ref_on(cfg) == bool(need_reference_policy(verl_cfg)) == ref_on(verl_cfg)
    if estimator == "sppo" and enable is None:
        # verl alone leaves an unset critic off for a custom estimator; sppo.main sets it on before verl reads it
        assert critic_on(cfg) is True and not need_critic(verl_cfg)
    else:
        assert critic_on(cfg) == bool(need_critic(verl_cfg)) == critic_on(verl_cfg)
