"""Success rate of the uniformly random policy on each task (the "p0" in docs/control_suite.md).

    python -m sppo_lab.control.baseline --horizons 50 200 500 1000 --episodes 200

p0 tells whether an outcome-only learner can get started at all: with p0 = 0 no episode ever
succeeds, every advantage is (close to) zero, and no algorithm here can learn.
Random actions: uniform over Discrete actions, uniform in [-1, 1] for Box actions (the tasks'
action spaces are already scaled to [-1, 1]).
"""

from __future__ import annotations

import argparse

import numpy as np

from sppo_lab.control.envs import ENV_NAMES, make_env


def random_success_rate(env_name: str, horizon: int, episodes: int, seed: int = 0) -> float:
    env = make_env(env_name, horizon)
    env.action_space.seed(seed)
    rng = np.random.default_rng(seed)
    wins = 0.0
    for _ in range(episodes):
        env.reset(seed=int(rng.integers(0, 2**31 - 1)))
        while True:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                wins += reward
                break
    env.close()
    return wins / episodes


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m sppo_lab.control.baseline", description=__doc__)
    p.add_argument("--envs", nargs="+", default=list(ENV_NAMES))
    p.add_argument("--horizons", nargs="+", type=int, default=[200, 500, 1000])
    p.add_argument("--episodes", type=int, default=200)
    ns = p.parse_args(argv)
    bad = [e for e in ns.envs if e not in ENV_NAMES]
    if bad:
        p.error(f"unknown env '{bad[0]}' (allowed: {', '.join(ENV_NAMES)})")
    print("| env | " + " | ".join(f"p0 at H = {h}" for h in ns.horizons) + " |")
    print("|---|" + "---|" * len(ns.horizons))
    for name in ns.envs:
        rates = [random_success_rate(name, h, ns.episodes) for h in ns.horizons]
        print(f"| {name} | " + " | ".join(f"{r:.3f}" for r in rates) + " |", flush=True)


if __name__ == "__main__":
    main()
