"""The five sparse tasks: reward 0 until the end, success criterion exactly as documented.

Scripted action sequences that must succeed and ones that must fail, and, where it is cheap, an
independent re-computation of the verdict from gymnasium's raw environment.
"""

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.box2d.lunar_lander import heuristic

from sppo_lab.control.envs import ENV_NAMES, make_env


def play(env, policy, seed, after_reset=None):
    """Run one episode; returns (rewards, infos, observations after each step)."""
    obs, _ = env.reset(seed=seed)
    if after_reset is not None:
        obs = after_reset(env, obs)
    rewards, infos, observations = [], [], []
    while True:
        obs, r, term, trunc, info = env.step(policy(env, obs))
        rewards.append(r)
        infos.append(info)
        observations.append(obs)
        assert not trunc, "the tasks never truncate: H is a terminal"
        if term:
            return rewards, infos, observations


def assert_sparse(rewards, infos):
    """Reward 0 on every step but the last, the last one is the outcome in {0, 1}."""
    assert all(r == 0.0 for r in rewards[:-1])
    assert rewards[-1] in (0.0, 1.0)
    assert infos[-1]["success"] == (rewards[-1] == 1.0)
    assert infos[-1]["outcome"] == rewards[-1]
    assert all("success" not in i for i in infos[:-1])


@pytest.mark.parametrize("name", ENV_NAMES)
def test_random_policy_sparse_reward_time_feature_and_horizon(name):
    env = make_env(name, horizon=25)
    env.action_space.seed(0)
    for seed in range(3):
        rewards, infos, observations = play(env, lambda e, o: e.action_space.sample(), seed)
        assert_sparse(rewards, infos)
        assert 1 <= len(rewards) <= 25
        # last feature is t / H
        assert [o[-1] for o in observations] == pytest.approx([(t + 1) / 25 for t in range(len(rewards))])
        assert observations[0].shape == env.observation_space.shape
    with pytest.raises(RuntimeError):
        env.step(env.action_space.sample())  # no stepping past the end


@pytest.mark.parametrize("name", ENV_NAMES)
def test_same_seed_same_start_state(name):
    """GRPO relies on it: reset(seed=s) gives the identical start state (and prompt)."""
    a, b = make_env(name, 50), make_env(name, 50)
    oa, _ = a.reset(seed=123)
    ob, _ = b.reset(seed=123)
    oc, _ = b.reset(seed=124)
    np.testing.assert_array_equal(oa, ob)
    assert not np.array_equal(oa, oc)


def test_bad_env_name_and_horizon():
    with pytest.raises(ValueError, match="allowed: cartpole, mountaincar, pendulum"):
        make_env("acrobot")
    with pytest.raises(ValueError, match="positive"):
        make_env("cartpole", horizon=0)


# --- Precision CartPole ---------------------------------------------------------------------
def balance(env, obs):
    x, v = obs[0] * 1.0, obs[1]
    theta, omega = obs[2] * math.radians(8), obs[3]
    return int(theta + 0.3 * omega + 0.01 * x + 0.05 * v > 0)


def test_cartpole_balancing_controller_succeeds_at_h200():
    env = make_env("cartpole", horizon=200)
    for seed in range(3):
        rewards, infos, _ = play(env, balance, seed)
        assert len(rewards) == 200 and rewards[-1] == 1.0
        assert_sparse(rewards, infos)


def test_cartpole_fails_exactly_when_leaving_the_box():
    env = make_env("cartpole", horizon=200)
    for seed in range(3):
        states = []

        def push_right(e, o):
            return 1

        obs, _ = env.reset(seed=seed)
        while True:
            obs, r, term, _, info = env.step(push_right(env, obs))
            x, _, theta, _ = env.unwrapped.state
            states.append((abs(x) > 1.0) or (abs(theta) > math.radians(8)))
            if term:
                break
        # ends on the first step outside |x| <= 1, |theta| <= 8 deg, not before, with R = 0
        assert states[-1] and not any(states[:-1])
        assert r == 0.0 and info["success"] is False
        assert len(states) < 20


# --- MountainCar ----------------------------------------------------------------------------
def pump(env, obs):
    return 2 if obs[1] >= 0 else 0  # push along the velocity: bang-bang energy pumping


def test_mountaincar_energy_pumping_succeeds_at_goal():
    env = make_env("mountaincar", horizon=300)
    for seed in range(6):
        rewards, infos, observations = play(env, pump, seed)
        assert rewards[-1] == 1.0
        assert_sparse(rewards, infos)
        positions = [o[0] * 0.9 - 0.3 for o in observations]
        assert positions[-1] >= 0.5 - 1e-6 and all(p < 0.5 for p in positions[:-1])


def test_mountaincar_constant_action_fails_from_the_valley():
    env = make_env("mountaincar", horizon=300)
    tried = 0
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        if obs[0] * 0.9 - 0.3 > -0.3:
            continue  # constant actions can coast home from high starts
        tried += 1
        rewards, infos, _ = play(env, lambda e, o: 1, seed)
        assert len(rewards) == 300 and rewards[-1] == 0.0
        assert_sparse(rewards, infos)
    assert tried >= 5


def test_mountaincar_start_distribution_is_broad():
    env = make_env("mountaincar", horizon=10)
    starts = np.array([env.reset(seed=s)[0][:2] for s in range(200)])
    pos, vel = starts[:, 0] * 0.9 - 0.3, starts[:, 1] * 0.07
    assert pos.min() >= -1.2 and pos.max() <= 0.4 and pos.min() < -1.0 and pos.max() > 0.2
    assert np.abs(vel).max() <= 0.035 + 1e-6 and np.abs(vel).max() > 0.03


