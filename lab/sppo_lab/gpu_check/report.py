"""Pure helpers of the GPU check: named assertions, their comparisons, and the JSON report.

Everything here runs on CPU and is unit-tested with hand-made inputs (tests/gpu_check/test_report.py).
An assertion is a plain dict ``{"name": str, "passed": bool, "measured": {...}}``; a stage writes a
dict ``{"stage": str, "assertions": [...], "measured": {...}}``; the driver assembles the stages into
one report whose ``passed`` is true only if every assertion of every stage passed and no stage failed.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

SCHEMA = "sppo_lab.gpu_check/1"


def assertion(name: str, passed: bool, **measured: Any) -> dict[str, Any]:
    """One named assertion with the values it was decided on."""
    return {"name": name, "passed": bool(passed), "measured": measured}


def stage_result(stage: str, assertions: list[dict[str, Any]], **measured: Any) -> dict[str, Any]:
    return {"stage": stage, "assertions": assertions, "measured": measured}


def failed_stage(
    stage: str, returncode: int | None, timed_out: bool, log: str | None, error: str = ""
) -> dict[str, Any]:
    """What a stage that crashed, timed out or wrote no result contributes: one failing assertion."""
    return stage_result(
        stage,
        [assertion(f"{stage}.completed", False, returncode=returncode, timed_out=timed_out, log=log, error=error)],
    )


# ----------------------------------------------------------------------------------------- comparisons


def max_abs_diff(a: Iterable[float], b: Iterable[float]) -> float:
    a, b = list(a), list(b)
    if len(a) != len(b):
        raise ValueError(f"length mismatch: {len(a)} vs {len(b)}")
    return max((abs(float(x) - float(y)) for x, y in zip(a, b)), default=0.0)


def within(a: Iterable[float], b: Iterable[float], atol: float, rtol: float = 0.0) -> bool:
    """|a_i − b_i| <= atol + rtol·|b_i| for every i (and equal lengths, finite values)."""
    a, b = list(a), list(b)
    if len(a) != len(b):
        return False
    return all(
        math.isfinite(float(x)) and math.isfinite(float(y)) and abs(float(x) - float(y)) <= atol + rtol * abs(float(y))
        for x, y in zip(a, b)
    )


def compare_states(before: Mapping[str, Any], after: Mapping[str, Any], max_listed: int = 5) -> dict[str, Any]:
    """Exact equality of two state dicts (name -> tensor).

    Returns ``{"equal", "tensors", "max_abs_diff", "differing", "missing", "extra"}``: ``equal`` is true iff
    both have the same names, and every tensor has the same shape, dtype and values; ``differing``,
    ``missing`` (in ``before`` only) and ``extra`` (in ``after`` only) list at most ``max_listed`` names.
    """
    import torch

    missing = sorted(set(before) - set(after))
    extra = sorted(set(after) - set(before))
    differing: list[str] = []
    worst = 0.0
    for name in sorted(set(before) & set(after)):
        x, y = before[name], after[name]
        if x.shape != y.shape or x.dtype != y.dtype:
            differing.append(name)
            worst = math.inf
            continue
        if not torch.equal(x, y):
            differing.append(name)
            if x.is_floating_point():
                worst = max(worst, float((x.double() - y.double()).abs().max()))
            else:
                worst = max(worst, math.inf)
    return {
        "equal": not (missing or extra or differing) and len(before) > 0,
        "tensors": len(set(before) & set(after)),
        "max_abs_diff": worst,
        "differing": differing[:max_listed],
        "n_differing": len(differing),
        "missing": missing[:max_listed],
        "extra": extra[:max_listed],
    }


def load_fsdp_model_state(step_dir: str | Path, role: str) -> dict[str, Any]:
    """The model weights of one role in a verl checkpoint (``global_step_N/<role>``), one rank's shard.

    On one GPU (world size 1) the single shard holds every weight; DTensors are turned into local tensors.
    """
    import torch

    shards = sorted((Path(step_dir) / role).glob("model_world_size_*_rank_*.pt"))
    if not shards:
        raise FileNotFoundError(f"no model shard under {Path(step_dir) / role}")
    state = torch.load(shards[0], map_location="cpu", weights_only=False)
    return {k: (v.to_local() if hasattr(v, "to_local") else v).detach().clone() for k, v in state.items()}


def flatten_tensors(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Every tensor (DTensors as their local shard) and number in a nested state (dicts, lists), by dotted path; numbers
    become 0-d float64 tensors, so :func:`compare_states` compares an optimizer's ``step`` and ``lr`` too."""
    import torch

    out: dict[str, Any] = {}
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            out.update(flatten_tensors(value, f"{prefix}{key}."))
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            out.update(flatten_tensors(value, f"{prefix}{i}."))
    elif isinstance(obj, torch.Tensor):
        out[prefix[:-1]] = (obj.to_local() if hasattr(obj, "to_local") else obj).detach().cpu().clone()
    elif isinstance(obj, (bool, int, float)):
        out[prefix[:-1]] = torch.tensor(float(obj), dtype=torch.float64)
    return out


