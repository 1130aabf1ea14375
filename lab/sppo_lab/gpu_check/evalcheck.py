"""Evaluation: the checkpoint just trained, sampled with vLLM and with Hugging Face ``generate``, scored alike.

    python -m sppo_lab.gpu_check.evalcheck --model WORK/e2e_same/ckpt/global_step_3 --data WORK/task/eval.parquet \
        --root WORK/eval --out eval.json [--k 16] [--max-tokens 16]

1. ``python -m sppo.eval generate --backend vllm --model CKPT`` (the FSDP checkpoint is merged by verl's
   model merger into ``vllm/model_hf``), temperature 1.0, k samples per prompt, vLLM in eager mode
   (``sppo_lab.gpu_check.eager_eval``: no compile or CUDA-graph capture at start-up); ``score``.
2. ``python -m sppo.eval generate --backend hf --model vllm/model_hf`` with the same settings; ``score``.
3. The two accuracies (avg@k over the same prompts) agree within sampling noise:
   |acc_vllm − acc_hf| <= 4 · sqrt(p(1 − p)(1/n_vllm + 1/n_hf)) (``report.scores_agree``; p pooled, n samples).
   The two samplers draw different random numbers, so only the distributions can agree; the numerics
   (vLLM bf16 vs HF fp32 logits) differ far less than the noise at this n.
Each CLI call is a subprocess with a timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sppo_lab.gpu_check import report as R
from sppo_lab.paths import REPO

# sppo.eval with vLLM in eager mode (no torch.compile, no CUDA-graph capture at start-up; sppo_lab.gpu_check.eager_eval)
EVAL_MODULE = "sppo_lab.gpu_check.eager_eval"


def _cli(args: list[str], log: Path, timeout: float) -> dict[str, Any]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    started = time.monotonic()
    with open(log, "a") as handle:
        handle.write(f"$ python -m {EVAL_MODULE} " + " ".join(args) + "\n")
        handle.flush()
        try:
            proc = subprocess.run([sys.executable, "-m", EVAL_MODULE, *args], cwd=REPO, env=env, stdout=handle,
                                  stderr=subprocess.STDOUT, timeout=max(1.0, timeout))  # fmt: skip
            rc, timed_out = proc.returncode, False
        except subprocess.TimeoutExpired:
            rc, timed_out = None, True
    return {"returncode": rc, "timed_out": timed_out, "seconds": time.monotonic() - started}


def _bench(metrics_json: Path) -> dict[str, Any] | None:
    try:
        metrics = json.loads(metrics_json.read_text())
        return next(iter(metrics["benchmarks"].values()))
    except (OSError, ValueError, StopIteration, KeyError):
        return None


def _generation_seconds(out: Path) -> float | None:
    try:
        return float(json.loads((out / "meta.json").read_text())["generation_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def sample_and_score(backend: str, model: str, data: str, out: Path, k: int, max_tokens: int, log: Path,
                     deadline: float, gpu_memory_utilization: float = 0.3) -> dict[str, Any]:  # fmt: skip
    generate = ["generate", "--backend", backend, "--model", model, "--benchmarks", data, "--k", str(k),
                "--temperature", "1.0", "--max-tokens", str(max_tokens), "--seed", "0", "--out", str(out)]  # fmt: skip
    if backend == "vllm":
        generate += ["--gpu-memory-utilization", str(gpu_memory_utilization)]
    gen = _cli(generate, log, deadline - time.monotonic())
    score = (
        _cli(["score", str(out), "--no-plots", "--workers", "2"], log, deadline - time.monotonic())
        if gen["returncode"] == 0
        else None
    )
    bench = _bench(out / "metrics.json")
    seconds = _generation_seconds(out)
    tokens = bench["samples"] * bench["mean_tokens"] if bench and bench.get("mean_tokens") is not None else None
    return {
        "generate": gen,
        "score": score,
        "metrics": bench,
        "generation_seconds": seconds,
        "tokens_per_s": tokens / seconds if tokens and seconds else None,
    }


def run(model: str, data: str, root: str | Path, k: int = 16, max_tokens: int = 16, timeout: float = 240.0,
        backends: tuple[str, str] = ("vllm", "hf")) -> dict[str, Any]:  # fmt: skip
    started = time.monotonic()
    deadline = started + timeout
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    log = root / "eval.log"
    first, second = backends
    a = sample_and_score(first, model, data, root / first, k, max_tokens, log, deadline)
    merged = root / first / "model_hf"
    b_model = str(merged) if merged.is_dir() else model
    b = sample_and_score(second, b_model, data, root / second, k, max_tokens, log, deadline)
    checks = []
    for name, res in ((first, a), (second, b)):
        m = res["metrics"]
        checks.append(R.assertion(
            f"{name}_generate_and_score",
            res["generate"]["returncode"] == 0 and res["score"] is not None and res["score"]["returncode"] == 0
            and m is not None and m["samples"] == m["problems"] * k,
            generate=res["generate"], score=res["score"], samples=m and m["samples"], problems=m and m["problems"],
            log=str(log),
        ))  # fmt: skip
    if a["metrics"] and b["metrics"]:
        agree = R.scores_agree(
            a["metrics"]["avg"], a["metrics"]["samples"], b["metrics"]["avg"], b["metrics"]["samples"]
        )
    else:
        agree = {"passed": False, "diff": None, "tolerance": None}
    passed = agree.pop("passed")
    checks.append(R.assertion(
        "scores_agree", passed, **{f"acc_{first}": a["metrics"] and a["metrics"]["avg"],
                                   f"acc_{second}": b["metrics"] and b["metrics"]["avg"], "z": 4.0}, **agree,
    ))  # fmt: skip
    measured = {
        "model": model,
        "merged_model": b_model,
        "k": k,
        "max_tokens": max_tokens,
        first: {key: a[key] for key in ("metrics", "generation_seconds", "tokens_per_s")},
        second: {key: b[key] for key in ("metrics", "generation_seconds", "tokens_per_s")},
        "total_s": time.monotonic() - started,
    }
    return R.stage_result("eval", checks, **measured)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sppo_lab.gpu_check.evalcheck", description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="verl checkpoint (global_step_N) or model directory")
    p.add_argument("--data", required=True, help="evaluation parquet (math data_source)")
    p.add_argument("--root", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--max-tokens", type=int, default=16)
    p.add_argument("--timeout", type=float, default=240.0)
    p.add_argument("--backends", nargs=2, default=["vllm", "hf"], help="the two samplers compared (default vllm hf)")
    args = p.parse_args(argv)
    result = run(args.model, args.data, args.root, args.k, args.max_tokens, args.timeout, tuple(args.backends))
    return R.finish_stage(result, args.out, "eval")


if __name__ == "__main__":
    sys.exit(main())