# --- Pendulum -------------------------------------------------------------------------------
def set_pendulum(theta, omega):
    def after_reset(env, obs):
        env.unwrapped.state = np.array([theta, omega])
        return obs

    return after_reset


def test_pendulum_upright_at_rest_with_zero_torque_succeeds():
    env = make_env("pendulum", horizon=40)
    rewards, infos, _ = play(env, lambda e, o: np.zeros(1, np.float32), 0, set_pendulum(0.0, 0.0))
    assert len(rewards) == 40 and rewards[-1] == 1.0
    assert_sparse(rewards, infos)


@pytest.mark.parametrize("theta,omega", [(math.pi, 0.0), (0.3, 3.0), (0.45, 0.0)])
def test_pendulum_not_upright_over_final_window_fails(theta, omega):
    # hanging down; upright but too fast; slightly off upright: with zero torque it falls
    env = make_env("pendulum", horizon=40)
    rewards, infos, _ = play(env, lambda e, o: np.zeros(1, np.float32), 0, set_pendulum(theta, omega))
    assert len(rewards) == 40 and rewards[-1] == 0.0
    assert_sparse(rewards, infos)


def test_pendulum_window_counts_only_the_final_10_steps():
    """Upright for the final 10 steps -> success; leaving tolerance at step H-9 -> failure."""
    for kick_at, expected in [(29, 1.0), (31, 0.0)]:
        env = make_env("pendulum", horizon=40)
        env.reset(seed=0)
        env.unwrapped.state = np.array([0.0, 0.0])
        for t in range(40):
            if t == kick_at:
                # 1.0 rad: outside the 0.5 rad tolerance for one step, then back upright
                env.unwrapped.state = np.array([1.0, 0.0])
            elif t == kick_at + 1:
                env.unwrapped.state = np.array([0.0, 0.0])
            _, r, term, _, _ = env.step(np.zeros(1, np.float32))
        assert term and r == expected, (kick_at, r)


# --- LunarLander ----------------------------------------------------------------------------
def test_lunarlander_gymnasium_heuristic_lands():
    env = make_env("lunarlander", horizon=1000)
    for seed in range(3):
        rewards, infos, observations = play(env, lambda e, o: heuristic(e, o[:8]), seed)
        assert rewards[-1] == 1.0
        assert_sparse(rewards, infos)
        last = observations[-20:]
        assert all(o[6] > 0.5 and o[7] > 0.5 and abs(o[0]) <= 0.2 for o in last)
        assert not env.unwrapped.game_over


def test_lunarlander_crash_and_flyaway_fail():
    env = make_env("lunarlander", horizon=1000)
    for seed in range(2):
        rewards, infos, _ = play(env, lambda e, o: 0, seed)  # free fall: crash
        assert rewards[-1] == 0.0 and env.unwrapped.game_over
        assert_sparse(rewards, infos)
        rewards, infos, observations = play(env, lambda e, o: 2, seed)  # main engine only
        assert rewards[-1] == 0.0 and not env.unwrapped.game_over
        assert abs(observations[-1][0]) >= 1.0 or len(rewards) == 1000


def test_lunarlander_start_is_lowered_into_documented_band():
    env = make_env("lunarlander", horizon=10)
    ys = np.array([env.reset(seed=s)[0][1] for s in range(30)])
    default = gym.make("LunarLander-v3")
    y_default = np.mean([default.reset(seed=s)[0][1] for s in range(30)])
    frac = ys / y_default
    assert frac.min() > 0.05 and frac.max() < 0.65


# --- Hopper ---------------------------------------------------------------------------------
def test_hopper_verdict_matches_raw_gymnasium_replay():
    """The wrapper's verdict equals the criterion recomputed on a plain Hopper-v5 replay:
    success at the first healthy step with x - x0 >= d, failure on a fall or at H."""
    outcomes = set()
    for seed in range(6):
        horizon = 60
        env = make_env("hopper", horizon=horizon)
        env.reset(seed=seed)
        if seed % 2:
            env.target = 0.0002  # a near target so that both outcomes occur
        d = env.target
        assert 0.0002 <= d <= 1.0
        rng = np.random.default_rng(seed)
        actions = [rng.uniform(-1, 1, 3).astype(np.float32) for _ in range(horizon)]
        rewards, infos = [], []
        for a in actions:
            _, r, term, _, info = env.step(a)
            rewards.append(r)
            infos.append(info)
            if term:
                break
        assert_sparse(rewards, infos)

        raw = gym.make("Hopper-v5")
        raw.reset(seed=seed)
        x0 = raw.unwrapped.data.qpos[0]
        expected_len, expected = horizon, 0.0
        for t, a in enumerate(actions):
            _, _, term, _, info = raw.step(a)
            if term:
                expected_len, expected = t + 1, 0.0
                break
            if info["x_position"] - x0 >= d:
                expected_len, expected = t + 1, 1.0
                break
        assert (len(rewards), rewards[-1]) == (expected_len, expected)
        outcomes.add(expected)
    assert outcomes == {0.0, 1.0}


def test_hopper_target_in_documented_range_and_observed():
    env = make_env("hopper", horizon=10)
    targets = []
    for s in range(50):
        obs, _ = env.reset(seed=s)
        targets.append(env.target)
        assert obs[-2] == pytest.approx(env.target)  # remaining distance = d at t = 0
    assert min(targets) >= 0.1 and max(targets) <= 1.0 and np.std(targets) > 0.2