def load_fsdp_optim_state(step_dir: str | Path, role: str) -> dict[str, Any]:
    """The optimizer state of one role in a verl checkpoint (``global_step_N/<role>/optim_world_size_*_rank_0.pt``),
    flattened (:func:`flatten_tensors`): the AdamW moments and steps, and each param group's hyper-parameters."""
    import torch

    shards = sorted((Path(step_dir) / role).glob("optim_world_size_*_rank_*.pt"))
    if not shards:
        raise FileNotFoundError(f"no optimizer shard under {Path(step_dir) / role}")
    return flatten_tensors(torch.load(shards[0], map_location="cpu", weights_only=False))


def dataloader_position(state: Any) -> int | None:
    """Batches a ``torchdata`` StatefulDataLoader had yielded in this epoch when its ``state_dict()`` was taken:
    ``_num_yielded`` with ``num_workers=0``; with workers, the last snapshot's step plus the steps since it. None if
    neither is there."""
    if not isinstance(state, Mapping):
        return None
    if isinstance(state.get("_num_yielded"), int):
        return int(state["_num_yielded"])
    snapshot = state.get("_snapshot")
    if isinstance(snapshot, Mapping) and isinstance(snapshot.get("_snapshot_step"), int):
        return int(snapshot["_snapshot_step"]) + int(state.get("_steps_since_snapshot") or 0)
    return None


def load_dataloader_position(step_dir: str | Path) -> int | None:
    """:func:`dataloader_position` of the dataloader state verl saves beside the roles (``global_step_N/data.pt``)."""
    import torch

    return dataloader_position(torch.load(Path(step_dir) / "data.pt", map_location="cpu", weights_only=False))


# Ray prefixes each actor's output in the driver's log with "(<actor class> pid=N[, ip=...])": a line from verl's vLLM
# server (verl/workers/rollout/vllm_rollout/vllm_async_server.py vLLMHttpServer) proves a vLLM replica ran. The echoed
# hydra overrides ("rollout.name=vllm") cannot match.
ROLLOUT_LOG_LINE = {
    "cuda": re.compile(r"^\(vLLMHttpServer pid=\d+[,)]", re.MULTILINE),
    "cpu": re.compile(r"hf-rollout-0"),
}


def rollout_server_in_log(text: str, device: str) -> bool:
    """Did the run's rollout server (vLLM on CUDA, SPPO's hf server on CPU) print into the driver's log?"""
    return bool(ROLLOUT_LOG_LINE[device].search(text))


def scores_agree(acc_a: float, n_a: int, acc_b: float, n_b: int, z: float = 4.0, floor: float = 0.0) -> dict[str, Any]:
    """Do two sample means of 0/1 scores agree within sampling noise?

    Tolerance: ``floor + z · sqrt(p(1 − p)(1/n_a + 1/n_b))`` with p the pooled mean. For the SAME prompts
    scored with k samples each by two samplers of the same model, this binomial standard error is an
    upper bound of the standard error of the difference (pairing removes the prompt-to-prompt variance,
    and Σ p_i(1 − p_i) <= P·p̄(1 − p̄)); z = 4 makes a false alarm about 1 in 16,000.

    Returns ``{"passed", "diff", "tolerance", "pooled", "se"}``.
    """
    if n_a <= 0 or n_b <= 0:
        return {"passed": False, "diff": None, "tolerance": None, "pooled": None, "se": None}
    pooled = (acc_a * n_a + acc_b * n_b) / (n_a + n_b)
    se = math.sqrt(max(pooled * (1.0 - pooled), 0.0) * (1.0 / n_a + 1.0 / n_b))
    tolerance = floor + z * se
    diff = abs(acc_a - acc_b)
    return {"passed": diff <= tolerance + 1e-12, "diff": diff, "tolerance": tolerance, "pooled": pooled, "se": se}


