"""Each algorithm learns an easy setting (Precision CartPole, H = 50) within a small budget, and a
run is a deterministic function of its seed."""

import pytest

from sppo_lab.control import grpo, ppo, sppo
from sppo_lab.control.report import smoothed_success

MODULES = {"sppo": sppo, "ppo": ppo, "grpo": grpo}


@pytest.mark.parametrize("algo", list(MODULES))
def test_learns_precision_cartpole_h50(algo):
    mod = MODULES[algo]
    args = mod.Args(env="cartpole", horizon=50, seed=0, total_steps=20_000, eval_episodes=32, log_every_s=0)
    result = mod.train(args)
    curve = result["curve"]
    first = curve[:4]  # the untrained policy: about 2 % (random policy, documented p0)
    start_rate = sum(p["successes"] for p in first) / sum(p["episodes"] for p in first)
    _, _, smoothed = smoothed_success(curve)
    assert start_rate <= 0.15, start_rate
    assert smoothed[-1] >= 0.6, smoothed[-1]
    assert result["final_success"] >= 0.7, result["final_success"]
    assert result["env_steps"] >= 20_000
    # the standard diagnostics are logged at every iteration
    diag = curve[-1]["diagnostics"]
    for key in ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac", "explained_variance", "steps_per_s"):
        assert key in diag
    if algo != "grpo":
        assert diag["value_loss"] is not None


def test_same_seed_same_run_different_seed_different_run():
    def run(seed):
        r = sppo.train(
            sppo.Args(env="mountaincar", horizon=30, seed=seed, total_steps=1500, eval_episodes=8, log_every_s=0)
        )
        return (
            [(p["env_steps"], p["successes"], p["diagnostics"]["policy_loss"]) for p in r["curve"]],
            r["final_success"],
        )

    assert run(3) == run(3)
    assert run(3) != run(4)
