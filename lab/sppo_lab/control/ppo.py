"""Token-level PPO on a sparse control task: the baseline SPPO is compared against.

    python -m sppo_lab.control run --env cartpole --algo ppo --horizon 1000 --seeds 5 \
        --steps 1000000 --out results/control

Every step is a decision of a multi-step MDP. The critic V(s_t) reads every state (the time
feature t/H is part of the observation), the only reward is the outcome on the final step, and
GAE(gamma, lambda) carries it back through the episode. Standard PPO otherwise: clipped surrogate
(token-mean), advantages normalised per minibatch, 0.5 * MSE value loss. Episodes are complete
(the horizon is a true terminal), so GAE never bootstraps past the end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from sppo.critic_quality import explained_variance
from sppo_lab.control.common import (
    CommonArgs,
    Recorder,
    clipped_surrogate,
    collect_episodes,
    evaluate,
    gae,
    make_vector_env,
    minibatches,
    seed_everything,
    start_seeds,
    value_net,
)
from sppo_lab.control.warmstart import make_actor


@dataclass
class Args(CommonArgs):
    """PPO settings (on top of CommonArgs). Defaults chosen by the small sweep documented in
    docs/control_suite.md."""

    gamma: float = 0.999
    """discount factor of GAE"""
    gae_lambda: float = 0.95
    """GAE lambda"""
    norm_adv: bool = True
    """normalise advantages per minibatch (mean 0, std 1)"""

    def validate(self) -> None:
        super().validate()
        if not (0.0 < self.gamma <= 1.0 and 0.0 <= self.gae_lambda <= 1.0):
            raise ValueError(
                f"need 0 < gamma <= 1 and 0 <= gae_lambda <= 1, got gamma={self.gamma}, gae_lambda={self.gae_lambda}"
            )


def sparse_rewards(outcomes: torch.Tensor, lengths: torch.Tensor, horizon_t: int) -> torch.Tensor:
    """(B,) outcomes and (B,) episode lengths -> (T, B) rewards: 0 everywhere except the outcome
    on each episode's last step (index length - 1)."""
    rewards = torch.zeros(horizon_t, len(outcomes))
    rewards[lengths - 1, torch.arange(len(outcomes))] = outcomes
    return rewards


def train(args: Args) -> dict:
    args.validate()
    # --- seeding and setup
    seed_everything(args.seed)
    seed_rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    envs = make_vector_env(args.env, args.horizon, args.episodes_per_iter)
    obs_dim = envs.single_observation_space.shape[0]
    actor, warm_digest = make_actor(args, envs)  # random init or the warm start
    critic = value_net(obs_dim, args.hidden)  # PPO: V(s_t) on every state
    actor_opt = torch.optim.Adam(actor.parameters(), lr=args.learning_rate, eps=1e-5)
    critic_opt = torch.optim.Adam(critic.parameters(), lr=args.critic_learning_rate, eps=1e-5)
    rec = Recorder("ppo", args, warm_start_digest=warm_digest)

    while not rec.done:
        # --- rollout
        t0 = time.perf_counter()
        batch = collect_episodes(envs, actor, start_seeds(seed_rng, args.episodes_per_iter))

        # --- advantage: GAE on the sparse terminal reward, with the per-state critic
        with torch.no_grad():
            values = critic(batch.obs).squeeze(-1) * batch.mask
            rewards = sparse_rewards(batch.outcomes, batch.lengths, batch.mask.shape[0])
            adv, returns = gae(rewards, values, batch.mask, args.gamma, args.gae_lambda)
        m = batch.mask
        b_obs, b_act, b_logp = batch.obs[m], batch.actions[m], batch.logprobs[m]
        b_adv, b_ret, b_val = adv[m], returns[m], values[m]

        # --- update: clipped surrogate + value regression, same minibatches
        stats = {k: [] for k in ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac")}
        for _ in range(args.update_epochs):
            for idx in minibatches(len(b_obs), args.minibatch_size, gen):
                mb_adv = b_adv[idx]
                if args.norm_adv and len(idx) > 1:
                    mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
                new_logp, ent = actor.log_prob_entropy(b_obs[idx], b_act[idx])
                loss, kl, cf = clipped_surrogate(new_logp, b_logp[idx], mb_adv, args.clip_coef)
                actor_opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(actor.parameters(), args.max_grad_norm)
                actor_opt.step()

                v_loss = 0.5 * ((critic(b_obs[idx]).squeeze(-1) - b_ret[idx]) ** 2).mean()
                critic_opt.zero_grad()
                v_loss.backward()
                torch.nn.utils.clip_grad_norm_(critic.parameters(), args.max_grad_norm)
                critic_opt.step()
                for k, v in zip(stats, (loss.item(), v_loss.item(), ent.mean().item(), kl, cf)):
                    stats[k].append(v)

        diag = {k: float(np.mean(v)) for k, v in stats.items()}
        diag["explained_variance"] = explained_variance(b_val, b_ret)
        diag["iter_s"] = time.perf_counter() - t0
        rec.log(batch, diag)

    envs.close()
    return rec.result(evaluate(actor, args, args.eval_episodes), args.eval_episodes)