def loss_decreased(losses: list[float], window: int = 5, factor: float = 0.9) -> dict[str, Any]:
    """Finite losses whose last ``window`` mean is below ``factor`` × the first ``window`` mean, and last < first."""
    finite = bool(losses) and all(math.isfinite(float(x)) for x in losses)
    w = max(1, min(window, len(losses) // 2)) if losses else 1
    first = sum(losses[:w]) / w if losses else math.nan
    last = sum(losses[-w:]) / w if losses else math.nan
    passed = finite and len(losses) >= 2 and last < factor * first and losses[-1] < losses[0]
    return {"passed": passed, "finite": finite, "first_mean": first, "last_mean": last, "window": w, "factor": factor}


# ----------------------------------------------------------------------------------- verl's metrics


def read_metrics_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Rows of verl's file logger (``{"step": n, "data": {...}}`` per line); missing file -> []."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def peak_memory_by_role(rows: list[dict[str, Any]], key: str = "perf/max_memory_allocated_gb") -> dict[str, float]:
    """Max over steps of every metric ending in ``key``, by role (the prefix before it: ``actor``, ``critic``...;
    ``trainer`` for the bare key)."""
    peaks: dict[str, float] = {}
    for row in rows:
        for name, value in row.get("data", {}).items():
            if not name.endswith(key) or not isinstance(value, (int, float)) or not math.isfinite(value):
                continue
            role = name[: -len(key)].strip("/") or "trainer"
            peaks[role] = max(peaks.get(role, -math.inf), float(value))
    return dict(sorted(peaks.items()))


def mean_metric(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [float(r["data"][key]) for r in rows if isinstance(r.get("data", {}).get(key), (int, float))]
    return sum(values) / len(values) if values else None


def parse_nvidia_smi_peak(text: str) -> float | None:
    """Peak MiB in ``nvidia-smi --query-gpu=memory.used --format=csv -lms 500`` output (headers skipped;
    several GPUs per sample are fine: the max over every number read)."""
    peak = None
    for line in text.splitlines():
        for match in re.finditer(r"(\d+(?:\.\d+)?)\s*MiB", line):
            value = float(match.group(1))
            peak = value if peak is None else max(peak, value)
    return peak


# ---------------------------------------------------------------------------------------- the report


def assemble_report(stages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """One report: every assertion, prefixed by its stage; ``passed`` iff at least one assertion exists and all passed."""
    flat = []
    for stage in stages:
        for a in stage.get("assertions", []):
            name = a["name"] if a["name"].startswith(stage["stage"] + ".") else f"{stage['stage']}.{a['name']}"
            flat.append({**a, "name": name})
    failed = [a["name"] for a in flat if not a["passed"]]
    return {
        "schema": SCHEMA,
        "passed": bool(flat) and not failed,
        "n_assertions": len(flat),
        "failed": failed,
        "assertions": flat,
        "stages": {s["stage"]: s.get("measured", {}) for s in stages},
        **extra,
    }


def write_json(data: dict[str, Any], path: str | Path) -> Path:
    """Write ``data`` as JSON atomically (the project's one writer, ``sppo.cli_errors.write_text_atomic``: a complete
    file or the old one, with the umask's mode); non-finite floats become null."""
    from sppo.cli_errors import write_text_atomic

    path = Path(path)
    write_text_atomic(path, json.dumps(_finite(data), indent=2, sort_keys=False) + "\n")
    return path


def _finite(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if hasattr(x, "item") and callable(x.item):
        try:
            return _finite(x.item())
        except (ValueError, RuntimeError):
            return str(x)
    return x


def stop_process_group(proc: Any, wait_s: float = 15) -> None:
    """SIGTERM, then SIGKILL, to a stage's process group (it and the Ray/vLLM processes it started)."""
    import signal
    import subprocess

    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def finish_stage(result: dict, out: Any, label: str) -> int:
    """Write a stage's result, print 'label: passed/total' (and the failures); exit status 1 if any failed."""
    write_json(result, out)
    failed = [a["name"] for a in result["assertions"] if not a["passed"]]
    total = len(result["assertions"])
    print(f"{label}: {total - len(failed)}/{total} passed" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0
