"""Launch checks: what must hold before Ray or any model starts, run by every launch and by the dry run.

``sppo.main.run`` calls :func:`launch_checks` after SPPO's option checks (sppo/config_checks.py) on every launch;
the dry run (sppo/tools/dry_run.py) calls it with ``dry_run=True`` and then prints its summary. Errors raise
``SPPOConfigError`` with one line (``sppo: error: ...``, exit 2): batch sizes that do not split into whole
mini-/micro-batches per GPU, sequence parallelism set on a key verl does not read, a vLLM tensor-parallel
size that does not divide the GPUs, an estimator the trainer cannot run, verl values that make no sense
(negative learning rates, lengths <= 0, zero steps), missing or malformed data files, missing local
checkpoints, a log path that cannot be written, and (at a real launch on a GPU node) a missing flash-attn.
Warnings (no GPU visible here, ...) are printed and do not stop anything.

Environment: ``SPPO_DRY_RUN_ALLOW_MISSING=1`` (missing files become warnings; ``python -m sppo.tools.plan_memory
--script`` uses it).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from sppo.config_checks import SPPO_ESTIMATORS, SPPOConfigError, trainer_options
from sppo.critic_batching import critic_sp_size
from sppo.disk_space import check_checkpoint_space
from sppo.megatron import check_megatron, megatron_model_parallel_size
from sppo.options import TrainerOptions
from sppo.roles import critic_on, ref_on

# Estimators whose baseline comes from the other samples of the same prompt: they need N >= 2.
GROUP_ESTIMATORS = ("grpo", "rloo", "grpo_vectorized", "rloo_vectorized", "grpo_passk", "opo", "gdpo")

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def env_flag(name: str) -> bool:
    """An environment switch: set and neither empty nor ``0``."""
    return os.environ.get(name, "0") not in ("", "0")


def as_list(value: Any) -> list[str]:
    """A config value that may be one item or a list (data files, loggers), as a list of strings."""
    if value is None:
        return []
    if isinstance(value, (list, tuple, ListConfig)):
        return [str(v) for v in value]
    return [str(value)]


def _is_remote(path: str) -> bool:
    return "://" in path


def _is_local_model(path: str) -> bool:
    """A model path that names a local directory (as opposed to a hub id such as org/name)."""
    return (
        path.startswith(("/", "./", "../", "~")) or os.path.exists(os.path.expanduser(path)) or not _HUB_ID.match(path)
    )


def check_batches(config: DictConfig) -> None:
    """Prompts per step -> mini-batches -> per-GPU micro-batches must all divide evenly (non-dynamic batching).

    verl scales every mini-batch by N (rollout.n) and splits it over the data-parallel ranks
    (GPUs / Ulysses SP size); each rank's share must then split into whole micro-batches.
    """
    arr = config.actor_rollout_ref
    n = int(arr.rollout.n)
    gpus = int(config.trainer.n_gpus_per_node) * int(config.trainer.nnodes)
    tbs = int(config.data.train_batch_size)
    if (tbs * n) % gpus:
        raise SPPOConfigError(
            f"data.train_batch_size x rollout.n = {tbs} x {n} = {tbs * n} sequences per step do not split over "
            f"{gpus} GPUs (trainer.n_gpus_per_node x trainer.nnodes)"
        )
    # GPUs per model copy: TP x PP x CP on Megatron (checked by check_megatron first), the Ulysses size on FSDP
    actor_mp = megatron_model_parallel_size(config, "actor") or actor_sp_size(config)
    roles = [("actor_rollout_ref.actor", arr.actor, actor_mp, "fsdp_config")]
    if critic_on(config):
        critic_mp = megatron_model_parallel_size(config, "critic") or critic_sp_size(config)
        roles.append(("critic", config.critic, critic_mp, "fsdp"))
    for name, sec, sp, engine_key in roles:
        if gpus % sp:
            raise SPPOConfigError(
                f"{name}.{engine_key}.ulysses_sequence_parallel_size={sp} does not divide the {gpus} GPUs"
            )
        dp = gpus // sp
        mini = int(sec.ppo_mini_batch_size)
        if mini <= 0 or tbs % mini:
            raise SPPOConfigError(
                f"data.train_batch_size={tbs} is not a multiple of {name}.ppo_mini_batch_size={mini}: "
                "each step must split into whole mini-batches"
            )
        if (mini * n) % dp:
            raise SPPOConfigError(
                f"{name}.ppo_mini_batch_size x rollout.n = {mini} x {n} = {mini * n} sequences do not split over "
                f"{dp} data-parallel ranks"
            )
        if sec.get("use_dynamic_bsz", False):
            continue
        micro = sec.get("ppo_micro_batch_size_per_gpu", None)
        if micro is None and sec.get("ppo_micro_batch_size", None) is not None:
            micro = int(sec.ppo_micro_batch_size) // dp
        if micro is None or int(micro) <= 0:
            raise SPPOConfigError(
                f"set {name}.ppo_micro_batch_size_per_gpu (or {name}.use_dynamic_bsz=True with "
                f"{name}.ppo_max_token_len_per_gpu)"
            )
        per_gpu = mini * n // dp
        if per_gpu % int(micro):
            raise SPPOConfigError(
                f"{name}: {per_gpu} sequences per GPU per mini-batch ({name}.ppo_mini_batch_size={mini} x n={n} / "
                f"{dp} ranks) are not a multiple of {name}.ppo_micro_batch_size_per_gpu={int(micro)}"
            )


def actor_sp_size(config: DictConfig) -> int:
    """The actor's Ulysses size as verl's engine sees it: ``actor.fsdp_config.ulysses_sequence_parallel_size``,
    or the deprecated ``actor.ulysses_sequence_parallel_size`` when > 1 (verl's ActorConfig copies it over)."""
    actor = config.actor_rollout_ref.actor
    deprecated = int(actor.get("ulysses_sequence_parallel_size", 1) or 1)
    return (
        deprecated
        if deprecated > 1
        else int(actor.get("fsdp_config", {}).get("ulysses_sequence_parallel_size", 1) or 1)
    )


def check_sequence_parallel_keys(config: DictConfig) -> None:
    """verl 0.9.1's critic engine reads only ``critic.fsdp.ulysses_sequence_parallel_size``; the deprecated
    top-level key would be silently ignored (unlike the actor's, which verl copies over)."""
    deprecated = int(config.critic.get("ulysses_sequence_parallel_size", 1) or 1)
    if deprecated > 1 and deprecated != critic_sp_size(config):
        raise SPPOConfigError(
            f"critic.ulysses_sequence_parallel_size={deprecated} is not read by verl 0.9.1's critic engine; "
            f"set critic.fsdp.ulysses_sequence_parallel_size={deprecated} instead"
        )


def check_parallelism(config: DictConfig) -> None:
    """vLLM's tensor-parallel groups must tile the GPUs and fit inside one node."""
    tp = int(config.actor_rollout_ref.rollout.tensor_model_parallel_size)
    per_node = int(config.trainer.n_gpus_per_node)
    gpus = per_node * int(config.trainer.nnodes)
    if tp <= 0 or gpus % tp or per_node % tp:
        raise SPPOConfigError(
            f"actor_rollout_ref.rollout.tensor_model_parallel_size={tp} must divide the GPUs per node "
            f"(trainer.n_gpus_per_node={per_node}) and the total ({gpus})"
        )


def check_estimator(config: DictConfig) -> None:
    """Estimator-specific needs that verl only discovers mid-run."""
    est = str(config.algorithm.adv_estimator)
    n = int(config.actor_rollout_ref.rollout.n)
    if est in GROUP_ESTIMATORS and n < 2:
        raise SPPOConfigError(
            f"algorithm.adv_estimator={est} compares samples of the same prompt: set actor_rollout_ref.rollout.n >= 2"
        )
    if est == "remax" and config.trainer.get("use_v1", True):
        raise SPPOConfigError(
            "algorithm.adv_estimator=remax needs trainer.use_v1=False: verl 0.9.1's v1 trainer does not generate "
            "ReMax's greedy baseline (its legacy trainer does)"
        )
    if est in SPPO_ESTIMATORS and not config.trainer.get("use_v1", True):
        raise SPPOConfigError("algorithm.adv_estimator=sppo runs on verl's v1 trainer: remove trainer.use_v1=False")


def check_gpus(config: DictConfig, dry_run: bool = True) -> list[str]:
    """GPUs asked per node vs CUDA devices visible here. No GPU at all: a warning in a dry run.

    On CPU, verl's resource pools count logical "GPU" slots of the Ray cluster (sppo/configs/platform/cpu.yaml): the
    trainer's ranks plus, in separate_async, the standalone rollout replicas' must fit into them."""
    if str(config.trainer.get("device", "cuda")) == "cpu":
        slots = int(config.trainer.n_gpus_per_node) * int(config.trainer.nnodes)
        if trainer_mode(config) == "separate_async":
            rollout = config.actor_rollout_ref.rollout
            slots += int(rollout.get("nnodes", 0) or 0) * int(rollout.get("n_gpus_per_node", 0) or 0)
        logical = int((config.get("ray_kwargs") or {}).get("ray_init", {}).get("num_gpus", 0) or 0)
        if logical < slots:
            raise SPPOConfigError(
                f"ray_kwargs.ray_init.num_gpus={logical} logical GPU slots on CPU, but the run places {slots} "
                f"workers (trainer ranks + standalone rollout replicas); set ray_kwargs.ray_init.num_gpus={slots}"
            )
        return []
    per_node = int(config.trainer.n_gpus_per_node)
    nnodes = int(config.trainer.nnodes)
    visible = visible_gpus()
    if visible == 0:
        message = (
            f"no CUDA device is visible here; the run needs {per_node} GPU(s) per node x {nnodes} node(s) "
            f"= {per_node * nnodes}"
        )
        if dry_run:
            return [message]
        raise SPPOConfigError(message)
    if visible < per_node:
        raise SPPOConfigError(
            f"trainer.n_gpus_per_node={per_node} but this node sees {visible} CUDA device(s) "
            "(check CUDA_VISIBLE_DEVICES or lower trainer.n_gpus_per_node)"
        )
    return []


def flash_attn_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("flash_attn") is not None


def check_flash_attn(config: DictConfig, dry_run: bool = True) -> list[str]:
    """On GPU, verl 0.9.1 loads every value model with ``attn_implementation="flash_attention_2"``
    (verl/utils/model.py ``load_valuehead_model``, upstream #5210); without flash-attn the critic fails to load
    mid-start-up with a message that says to install trl. Say what is really missing, before anything starts."""
    if str(config.trainer.get("device", "cuda")) == "cpu" or not critic_on(config) or flash_attn_installed():
        return []
    message = (
        "the critic needs flash-attn on GPU (verl 0.9.1 loads value models with flash_attention_2) and it is not "
        "installed: run `bash uv_verl.sh` (installs flash-attn==2.8.3) or `pip install flash-attn==2.8.3 "
        "--no-build-isolation` in this environment"
    )
    if dry_run or visible_gpus() == 0:  # a launch from a GPU-less Ray head: its GPU nodes may have it
        return [message]
    raise SPPOConfigError(message)


def check_files(config: DictConfig, allow_missing: bool = False) -> list[str]:
    """Train/validation parquet files and local model checkpoints must exist (remote URLs and hub ids are
    not checked)."""
    missing = []
    for key in ("data.train_files", "data.val_files"):
        for path in as_list(OmegaConf.select(config, key)):
            if not _is_remote(path) and not os.path.exists(os.path.expanduser(path)):
                missing.append(f"{key}: {path}")
    models = [("actor_rollout_ref.model.path", config.actor_rollout_ref.model.path)]
    if critic_on(config):
        models.append(("critic.model.path", config.critic.model.path))
    for key, path in models:
        path = str(path)
        if not _is_remote(path) and _is_local_model(path) and not os.path.exists(os.path.expanduser(path)):
            missing.append(f"{key}: {path}")
    if not missing:
        return []
    message = (
        f"missing: {'; '.join(missing)} (prepare data with `python -m sppo.data.prepare all --out data/` "
        "or point DATA_DIR / MODEL_PATH at them)"
    )
    if allow_missing:
        return [message]
    raise SPPOConfigError(message)


@dataclass(frozen=True)
class Rule:
    """One verl setting's type and range. ``kind``: ``int``, ``float`` (finite), ``bool`` or ``choice``; ``lo``/``hi``:
    bounds (``*_open``: excluded); ``nullable``: null is allowed (verl's "unset"); ``when``: the rule applies only
    when that part of the run is on (``critic``, ``gae``, ``kl_loss``, ``gpu``)."""

    key: str
    kind: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[str, ...] = ()
    nullable: bool = False
    when: str = ""
    why: str = ""


# verl settings that verl lets through and that make no sense or invert their meaning (a negative learning rate
# or entropy coefficient, top_p above 1, a lower clip ratio above 1, zero epochs): verl accepts them and fails
# mid-run (some with an assert inside a Ray worker) or silently trains on something else.
VERL_RULES: tuple[Rule, ...] = (
    Rule("data.train_batch_size", "int", 1),
    Rule("data.max_prompt_length", "int", 1),
    Rule("data.max_response_length", "int", 1),
    Rule("data.val_batch_size", "int", 1, nullable=True),
    Rule("data.truncation", "choice", choices=("error", "left", "right", "middle")),
    Rule("data.filter_overlong_prompts", "bool"),
    Rule("data.shuffle", "bool"),
    Rule("data.return_raw_chat", "bool"),
    Rule("actor_rollout_ref.rollout.n", "int", 1),
    Rule("actor_rollout_ref.rollout.temperature", "float", 0.0),
    Rule("actor_rollout_ref.rollout.top_p", "float", 0.0, 1.0, lo_open=True),
    Rule("actor_rollout_ref.rollout.top_k", "int", -1, why=" (-1: no top-k)"),
    Rule("actor_rollout_ref.rollout.do_sample", "bool"),
    Rule("actor_rollout_ref.rollout.val_kwargs.n", "int", 1),
    Rule("actor_rollout_ref.rollout.val_kwargs.temperature", "float", 0.0),
    Rule("actor_rollout_ref.rollout.val_kwargs.top_p", "float", 0.0, 1.0, lo_open=True),
    Rule("actor_rollout_ref.rollout.val_kwargs.top_k", "int", -1, why=" (-1: no top-k)"),
    Rule("actor_rollout_ref.rollout.val_kwargs.do_sample", "bool"),
    Rule("actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu", "int", 1, nullable=True),
    Rule("actor_rollout_ref.rollout.gpu_memory_utilization", "float", 0.0, 1.0, lo_open=True, when="gpu"),
    Rule("actor_rollout_ref.actor.ppo_mini_batch_size", "int", 1),
    Rule("actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu", "int", 1, nullable=True),
    Rule("actor_rollout_ref.actor.ppo_epochs", "int", 1, why=" (0 epochs: the policy is never updated)"),
    Rule("actor_rollout_ref.actor.use_dynamic_bsz", "bool"),
    Rule("actor_rollout_ref.actor.optim.lr", "float", 0.0, lo_open=True),
    Rule("actor_rollout_ref.actor.optim.weight_decay", "float", 0.0),
    Rule("actor_rollout_ref.actor.optim.lr_warmup_steps_ratio", "float", 0.0, 1.0),
    Rule("actor_rollout_ref.actor.optim.clip_grad", "float", 0.0, lo_open=True),
    Rule("actor_rollout_ref.actor.clip_ratio", "float", 0.0, lo_open=True),
    Rule("actor_rollout_ref.actor.clip_ratio_low", "float", 0.0, 1.0, lo_open=True, nullable=True),
    Rule("actor_rollout_ref.actor.clip_ratio_high", "float", 0.0, lo_open=True, nullable=True),
    Rule("actor_rollout_ref.actor.clip_ratio_c", "float", 1.0, lo_open=True, why=" (the dual-clip bound)"),
    Rule("actor_rollout_ref.actor.entropy_coeff", "float", 0.0, why=" (a negative coefficient rewards low entropy)"),
    Rule("actor_rollout_ref.actor.use_kl_loss", "bool"),
    Rule("actor_rollout_ref.actor.kl_loss_coef", "float", 0.0, when="kl_loss"),
    Rule("critic.optim.lr", "float", 0.0, lo_open=True, when="critic"),
    Rule("critic.optim.weight_decay", "float", 0.0, when="critic"),
    Rule("critic.optim.lr_warmup_steps_ratio", "float", 0.0, 1.0, when="critic"),
    Rule("critic.optim.clip_grad", "float", 0.0, lo_open=True, when="critic"),
    Rule("critic.ppo_mini_batch_size", "int", 1, when="critic"),
    Rule("critic.ppo_micro_batch_size_per_gpu", "int", 1, nullable=True, when="critic"),
    Rule("critic.ppo_epochs", "int", 0, when="critic"),
    Rule("critic.cliprange_value", "float", 0.0, lo_open=True, when="gae"),
    Rule("algorithm.gamma", "float", 0.0, 1.0, when="gae"),
    Rule("algorithm.lam", "float", 0.0, 1.0, when="gae"),
    Rule("algorithm.kl_ctrl.kl_coef", "float", 0.0),
    Rule("trainer.total_epochs", "int", 1),
    Rule("trainer.total_training_steps", "int", 1, nullable=True, why=" (null: epochs x steps per epoch)"),
    Rule("trainer.n_gpus_per_node", "int", 1),
    Rule("trainer.nnodes", "int", 1),
    Rule("trainer.save_freq", "int", why=" (-1: no checkpoints)"),
    Rule("trainer.test_freq", "int", why=" (-1: no validation during training)"),
    Rule("trainer.critic_warmup", "int", 0),
    Rule("trainer.val_before_train", "bool"),
    Rule("trainer.resume_mode", "choice", choices=("auto", "disable", "resume_path")),
)


def _rule_applies(config: DictConfig, rule: Rule) -> bool:
    if rule.when == "critic":
        return critic_on(config)
    if rule.when == "gae":
        return str(config.algorithm.adv_estimator) == "gae"
    if rule.when == "kl_loss":
        return OmegaConf.select(config, "actor_rollout_ref.actor.use_kl_loss") is True
    if rule.when == "gpu":
        return str(config.trainer.get("device", "cuda")) != "cpu"
    return True


def _range_text(rule: Rule) -> str:
    if rule.lo is not None and rule.hi is not None:
        return f"a value in {'(' if rule.lo_open else '['}{rule.lo:g}, {rule.hi:g}{')' if rule.hi_open else ']'}"
    if rule.lo is not None:
        return f"a value {'>' if rule.lo_open else '>='} {rule.lo:g}"
    return f"a value {'<' if rule.hi_open else '<='} {rule.hi:g}"


def rule_problem(rule: Rule, value: Any) -> str | None:
    """What is wrong with ``value`` for ``rule`` (one line naming the key), or None."""
    import math

    if value is None and rule.nullable:
        return None
    if rule.kind == "bool":
        return None if isinstance(value, bool) else f"{rule.key}={value!r}; expected true or false"
    if rule.kind == "choice":
        if value in rule.choices:
            return None
        return f"{rule.key}={value!r}; choose one of {', '.join(rule.choices)}"
    null = " or null" if rule.nullable else ""
    if rule.kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        return f"{rule.key}={value!r}; expected an integer{null}{rule.why}"
    if rule.kind == "float" and (
        isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
    ):
        return f"{rule.key}={value!r}; expected a finite number{null}{rule.why}"
    low = rule.lo is not None and (value <= rule.lo if rule.lo_open else value < rule.lo)
    high = rule.hi is not None and (value >= rule.hi if rule.hi_open else value > rule.hi)
    if low or high:
        return f"{rule.key}={value}; expected {_range_text(rule)}{rule.why}"
    return None


def check_verl_values(config: DictConfig) -> None:
    """Types and ranges of the verl settings in :data:`VERL_RULES`, the rollout engine's name, the loggers, the
    policy loss, dynamic batching's token budget and the resume path: verl accepts several of them and fails
    mid-run (after Ray started) or trains on nothing."""
    for rule in VERL_RULES:
        if not _rule_applies(config, rule):
            continue
        problem = rule_problem(rule, OmegaConf.select(config, rule.key))
        if problem:
            raise SPPOConfigError(problem)
    for role in ("actor_rollout_ref.actor", "critic"):
        betas = OmegaConf.select(config, f"{role}.optim.betas")
        if (role == "actor_rollout_ref.actor" or critic_on(config)) and betas is not None:
            items = list(betas) if isinstance(betas, (list, tuple, ListConfig)) else None
            if (
                items is None
                or len(items) != 2
                or any(rule_problem(Rule("b", "float", 0.0, 1.0, hi_open=True), b) for b in items)
            ):
                raise SPPOConfigError(f"{role}.optim.betas={betas!r}; expected [beta1, beta2], each in [0, 1)")
    check_rollout_name(config)
    check_loggers(config)
    check_policy_loss(config)
    check_reward_function(config)
    check_dynamic_batching(config)
    check_resume(config)


def rollout_names(config: DictConfig) -> list[str]:
    """The rollout engines verl can build (verl's replica registry; with ``platform=cpu`` also ``hf``, which
    sppo.cpu registers in every process of such a run)."""
    from verl.workers.rollout.replica import RolloutReplicaRegistry

    cpu = {"hf"} if str(config.trainer.get("device", "cuda")) == "cpu" else set()
    return sorted(set(RolloutReplicaRegistry._registry) | cpu)


def check_rollout_name(config: DictConfig) -> None:
    """``actor_rollout_ref.rollout.name`` is mandatory in verl's config (``???``) and must name a registered engine."""
    key = "actor_rollout_ref.rollout.name"
    if OmegaConf.is_missing(config.actor_rollout_ref.rollout, "name"):
        raise SPPOConfigError(
            f"{key} is not set (verl has no default): add {key}=vllm on a GPU node (or sglang; platform=cpu sets hf)"
        )
    name = config.actor_rollout_ref.rollout.name
    known = rollout_names(config)
    if name not in known:
        raise SPPOConfigError(
            f"{key}={name!r} is not a rollout engine verl knows here; choose one of {', '.join(known)}"
        )


def check_loggers(config: DictConfig) -> None:
    """Every ``trainer.logger`` backend must be one verl's ``Tracking`` supports (it asserts inside the Ray task
    runner otherwise)."""
    from verl.utils.tracking import Tracking

    loggers = config.trainer.get("logger", None)
    names = as_list(loggers)
    for name in names:
        if name not in Tracking.supported_backend:
            raise SPPOConfigError(
                f"trainer.logger has {name!r}, which verl cannot log to; choose from "
                f"{', '.join(Tracking.supported_backend)}"
            )


def _wandb_key_known() -> bool:
    """W&B finds its API key: ``WANDB_API_KEY``, or a ``wandb login`` entry in the netrc file, or no key is needed
    (``WANDB_MODE=offline`` / ``disabled``)."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_MODE", "") in ("offline", "disabled", "dryrun"):
        return True
    netrc = Path(os.environ.get("NETRC", "~/.netrc")).expanduser()
    try:
        return "api.wandb.ai" in netrc.read_text(errors="replace")
    except OSError:
        return False


def check_wandb(config: DictConfig, dry_run: bool = True) -> list[str]:
    """``trainer.logger`` with ``wandb`` (verl's default: [console, wandb]) needs the wandb package and an API key;
    without them verl's tracker fails inside the Ray task runner (wandb cannot ask for a key there). A dry run
    warns; a launch refuses."""
    import importlib.util

    if "wandb" not in as_list(config.trainer.get("logger", None)):
        return []
    if importlib.util.find_spec("wandb") is None:
        message = "trainer.logger includes wandb but the wandb package is not installed: pip install wandb"
    elif not _wandb_key_known():
        message = "trainer.logger includes wandb but WANDB_API_KEY is not set (and no `wandb login`)"
    else:
        return []
    message += "; or log elsewhere: trainer.logger=[console,file] (or WANDB_MODE=offline)"
    if dry_run:
        return [message]
    raise SPPOConfigError(message)


def check_reward_function(config: DictConfig) -> None:
    """``reward.custom_reward_function.path`` / ``.name`` load as verl loads them (``load_extern_object``, in the
    reward workers otherwise: a missing file or function fails there, after Ray started)."""
    path = OmegaConf.select(config, "reward.custom_reward_function.path")
    if not path:
        return
    name = OmegaConf.select(config, "reward.custom_reward_function.name") or "compute_score"
    from verl.utils.import_utils import load_extern_object

    try:
        function = load_extern_object(module_path=str(path), object_name=str(name))
    except Exception as exc:  # noqa: BLE001 - a missing file or module, an import error inside it, no such name
        text = str(exc).strip().splitlines()
        raise SPPOConfigError(
            f"reward.custom_reward_function.path={path} (name={name}) cannot be loaded: "
            f"{type(exc).__name__}: {text[0] if text else ''}"
        ) from None
    if not callable(function):
        raise SPPOConfigError(f"reward.custom_reward_function.name={name} in {path} is not a function")


def check_policy_loss(config: DictConfig) -> None:
    """``actor.policy_loss.loss_mode`` must be registered in verl (looked up only inside the actor, mid-run)."""
    from verl.trainer.ppo.core_algos import POLICY_LOSS_REGISTRY

    mode = OmegaConf.select(config, "actor_rollout_ref.actor.policy_loss.loss_mode")
    if mode is not None and mode not in POLICY_LOSS_REGISTRY:
        raise SPPOConfigError(
            f"actor_rollout_ref.actor.policy_loss.loss_mode={mode!r} is unknown; choose one of "
            f"{', '.join(sorted(POLICY_LOSS_REGISTRY))}"
        )


def check_dynamic_batching(config: DictConfig) -> None:
    """With dynamic batch sizes, one micro-batch holds at most ``ppo_max_token_len_per_gpu`` tokens: a budget below
    one full sequence (prompt + response) cannot hold the longest sample."""
    need = int(config.data.max_prompt_length) + int(config.data.max_response_length)
    roles = [("actor_rollout_ref.actor", config.actor_rollout_ref.actor)]
    if critic_on(config):
        roles.append(("critic", config.critic))
    for name, sec in roles:
        if not sec.get("use_dynamic_bsz", False):
            continue
        budget = sec.get("ppo_max_token_len_per_gpu", None)
        problem = rule_problem(Rule(f"{name}.ppo_max_token_len_per_gpu", "int", 1), budget)
        if problem:
            raise SPPOConfigError(problem)
        if budget < need:
            raise SPPOConfigError(
                f"{name}.ppo_max_token_len_per_gpu={budget} is below one full sequence "
                f"(data.max_prompt_length + data.max_response_length = {need}) with {name}.use_dynamic_bsz=True"
            )


def check_resume(config: DictConfig) -> None:
    """``trainer.resume_mode=resume_path`` needs ``trainer.resume_from_path``, a ``global_step_N`` folder."""
    if config.trainer.get("resume_mode", "auto") != "resume_path":
        return
    path = config.trainer.get("resume_from_path", None)
    if not path:
        raise SPPOConfigError(
            "trainer.resume_mode=resume_path needs trainer.resume_from_path=<.../global_step_N>; "
            "or use trainer.resume_mode=auto (the latest checkpoint in trainer.default_local_dir)"
        )
    if not _is_remote(str(path)) and not os.path.isdir(os.path.expanduser(str(path))):
        raise SPPOConfigError(f"trainer.resume_from_path={path}: no such folder (expected .../global_step_N)")


def check_mandatory(config: DictConfig) -> None:
    """No setting the run reads is left at ``???`` (a mandatory value verl's config does not fill in):
    otherwise an ``omegaconf`` traceback when verl reads it, possibly inside Ray. The reward model's own rollout
    section is read only when ``reward.reward_model.enable`` is true."""
    if OmegaConf.is_missing(config.actor_rollout_ref.rollout, "name"):
        check_rollout_name(config)
    skip = () if OmegaConf.select(config, "reward.reward_model.enable") else ("reward.reward_model",)
    for key in missing_keys(config):
        if not any(key == s or key.startswith(s + ".") for s in skip):
            raise SPPOConfigError(f"{key} is not set (verl's config has no default): add {key}=<value>")


def missing_keys(node: Any, prefix: str = "") -> list[str]:
    """The dotted keys of every ``???`` value under ``node``."""
    out: list[str] = []
    if isinstance(node, DictConfig):
        keys = list(node.keys())
    elif isinstance(node, ListConfig):
        keys = list(range(len(node)))
    else:
        return out
    for key in keys:
        path = f"{prefix}{key}"
        if OmegaConf.is_missing(node, key):
            out.append(path)
            continue
        child = node._get_node(key)
        if isinstance(child, (DictConfig, ListConfig)):
            out += missing_keys(child, path + ".")
    return out


def _nearest_existing(path: Path) -> Path:
    path = path.expanduser().absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable_outputs(config: DictConfig, options: TrainerOptions | None = None) -> None:
    """Checkpoints and the calibration log must be writable before hours of GPU time are spent.

    ``options``: the ``sppo.*`` options ``check_config`` returned (None: parsed here)."""
    outputs = [("trainer.default_local_dir", str(config.trainer.default_local_dir), True)]
    log = (options or trainer_options(config)).calibration_log
    if log:
        outputs.append(("sppo.calibration_log", log, False))
    if "file" in as_list(config.trainer.get("logger", None)):
        # verl's file logger (verl/utils/tracking.py) opens this path inside the Ray task runner
        metrics = os.environ.get("VERL_FILE_LOGGER_PATH") or os.path.join(
            os.path.expanduser(os.environ.get("VERL_FILE_LOGGER_ROOT", ".")),
            str(config.trainer.project_name),
            f"{config.trainer.experiment_name}.jsonl",
        )
        outputs.append(("trainer.logger=file (VERL_FILE_LOGGER_PATH)", metrics, False))
    for key, value, is_dir in outputs:
        if _is_remote(value):
            continue
        path = Path(value).expanduser()
        if path.exists() and path.is_dir() != is_dir:
            kind = "a file" if is_dir else "a directory"
            raise SPPOConfigError(f"{key}={value} is {kind}; expected {'a directory' if is_dir else 'a file path'}")
        if not is_dir and path.exists():
            # the log of an earlier launch of the run: a resume appends to it (opening to append changes nothing)
            try:
                with open(path, "ab"):
                    pass
            except OSError as exc:
                raise SPPOConfigError(
                    f"{key}={value} exists and cannot be appended to ({exc.strerror or exc})"
                ) from None
            continue
        base = _nearest_existing(path)
        if not base.is_dir() or not os.access(base, os.W_OK | os.X_OK):
            raise SPPOConfigError(f"{key}={value} cannot be written ({base} is not a writable directory)")


def check_data_files(config: DictConfig) -> None:
    """The train/validation files get the checks of ``python -m sppo.data.check`` (columns, types, every row);
    with a reward function other than SPPO's math scorer, its scorer-specific rules are left out."""
    from sppo.data import check_training_file

    columns = [(k, OmegaConf.select(config, k)) for k in ("data.prompt_key", "data.reward_fn_key")]
    reward_path = str(OmegaConf.select(config, "reward.custom_reward_function.path") or "")
    math_scorer = reward_path.startswith("pkg://sppo.reward") and not reward_path.startswith("pkg://sppo.reward.")
    for key in ("data.train_files", "data.val_files"):
        for path in as_list(OmegaConf.select(config, key)):
            if _is_remote(path) or not os.path.isfile(os.path.expanduser(path)):
                continue  # remote files are checked by verl; missing ones by check_files
            names = _parquet_columns(os.path.expanduser(path))
            for column_key, column in columns:
                if names is not None and column is not None and column not in names:
                    raise SPPOConfigError(
                        f"{column_key}={column!r}: {key} {path} has no such column (it has {', '.join(names)})"
                    )
            problems = check_training_file(os.path.expanduser(path), math_scorer=math_scorer)
            if problems:
                more = (
                    f" (and {len(problems) - 1} more; run python -m sppo.data.check {path})"
                    if len(problems) > 1
                    else ""
                )
                raise SPPOConfigError(f"{key}: {problems[0]}{more}")


def _parquet_columns(path: str) -> list[str] | None:
    """The column names of a parquet file, or None when it cannot be read (the data check reports that)."""
    try:
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    except Exception:  # noqa: BLE001 - pyarrow raises several types for a bad file
        return None


TRAINER_MODES = ("sync", "colocate_async", "separate_async")  # verl 0.9.1's registered v1 trainers (SPPO_TRAINERS)


def trainer_mode(config: DictConfig) -> str | None:
    """``trainer.v1.trainer_mode`` (verl's default: sync); None on verl's legacy trainer (``trainer.use_v1=False``)."""
    if not config.trainer.get("use_v1", True):
        return None
    return (config.trainer.get("v1") or {}).get("trainer_mode", "sync")


def check_trainer_mode(config: DictConfig) -> None:
    """``trainer.v1.trainer_mode`` names one of verl's trainers, and the asynchronous ones get what verl asserts.

    verl checks the separate_async requirements with ``assert`` inside the Ray task runner (a traceback minutes into
    the launch); here they are one line before anything starts.
    """
    mode = trainer_mode(config)
    if mode is None:
        return
    if mode not in TRAINER_MODES:
        raise SPPOConfigError(f"trainer.v1.trainer_mode={mode!r} is unknown; choose one of {', '.join(TRAINER_MODES)}")
    if mode != "separate_async":
        return
    rollout = config.actor_rollout_ref.rollout
    sync_step = int(config.trainer.v1.separate_async.parameter_sync_step)
    mini = int(config.actor_rollout_ref.actor.ppo_mini_batch_size)
    tbs = int(config.data.train_batch_size)
    if sync_step < 1 or tbs != sync_step * mini:
        raise SPPOConfigError(
            f"trainer.v1.trainer_mode=separate_async needs data.train_batch_size = "
            f"trainer.v1.separate_async.parameter_sync_step x actor_rollout_ref.actor.ppo_mini_batch_size; "
            f"got {tbs} != {sync_step} x {mini}"
        )
    if int(rollout.get("nnodes", 0) or 0) < 1 or int(rollout.get("n_gpus_per_node", 0) or 0) < 1:
        raise SPPOConfigError(
            "trainer.v1.trainer_mode=separate_async needs standalone rollout GPUs: set "
            "actor_rollout_ref.rollout.nnodes >= 1 and actor_rollout_ref.rollout.n_gpus_per_node >= 1"
        )
    if rollout.checkpoint_engine.backend == "naive":
        raise SPPOConfigError(
            "trainer.v1.trainer_mode=separate_async cannot sync weights with "
            "actor_rollout_ref.rollout.checkpoint_engine.backend=naive; use nccl on GPUs "
            "(platform=cpu selects sppo_mailbox)"
        )


def launch_checks(config: DictConfig, dry_run: bool = True, *, options: TrainerOptions | None = None) -> list[str]:
    """All checks above; returns warnings, raises ``SPPOConfigError`` on the first error.

    ``dry_run=False`` (a real launch) turns what must hold on this node into errors: flash-attn on a GPU node.
    GPUs not visible here stay a warning in both modes (the launch may come from a GPU-less Ray head).
    ``options``: the ``sppo.*`` options ``check_config`` returned (None: parsed here)."""
    check_mandatory(config)
    check_verl_values(config)
    check_estimator(config)
    check_trainer_mode(config)
    check_sequence_parallel_keys(config)
    check_megatron(config)
    check_batches(config)
    check_parallelism(config)
    warnings = check_files(config, allow_missing=env_flag("SPPO_DRY_RUN_ALLOW_MISSING"))
    check_data_files(config)
    check_writable_outputs(config, options)
    if (problem := check_checkpoint_space(config)) is not None:
        if not dry_run:  # a real launch stops; a dry run (often on another machine than the GPU node) warns
            raise SPPOConfigError(problem)
        warnings.append(problem)
    warnings += check_gpus(config, dry_run=True)
    warnings += check_flash_attn(config, dry_run=dry_run)
    warnings += check_wandb(config, dry_run=dry_run)
    return warnings


def validate_with_verl(config: DictConfig) -> None:
    """verl's own ``validate_config``, its assertion / ValueError turned into one ``SPPOConfigError`` line.

    ``sppo.main`` may already have run it; it is repeated here so that a dry run reached before verl's check
    still reports verl's objections in the ``sppo: error:`` form.
    """
    from verl.utils.config import validate_config

    try:
        validate_config(config=config, use_reference_policy=ref_on(config), use_critic=critic_on(config))
    except (AssertionError, ValueError) as exc:
        text = str(exc).strip().splitlines()
        raise SPPOConfigError(f"verl's validate_config: {text[0] if text else type(exc).__name__}") from exc
    except Exception as exc:  # noqa: BLE001 - hydra wraps a model that cannot load in a multi-line dump
        raise SPPOConfigError(_instantiation_error(exc)) from exc


def _instantiation_error(exc: BaseException) -> str:
    """One line for an error raised while verl builds its config objects (a model config that cannot load)."""
    text = str(exc)
    key = re.search(r"full_key: (\S+)", text)
    where = f"{key.group(1)}: " if key else ""
    if "couldn't connect" in text or "offline mode" in text or "LocalEntryNotFoundError" in text:
        return (
            f"{where}the model could not be loaded: the hub is unreachable and it is not in the local cache; "
            "download it first (huggingface-cli download ...) or point the model path at a local folder "
            '(docs/running.md, "Dry run without data or hub")'
        )
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith(("full_key", "Set the env"))]
    detail = lines[-1] if lines else type(exc).__name__
    return f"{where}verl could not build its configuration: {detail}"


def visible_gpus() -> int:
    try:
        import torch

        return int(torch.cuda.device_count())
    except Exception:  # noqa: BLE001 - no usable CUDA runtime counts as no GPU
        return 0
