"""What the three control-suite algorithms truly share: settings, seeding, networks, the
episode-batch rollout on a gymnasium vector env, the PPO clipped surrogate, the learning-curve
recorder and the final evaluation.

Everything algorithm-specific (how the advantage is computed, what the critic is) lives in
sppo.py / ppo.py / grpo.py, one readable file each.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import torch
import torch.nn as nn
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from sppo_lab.control.envs import DEFAULT_HORIZON, ENV_NAMES, make_env


@dataclass
class CommonArgs:
    """Settings shared by SPPO, PPO and GRPO (each algorithm subclasses this)."""

    env: str = "cartpole"
    """task name, one of sppo_lab.control.envs.ENV_NAMES"""
    horizon: int = DEFAULT_HORIZON
    """episode horizon H (steps); the outcome is decided at H at the latest"""
    seed: int = 0
    """run seed: network init, action sampling and the start-state seeds all derive from it"""
    total_steps: int = 200_000
    """environment-step budget of the run (training episodes only; evaluation is extra)"""
    episodes_per_iter: int = 16
    """episodes collected per iteration = number of vectorised sub-environments"""
    learning_rate: float = 3e-4
    """Adam learning rate of the policy"""
    critic_learning_rate: float = 1e-3
    """Adam learning rate of the critic (unused by GRPO)"""
    update_epochs: int = 4
    """passes over each iteration's batch of steps"""
    minibatch_size: int = 1024
    """steps per policy minibatch (the last one may be smaller)"""
    clip_coef: float = 0.2
    """PPO ratio clip epsilon"""
    max_grad_norm: float = 0.5
    """gradient-norm clip for every optimiser step"""
    hidden: int = 64
    """width of the two tanh hidden layers of every network"""
    eval_episodes: int = 64
    """episodes from held-out start states for the final success rate"""
    log_every_s: float = 15.0
    """seconds between progress lines (0: silent)"""
    warm_start: str = ""
    """directory of the cached warm-start policies (lab/sppo_lab/control/warmstart.py: <dir>/<env>__seed<seed>.pt,
    built there on first use); the actor starts from it, the critic from its random init. '' = no warm start"""

    def validate(self) -> None:
        """Types and ranges of every field (of the algorithm's subclass too): bools are bools, numbers are
        finite, counts >= 1 (``eval_episodes`` and ``seed`` >= 0), step sizes and clips > 0."""
        if self.env not in ENV_NAMES:
            raise ValueError(f"unknown env '{self.env}' (allowed: {', '.join(ENV_NAMES)})")
        for f in fields(self):
            value = getattr(self, f.name)
            kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
            if kind == "bool" and not isinstance(value, bool):
                raise ValueError(f"{f.name} must be true or false, got {value!r}")
            if kind == "int" and (not isinstance(value, int) or isinstance(value, bool)):
                raise ValueError(f"{f.name} must be an integer, got {value!r}")
            if kind == "float" and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            ):
                raise ValueError(f"{f.name} must be a finite number, got {value!r}")
            if kind == "int" and f.name not in ("seed", "eval_episodes") and value <= 0:
                raise ValueError(f"{f.name} must be a positive integer, got {value}")
        for name, cap in (
            ("hidden", 65536),
            ("episodes_per_iter", 65536),
            ("update_epochs", 10000),
            ("eval_episodes", 10**6),
            ("horizon", 10**6),
        ):
            if getattr(self, name) > cap:  # bounded work and memory
                raise ValueError(f"{name} must be at most {cap}, got {getattr(self, name)}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.eval_episodes < 0:
            raise ValueError(f"eval_episodes must be >= 0, got {self.eval_episodes}")
        for name in ("learning_rate", "critic_learning_rate", "clip_coef", "max_grad_norm"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.log_every_s < 0:
            raise ValueError(f"log_every_s must be >= 0, got {self.log_every_s}")
        if getattr(self, "adv_eps", 1.0) <= 0:  # GRPO: added to the group std before dividing
            raise ValueError(f"adv_eps must be > 0, got {self.adv_eps}")


def seed_everything(seed: int) -> None:
    """Deterministic seeding of python, numpy and torch (one CPU thread keeps torch exact)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.set_num_threads(1)


# --------------------------------------------------------------------------------------------
# Vector env: every sub-environment plays exactly one episode per reset.
# --------------------------------------------------------------------------------------------
class OneEpisodeVectorEnv(SyncVectorEnv):
    """A `gymnasium.vector.SyncVectorEnv` (autoreset disabled) whose finished sub-environments are
    left alone: stepping the vector steps only the sub-environments still inside their episode,
    a finished one repeats its last observation with reward 0 and done=True. One ``reset(seed=
    [...])`` therefore yields one episode per sub-environment, and no compute is spent on
    episodes nobody will use (episodes differ in length by up to 50x here)."""

    def __init__(self, env_fns):
        super().__init__(env_fns, autoreset_mode=AutoresetMode.DISABLED)

    def step(self, actions):
        finished = self._terminations | self._truncations
        infos = {}
        for i, env in enumerate(self.envs):
            if finished[i]:
                self._rewards[i] = 0.0
                continue
            (self._env_obs[i], self._rewards[i], self._terminations[i], self._truncations[i], env_info) = env.step(
                actions[i]
            )
            infos = self._add_info(infos, env_info, i)
        self._observations = np.stack(self._env_obs).astype(np.float32)
        return (
            self._observations.copy(),
            np.copy(self._rewards),
            np.copy(self._terminations),
            np.copy(self._truncations),
            infos,
        )


def make_vector_env(env: str, horizon: int, num_envs: int) -> OneEpisodeVectorEnv:
    return OneEpisodeVectorEnv([lambda: make_env(env, horizon) for _ in range(num_envs)])


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------
def mlp(n_in: int, n_out: int, hidden: int, out_std: float) -> nn.Sequential:
    """Two tanh hidden layers, orthogonal init (gain sqrt 2), output layer gain ``out_std``."""
    layers = [nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, n_out)]
    for layer in layers:
        if isinstance(layer, nn.Linear):
            gain = out_std if layer is layers[-1] else math.sqrt(2)
            nn.init.orthogonal_(layer.weight, gain)
            nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)


class Actor(nn.Module):
    """pi(a | s_t): categorical for Discrete action spaces, diagonal Gaussian (state-independent
    log-std, actions clipped to [-1, 1] only when sent to the environment) for Box ones."""

    def __init__(self, obs_dim: int, action_space, hidden: int):
        super().__init__()
        self.discrete = hasattr(action_space, "n")
        n_out = int(action_space.n) if self.discrete else int(np.prod(action_space.shape))
        self.net = mlp(obs_dim, n_out, hidden, out_std=0.01)
        if not self.discrete:
            self.log_std = nn.Parameter(torch.zeros(n_out))

    def dist(self, obs: torch.Tensor):
        out = self.net(obs)
        if self.discrete:
            return torch.distributions.Categorical(logits=out)
        return torch.distributions.Normal(out, self.log_std.exp().expand_as(out))

    def log_prob_entropy(self, obs: torch.Tensor, actions: torch.Tensor):
        """obs (n, obs_dim), actions (n,) or (n, act_dim) -> log-prob (n,), entropy (n,)."""
        d = self.dist(obs)
        if self.discrete:
            return d.log_prob(actions.long()), d.entropy()
        return d.log_prob(actions).sum(-1), d.entropy().sum(-1)

    @torch.no_grad()
    def act(self, obs: np.ndarray):
        """obs (B, obs_dim) -> raw actions (B, ...) tensor, log-probs (B,), env actions (numpy)."""
        d = self.dist(torch.as_tensor(obs))
        a = d.sample()
        if self.discrete:
            return a, d.log_prob(a), a.numpy()
        return a, d.log_prob(a).sum(-1), a.clamp(-1.0, 1.0).numpy()


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over complete episodes.

    Args:
        rewards: (T, B) per-step rewards (here: the outcome on the last step, else 0).
        values: (T, B) critic values V(s_t).
        mask: (T, B) bool, True on real steps; each column is one episode that starts at t = 0
            and ends (terminally: no bootstrap) at its last True step.
        gamma, lam: discount and GAE lambda.
    Returns:
        advantages (T, B) and returns = advantages + values (T, B); 0 on padding.
    """
    T = rewards.shape[0]
    mask_f = mask.float()
    adv = torch.zeros_like(rewards)
    next_adv = torch.zeros(rewards.shape[1])
    next_value = torch.zeros(rewards.shape[1])
    for t in reversed(range(T)):
        cont = mask_f[t + 1] if t + 1 < T else torch.zeros(rewards.shape[1])  # 0: episode ends at t
        delta = rewards[t] + gamma * next_value * cont - values[t]
        adv[t] = (delta + gamma * lam * cont * next_adv) * mask_f[t]
        next_adv, next_value = adv[t], values[t]
    return adv, (adv + values) * mask_f


def value_net(obs_dim: int, hidden: int) -> nn.Sequential:
    """A scalar critic head: obs (n, obs_dim) -> (n, 1)."""
    return mlp(obs_dim, 1, hidden, out_std=1.0)


# --------------------------------------------------------------------------------------------
# Rollout: one batch of complete episodes
# --------------------------------------------------------------------------------------------
@dataclass
class EpisodeBatch:
    """B complete episodes, time-major and padded to the longest one (T steps).

    obs (T, B, obs_dim) float32; actions (T, B) or (T, B, act_dim); logprobs (T, B) behaviour
    log-probs; mask (T, B) bool, True on real steps; outcomes (B,) float in {0, 1};
    lengths (B,) int; start_obs (B, obs_dim) = obs[0]; rewards (T, B) the per-step rewards the
    env paid (for the sparse tasks: the outcome on the last step; only the dense warm-start
    pre-training of lab/sppo_lab/control/warmstart.py reads them).
    """

    obs: torch.Tensor
    actions: torch.Tensor
    logprobs: torch.Tensor
    mask: torch.Tensor
    outcomes: torch.Tensor
    lengths: torch.Tensor
    rewards: torch.Tensor | None = None

    @property
    def start_obs(self) -> torch.Tensor:
        return self.obs[0]

    @property
    def num_steps(self) -> int:
        return int(self.mask.sum())


def collect_episodes(envs: OneEpisodeVectorEnv, actor: Actor, seeds: list[int]) -> EpisodeBatch:
    """Reset sub-environment i with ``seeds[i]`` and run every one to the end of its episode."""
    obs, _ = envs.reset(seed=[int(s) for s in seeds])
    n = envs.num_envs
    done = np.zeros(n, dtype=bool)
    outcomes = np.zeros(n, dtype=np.float32)
    lengths = np.zeros(n, dtype=np.int64)
    obs_l, act_l, logp_l, mask_l, rew_l = [], [], [], [], []
    while not done.all():
        a, logp, env_a = actor.act(obs)
        obs_l.append(torch.as_tensor(obs))
        act_l.append(a)
        logp_l.append(logp)
        mask_l.append(torch.as_tensor(~done))
        obs, reward, term, trunc, _ = envs.step(env_a)
        newly = (term | trunc) & ~done
        rew_l.append(torch.as_tensor(reward, dtype=torch.float32) * torch.as_tensor(~done))
        lengths[~done] += 1
        outcomes[newly] = reward[newly]  # the outcome is paid once, on the final step
        done |= newly
    return EpisodeBatch(
        torch.stack(obs_l),
        torch.stack(act_l),
        torch.stack(logp_l),
        torch.stack(mask_l),
        torch.as_tensor(outcomes),
        torch.as_tensor(lengths),
        torch.stack(rew_l),
    )


def start_seeds(rng: np.random.Generator, n: int) -> list[int]:
    """n fresh start-state seeds (distinct with overwhelming probability)."""
    return [int(s) for s in rng.integers(0, 2**31 - 1, size=n)]


# --------------------------------------------------------------------------------------------
# The shared policy loss
# --------------------------------------------------------------------------------------------
def clipped_surrogate(new_logp: torch.Tensor, old_logp: torch.Tensor, adv: torch.Tensor, clip_coef: float):
    """PPO clipped surrogate, token-mean over the n steps given.

    new_logp, old_logp, adv: (n,). Returns (loss scalar, approx_kl float, clip_fraction float);
    approx_kl is the (ratio - 1) - log(ratio) estimator.
    """
    log_ratio = new_logp - old_logp
    ratio = log_ratio.exp()
    loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - clip_coef, 1 + clip_coef)).mean()
    with torch.no_grad():
        approx_kl = ((ratio - 1) - log_ratio).mean().item()
        clipfrac = ((ratio - 1).abs() > clip_coef).float().mean().item()
    return loss, approx_kl, clipfrac


