"""The one-command GPU check: every stage in its own subprocess with a timeout, then one JSON report.

    bash run_scripts/gpu_check.sh [--out REPORT.json] [--workdir DIR] [--stages engine e2e_same e2e_small eval e2e_megatron]
    python -m sppo_lab.gpu_check ...                          (the same)

Without CUDA (``torch.cuda.is_available()`` false) it prints one line saying it was skipped, writes nothing and
exits 0, unless nvidia-smi lists GPUs that torch cannot use (a driver too old for torch's CUDA build): then one
``gpu_check: FAILED: ...`` line naming the driver needed, exit 1. Otherwise it runs, within STAGE_BUDGET_S (about
24 minutes, each stage under 10) on one GPU and without downloads:
  engine     sppo_lab.gpu_check.engine_check --device cuda (bf16, remove-padding, gradient checkpointing, nccl)
  e2e_same   sppo_lab.gpu_check.e2e --critic same   (sppo.main: vLLM, 2 steps + checkpoints, resume, weights equal)
  e2e_small  sppo_lab.gpu_check.e2e --critic small  (the same with a smaller critic)
  eval       sppo_lab.gpu_check.evalcheck (sppo.eval generate --backend vllm vs hf on the checkpoint, score)
  e2e_megatron  sppo_lab.gpu_check.e2e_megatron (model_engine=megatron, TP 1: 2 steps, resume, weights equal;
             skipped in a second, checking nothing, where megatron-core is not installed)
while ``nvidia-smi --query-gpu=memory.used --format=csv -lms 500 -i <the GPU in use>`` samples memory in the
background. The report records each stage's seconds beside its budget.
The report (``--out``; default ``$OUT/report.json`` when OUT is set, else runs/gpu_check/report.json) is
written after every stage, so it exists even if a later stage crashes or the driver is killed; a stage
that fails, times out or writes no result adds a failing ``<stage>.completed`` assertion. Exit status 1
if any assertion failed. ``--device cpu`` runs the CPU versions of engine and e2e_small (development only).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sppo_lab.gpu_check import report as R
from sppo_lab.gpu_check.cuda_driver import nvidia_smi_gpus, required_driver, unusable_gpus_line
from sppo_lab.paths import REPO

SKIP_LINE = "gpu_check: skipped: no CUDA device (torch.cuda.is_available() is False); nothing was checked"
ALL_STAGES = ("engine", "e2e_same", "e2e_small", "eval", "e2e_megatron")
# Each stage's time cap in seconds, from start-up costs plus margin (issue 27). Measured on our 2-core CPU machine:
# importing verl's trainer costs 6 s of CPU with bytecode compiled (13-35 s on 2 busy cores; uv_verl.sh compiles it),
# the e2e stage's own overrides dry-run (one process: imports, compose, every launch check) in 45 s on 2 busy cores,
# and a tiny verl launch there takes ~2 min end to end (README: five launches in ~10 min). Not measurable without a
# GPU, estimated: vLLM's start in eager mode (import, engine, profile run, KV cache) ~60 s, the actor's torch.compile
# ~60 s, Ray's start and stop ~20 s. So a launch of sppo.main on one GPU: ~20 s Ray + ~20 s of workers importing verl
# in parallel + 60 s vLLM + 60 s compile + ~20 s of steps, validation and checkpoints = ~180 s.
#   engine     one process: imports, a single-rank NCCL group, two value engines, 20 BCE steps: ~50 s -> x3
#   e2e_same   the task (models, 150 warm-up steps, parquets) ~20 s + two launches (train 2 steps, resume 1) ~360 s
#              -> x1.4; each launch gets half of what is left after the task, the resume at least that half
#   e2e_small  the two launches -> x1.4
#   eval       checkpoint merge ~15 s + vLLM start (eager) ~60 s + HF sampling ~30 s + two scores ~20 s -> x1.5
#   e2e_megatron  e2e_small's two launches with Megatron's engines (building Megatron modules and the bridge's weight
#              conversion instead of FSDP wrapping, no torch.compile) -> as e2e_same; 0 s where megatron-core is absent
# Every cap is under 600 s, so a 10-minute command can run any one stage (--stages NAME; keep one --workdir: the
# eval stage reads the e2e stages' checkpoint). --budget-s scales all of them (raise it on a slow node).
STAGE_BUDGET_S = {"engine": 150, "e2e_same": 540, "e2e_small": 480, "eval": 240, "e2e_megatron": 540}
TOTAL_BUDGET_S = sum(STAGE_BUDGET_S.values())


@dataclass
class Stage:
    name: str
    command: list[str]
    result_path: Path
    cap_s: float
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)


def run_stage(stage: Stage, timeout: float) -> dict[str, Any]:
    """Run one stage command; its result JSON, or a failing ``<stage>.completed`` assertion."""
    stage.log_path.parent.mkdir(parents=True, exist_ok=True)
    stage.result_path.parent.mkdir(parents=True, exist_ok=True)
    if stage.result_path.exists():
        stage.result_path.unlink()
    env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false", **stage.env)
    env.pop("VERL_PLATFORM", None)
    started = time.monotonic()
    timed_out = False
    with open(stage.log_path, "w") as log:
        proc = subprocess.Popen(
            stage.command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            proc.wait(timeout=max(1.0, timeout))
        except subprocess.TimeoutExpired:
            timed_out = True
            R.stop_process_group(proc)
    seconds = time.monotonic() - started
    result = None
    if stage.result_path.is_file():
        try:
            import json

            result = json.loads(stage.result_path.read_text())
        except ValueError:
            result = None
    if result is None or timed_out:
        failed = R.failed_stage(stage.name, proc.returncode, timed_out, str(stage.log_path), _tail(stage.log_path))
        if result is not None:  # partial result of a stage killed at its deadline: keep what it measured
            failed["assertions"] = result.get("assertions", []) + failed["assertions"]
            failed["measured"] = result.get("measured", {})
        result = failed
    result.setdefault("measured", {})
    result["measured"].update({"stage_seconds": seconds, "returncode": proc.returncode, "log": str(stage.log_path)})
    return result


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def smi_gpu_ids(visible: str | None, uuid: str | None) -> list[str]:
    """nvidia-smi's ``-i`` for the GPU this check runs on (CUDA device 0): its UUID when torch knows it, else the first
    entry of ``CUDA_VISIBLE_DEVICES`` (an index or a UUID), else index 0. Never every GPU of the node."""
    text = str(uuid or "")
    if re.fullmatch(r"(GPU-|MIG-)?[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", text):
        return [text if text.startswith(("GPU-", "MIG-")) else f"GPU-{text}"]
    first = (visible or "").split(",")[0].strip()
    return [first] if first and first != "-1" else ["0"]


def smi_command(ids: list[str]) -> list[str]:
    return ["nvidia-smi", "--query-gpu=memory.used", "--format=csv", "-lms", "500", "-i", ",".join(ids)]


class SmiSampler:
    """``nvidia-smi --query-gpu=memory.used --format=csv -lms 500 -i IDS`` in the background, into a file."""

    def __init__(self, path: Path, ids: list[str]):
        self.path = path
        self.proc = None
        self.ids = ids
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "w")
        try:
            self.proc = subprocess.Popen(smi_command(ids), stdout=self._file, stderr=subprocess.DEVNULL,
                                         start_new_session=True)  # fmt: skip
        except OSError:  # no nvidia-smi: the report says null
            self.proc = None

    def peak_mib(self) -> float | None:
        try:
            return R.parse_nvidia_smi_peak(self.path.read_text())
        except OSError:
            return None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._file.close()


def build_stages(device: str, workdir: Path, names: list[str], budget_s: float = TOTAL_BUDGET_S) -> list[Stage]:
    py = sys.executable
    results, logs = workdir / "stages", workdir / "logs"
    caps = stage_caps(budget_s)

    def stage(name: str, command: list[str]) -> Stage:
        return Stage(name, command, results / f"{name}.json", caps[name], logs / f"{name}.log")

    out = []
    for name in names:
        res = str(results / f"{name}.json")
        if name == "engine":
            size = ["--hidden", "128", "--prompts", "16"] if device == "cuda" else []
            out.append(stage(name, [py, "-m", "sppo_lab.gpu_check.engine_check", "--device", device, "--steps", "20",
                                    *size, "--out", res, "--workdir", str(workdir / "engine")]))  # fmt: skip
        elif name in ("e2e_same", "e2e_small"):
            critic = name.split("_", 1)[1]
            out.append(stage(name, [py, "-m", "sppo_lab.gpu_check.e2e", "--device", device, "--critic", critic,
                                    "--root", str(workdir), "--out", res,
                                    "--timeout", f"{caps[name] - 10:.0f}"]))  # fmt: skip
        elif name == "eval":
            out.append(stage(name, [py, "-m", "sppo_lab.gpu_check.evalcheck", "--model", str(trained_checkpoint(workdir)),
                                    "--data", str(workdir / "task" / "eval.parquet"), "--root", str(workdir / "eval"),
                                    "--out", res, "--timeout", f"{caps[name] - 5:.0f}"]))  # fmt: skip
        elif name == "e2e_megatron":
            out.append(stage(name, [py, "-m", "sppo_lab.gpu_check.e2e_megatron", "--root", str(workdir), "--out", res,
                                    "--timeout", f"{caps[name] - 10:.0f}"]))  # fmt: skip
        else:
            raise ValueError(f"unknown stage {name!r} (stages: {', '.join(ALL_STAGES)})")
    return out


def stage_caps(budget_s: float = TOTAL_BUDGET_S) -> dict[str, float]:
    """Each stage's cap: STAGE_BUDGET_S scaled so that all of them add up to ``budget_s``."""
    return {name: cap * budget_s / TOTAL_BUDGET_S for name, cap in STAGE_BUDGET_S.items()}


