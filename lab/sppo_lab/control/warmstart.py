"""Warm starts: every task's RL begins from a partly skilled policy, as LLM RL begins from a
pretrained model that already solves some prompts.

    python -m sppo_lab.control warmstart --env cartpole --seeds 5 --out runs/control/warmstart \
        --horizons 200 500 1000 --episodes 100

One warm start per (task, seed), independent of H and of the algorithm; every algorithm of a seed
loads the identical ``state_dict`` from ``<dir>/<env>__seed<seed>.pt`` (built on first use,
written atomically, then only read). Its critic is not pre-trained: each algorithm's critic starts
from its usual random init.

How the warm start is made (the numbers are in ``RECIPES`` and docs/control_suite.md):

* CartPole, MountainCar, LunarLander (Discrete): behaviour cloning of an epsilon-noisy scripted
  controller. The noisy controller (with probability eps a uniformly random action, else the
  scripted one) plays ``bc_episodes`` episodes at H = 1000; the policy MLP is fitted by
  cross-entropy to the noisy controller's action distribution (1 - eps) * onehot(scripted) +
  eps / n on the visited states, so the clone is the noisy controller (up to fit error).
* Pendulum (Box): the same with Gaussian noise: the mean is fitted by MSE to the scripted torque,
  the state-independent log-std is set to log(noise std).
* Hopper: gymnasium has no scripted Hopper controller, so a short dense-reward pre-training:
  token-level PPO (GAE) on gymnasium's own forward-progress and control-cost reward terms (its
  "healthy" bonus left out: it would reward not reaching the target), checked every
  ``check_every`` iterations on ``check_episodes`` fresh held-out episodes at H = 1000 and stopped
  at the first check with sparse success >= ``stop_at`` (or at ``max_steps``).

eps / noise std / stop_at were tuned so that the warm start's success at H = 1000 lies in
[0.1, 0.4] (measured with 100 held-out episodes per seed, see ``warm_start_success``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from sppo.cli_errors import atomic_path, write_json_atomic
from sppo_lab.control.common import (
    Actor,
    CommonArgs,
    OneEpisodeVectorEnv,
    clipped_surrogate,
    collect_episodes,
    evaluate,
    gae,
    minibatches,
    start_seeds,
    value_net,
)
from sppo_lab.control.envs import ENV_NAMES, SparseHopper, make_env

BC_HORIZON = 1000
WARM_EVAL_EPISODES = 100
"""held-out episodes on which a warm start's success is measured, per (env, seed, H)"""


# --------------------------------------------------------------------------------------------
# Scripted controllers (they read the task's scaled observation)
# --------------------------------------------------------------------------------------------
def cartpole_controller(env, obs) -> int:
    """Linear balancing rule on (x, v, theta, omega): push towards where the pole falls."""
    x, v, theta, omega = obs[0], obs[1], obs[2] * math.radians(8.0), obs[3]
    return int(theta + 0.3 * omega + 0.01 * x + 0.05 * v > 0)


def mountaincar_controller(env, obs) -> int:
    """Bang-bang energy pumping: push along the velocity."""
    return 2 if obs[1] >= 0 else 0


def pendulum_controller(env, obs) -> np.ndarray:
    """Energy pumping to the upright energy, PD control near the top (torque in [-1, 1] = ±2 N m)."""
    cos_t, sin_t, omega = float(obs[0]), float(obs[1]), float(obs[2]) * 8.0
    theta = math.atan2(sin_t, cos_t)
    if cos_t > 0.85:
        u = -(10.0 * theta + 2.0 * omega)
    else:
        energy = omega * omega / 6.0 + 5.0 * cos_t  # = 5 at rest upright
        u = 2.0 * (1.0 if omega >= 0 else -1.0) * (1.0 if energy < 5.0 else -1.0)
    return np.array([np.clip(u / 2.0, -1.0, 1.0)], dtype=np.float32)


def lunarlander_controller(env, obs) -> int:
    """gymnasium's own LunarLander heuristic."""
    from gymnasium.envs.box2d.lunar_lander import heuristic

    return int(heuristic(env.unwrapped, obs[:8]))


CONTROLLERS = {
    "cartpole": cartpole_controller,
    "mountaincar": mountaincar_controller,
    "pendulum": pendulum_controller,
    "lunarlander": lunarlander_controller,
}


