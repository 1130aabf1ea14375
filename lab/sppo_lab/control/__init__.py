"""Control suite: SPPO vs token-level PPO (and GRPO) on sparse-reward, long-horizon classic control.

Plain PyTorch + gymnasium, independent of the verl integration.

    python -m sppo_lab.control list
    python -m sppo_lab.control run --env cartpole --algo sppo --horizon 1000 --seeds 5 \
        --steps 200000 --out runs/control
    python -m sppo_lab.control report runs/control --out docs/control_results
    bash run_scripts/run_control_suite.sh          # the whole grid, resumable

Layout: envs.py (the five sparse tasks, gymnasium wrappers), common.py (what the algorithms
share: settings, networks, rollout, clipped surrogate, recorder), sppo.py / ppo.py / grpo.py
(one file per algorithm), report.py (results -> Markdown + plots), cli.py, baseline.py
(random-policy success rates). Definitions and protocol: docs/control_suite.md.
"""

#: Modules of the ``control`` extra (``lab/pyproject.toml``): gymnasium and the simulators of its tasks.
EXTRA_MODULES = ("gymnasium", "Box2D", "mujoco", "pygame")
INSTALL_HINT = (
    "the control suite needs the `control` extra (gymnasium with Box2D and MuJoCo): "
    "install it with `SPPO_EXTRAS=control bash uv_verl.sh` (`bash uv_verl.sh --cpu` includes it)"
)
