"""Which roles a config starts: one statement of verl's rules, readable without importing verl.

The launch checks, the dry run and the memory planner all ask these questions; the planner reads plain dicts (a
script's resolved config) and must stay quick, so the rules are stated here once, on dicts or DictConfigs alike,
and tests/core/test_roles.py keeps them equal to verl 0.9.1's own ``need_critic`` / ``need_reference_policy``.
"""

from __future__ import annotations

from typing import Any

from sppo.options import SPPO_ESTIMATORS


def _get(config: Any, dotted: str, default: Any = None) -> Any:
    node = config
    for part in dotted.split("."):
        if node is None:
            return default
        node = node.get(part, None) if hasattr(node, "get") else None
    return default if node is None else node


def critic_on(config: Any) -> bool:
    """verl's ``need_critic``: ``critic.enable`` when set, else on for gae; SPPO's entry point turns it on for the
    SPPO estimators (sppo.config_checks), so an unset value means on for them too."""
    enable = _get(config, "critic.enable")
    if enable is not None:
        return bool(enable)
    return str(_get(config, "algorithm.adv_estimator", "gae")) in ("gae", *SPPO_ESTIMATORS)


def ref_on(config: Any) -> bool:
    """verl's ``need_reference_policy``: a KL term in the reward or in the actor's loss needs the reference policy."""
    return bool(
        _get(config, "algorithm.use_kl_in_reward", False) or _get(config, "actor_rollout_ref.actor.use_kl_loss", False)
    )