def trained_checkpoint(workdir: Path) -> Path:
    """The newest checkpoint the e2e stages left (same-size critic run first), else where it would be."""
    for run in ("e2e_same", "e2e_small"):
        for step in (3, 2, 1):
            path = workdir / run / "ckpt" / f"global_step_{step}"
            if (path / "actor").is_dir():
                return path
    return workdir / "e2e_same" / "ckpt" / "global_step_3"


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("torch", "transformers", "verl", "vllm", "flash-attn"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def summarize(
    stages: list[dict[str, Any]],
    smi_peak_mib: float | None,
    device: str,
    gpu: str | None,
    seconds: float,
    budgets: dict[str, float] | None = None,
    smi_gpus: list[str] | None = None,
) -> dict[str, Any]:
    """The report: every assertion plus memory and throughput figures gathered from the stages, and each stage's
    seconds beside its cap."""
    m = {s["stage"]: s.get("measured", {}) for s in stages}
    memory = {
        "nvidia_smi_peak_mib": smi_peak_mib,
        "nvidia_smi_gpus": smi_gpus,
        "engine_max_memory_allocated_gb": m.get("engine", {}).get("max_memory_allocated_gb"),
        "perf/max_memory_allocated_gb": {name: m[name].get("peak_memory_gb_by_role") for name in ("e2e_same", "e2e_small") if name in m},
    }  # fmt: skip
    tokens_per_s = {
        "engine_train": m.get("engine", {}).get("train_tokens_per_s"),
        "engine_infer": m.get("engine", {}).get("infer_tokens_per_s"),
        **{f"{name}_perf/throughput": m[name].get("throughput_tokens_per_s_per_gpu") for name in ("e2e_same", "e2e_small") if name in m},
        **{f"eval_{b}": (m.get("eval", {}).get(b) or {}).get("tokens_per_s") for b in ("vllm", "hf") if "eval" in m},
    }  # fmt: skip
    timing = {name: m[name].get("stage_seconds") for name in m}
    budget = {name: (budgets or {}).get(name) for name in m}
    return R.assemble_report(stages, device=device, gpu=gpu, seconds=seconds, stage_seconds=timing,
                             stage_budget_s=budget, memory=memory, tokens_per_s=tokens_per_s,
                             versions=_versions())  # fmt: skip


def default_out() -> Path:
    if os.environ.get("OUT"):
        return Path(os.environ["OUT"]) / "report.json"
    return REPO / "runs" / "gpu_check" / "report.json"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sppo_lab.gpu_check", description=__doc__.splitlines()[0])
    p.add_argument(
        "--out", default=None, help="report path (default $OUT/report.json, else runs/gpu_check/report.json)"
    )
    p.add_argument("--workdir", default=None, help="models, data, checkpoints, logs (default runs/gpu_check/work)")
    p.add_argument("--stages", nargs="+", default=None, choices=ALL_STAGES, help="default: all (cpu: engine e2e_small)")
    p.add_argument(
        "--device", choices=("cuda", "cpu"), default="cuda", help="cpu: development run of engine + e2e_small"
    )
    p.add_argument(
        "--budget-s", type=float, default=TOTAL_BUDGET_S, help=f"all stages together (default {TOTAL_BUDGET_S})"
    )
    args = p.parse_args(argv)

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        line = unusable_gpus_line(nvidia_smi_gpus(), torch.__version__, torch.version.cuda,
                                  required_driver(REPO / "constraints" / "gpu.txt"),
                                  os.environ.get("CUDA_VISIBLE_DEVICES"))  # fmt: skip
        if line:  # GPUs this torch cannot use are a failure, not a skip
            print(f"gpu_check: FAILED: {line}", file=sys.stderr)
            return 1
        print(SKIP_LINE)
        return 0
    started = time.monotonic()
    out = Path(args.out) if args.out else default_out()
    workdir = Path(args.workdir) if args.workdir else REPO / "runs" / "gpu_check" / "work"
    names = args.stages or (list(ALL_STAGES) if args.device == "cuda" else ["engine", "e2e_small"])
    gpu = torch.cuda.get_device_name(0) if args.device == "cuda" else None
    sampler = None
    if args.device == "cuda":
        uuid = getattr(torch.cuda.get_device_properties(0), "uuid", None)
        sampler = SmiSampler(
            workdir / "logs" / "nvidia_smi.csv", smi_gpu_ids(os.environ.get("CUDA_VISIBLE_DEVICES"), uuid)
        )
    results: list[dict[str, Any]] = []
    deadline = started + args.budget_s
    budgets = stage_caps(args.budget_s)

    def write() -> dict[str, Any]:
        peak = sampler.peak_mib() if sampler else None
        rep = summarize(results, peak, args.device, gpu, time.monotonic() - started, budgets,
                        sampler.ids if sampler else None)  # fmt: skip
        rep["report"], rep["workdir"] = str(out), str(workdir)
        R.write_json(rep, out)
        return rep

    try:
        for name in names:
            # built just before it runs: the eval stage reads the checkpoint the e2e stages left
            stage = build_stages(args.device, workdir, [name], args.budget_s)[0]
            remaining = deadline - time.monotonic()
            if remaining < 10:
                results.append(R.failed_stage(name, None, True, None, "no time left in the budget"))
                write()
                continue
            print(f"gpu_check: {name} (at most {min(stage.cap_s, remaining):.0f} s) ...", flush=True)
            result = run_stage(stage, min(stage.cap_s, remaining))
            results.append(result)
            failed = [a["name"] for a in result["assertions"] if not a["passed"]]
            print(f"gpu_check: {name}: {'ok' if not failed else 'FAILED ' + ', '.join(failed)} "
                  f"({result['measured'].get('stage_seconds', 0):.0f} s)", flush=True)  # fmt: skip
            write()
    finally:
        if sampler:
            sampler.stop()
        rep = write()
    print(f"gpu_check: {'PASSED' if rep['passed'] else 'FAILED'}: {rep['n_assertions'] - len(rep['failed'])}/"
          f"{rep['n_assertions']} assertions; report {out}")  # fmt: skip
    return 0 if rep["passed"] else 1
