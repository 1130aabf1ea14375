"""Warm starts (identical for every algorithm of a seed, cached, in the tuned band) and the
statistics of the report (t-interval, paired bootstrap) on hand-computed values."""

import dataclasses
import math
import os

import numpy as np
import pytest
import torch

from sppo_lab.control import grpo, ppo, sppo
from sppo_lab.control import warmstart as ws
from sppo_lab.control.common import Actor, CommonArgs, evaluate, make_vector_env
from sppo_lab.control.envs import make_env
from sppo_lab.control.report import paired_bootstrap, t_interval

MODULES = {"sppo": sppo, "ppo": ppo, "grpo": grpo}


# --- statistics -----------------------------------------------------------------------------
def test_t_interval_hand_computed():
    # mean 2, sample std sqrt(2.5), t_{0.975, 4} = 2.776445: 2.776445 * sqrt(2.5 / 5) = 1.963243
    m, h = t_interval([0, 1, 2, 3, 4])
    assert m == 2.0 and h == pytest.approx(1.963243, abs=1e-6)
    # two values: t_{0.975, 1} = 12.706205, std 0.141421 / sqrt(2) = 0.1 -> 1.2706205
    assert t_interval([0.4, 0.6]) == pytest.approx((0.5, 1.2706205))
    assert t_interval([0.3]) == (0.3, 0.0)
    assert t_interval([0.25] * 5) == (0.25, 0.0)


def test_paired_bootstrap_exact_cases():
    # constant per-seed difference: every resample has mean 0.25 (within float rounding)
    assert paired_bootstrap([0.5, 0.75, 1.0], [0.25, 0.5, 0.75]) == pytest.approx((0.25, 0.25, 0.25))
    # differences (1, 0): a resample is all 0 (p 1/4) or all 1 (p 1/4) -> percentiles 2.5 / 97.5
    # fall inside those masses exactly
    assert paired_bootstrap([1.0, 0.0], [0.0, 0.0]) == (0.5, 0.0, 1.0)
    # differences (0, 1, 2): all-0 and all-2 resamples each have p 1/27 > 2.5 %
    assert paired_bootstrap([0.0, 1.0, 2.0], [0.0, 0.0, 0.0]) == (1.0, 0.0, 2.0)
    # pairing matters: the same values unpaired by seed would not give a zero-width interval
    a, b = [0.9, 0.5, 0.1], [0.8, 0.4, 0.0]
    m, lo, hi = paired_bootstrap(a, b)
    assert (m, lo, hi) == pytest.approx((0.1, 0.1, 0.1))
    # swapping the algorithms mirrors the interval (same resampled seed indices)
    m1, lo1, hi1 = paired_bootstrap([0.2, 0.9, 0.4, 0.7], [0.1, 0.3, 0.6, 0.2])
    m2, lo2, hi2 = paired_bootstrap([0.1, 0.3, 0.6, 0.2], [0.2, 0.9, 0.4, 0.7])
    assert (m2, lo2, hi2) == pytest.approx((-m1, -hi1, -lo1))
    assert lo1 < m1 < hi1 and -0.2 <= lo1 and hi1 <= 0.6  # inside [min, max] of the differences
    with pytest.raises(ValueError, match="equal-length"):
        paired_bootstrap([], [])


# --- warm start pieces ----------------------------------------------------------------------
def test_bc_targets_are_the_noisy_controller_distribution():
    t = ws.bc_targets(torch.tensor([0, 1, 2]), 3, 0.3)
    expected = [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]]
    np.testing.assert_allclose(t.numpy(), expected, rtol=0, atol=1e-7)


@pytest.mark.parametrize("name", ["cartpole", "mountaincar", "pendulum"])
def test_scripted_controllers_succeed_without_noise(name):
    env = make_env(name, 200)
    for seed in range(3):
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            obs, r, done, _, _ = env.step(ws.CONTROLLERS[name](env, obs))
        assert r == 1.0, (name, seed)


def test_dense_hopper_pays_forward_and_control_terms():
    env = ws.DenseHopper(50)
    obs, _ = env.reset(seed=0)
    sparse = make_env("hopper", 50)
    obs2, _ = sparse.reset(seed=0)
    np.testing.assert_array_equal(obs, obs2)
    a = np.array([0.5, -0.5, 0.2], dtype=np.float32)
    obs, r, done, _, info = env.step(a)
    obs2, r2, _, _, _ = sparse.step(a)
    np.testing.assert_array_equal(obs, obs2)  # same observation as the task
    assert r == pytest.approx(float(info["reward_forward"] + info["reward_ctrl"])) and r2 == 0.0
    assert r != 0.0


TINY = {
    "cartpole": ws.Recipe("bc", noise=0.22, bc_episodes=2, bc_updates=20),
    "pendulum": ws.Recipe("bc", noise=1.6, bc_episodes=1, bc_updates=20),
}


@pytest.fixture
def tiny_recipes(monkeypatch):
    for name, recipe in TINY.items():
        monkeypatch.setitem(ws.RECIPES, name, recipe)