def minibatches(n: int, size: int, generator: torch.Generator):
    """Random index minibatches covering 0..n-1 once."""
    perm = torch.randperm(n, generator=generator)
    return [perm[i : i + size] for i in range(0, n, size)]


def outcome_policy_update(actor, actor_opt, obs, actions, old_logp, adv, args, generator) -> dict[str, list]:
    """PPO clipped-surrogate epochs on fixed per-step advantages (SPPO and GRPO share this update).

    obs, actions, old_logp, adv: (n, ...) flattened valid steps. Returns per-minibatch lists of
    policy_loss, entropy, approx_kl, clipfrac.
    """
    stats = {"policy_loss": [], "entropy": [], "approx_kl": [], "clipfrac": []}
    for _ in range(args.update_epochs):
        for idx in minibatches(len(obs), args.minibatch_size, generator):
            new_logp, ent = actor.log_prob_entropy(obs[idx], actions[idx])
            loss, kl, cf = clipped_surrogate(new_logp, old_logp[idx], adv[idx], args.clip_coef)
            actor_opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(actor.parameters(), args.max_grad_norm)
            actor_opt.step()
            for k, v in zip(stats, (loss.item(), ent.mean().item(), kl, cf)):
                stats[k].append(v)
    return stats


# --------------------------------------------------------------------------------------------
# Learning curve, evaluation, results files
# --------------------------------------------------------------------------------------------
@dataclass
class Recorder:
    """Collects one curve point per iteration and prints a progress line now and then."""

    algo: str
    args: CommonArgs
    curve: list = field(default_factory=list)
    start: float = field(default_factory=time.perf_counter)
    warm_start_digest: str | None = None
    env_steps: int = 0
    episodes: int = 0
    successes: int = 0
    _last_log: float = 0.0

    def log(self, batch: EpisodeBatch, diagnostics: dict) -> None:
        self.env_steps += batch.num_steps
        self.episodes += len(batch.outcomes)
        self.successes += int(batch.outcomes.sum())
        elapsed = time.perf_counter() - self.start
        diag = {
            k: (None if v is None or (isinstance(v, float) and math.isnan(v)) else round(v, 6))
            for k, v in diagnostics.items()
        }
        diag["steps_per_s"] = round(self.env_steps / max(elapsed, 1e-9), 1)
        self.curve.append(
            {
                "env_steps": self.env_steps,
                "wall_time": round(elapsed, 3),
                "episodes": len(batch.outcomes),
                "successes": int(batch.outcomes.sum()),
                "mean_length": round(float(batch.lengths.float().mean()), 2),
                "diagnostics": diag,
            }
        )
        if self.args.log_every_s and (
            elapsed - self._last_log >= self.args.log_every_s or self.env_steps >= self.args.total_steps
        ):
            self._last_log = elapsed
            recent = self.curve[-8:]
            rate = sum(p["successes"] for p in recent) / max(1, sum(p["episodes"] for p in recent))
            shown = " ".join(f"{k}={v:.3g}" for k, v in diag.items() if v is not None)
            print(
                f"[{self.algo} {self.args.env} H={self.args.horizon} seed={self.args.seed}] "
                f"steps {self.env_steps}/{self.args.total_steps} success(recent)={rate:.2f} "
                f"{shown}",
                flush=True,
            )

    @property
    def done(self) -> bool:
        return self.env_steps >= self.args.total_steps

    def result(self, final_success: float | None, eval_episodes: int) -> dict:
        return {
            "algo": self.algo,
            "env": self.args.env,
            "horizon": self.args.horizon,
            "seed": self.args.seed,
            "total_steps": self.args.total_steps,
            "env_steps": self.env_steps,
            "wall_time": round(time.perf_counter() - self.start, 3),
            "train_episodes": self.episodes,
            "train_successes": self.successes,
            "final_success": final_success,
            "eval_episodes": eval_episodes,
            "warm_start_digest": self.warm_start_digest,
            "config": asdict(self.args),
            "curve": self.curve,
        }


@torch.no_grad()
def evaluate(actor: Actor, args: CommonArgs, n_episodes: int) -> float | None:
    """Success rate of the (stochastic) policy on ``n_episodes`` held-out start states."""
    if n_episodes == 0:
        return None
    rng = np.random.default_rng([args.seed, 7919])  # a stream disjoint from training seeds
    envs = make_vector_env(args.env, args.horizon, min(n_episodes, args.episodes_per_iter))
    wins, played = 0.0, 0
    while played < n_episodes:
        k = min(envs.num_envs, n_episodes - played)
        seeds = start_seeds(rng, envs.num_envs)
        batch = collect_episodes(envs, actor, seeds)
        wins += float(batch.outcomes[:k].sum())
        played += k
    envs.close()
    return wins / n_episodes
