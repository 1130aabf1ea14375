"""Free disk space for a run's checkpoints, checked before it starts: nothing, or one line naming the shortfall.

    from sppo.disk_space import check_checkpoint_space
    problem = check_checkpoint_space(config)        # the composed config; None when the checkpoints fit

What verl 0.9.1 writes (``verl/trainer/ppo/v1/trainer_base.py`` ``_save_checkpoint``, ``verl/utils/checkpoint``):
every ``trainer.save_freq`` steps and at the last step, ``trainer.default_local_dir/global_step_N/`` holds, for the
actor and (when enabled) the critic, what ``<role>.checkpoint.save_contents`` lists (default ``model``, ``optimizer``,
``extra``): FSDP's fp32 master weights (4 bytes/parameter), AdamW's two fp32 moments (8), the scheduler and RNG states
(kilobytes), and with ``hf_model`` a full copy of the weights (4). So 12 bytes/parameter a role: 1.5B SPPO (1.78 B
policy + 1.54 B critic) ~40 GB a save; 7B SPPO (7.62 B + 7.07 B) ~176 GB; 7B with the 1.5B critic ~110 GB.

How many exist at once: ``trainer.max_{actor,critic}_ckpt_to_keep`` = k >= 2 removes the oldest before a save (k at
most); k = 1 removes the old one after the new one is written (2 at the peak); unset or <= 0 keeps every save.
verl's list of saves to prune starts empty at each launch, so the checkpoints of earlier launches (a resumed run) are
never removed: they are already on the disk, and this launch still needs room for its own.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

# bytes per parameter of each save_contents item (fp32 weights, AdamW's two fp32 moments, full fp32 weights)
CONTENT_BYTES = {"model": 4, "optimizer": 8, "hf_model": 4}
DEFAULT_CONTENTS = ("model", "optimizer", "extra")
GB = 1e9


def _select(config: Any, key: str, default: Any = None) -> Any:
    from omegaconf import DictConfig, OmegaConf

    if not isinstance(config, DictConfig):
        config = OmegaConf.create(config)
    value = OmegaConf.select(config, key, default=default)
    return default if value is None else value


def bytes_per_param(contents: Any) -> int:
    """Bytes a checkpoint stores per parameter of a role for ``save_contents`` (a list of item names)."""
    return sum(CONTENT_BYTES.get(str(item), 0) for item in (contents or DEFAULT_CONTENTS))


def saves_left(total_steps: int | None, save_freq: int, start: int = 0) -> int | None:
    """Checkpoints a launch writes from step ``start + 1`` to ``total_steps``: every ``save_freq``-th step and the last
    one (verl saves at ``is_last_step`` too). ``None`` when the step count is unknown."""
    if total_steps is None:
        return None
    if total_steps <= start:
        return 0
    saves = total_steps // save_freq - start // save_freq
    return saves + (1 if total_steps % save_freq else 0)


def at_once(keep: int | None, saves: int | None) -> int:
    """The most checkpoints of one role that exist at once during a launch of ``saves`` saves under the keep limit."""
    if keep is None or keep <= 0:
        peak = saves if saves is not None else 1
    else:
        peak = 2 if keep == 1 else keep  # keep 1: the new save is written before the old one is removed
        if saves is not None:
            peak = min(peak, saves)
    return max(peak, 0)


def role_params(config: Any) -> dict[str, int] | None:
    """Parameter counts of the roles verl checkpoints (actor, and the critic when enabled); ``None`` when a model's
    architecture is unknown (neither a local ``config.json`` nor a known name, see ``sppo.tools.plan_memory``)."""
    from sppo.roles import critic_on
    from sppo.tools.plan_memory import find_arch

    actor = find_arch(str(_select(config, "actor_rollout_ref.model.path", "")))
    if actor is None:
        return None
    params = {"actor": actor.lm_params()}
    view = {
        "critic": {"enable": _select(config, "critic.enable")},
        "algorithm": {"adv_estimator": str(_select(config, "algorithm.adv_estimator", "gae"))},
    }
    if critic_on(view):
        critic = find_arch(str(_select(config, "critic.model.path", "")))
        if critic is None:
            return None
        params["critic"] = critic.value_params()
    return params


def _latest_step(directory: Path) -> int:
    try:
        return int((directory / "latest_checkpointed_iteration.txt").read_text().strip())
    except (OSError, ValueError):
        return 0


def _earlier_saves(directory: Path) -> int:
    try:
        return sum(1 for p in directory.glob("global_step_*") if p.is_dir())
    except OSError:
        return 0


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_checkpoint_space(config: Any, disk_usage: Callable[[str], Any] = shutil.disk_usage) -> str | None:
    """One line if the checkpoints this launch will keep at once do not fit the free space of
    ``trainer.default_local_dir``'s disk, else ``None`` (also when nothing is saved or a size is unknown).

    Args:
        config: the composed run config (DictConfig or a plain dict of the same keys).
        disk_usage: ``shutil.disk_usage`` or a stand-in returning an object with ``.free`` (bytes).
    """
    save_freq = int(_select(config, "trainer.save_freq", -1))
    if save_freq <= 0:
        return None
    params = role_params(config)
    if params is None:
        return None
    directory = Path(str(_select(config, "trainer.default_local_dir", "checkpoints"))).expanduser()
    start = _latest_step(directory) if str(_select(config, "trainer.resume_mode", "auto")) == "auto" else 0
    total = _select(config, "trainer.total_training_steps")
    saves = saves_left(int(total) if total is not None else None, save_freq, start)
    sections = {"actor": "actor_rollout_ref.actor", "critic": "critic"}
    per_save: dict[str, float] = {}
    needed = 0.0
    counts = {}
    for role, count in params.items():
        contents = _select(config, f"{sections[role]}.checkpoint.save_contents", list(DEFAULT_CONTENTS))
        per_save[role] = count * bytes_per_param(contents)
        keep = _select(config, f"trainer.max_{role}_ckpt_to_keep")
        counts[role] = at_once(int(keep) if keep is not None else None, saves)
        needed += per_save[role] * counts[role]
    free = float(disk_usage(str(_nearest_existing(directory))).free)
    if needed <= free:
        return None
    roles = " + ".join(f"{role} {size / GB:.0f} GB" for role, size in per_save.items())
    kept = ", ".join(f"{role} {n}" for role, n in counts.items())
    earlier = _earlier_saves(directory)
    line = (
        f"checkpoints need about {math.ceil(needed / GB)} GB in {directory} ({roles} a save; at once: {kept}) but "
        f"{free / GB:.0f} GB are free there: free space, lower trainer.max_actor_ckpt_to_keep / "
        f"trainer.max_critic_ckpt_to_keep, or move trainer.default_local_dir (CKPT_DIR) to a larger disk"
    )
    if earlier:
        line += f"; {earlier} global_step_* folder(s) of earlier launches are there, which verl never prunes"
    return line