@dataclass(frozen=True)
class Recipe:
    """How one task's warm start is made (see the module docstring)."""

    method: str
    """'bc' (behaviour cloning of the noisy scripted controller) or 'dense_ppo' (Hopper)"""
    noise: float = 0.0
    """bc: eps (Discrete: probability of a uniformly random action) or Gaussian std (Box)"""
    bc_episodes: int = 24
    """bc: episodes of the noisy controller at H = 1000 whose states are cloned"""
    bc_updates: int = 1500
    """bc: Adam steps (lr 1e-3, minibatch 512) of the fit"""
    stop_at: float = 0.0
    """dense_ppo: stop at the first check whose sparse success at H = 1000 is >= this"""
    check_every: int = 4
    """dense_ppo: iterations between checks"""
    check_episodes: int = 64
    """dense_ppo: held-out episodes (fresh start states each time) per check"""
    max_steps: int = 60_000
    """dense_ppo: step cap of the pre-training"""


RECIPES: dict[str, Recipe] = {
    "cartpole": Recipe("bc", noise=0.22),
    "mountaincar": Recipe("bc", noise=0.95),
    "pendulum": Recipe("bc", noise=1.6),
    "lunarlander": Recipe("bc", noise=0.45),
    "hopper": Recipe("dense_ppo", stop_at=0.2),
}


# --------------------------------------------------------------------------------------------
# Behaviour cloning of the noisy controller
# --------------------------------------------------------------------------------------------
def collect_noisy_demos(env_name: str, noise: float, episodes: int, seed: int):
    """States visited by the noisy controller and the scripted (noise-free) action in each.

    Returns obs (n, obs_dim) float32 and actions (n,) int64 or (n, act_dim) float32."""
    env = make_env(env_name, BC_HORIZON)
    rng = np.random.default_rng([seed, 31337])
    controller = CONTROLLERS[env_name]
    discrete = hasattr(env.action_space, "n")
    obs_l, act_l = [], []
    for s in start_seeds(rng, episodes):
        obs, _ = env.reset(seed=s)
        done = False
        while not done:
            a = controller(env, obs)
            obs_l.append(obs)
            act_l.append(a)
            if discrete:
                played = int(rng.integers(env.action_space.n)) if rng.random() < noise else a
            else:
                played = np.clip(a + noise * rng.standard_normal(a.shape), -1.0, 1.0).astype(np.float32)
            obs, _, done, _, _ = env.step(played)
    env.close()
    obs_t = torch.as_tensor(np.stack(obs_l), dtype=torch.float32)
    if discrete:
        return obs_t, torch.as_tensor(act_l, dtype=torch.int64)
    return obs_t, torch.as_tensor(np.stack(act_l), dtype=torch.float32)


def bc_targets(actions: torch.Tensor, n_actions: int, eps: float) -> torch.Tensor:
    """The noisy controller's action distribution: (n,) scripted actions -> (n, n_actions) probs
    (1 - eps) * onehot + eps / n_actions."""
    return (1.0 - eps) * F.one_hot(actions, n_actions).float() + eps / n_actions


