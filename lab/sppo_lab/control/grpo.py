"""GRPO on a sparse control task: N episodes from the same start state, no critic.

    python -m sppo_lab.control run --env cartpole --algo grpo --horizon 1000 --seeds 5 \
        --steps 1000000 --out results/control

Each iteration draws episodes_per_iter / N start states and plays every one N times (the N
sub-environments of a group are reset with the same seed, so they start from the identical
state; only the policy's sampling differs). The advantage of an episode is its outcome normalised
within its group, (R - mean_group) / (std_group + eps), put on every step; a group whose episodes
all succeed or all fail gives no signal. PPO clipped surrogate (token-mean), no KL term.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from sppo_lab.control.common import (
    CommonArgs,
    Recorder,
    collect_episodes,
    evaluate,
    make_vector_env,
    outcome_policy_update,
    seed_everything,
    start_seeds,
)
from sppo_lab.control.warmstart import make_actor


@dataclass
class Args(CommonArgs):
    """GRPO settings (on top of CommonArgs)."""

    group_size: int = 8
    """N: episodes per start state; must divide episodes_per_iter"""
    adv_eps: float = 1e-6
    """added to the group std before dividing"""

    def validate(self) -> None:
        super().validate()
        if self.group_size < 2 or self.episodes_per_iter % self.group_size:
            raise ValueError(
                f"group_size must be >= 2 and divide episodes_per_iter "
                f"({self.episodes_per_iter}), got {self.group_size}"
            )


def grpo_advantage(outcomes: torch.Tensor, group_size: int, eps: float = 1e-6) -> torch.Tensor:
    """Group-normalised outcome advantage.

    Args:
        outcomes: (G * N,) float outcomes, the N episodes of group g at indices g*N .. g*N+N-1.
        group_size: N.
        eps: added to the (unbiased, as torch.std) group standard deviation.
    Returns:
        (G * N,) advantages (R - mean_g) / (std_g + eps).
    """
    grouped = outcomes.view(-1, group_size)
    mean = grouped.mean(dim=1, keepdim=True)
    std = grouped.std(dim=1, keepdim=True)
    return ((grouped - mean) / (std + eps)).reshape(-1)


def train(args: Args) -> dict:
    args.validate()
    # --- seeding and setup
    seed_everything(args.seed)
    seed_rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    envs = make_vector_env(args.env, args.horizon, args.episodes_per_iter)
    actor, warm_digest = make_actor(args, envs)  # random init or the warm start; GRPO: no critic
    actor_opt = torch.optim.Adam(actor.parameters(), lr=args.learning_rate, eps=1e-5)
    rec = Recorder("grpo", args, warm_start_digest=warm_digest)
    n_groups = args.episodes_per_iter // args.group_size

    while not rec.done:
        # --- rollout: N episodes per start state (same reset seed within a group)
        t0 = time.perf_counter()
        group_seeds = start_seeds(seed_rng, n_groups)
        batch = collect_episodes(envs, actor, np.repeat(group_seeds, args.group_size).tolist())

        # --- advantage: group-normalised outcome, one number per episode
        adv_ep = grpo_advantage(batch.outcomes, args.group_size, args.adv_eps)
        adv = adv_ep.expand_as(batch.mask)
        m = batch.mask
        b_obs, b_act, b_logp, b_adv = batch.obs[m], batch.actions[m], batch.logprobs[m], adv[m]

        # --- policy update: PPO clipped surrogate, token-mean
        stats = outcome_policy_update(actor, actor_opt, b_obs, b_act, b_logp, b_adv, args, gen)

        diag = {k: float(np.mean(v)) for k, v in stats.items()}
        diag.update(value_loss=None, explained_variance=None, iter_s=time.perf_counter() - t0)
        rec.log(batch, diag)

    envs.close()
    return rec.result(evaluate(actor, args, args.eval_episodes), args.eval_episodes)