def test_every_algorithm_of_a_seed_starts_from_the_identical_cached_policy(tmp_path, tiny_recipes, monkeypatch):
    d = str(tmp_path / "warm")
    starts = {}

    def spy(actor, directory, env, seed, hidden):  # the actor right after loading
        digest = real_load_into(actor, directory, env, seed, hidden)
        starts[algo] = {k: v.clone() for k, v in actor.state_dict().items()}
        return digest

    real_load_into = ws.load_into
    monkeypatch.setattr(ws, "load_into", spy)
    results = {}
    for algo, mod in MODULES.items():
        args = mod.Args(env="cartpole", horizon=20, seed=1, total_steps=300, eval_episodes=0, log_every_s=0)
        args.warm_start = d
        results[algo] = mod.train(args)
    state = torch.load(ws.warm_start_path(d, "cartpole", 1), weights_only=True)
    digest = ws.state_dict_digest(state)
    assert {r["warm_start_digest"] for r in results.values()} == {digest}
    for algo in MODULES:
        assert starts[algo].keys() == state.keys()
        assert all(torch.equal(starts[algo][k], state[k]) for k in state)
    # another seed has another warm start; no warm start records None
    assert ws.state_dict_digest(ws.load_or_build(d, "cartpole", 2)) != digest
    plain = sppo.train(sppo.Args(env="cartpole", horizon=20, seed=1, total_steps=100, eval_episodes=0, log_every_s=0))
    assert plain["warm_start_digest"] is None


def test_warm_start_is_cached_and_building_it_does_not_change_the_run(tmp_path, tiny_recipes, monkeypatch):
    d = str(tmp_path / "warm")

    def run():
        args = sppo.Args(env="pendulum", horizon=20, seed=0, total_steps=320, eval_episodes=4, log_every_s=0)
        args.warm_start = d
        r = sppo.train(args)
        return [p["diagnostics"]["policy_loss"] for p in r["curve"]], r["final_success"]

    first = run()  # builds the warm start inside the run
    path = ws.warm_start_path(d, "pendulum", 0)
    mtime = os.path.getmtime(path)
    monkeypatch.setattr(ws, "build_warm_start", lambda *a, **k: pytest.fail("rebuilt a cached warm start"))
    assert run() == first  # read from the cache: the identical run
    assert os.path.getmtime(path) == mtime
    state = torch.load(path, weights_only=True)
    assert float(state["log_std"][0]) == pytest.approx(math.log(1.6))  # Gaussian noise of the recipe
    # the measured success is cached too, and agrees with a direct evaluation of the policy
    out = ws.warm_start_success(d, "pendulum", 0, 20, episodes=8)
    assert ws.warm_start_success(d, "pendulum", 0, 20, episodes=8) == out
    envs = make_vector_env("pendulum", 20, 1)
    actor = Actor(envs.single_observation_space.shape[0], envs.single_action_space, 64)
    actor.load_state_dict(state)
    assert out["success"] == evaluate(actor, CommonArgs(env="pendulum", horizon=20, seed=0), 8)
    assert out["digest"] == ws.state_dict_digest(state) and out["episodes"] == 8


def test_cli_warmstart_and_run_record_the_starting_level(tmp_path, tiny_recipes, capsys):
    from sppo_lab.control.cli import main

    d = str(tmp_path / "warm")
    assert (
        main(["warmstart", "--env", "cartpole", "--seeds", "1", "--out", d, "--horizons", "20", "--episodes", "4"]) == 0
    )
    assert "[warmstart] cartpole seed=0 success H=20:" in capsys.readouterr().out
    assert main(["warmstart", "--env", "acrobot", "--out", d]) == 2
    assert "unknown env 'acrobot'" in capsys.readouterr().err
    args = ["run", "--env", "cartpole", "--algo", "grpo", "--horizon", "20", "--steps", "200", "--out", str(tmp_path)]
    assert main([*args, "--set", f"warm_start={d}", "--set", "eval_episodes=4", "--set", "log_every_s=0"]) == 0
    import json

    data = json.load(open(tmp_path / "cartpole__grpo__H20__seed0.json"))
    cached = json.load(open(os.path.join(d, "cartpole__seed0__H20.json")))
    assert data["warm_start_episodes"] == ws.WARM_EVAL_EPISODES
    assert data["warm_start_digest"] == cached["digest"]
    assert data["config"]["warm_start"] == d


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cartpole", "mountaincar"])
def test_warm_start_success_at_h1000_is_in_the_tuned_band(tmp_path, name):
    """The real recipe: seed 0's warm start succeeds on 10-40 % of 100 held-out episodes at H = 1000."""
    out = ws.warm_start_success(str(tmp_path), name, 0, 1000, episodes=100)
    assert 0.1 <= out["success"] <= 0.4, out


def test_recipes_cover_every_task():
    from sppo_lab.control.envs import ENV_NAMES

    assert set(ws.RECIPES) == set(ENV_NAMES)
    assert all(dataclasses.is_dataclass(r) for r in ws.RECIPES.values())
    assert {n for n, r in ws.RECIPES.items() if r.method == "bc"} == set(ws.CONTROLLERS)
