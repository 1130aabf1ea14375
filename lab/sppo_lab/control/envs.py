"""The five sparse-reward control tasks: gymnasium environments turned into verifiable episodes.

Every task is a `gymnasium.Wrapper` around one of gymnasium's own environments (`SparseOutcomeEnv`,
subclassed once per task). The contract is the same for all five:

* the reward is 0.0 at every step except the last one of the episode, where it is the outcome
  R in {0.0, 1.0} (1.0 iff the task's success criterion holds; it is checked exactly once);
* the episode ends at the horizon H (``terminated=True``: running out of time is a failure, not a
  truncation, so no algorithm bootstraps past it) or earlier at a terminal event (failure, or
  success for the "reach" tasks);
* the observation is the inner observation scaled by fixed per-task constants, followed by the
  task extras (Hopper: remaining distance) and the elapsed-time fraction t / H, so that values of
  "can I still succeed from here" are functions of the observation (the critic of token-level PPO
  needs that);
* ``info["success"]`` (bool) and ``info["outcome"]`` (float) are set on the final step.

Where gymnasium's default start states make a success impossible for an untrained policy
(MountainCar, LunarLander, Hopper), the task draws its start state ("the prompt") from a broad,
documented distribution: easy starts give a learning signal, hard starts need the full horizon.
See docs/control_suite.md for the definitions and the measured success rate of a random policy.

    >>> env = make_env("mountaincar", horizon=1000)
    >>> obs, info = env.reset(seed=0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

DEFAULT_HORIZON = 1000


class SparseOutcomeEnv(gym.Wrapper):
    """Base wrapper: counts steps, ends the episode at H, pays the outcome once at the end.

    Subclasses set ``gym_id`` / ``gym_kwargs`` and implement:
      * ``_start(obs)``: optional change of the start state after the inner reset (returns obs);
      * ``_judge(obs, inner_terminated, info)``: returns ``"success"``, ``"failure"`` or ``None``
        (episode goes on); it is called after every inner step;
      * ``_judge_at_horizon()``: the verdict when step H is reached without an earlier verdict;
      * ``_features(obs)``: the scaled observation (without the time feature).
    """

    gym_id: str = ""
    gym_kwargs: dict = {}
    n_extra: int = 0  # task features appended before the time feature

    def __init__(self, horizon: int = DEFAULT_HORIZON):
        if horizon <= 0:
            raise ValueError(f"horizon must be positive, got {horizon}")
        inner = self._make_inner()
        super().__init__(inner)
        self.horizon = int(horizon)
        base = self._features(np.zeros(inner.observation_space.shape, dtype=np.float64))
        dim = base.shape[0] + self.n_extra + 1
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (dim,), np.float32)
        self.t = 0
        self.finished = True

    # --- task hooks -------------------------------------------------------------------------
    def _make_inner(self) -> gym.Env:
        # The inner TimeLimit is pushed out of the way: this wrapper owns the horizon.
        return gym.make(self.gym_id, max_episode_steps=10**9, **self.gym_kwargs)

    def _start(self, obs):
        return obs

    def _judge(self, obs, inner_terminated: bool, info: dict):
        raise NotImplementedError

    def _judge_at_horizon(self) -> str:
        return "failure"

    def _features(self, obs) -> np.ndarray:
        return np.asarray(obs, dtype=np.float64)

    def _extras(self) -> list[float]:
        return []

    # --- gymnasium API ----------------------------------------------------------------------
    def _observe(self, obs) -> np.ndarray:
        feats = [self._features(obs), np.asarray(self._extras(), dtype=np.float64), np.asarray([self.t / self.horizon])]
        return np.concatenate(feats).astype(np.float32)

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        self.t = 0
        self.finished = False
        obs = self._start(obs)
        return self._observe(obs), info

    def step(self, action):
        if self.finished:
            raise RuntimeError("step() after the end of the episode; call reset() first")
        obs, _inner_reward, inner_terminated, _inner_truncated, info = self.env.step(action)
        self.t += 1
        verdict = self._judge(obs, bool(inner_terminated), info)
        if verdict is None and self.t >= self.horizon:
            verdict = self._judge_at_horizon()
        if verdict is None and inner_terminated:
            verdict = "failure"  # any inner terminal that the task did not call a success
        reward = 0.0
        done = verdict is not None
        if done:
            self.finished = True
            reward = 1.0 if verdict == "success" else 0.0
            info = dict(info, success=verdict == "success", outcome=reward)
        return self._observe(obs), reward, done, False, info


class PrecisionCartPole(SparseOutcomeEnv):
    """CartPole-v1; success iff |x| <= 1.0 m and |theta| <= 8 deg at every one of the H steps.

    Leaving the tight box is a failure and ends the episode at once (gymnasium's own, looser
    bounds of 2.4 m / 12 deg are never reached first). Start state: gymnasium's (all four state
    variables uniform in [-0.05, 0.05]). Actions: Discrete(2), push left / right.
    """

    gym_id = "CartPole-v1"
    x_max = 1.0
    theta_max = math.radians(8.0)

    def _judge(self, obs, inner_terminated, info):
        x, _, theta, _ = obs
        if abs(x) > self.x_max or abs(theta) > self.theta_max:
            return "failure"
        return None

    def _judge_at_horizon(self):
        return "success"  # every step so far was inside the box (else _judge ended the episode)

    def _features(self, obs):
        x, v, theta, w = np.asarray(obs, dtype=np.float64)
        return np.array([x / self.x_max, v, theta / self.theta_max, w])


class SparseMountainCar(SparseOutcomeEnv):
    """MountainCar-v0; success iff the car reaches gymnasium's goal (position >= 0.5) within H.

    Start state ("prompt"): position uniform in [-1.2, 0.4], velocity uniform in [-0.035, 0.035]
    (gymnasium's default, position in [-0.6, -0.4] at rest, is never solved by a random policy).
    Actions: Discrete(3), push left / none / right.
    """

    gym_id = "MountainCar-v0"
    pos_range = (-1.2, 0.4)
    vel_max = 0.035
    goal = 0.5

    def _start(self, obs):
        rng = self.env.unwrapped.np_random  # seeded by reset(seed=...)
        state = np.array([rng.uniform(*self.pos_range), rng.uniform(-self.vel_max, self.vel_max)])
        self.env.unwrapped.state = state
        return state.astype(np.float32)

    def _judge(self, obs, inner_terminated, info):
        return "success" if obs[0] >= self.goal else None

    def _features(self, obs):
        pos, vel = np.asarray(obs, dtype=np.float64)
        return np.array([(pos + 0.3) / 0.9, vel / 0.07])


class SparsePendulum(SparseOutcomeEnv):
    """Pendulum-v1 (torque rescaled to [-1, 1] = [-2, 2] N m); success iff at each of the final
    10 steps of the episode |theta| <= 0.5 rad (upright) and |theta_dot| <= 2.0 rad/s.

    The episode always runs the full H steps (there is no early terminal). Start state:
    gymnasium's (theta uniform in [-pi, pi], theta_dot uniform in [-1, 1]).
    """

    gym_id = "Pendulum-v1"
    window = 10
    theta_tol = 0.5
    omega_tol = 2.0

    def __init__(self, horizon: int = DEFAULT_HORIZON):
        super().__init__(horizon)
        self.good_streak = 0

    def _make_inner(self):
        one = np.ones(1, dtype=np.float32)
        return gym.wrappers.RescaleAction(super()._make_inner(), -one, one)

    def reset(self, *, seed=None, options=None):
        self.good_streak = 0
        return super().reset(seed=seed, options=options)

    def _judge(self, obs, inner_terminated, info):
        cos_t, sin_t, omega = obs
        upright = abs(math.atan2(sin_t, cos_t)) <= self.theta_tol and abs(omega) <= self.omega_tol
        self.good_streak = self.good_streak + 1 if upright else 0
        return None

    def _judge_at_horizon(self):
        return "success" if self.good_streak >= min(self.window, self.horizon) else "failure"

    def _features(self, obs):
        cos_t, sin_t, omega = np.asarray(obs, dtype=np.float64)
        return np.array([cos_t, sin_t, omega / 8.0])


class SparseLunarLander(SparseOutcomeEnv):
    """LunarLander-v3 (discrete); success iff for 20 consecutive steps both legs touch the
    ground, the lander is between the flags (|x| <= 0.2 in observation units) and its body has
    not hit the ground. Failure: body contact (crash), leaving the screen (|x| >= 1), coming to
    rest off the pad, or reaching H.

    Start state ("prompt"): gymnasium's reset (random terrain, random initial push), then the
    lander and its legs are lowered so that its height above touch-down is a fraction
    U[0.1, 0.6] of gymnasium's default height. Actions: Discrete(4): none / left / main / right.
    """

    gym_id = "LunarLander-v3"
    settle_steps = 20
    pad_half_width = 0.2
    height_fraction = (0.1, 0.6)

    def __init__(self, horizon: int = DEFAULT_HORIZON):
        super().__init__(horizon)
        self.on_pad = 0

    def _start(self, obs):
        lander_env = self.env.unwrapped
        rng = lander_env.np_random
        touch_y = lander_env.helipad_y + 18 / 30.0  # LEG_DOWN / SCALE: legs reach the pad
        drop = (lander_env.lander.position.y - touch_y) * (1.0 - rng.uniform(*self.height_fraction))
        for body in [lander_env.lander, *lander_env.legs]:
            body.position = (body.position.x, body.position.y - drop)
        # One no-op step (not counted) to read the observation at the new height, as
        # gymnasium's own reset does.
        obs, *_ = self.env.step(0)
        self.on_pad = 0
        return obs

    def _judge(self, obs, inner_terminated, info):
        crashed = self.env.unwrapped.game_over or abs(obs[0]) >= 1.0
        if crashed:
            return "failure"
        legs_down = obs[6] > 0.5 and obs[7] > 0.5
        self.on_pad = self.on_pad + 1 if legs_down and abs(obs[0]) <= self.pad_half_width else 0
        if self.on_pad >= self.settle_steps:
            return "success"
        if inner_terminated:  # gymnasium's "at rest" terminal before 20 steps on the pad
            return "success" if self.on_pad > 0 else "failure"
        return None

    def _features(self, obs):
        return np.asarray(obs, dtype=np.float64)


class SparseHopper(SparseOutcomeEnv):
    """Hopper-v5; success iff the torso moves forward by the target distance d while healthy,
    within H steps. Failure: gymnasium's "unhealthy" terminal (fall), or reaching H.

    Start state ("prompt"): gymnasium's (standing pose plus noise), and a target distance
    d ~ U[0.1, 1.0] m drawn at reset. The observation appends (d - distance covered).
    Actions: Box(-1, 1, (3,)) joint torques.
    """

    gym_id = "Hopper-v5"
    n_extra = 1
    target_range = (0.1, 1.0)

    def __init__(self, horizon: int = DEFAULT_HORIZON):
        super().__init__(horizon)
        self.target = 0.0
        self.x0 = 0.0
        self.dx = 0.0

    def _start(self, obs):
        hopper = self.env.unwrapped
        self.target = float(hopper.np_random.uniform(*self.target_range))
        self.x0 = float(hopper.data.qpos[0])
        self.dx = 0.0
        return obs

    def _judge(self, obs, inner_terminated, info):
        self.dx = float(info["x_position"]) - self.x0
        if inner_terminated:
            return "failure"  # fell (unhealthy)
        return "success" if self.dx >= self.target else None

    def _extras(self):
        return [self.target - self.dx]

    def _features(self, obs):
        obs = np.asarray(obs, dtype=np.float64)
        return np.concatenate([obs[:5], obs[5:] / 5.0])


@dataclass(frozen=True)
class TaskSpec:
    """One registry entry: the wrapper class and a one-line definition for the docs/report."""

    name: str
    cls: type
    summary: str


TASKS: dict[str, TaskSpec] = {
    "cartpole": TaskSpec("cartpole", PrecisionCartPole, "CartPole-v1: |x|<=1 m and |theta|<=8 deg at all H steps"),
    "mountaincar": TaskSpec(
        "mountaincar", SparseMountainCar, "MountainCar-v0: reach x>=0.5 within H (broad start states)"
    ),
    "pendulum": TaskSpec("pendulum", SparsePendulum, "Pendulum-v1: |theta|<=0.5, |omega|<=2 over the final 10 steps"),
    "lunarlander": TaskSpec(
        "lunarlander", SparseLunarLander, "LunarLander-v3: 20 steps on the pad, legs down, no crash, within H"
    ),
    "hopper": TaskSpec("hopper", SparseHopper, "Hopper-v5: move forward d~U[0.1,1] m without falling, within H"),
}
ENV_NAMES = tuple(TASKS)


def make_env(name: str, horizon: int = DEFAULT_HORIZON) -> SparseOutcomeEnv:
    """Build one task environment by name (see ``ENV_NAMES``)."""
    if name not in TASKS:
        raise ValueError(f"unknown env '{name}' (allowed: {', '.join(ENV_NAMES)})")
    return TASKS[name].cls(horizon)
