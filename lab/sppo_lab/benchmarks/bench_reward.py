"""Throughput and latency of the math reward (sppo.reward) on typical answers.

    python -m sppo_lab.benchmarks.bench_reward                      # 4000 responses, 2 worker processes
    python -m sppo_lab.benchmarks.bench_reward --n 8000 --workers 4 --out benchmarks/results/reward.json

Responses are built from the 40 MATH-500 sample problems (tests/fixtures/math500_sample.jsonl), each
with a few thousand characters of reasoning and a decoy box inside ``<think>``; the mix is typical of
RL rollouts: 45% correct in the gold's own spelling, 15% correct in another spelling (``\\dfrac``,
spaces, ``x=``, decimals), 35% wrong (every wrong answer distinct, so math-verify's caches do not
flatter the result), 5% without a boxed answer.

Reports (and writes as JSON, plus a PNG next to it):
  * scores per second of ``compute_scores_batch(items, num_workers=W)``, start-up excluded, and the
    fraction of responses that needed the symbolic (math-verify) check;
  * scores per second when every response needs the symbolic check (``slow_path``);
  * per-call latency of ``compute_score`` (p50, p90, p99, max) over a sample of the same items.
Target on 2 cores: >= 300 scores/s. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

from sppo.reward import compute_score, compute_scores_batch
from sppo.reward.pool import get_pool
from sppo_lab.paths import REPO as ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "math500_sample.jsonl"
FILLER = (
    "We consider the expression carefully, simplify each term, and check the boundary cases. "
    "Substituting back confirms the intermediate result. "
)


def respelled(answer: str, rng: random.Random) -> str:
    """The same answer in another spelling."""
    options = [
        answer.replace("\\frac", "\\dfrac"),
        answer.replace(",", ", ").replace("  ", " "),
        f"x = {answer}" if "=" not in answer and "," not in answer else answer,
        f"\\left({answer}\\right)" if answer.startswith("(") else f" {answer} ",
    ]
    if answer.lstrip("-").isdigit():
        options.append(f"{answer}.0")
    return rng.choice(options)


def wrong_answer(answer: str, i: int, rng: random.Random) -> str:
    """A wrong answer, different for every ``i``."""
    kind = rng.random()
    if kind < 0.5:
        return str(rng.randint(1000, 10**6) + i)
    if kind < 0.8:
        return f"\\frac{{{rng.randint(1, 999) + i}}}{{{rng.randint(1000, 2000)}}}"
    return f"{rng.randint(2, 99)}\\sqrt{{{rng.randint(2, 97) + i}}}"


def build_items(n: int, seed: int) -> tuple[list[dict], list[float]]:
    """``n`` benchmark items and their expected scores."""
    rng = random.Random(seed)
    rows = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line.strip()]
    items, expected = [], []
    for i in range(n):
        gold = rows[i % len(rows)]["answer"]
        draw = rng.random()
        if draw < 0.45:
            pred, score = gold, 1.0
        elif draw < 0.60:
            pred, score = respelled(gold, rng), 1.0
        elif draw < 0.95:
            pred, score = wrong_answer(gold, i, rng), 0.0
        else:
            pred, score = None, 0.0
        reasoning = FILLER * rng.randint(10, 40)
        final = f"The final answer is $\\boxed{{{pred}}}$." if pred is not None else "I could not finish."
        text = f"<think>\n{reasoning}\nFirst guess: \\boxed{{0}}.\n</think>\n{reasoning[:400]}\n{final}"
        items.append({"data_source": "math__math", "solution_str": text, "ground_truth": gold})
        expected.append(score)
    return items, expected


def build_slow_items(n: int, seed: int) -> list[dict]:
    """``n`` wrong answers that only the symbolic check can reject (worst case: no fast path)."""
    rng = random.Random(seed)
    rows = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line.strip()]
    items = []
    for i in range(n):
        gold = rows[i % len(rows)]["answer"]
        pred = f"{rng.randint(2, 99)}\\sqrt{{{rng.randint(2, 97) + i}}} - \\frac{{\\pi}}{{{rng.randint(2, 9)}}}"
        items.append({"data_source": "math__math", "solution_str": f"So $\\boxed{{{pred}}}$.", "ground_truth": gold})
    return items


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def plot(latencies_ms: list[float], summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(latencies_ms, bins=60, color="#4c72b0")
    ax.set_yscale("log")
    for q, style in (("p50", ":"), ("p99", "--")):
        ax.axvline(
            summary["latency_ms"][q], color="black", linestyle=style, label=f"{q} = {summary['latency_ms'][q]:.2f} ms"
        )
    ax.set_xlabel("compute_score latency per response (ms)")
    ax.set_ylabel("responses")
    ax.set_title(
        f"sppo.reward: {summary['scores_per_s']:.0f} scores/s with {summary['num_workers']} workers "
        f"on {summary['cpu_count']} CPUs"
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sppo_lab.benchmarks.bench_reward", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--n", type=int, default=4000, help="responses scored in the throughput run")
    parser.add_argument("--workers", type=int, default=2, help="verifier worker processes")
    parser.add_argument("--n-slow", type=int, default=500, help="responses that all need the symbolic check")
    parser.add_argument("--latency-samples", type=int, default=1000, help="single calls timed for the latency run")
    parser.add_argument("--timeout-s", type=float, default=5.0, help="per-response time limit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "reward.json")
    args = parser.parse_args(argv)
    if min(args.n, args.n_slow, args.workers, args.latency_samples) < 1:
        parser.error("--n, --n-slow, --workers and --latency-samples must be >= 1")

    load_before = os.getloadavg()
    items, expected = build_items(args.n, args.seed)
    # start-up: spawn and warm every worker (not measured)
    compute_scores_batch(items[: 4 * args.workers], num_workers=args.workers, timeout_s=args.timeout_s)
    warm_items, _ = build_items(200, args.seed + 1)
    compute_scores_batch(warm_items, num_workers=args.workers, timeout_s=args.timeout_s)

    pool = get_pool()
    checks_before = pool.checks
    start = time.perf_counter()
    results = compute_scores_batch(items, num_workers=args.workers, timeout_s=args.timeout_s)
    elapsed = time.perf_counter() - start
    symbolic = pool.checks - checks_before
    agree = sum(r["score"] == e for r, e in zip(results, expected, strict=True)) / len(items)

    slow_items = build_slow_items(args.n_slow, args.seed + 3)
    start = time.perf_counter()
    slow_results = compute_scores_batch(slow_items, num_workers=args.workers, timeout_s=args.timeout_s)
    slow_elapsed = time.perf_counter() - start
    assert all(r["score"] == 0.0 for r in slow_results)

    latency_items, _ = build_items(args.latency_samples, args.seed + 2)
    latencies_ms = []
    for item in latency_items:
        t0 = time.perf_counter()
        compute_score(item["data_source"], item["solution_str"], item["ground_truth"], timeout_s=args.timeout_s)
        latencies_ms.append((time.perf_counter() - t0) * 1000)

    summary = {
        "command": " ".join(
            ["python -m sppo_lab.benchmarks.bench_reward", *(argv if argv is not None else sys.argv[1:])]
        ),
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "n": args.n,
        "num_workers": args.workers,
        "timeout_s": args.timeout_s,
        "seconds": round(elapsed, 3),
        "scores_per_s": round(args.n / elapsed, 1),
        "symbolic_check_fraction": round(symbolic / args.n, 4),
        "agreement_with_expected": round(agree, 4),
        "slow_path": {"n": args.n_slow, "scores_per_s": round(args.n_slow / slow_elapsed, 1)},
        "timed_out": sum(r["timed_out"] for r in results),
        "worker_restarts": pool.restarts,
        "latency_ms": {
            "samples": len(latencies_ms),
            "p50": round(percentile(latencies_ms, 50), 3),
            "p90": round(percentile(latencies_ms, 90), 3),
            "p99": round(percentile(latencies_ms, 99), 3),
            "max": round(max(latencies_ms), 3),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    png = args.out.with_suffix(".png")
    plot(latencies_ms, summary, png)
    print(json.dumps(summary, indent=2))
    print(f"wrote {args.out} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