def behaviour_clone(actor: Actor, obs: torch.Tensor, actions: torch.Tensor, recipe: Recipe, seed: int) -> float:
    """Fit ``actor`` to the noisy controller in place; returns the final training loss."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(actor.net.parameters(), lr=1e-3)
    if actor.discrete:
        target = bc_targets(actions, actor.net[-1].out_features, recipe.noise)
    else:
        with torch.no_grad():
            actor.log_std.fill_(math.log(recipe.noise))
    loss = torch.tensor(float("nan"))
    for _ in range(recipe.bc_updates):
        idx = torch.randint(0, len(obs), (512,), generator=gen)
        out = actor.net(obs[idx])
        if actor.discrete:
            loss = -(target[idx] * F.log_softmax(out, -1)).sum(-1).mean()
        else:
            loss = F.mse_loss(out, actions[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(loss.detach())


# --------------------------------------------------------------------------------------------
# Hopper: short dense-reward pre-training (token-level PPO on gymnasium's reward terms)
# --------------------------------------------------------------------------------------------
class DenseHopper(SparseHopper):
    """The Hopper task with gymnasium's forward-progress and control-cost reward terms paid at
    every step (its 'healthy' bonus left out). Same observation, start states and episode ends."""

    def step(self, action):
        obs, _, done, trunc, info = super().step(action)
        return obs, float(info["reward_forward"] + info["reward_ctrl"]), done, trunc, info


def dense_pretrain(actor: Actor, env_name: str, recipe: Recipe, seed: int) -> dict:
    """PPO (GAE, gamma 0.99, lambda 0.95) on the dense reward, stopped at the first check with
    sparse success >= recipe.stop_at. Returns {'steps', 'checks': [(steps, success), ...]}."""
    if env_name != "hopper":
        raise ValueError(f"dense pre-training is defined for hopper only, got '{env_name}'")
    cfg = CommonArgs(env=env_name, horizon=BC_HORIZON, seed=seed)
    envs = OneEpisodeVectorEnv([lambda: DenseHopper(BC_HORIZON) for _ in range(cfg.episodes_per_iter)])
    critic = value_net(envs.single_observation_space.shape[0], cfg.hidden)
    actor_opt = torch.optim.Adam(actor.parameters(), lr=cfg.learning_rate, eps=1e-5)
    critic_opt = torch.optim.Adam(critic.parameters(), lr=cfg.critic_learning_rate, eps=1e-5)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng([seed, 4242])
    steps, it, checks = 0, 0, []
    while steps < recipe.max_steps:
        batch = collect_episodes(envs, actor, start_seeds(rng, cfg.episodes_per_iter))
        steps += batch.num_steps
        it += 1
        with torch.no_grad():
            values = critic(batch.obs).squeeze(-1) * batch.mask
            adv, ret = gae(batch.rewards, values, batch.mask, 0.99, 0.95)
        m = batch.mask
        b_obs, b_act, b_logp, b_adv, b_ret = batch.obs[m], batch.actions[m], batch.logprobs[m], adv[m], ret[m]
        for _ in range(cfg.update_epochs):
            for idx in minibatches(len(b_obs), cfg.minibatch_size, gen):
                mb_adv = (b_adv[idx] - b_adv[idx].mean()) / (b_adv[idx].std() + 1e-8) if len(idx) > 1 else b_adv[idx]
                new_logp, _ = actor.log_prob_entropy(b_obs[idx], b_act[idx])
                loss, _, _ = clipped_surrogate(new_logp, b_logp[idx], mb_adv, cfg.clip_coef)
                actor_opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(actor.parameters(), cfg.max_grad_norm)
                actor_opt.step()
                v_loss = 0.5 * ((critic(b_obs[idx]).squeeze(-1) - b_ret[idx]) ** 2).mean()
                critic_opt.zero_grad()
                v_loss.backward()
                torch.nn.utils.clip_grad_norm_(critic.parameters(), cfg.max_grad_norm)
                critic_opt.step()
        if it % recipe.check_every == 0:
            # fresh held-out start states at every check (a stream of its own per check)
            check = CommonArgs(env=env_name, horizon=BC_HORIZON, seed=10**6 + 1000 * seed + it)
            success = evaluate(actor, check, recipe.check_episodes)
            checks.append((steps, success))
            if success >= recipe.stop_at:
                break
    envs.close()
    return {"steps": steps, "checks": checks}


# --------------------------------------------------------------------------------------------
# Build, cache, load, measure
# --------------------------------------------------------------------------------------------
def warm_start_path(directory: str, env: str, seed: int) -> str:
    return os.path.join(directory, f"{env}__seed{seed}.pt")


def build_warm_start(env: str, seed: int, hidden: int = 64) -> tuple[dict, dict]:
    """A fresh warm-start policy for (env, seed): (state_dict, info). Uses its own RNG streams
    (torch's global RNG is forked), so building it does not change the caller's run."""
    if env not in ENV_NAMES:
        raise ValueError(f"unknown env '{env}' (allowed: {', '.join(ENV_NAMES)})")
    recipe = RECIPES[env]
    with torch.random.fork_rng():
        torch.manual_seed(10_000 + seed)
        probe = make_env(env, BC_HORIZON)
        actor = Actor(probe.observation_space.shape[0], probe.action_space, hidden)
        probe.close()
        info: dict = {"env": env, "seed": seed, "method": recipe.method}
        if recipe.method == "bc":
            obs, actions = collect_noisy_demos(env, recipe.noise, recipe.bc_episodes, seed)
            info.update(
                noise=recipe.noise, bc_states=len(obs), bc_loss=behaviour_clone(actor, obs, actions, recipe, seed)
            )
        else:
            info.update(stop_at=recipe.stop_at, **dense_pretrain(actor, env, recipe, seed))
    return {k: v.detach().clone() for k, v in actor.state_dict().items()}, info


def state_dict_digest(state: dict) -> str:
    """sha256 over the parameter names, shapes and bytes (identity check across algorithms)."""
    h = hashlib.sha256()
    for k in sorted(state):
        t = state[k].detach().cpu().contiguous()
        h.update(k.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


@contextlib.contextmanager
def _locked(directory: str, name: str):
    """An exclusive lock file in ``directory``: parallel runs of one (env, seed) build or measure a
    warm start once, the others wait and then read the cache."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, f".{name}.lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def load_or_build(directory: str, env: str, seed: int, hidden: int = 64) -> dict:
    """The cached warm start of (env, seed), built and cached (atomically) if missing."""
    path = warm_start_path(directory, env, seed)
    if os.path.exists(path):
        return torch.load(path, weights_only=True)
    with _locked(directory, f"{env}__seed{seed}"):
        if not os.path.exists(path):
            _build_and_save(directory, env, seed, hidden, path)
    return torch.load(path, weights_only=True)


def _build_and_save(directory: str, env: str, seed: int, hidden: int, path: str) -> None:
    state, info = build_warm_start(env, seed, hidden)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    write_json_atomic(path[: -len(".pt")] + ".build.json", dict(info, digest=state_dict_digest(state)), indent=1)


def load_into(actor: Actor, directory: str, env: str, seed: int, hidden: int) -> str:
    """Load (env, seed)'s warm start into ``actor``; returns its digest."""
    state = load_or_build(directory, env, seed, hidden)
    actor.load_state_dict(state)
    return state_dict_digest(state)


def warm_start_success(directory: str, env: str, seed: int, horizon: int, episodes: int = 100) -> dict:
    """Success rate of (env, seed)'s warm start at ``horizon`` on ``episodes`` held-out start states
    (the same held-out stream as a run's final evaluation); cached in
    ``<dir>/<env>__seed<seed>__H<horizon>.json``."""
    path = os.path.join(directory, f"{env}__seed{seed}__H{horizon}.json")
    cached = _read_cached(path, episodes)
    if cached:
        return cached
    state = load_or_build(directory, env, seed)
    with _locked(directory, f"{env}__seed{seed}__H{horizon}"):
        return _read_cached(path, episodes) or _measure(directory, env, seed, horizon, episodes, state, path)


def _read_cached(path: str, episodes: int) -> dict | None:
    if os.path.exists(path):
        with open(path) as f:
            cached = json.load(f)
        if cached.get("episodes") == episodes:
            return cached
    return None


def _measure(directory: str, env: str, seed: int, horizon: int, episodes: int, state: dict, path: str) -> dict:
    probe = make_env(env, horizon)
    with torch.random.fork_rng():
        torch.manual_seed(20_000 + seed)
        actor = Actor(probe.observation_space.shape[0], probe.action_space, state["net.0.weight"].shape[0])
        actor.load_state_dict(state)
        success = evaluate(actor, CommonArgs(env=env, horizon=horizon, seed=seed), episodes)
    probe.close()
    out = {"env": env, "seed": seed, "horizon": horizon, "episodes": episodes, "success": success}
    out["digest"] = state_dict_digest(state)
    write_json_atomic(path, out, indent=1)
    return out


def make_actor(args: CommonArgs, envs) -> tuple[Actor, str | None]:
    """The run's policy: random init, then (if ``args.warm_start``) the warm start of (env, seed),
    identical for every algorithm of a seed. Returns (actor, sha256 of the warm start or None)."""
    actor = Actor(envs.single_observation_space.shape[0], envs.single_action_space, args.hidden)
    if not args.warm_start:
        return actor, None
    return actor, load_into(actor, args.warm_start, args.env, args.seed, args.hidden)
