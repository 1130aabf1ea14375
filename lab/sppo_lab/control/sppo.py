"""SPPO on a sparse control task: the whole episode is ONE action of a contextual bandit.

    python -m sppo_lab.control run --env cartpole --algo sppo --horizon 1000 --seeds 5 \
        --steps 1000000 --out results/control

Context = the start state s_0 (the "prompt"), action = the whole episode, reward = the outcome
R in {0, 1}. The critic V(s_0) reads only s_0 and is the logit of P(success | s_0); it is trained
with BCE-with-logits against R. The advantage A = R - sigmoid(V(s_0)) is one number per episode,
put on every step's log-probability, and the policy is updated with the ordinary PPO clipped
surrogate (token-mean over steps). One episode per start state. No GAE, no discounting, no
advantage normalisation, no entropy bonus.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from sppo.critic_quality import explained_variance
from sppo_lab.control.common import (
    CommonArgs,
    Recorder,
    collect_episodes,
    evaluate,
    make_vector_env,
    outcome_policy_update,
    seed_everything,
    start_seeds,
    value_net,
)
from sppo_lab.control.warmstart import make_actor

ADV_MODES = ("residual", "bernoulli")  # the names of the core's algorithm.sppo.advantage


@dataclass
class Args(CommonArgs):
    """SPPO settings (on top of CommonArgs)."""

    adv_mode: str = "residual"
    """'residual': A = R - sigma(V) (official code); 'bernoulli': (R - p) / sqrt(p (1 - p)), the standardised
    residual of a Bernoulli trial (paper text)"""
    critic_epochs: int = 4
    """full-batch BCE steps of the critic per iteration (on the iteration's start states)"""

    def validate(self) -> None:
        super().validate()
        if self.adv_mode not in ADV_MODES:
            raise ValueError(f"unknown adv_mode '{self.adv_mode}' (allowed: {', '.join(ADV_MODES)})")


def sppo_advantage(outcomes: torch.Tensor, value_logits: torch.Tensor, mode: str = "residual") -> torch.Tensor:
    """Sequence-level advantage of SPPO.

    Args:
        outcomes: (B,) float, the episode outcomes R in {0, 1}.
        value_logits: (B,) float, the critic's logit V(s_0) for each episode's start state.
        mode: "residual" -> A = R - sigmoid(V) (default, as the official code);
              "bernoulli" -> A = (R - p) / sqrt(p (1 - p)), p = sigmoid(V) clamped to
              [1e-3, 1 - 1e-3] (the paper's text).
    Returns:
        (B,) advantages, one per episode (the caller puts it on every step of the episode).
    """
    p = torch.sigmoid(value_logits)
    if mode == "residual":
        return outcomes - p
    if mode == "bernoulli":
        p = p.clamp(1e-3, 1 - 1e-3)
        return (outcomes - p) / torch.sqrt(p * (1 - p))
    raise ValueError(f"unknown adv_mode '{mode}' (allowed: {', '.join(ADV_MODES)})")


def train(args: Args) -> dict:
    args.validate()
    # --- seeding and setup
    seed_everything(args.seed)
    seed_rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    envs = make_vector_env(args.env, args.horizon, args.episodes_per_iter)
    obs_dim = envs.single_observation_space.shape[0]
    actor, warm_digest = make_actor(args, envs)  # random init or the warm start
    critic = value_net(obs_dim, args.hidden)  # SPPO: V(s_0) only, a logit
    actor_opt = torch.optim.Adam(actor.parameters(), lr=args.learning_rate, eps=1e-5)
    critic_opt = torch.optim.Adam(critic.parameters(), lr=args.critic_learning_rate, eps=1e-5)
    rec = Recorder("sppo", args, warm_start_digest=warm_digest)

    while not rec.done:
        # --- rollout: one episode per start state
        t0 = time.perf_counter()
        batch = collect_episodes(envs, actor, start_seeds(seed_rng, args.episodes_per_iter))

        # --- advantage: SPPO, one number per episode from the start-state critic
        with torch.no_grad():
            v_logit = critic(batch.start_obs).squeeze(-1)
            adv_ep = sppo_advantage(batch.outcomes, v_logit, args.adv_mode)
        adv = adv_ep.expand_as(batch.mask)  # (T, B): the same A on every step of episode b
        m = batch.mask
        b_obs, b_act, b_logp, b_adv = batch.obs[m], batch.actions[m], batch.logprobs[m], adv[m]

        # --- policy update: PPO clipped surrogate, token-mean
        stats = outcome_policy_update(actor, actor_opt, b_obs, b_act, b_logp, b_adv, args, gen)

        # --- critic update: BCE-with-logits of V(s_0) against R
        for _ in range(args.critic_epochs):
            v_loss = F.binary_cross_entropy_with_logits(critic(batch.start_obs).squeeze(-1), batch.outcomes)
            critic_opt.zero_grad()
            v_loss.backward()
            torch.nn.utils.clip_grad_norm_(critic.parameters(), args.max_grad_norm)
            critic_opt.step()

        rec.log(
            batch,
            {
                "policy_loss": float(np.mean(stats["policy_loss"])),
                "value_loss": v_loss.item(),
                "entropy": float(np.mean(stats["entropy"])),
                "approx_kl": float(np.mean(stats["approx_kl"])),
                "clipfrac": float(np.mean(stats["clipfrac"])),
                "explained_variance": explained_variance(torch.sigmoid(v_logit), batch.outcomes),
                "iter_s": time.perf_counter() - t0,
            },
        )

    envs.close()
    return rec.result(evaluate(actor, args, args.eval_episodes), args.eval_episodes)
