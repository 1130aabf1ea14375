"""What ``--model`` points at, and turning a verl FSDP checkpoint into a Hugging Face model.

Accepted (checked in this order):

1. ``hf://ORG/NAME``: a hub id, passed to the backend as ``ORG/NAME`` (downloads if allowed);
2. a Hugging Face model directory: ``config.json`` plus weights (``model.safetensors``,
   ``pytorch_model.bin`` or a sharded ``*.index.json``);
3. a verl training directory (``trainer.default_local_dir``): holds
   ``latest_checkpointed_iteration.txt`` (else the highest ``global_step_N/``) -> case 4;
4. ``global_step_N/`` -> its ``actor/`` -> case 5;
5. an FSDP actor directory (``fsdp_config.json`` + ``model_world_size_W_rank_R.pt`` +
   ``huggingface/``). If ``huggingface/`` already holds full weights (verl's
   ``checkpoint.save_contents`` with ``hf_model``) it is used as is; otherwise the shards are
   merged with verl's own model merger (the code behind
   ``python -m verl.model_merger merge --backend fsdp --local_dir ACTOR --target_dir OUT``)
   into a cache directory, once (the merged model is bfloat16, as verl writes it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from sppo.eval.errors import EvalError

_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")
_STEP_DIR = re.compile(r"^global_step_(\d+)$")
_MERGED_MARKER = ".sppo_merged_from.json"


@dataclass(frozen=True)
class ModelSource:
    """A resolved ``--model``.

    ``kind``: ``"hub"``, ``"hf"`` (a model directory) or ``"fsdp"`` (an actor checkpoint to merge).
    ``path``: the hub id, the model directory, or the actor directory. ``step``: the training step
    of a checkpoint (from ``global_step_N``), else None.
    """

    kind: str
    path: str
    step: int | None = None


def is_hf_model_dir(path: Path) -> bool:
    """A directory with ``config.json`` and model weights."""
    return (path / "config.json").is_file() and any((path / name).is_file() for name in _WEIGHTS)


def is_fsdp_actor_dir(path: Path) -> bool:
    """A verl FSDP checkpoint directory (``fsdp_config.json`` and rank-0 model shard)."""
    return (path / "fsdp_config.json").is_file() and any(path.glob("model_world_size_*_rank_0.pt"))


def _step_of(path: Path) -> int | None:
    for part in (path.name, path.parent.name):
        match = _STEP_DIR.match(part)
        if match:
            return int(match.group(1))
    return None


def _latest_step_dir(root: Path) -> Path | None:
    marker = root / "latest_checkpointed_iteration.txt"
    if marker.is_file():
        text = marker.read_text().strip()
        if not text.isdigit():
            raise EvalError(f"{marker}: expected a step number, got {text[:40]!r}")
        step_dir = root / f"global_step_{int(text)}"
        if not step_dir.is_dir():
            raise EvalError(f"{marker} names step {text} but {step_dir} does not exist")
        return step_dir
    steps = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _STEP_DIR.match(p.name))]
    return max(steps)[1] if steps else None


def resolve_model(spec: str) -> ModelSource:
    """Classify ``--model`` (see the module docstring); raises :class:`EvalError` when it is neither."""
    if spec.startswith("hf://"):
        return ModelSource("hub", spec.removeprefix("hf://"))
    path = Path(spec)
    if not path.exists():
        raise EvalError(f"--model {spec}: no such file or directory (a hub id is written hf://ORG/NAME)")
    if is_hf_model_dir(path):
        return ModelSource("hf", str(path), _step_of(path))
    if not _STEP_DIR.match(path.name) and not is_fsdp_actor_dir(path) and path.is_dir():
        latest = _latest_step_dir(path)
        if latest is not None:
            path = latest
    if _STEP_DIR.match(path.name) and (path / "actor").is_dir():
        path = path / "actor"
    if is_fsdp_actor_dir(path):
        if is_hf_model_dir(path / "huggingface"):
            return ModelSource("hf", str(path / "huggingface"), _step_of(path))
        if not (path / "huggingface" / "config.json").is_file():
            raise EvalError(f"{path}: FSDP checkpoint without huggingface/config.json (needed by verl's model merger)")
        return ModelSource("fsdp", str(path), _step_of(path))
    raise EvalError(
        f"--model {spec}: neither a Hugging Face model directory (config.json + weights) nor a verl FSDP "
        "checkpoint (a training directory, global_step_N/ or global_step_N/actor/ with fsdp_config.json)"
    )


def merge_fsdp_checkpoint(actor_dir: str | Path, target_dir: str | Path) -> Path:
    """Merge an FSDP actor checkpoint into a Hugging Face model directory with verl's model merger.

    The merge goes to ``target_dir.tmp`` and is renamed when complete, so an interrupted merge is
    redone, and a finished one is reused (a marker file records the source directory).
    """
    actor_dir, target_dir = Path(actor_dir).resolve(), Path(target_dir)
    marker = target_dir / _MERGED_MARKER
    if marker.is_file() and is_hf_model_dir(target_dir):
        try:
            source = json.loads(marker.read_text(encoding="utf-8")).get("actor_dir")
        except (OSError, ValueError, AttributeError) as exc:  # a damaged cache: not JSON, not an object
            raise EvalError(
                f"{marker}: corrupt merge marker ({type(exc).__name__}); remove {target_dir} to merge again"
            ) from None
        if source == str(actor_dir):
            return target_dir
        raise EvalError(f"{target_dir} holds a model merged from another checkpoint; choose another --merged-dir")
    if target_dir.exists():
        raise EvalError(
            f"{target_dir} exists and is not a finished merge of {actor_dir}; remove it or use --merged-dir"
        )

    from verl.model_merger.base_model_merger import ModelMergerConfig
    from verl.model_merger.fsdp_model_merger import FSDPModelMerger

    tmp = target_dir.with_name(target_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    config = ModelMergerConfig(
        operation="merge",
        backend="fsdp",
        local_dir=str(actor_dir),
        target_dir=str(tmp),
        hf_model_config_path=str(actor_dir / "huggingface"),
    )
    try:
        merger = FSDPModelMerger(config)
        merger.merge_and_save()
        merger.cleanup()
    except (KeyboardInterrupt, OSError):
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except Exception as exc:  # noqa: BLE001 - verl's merger asserts and torch raises on damaged shards
        shutil.rmtree(tmp, ignore_errors=True)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EvalError(f"{actor_dir}: the FSDP checkpoint cannot be merged ({first})") from None
    (tmp / _MERGED_MARKER).write_text(json.dumps({"actor_dir": str(actor_dir)}))
    os.replace(tmp, target_dir)
    return target_dir


def materialize(source: ModelSource, merged_dir: str | Path) -> str:
    """A path or hub id the backends can load: merges an FSDP checkpoint into ``merged_dir`` first."""
    if source.kind == "fsdp":
        return str(merge_fsdp_checkpoint(source.path, merged_dir))
    return source.path
