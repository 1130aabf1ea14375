"""CPU rollout server: samples/s with concurrent requests batched vs served one at a time.

    .venv/bin/python -m sppo_lab.benchmarks.bench_rollout_batching [--requests 1 16 128] [--repeats 3]
        [--out benchmarks/results/rollout_batching]

The server (``sppo.cpu.hf_rollout.HFRolloutServer``, the ``hf`` backend of every CPU run) with the graded task's
committed warm-start policy, temperature 1, up to 128 new tokens, graded prompts of all levels. For each request
count R: "one at a time" awaits each request before sending the next (how the server behaved before batching), "batched"
sends all R at once, as verl's agent loop does (one request per sample). Both in the same process, interleaved per
repeat. Writes ``rollout_batching.json`` and ``rollout_batching.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from sppo_lab.paths import REPO


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", nargs="+", type=int, default=[1, 16, 128])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "rollout_batching"))
    args = p.parse_args(argv)
    if args.repeats < 1 or any(r < 1 for r in args.requests):
        p.error("--requests and --repeats must be positive")
    return args


def graded_prompts(tokenizer, n: int, seed: int) -> list[list[int]]:
    """n graded prompts, levels in turn, rendered as verl's agent loop renders them (sppo.critic_prompts)."""
    from sppo.critic_prompts import render_prompt_ids
    from sppo_lab.graded.task import LEVELS, question, sample_terms

    rng = random.Random(seed)
    messages = [[{"role": "user", "content": question(sample_terms(LEVELS[i % len(LEVELS)], rng))}] for i in range(n)]
    return [ids.tolist() for ids in render_prompt_ids(messages, tokenizer)]


async def one_at_a_time(server, prompts, params) -> list:
    return [await server.generate(p, params, f"s{i}") for i, p in enumerate(prompts)]


async def batched(server, prompts, params) -> list:
    return await asyncio.gather(*(server.generate(p, params, f"b{i}") for i, p in enumerate(prompts)))


def main(argv=None) -> int:
    args = parse_args(argv)
    from transformers import AutoTokenizer

    from sppo.cpu.hf_rollout import HFRolloutServer
    from sppo_lab.graded import warm_start

    folder = warm_start.verify()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    server = HFRolloutServer(str(folder), trust_remote_code=False, prompt_length=64, response_length=128)
    params = {"temperature": 1.0, "max_tokens": 128, "logprobs": True}
    rows = []
    for n in args.requests:
        for repeat in range(args.repeats):
            prompts = graded_prompts(tokenizer, n, seed=repeat)
            for mode, run in (("one_at_a_time", one_at_a_time), ("batched", batched)):
                t0 = time.perf_counter()
                outputs = asyncio.run(run(server, prompts, params))
                seconds = time.perf_counter() - t0
                tokens = sum(len(o.token_ids) for o in outputs)
                rows.append({"requests": n, "repeat": repeat, "mode": mode, "seconds": seconds, "tokens": tokens})
                print(
                    f"[rollout] {n:>4} requests  {mode:<13} {seconds:7.2f} s  {n / seconds:7.1f} samples/s", flush=True
                )
    summary = {}
    for n in args.requests:
        per = {
            mode: [r for r in rows if r["requests"] == n and r["mode"] == mode] for mode in ("one_at_a_time", "batched")
        }
        rate = {mode: sum(r["requests"] for r in rs) / sum(r["seconds"] for r in rs) for mode, rs in per.items()}
        summary[str(n)] = {
            **{f"{m}_samples_per_s": v for m, v in rate.items()},
            "speedup": rate["batched"] / rate["one_at_a_time"],
        }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at the end",
        "policy": "graded warm start (lab/sppo_lab/graded/warm_start), temperature 1, <= 128 new tokens",
        "summary": summary,
        "runs": rows,
    }
    (out / "rollout_batching.json").write_text(json.dumps(result, indent=1))
    plot(summary, out / "rollout_batching.png")
    for n, s in summary.items():
        print(
            f"{n:>4} requests: one at a time {s['one_at_a_time_samples_per_s']:.1f}/s, batched "
            f"{s['batched_samples_per_s']:.1f}/s, {s['speedup']:.1f}x"
        )
    return 0


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = list(summary)
    fig, ax = plt.subplots(figsize=(6, 4))
    x = range(len(ns))
    ax.bar([i - 0.2 for i in x], [summary[n]["one_at_a_time_samples_per_s"] for n in ns], 0.4, label="one at a time")
    ax.bar([i + 0.2 for i in x], [summary[n]["batched_samples_per_s"] for n in ns], 0.4, label="batched")
    for i, n in enumerate(ns):
        ax.annotate(
            f"{summary[n]['speedup']:.1f}×", (i + 0.2, summary[n]["batched_samples_per_s"]), ha="center", va="bottom"
        )
    ax.set_xticks(list(x), [f"{n} concurrent" for n in ns])
    ax.set_ylabel("samples / s")
    ax.set_title("hf rollout server, graded task (CPU)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
