"""Critic cost: SPPO's prompt-only critic vs the same critic run over prompt + response.

    .venv/bin/python -m sppo_lab.benchmarks.bench_critic_cost [--prompt 64] [--responses 128 512 2048 4096] [--reps 5]
        [--sizes 128x4 64x2 32x1] [--out benchmarks/results]

One critic training step (forward + BCE on V(s_p) + backward + optimizer step) of a tiny
``Qwen2ForTokenClassification`` (hidden 128, 4 layers, float32, batch 8). The prompt-only critic reads the
prompt tokens; the token-level layout reads prompt + response (what verl's stock value engine runs), even
though V(s_p) only needs the prompt. Both variants are timed interleaved in one process; medians are
reported. Then the SPPO critic at smaller sizes than the policy-sized one (``--sizes HIDDENxLAYERS``, the
first is the reference, the paper's "1.5B critic for a 7B policy" in miniature), again interleaved: step time,
parameters and parameter+gradient+AdamW-state bytes. Writes critic_cost.json and critic_cost.png.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import date
from pathlib import Path

import torch

from sppo_lab.paths import RESULTS

OUT = RESULTS


def build_critic(vocab: int = 259, hidden: int = 128, layers: int = 4):
    from transformers import Qwen2Config, Qwen2ForTokenClassification

    torch.manual_seed(0)
    cfg = Qwen2Config(
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=4 * hidden,
        max_position_embeddings=8192,
        num_labels=1,
        attn_implementation="sdpa",
    )
    return Qwen2ForTokenClassification(cfg)


def parse_size(text: str) -> tuple[int, int]:
    try:
        hidden, layers = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes wants HIDDENxLAYERS (e.g. 64x2), got {text!r}") from None
    if hidden % 4 or hidden < 8 or layers < 1:
        raise argparse.ArgumentTypeError(f"--sizes {text}: hidden must be a multiple of 4 (>= 8), layers >= 1")
    return hidden, layers


def size_sweep(sizes: list[tuple[int, int]], prompt: torch.Tensor, targets: torch.Tensor, reps: int) -> list[dict]:
    """SPPO's prompt-only critic step at each size, interleaved; relative to the first (policy-sized) one."""
    models = [build_critic(hidden=h, layers=n) for h, n in sizes]
    optims = [torch.optim.AdamW(m.parameters(), lr=1e-5) for m in models]
    times: list[list[float]] = [[] for _ in sizes]
    for m, o in zip(models, optims, strict=True):
        critic_step(m, o, prompt, prompt.shape[1], targets)  # warm-up (also creates AdamW's state)
    for _ in range(reps):
        for i, (m, o) in enumerate(zip(models, optims, strict=True)):
            times[i].append(critic_step(m, o, prompt, prompt.shape[1], targets))
    rows = []
    for (h, n), m, t in zip(sizes, models, times, strict=True):
        params = sum(p.numel() for p in m.parameters())
        # fp32 weights + gradients + AdamW's two moments
        rows.append(
            {
                "hidden": h,
                "layers": n,
                "params": params,
                "train_state_mib": params * 4 * 4 / 2**20,
                "step_s": statistics.median(t),
            }
        )
    for row in rows:
        row["time_vs_reference"] = row["step_s"] / rows[0]["step_s"]
        row["params_vs_reference"] = row["params"] / rows[0]["params"]
    return rows


def critic_step(model, optim, input_ids: torch.Tensor, prompt_len: int, targets: torch.Tensor) -> float:
    t0 = time.perf_counter()
    values = model(input_ids=input_ids).logits.squeeze(-1)  # (bs, seq)
    v = values[:, prompt_len - 1]  # V(s_p): value head at the last prompt token
    loss = torch.nn.functional.binary_cross_entropy_with_logits(v, targets)
    optim.zero_grad()
    loss.backward()
    optim.step()
    return time.perf_counter() - t0


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--prompt", type=int, default=64)
    p.add_argument("--responses", type=int, nargs="+", default=[128, 512, 2048, 4096])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--sizes",
        type=parse_size,
        nargs="+",
        default=[(128, 4), (64, 2), (32, 1)],
        help="critic sizes HIDDENxLAYERS; the first is the policy-sized reference",
    )
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = build_critic()
    optim = torch.optim.AdamW(model.parameters(), lr=1e-5)
    g = torch.Generator().manual_seed(0)
    targets = torch.randint(0, 2, (args.batch,), generator=g).float()
    prompt = torch.randint(3, 259, (args.batch, args.prompt), generator=g)
    rows = []
    for resp in args.responses:
        full = torch.cat([prompt, torch.randint(3, 259, (args.batch, resp), generator=g)], dim=1)
        critic_step(model, optim, prompt, args.prompt, targets)  # warm-up
        critic_step(model, optim, full, args.prompt, targets)
        t_prompt, t_full = [], []
        for _ in range(args.reps):  # interleaved, so load changes hit both variants alike
            t_prompt.append(critic_step(model, optim, prompt, args.prompt, targets))
            t_full.append(critic_step(model, optim, full, args.prompt, targets))
        row = {
            "prompt_len": args.prompt,
            "response_len": resp,
            "batch": args.batch,
            "prompt_only_s": statistics.median(t_prompt),
            "prompt_plus_response_s": statistics.median(t_full),
        }
        row["speedup"] = row["prompt_plus_response_s"] / row["prompt_only_s"]
        rows.append(row)
        print(
            f"response {resp:5d}: prompt-only {row['prompt_only_s'] * 1e3:8.1f} ms   prompt+response "
            f"{row['prompt_plus_response_s'] * 1e3:8.1f} ms   ratio {row['speedup']:.1f}x",
            flush=True,
        )
    sizes = size_sweep(args.sizes, prompt, targets, args.reps)
    for row in sizes:
        print(
            f"critic {row['hidden']:4d}x{row['layers']}: {row['params'] / 1e6:6.2f} M params  prompt-only step "
            f"{row['step_s'] * 1e3:7.1f} ms ({row['time_vs_reference']:.2f}x of {args.sizes[0][0]}x{args.sizes[0][1]})",
            flush=True,
        )
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "date": str(date.today()),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, CPU",
        "model": "Qwen2ForTokenClassification hidden 128, 4 layers, fp32",
        "reps": args.reps,
    }
    (out / "critic_cost.json").write_text(json.dumps({"meta": meta, "rows": rows, "sizes": sizes}, indent=1))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    xs = [r["response_len"] for r in rows]
    ax.plot(xs, [r["prompt_plus_response_s"] * 1e3 for r in rows], "o-", label="critic over prompt + response")
    ax.plot(xs, [r["prompt_only_s"] * 1e3 for r in rows], "o-", label="SPPO prompt-only critic")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel(f"response length (prompt {args.prompt})")
    ax.set_ylabel("critic step time (ms, median)")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("critic cost per training step (CPU)")
    labels = [f"{r['hidden']}x{r['layers']}\n{r['params'] / 1e6:.2f} M" for r in sizes]
    ax2.bar(labels, [r["step_s"] * 1e3 for r in sizes])
    ax2.set_ylabel("SPPO critic step time (ms, median)")
    ax2.set_xlabel("critic size (hidden x layers, parameters)")
    ax2.set_title(f"smaller critics, prompt {args.prompt} tokens")
    fig.tight_layout()
    fig.savefig(out / "critic_cost.png", dpi=110)
    print(f"wrote {out / 'critic_cost.json'} and {out / 'critic_cost.png'}")


if __name__ == "__main__":
    main()
