"""Two difficulty mixes of the graded task, and the warm start of the U-shaped one.

    python -m sppo_lab.critic_pays.mixes --out runs/critic_pays/u_warm_start     # build + measure (~3 min)

``graded``: the graded task as it is (levels 2, 4, 6, 8, 10 in equal shares, from the committed warm start). Its
per-prompt success is spread over the middle (0.72 ... 0.09): the prompt explains ~25 % of outcome variance.

``u_shaped``: shaped like a reasoning model's per-problem pass rates on DeepScaleR / DAPO-17k. Polaris (HKU NLP,
2025) found the pass rates of DeepSeek-R1-Distill-Qwen-7B on DeepScaleR-40K to be a *mirrored J*: most problems
solved in all 8 samples, a falling tail of harder ones, and a bump of never-solved ones (which is why DAPO filters
0- and 1-accuracy groups). Here: half the prompts are level 2, which the U warm start solves ~95 % of the time; a
tenth each of levels 4, 6, 8, 10 (0.5 ... 0.1); and a tenth of level 12, which no warm start solves (~0.02: two
terms more than the warm-up ever saw). The level is visible in the prompt (its number of terms), so a prompt-only
critic can learn p(x); η² = Var(p) / p̄(1 − p̄) ≈ 0.6 at the warm start.

The U warm start is the committed graded warm start after a short supervised "boost" (``BoostConfig``): batches
of half clean level-2 solutions and half the original noisy annotator on the other levels, so level 2 becomes
near-certain while the others keep their partial skill. Deterministic on CPU (one thread, fixed seeds).
"""

from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from sppo.cli_errors import OneLineParser, guarded, positive_int
from sppo_lab.graded import task

MIXES: dict[str, dict[int, float]] = {
    "graded": {2: 0.2, 4: 0.2, 6: 0.2, 8: 0.2, 10: 0.2},
    "u_shaped": {2: 0.5, 4: 0.1, 6: 0.1, 8: 0.1, 10: 0.1, 12: 0.1},
}
U_WARM_START_DIR = Path(__file__).resolve().parent / "u_warm_start"  # committed, checked against SHA256SUMS
MAX_RESPONSE_LENGTH = 128  # level 12's reference solution is ~103 tokens: it fits, so failures are errors


def levels(mix: str) -> tuple[int, ...]:
    return tuple(sorted(MIXES[mix]))


def train_prompts(mix: str, n: int = 3200, seed: int = 0) -> list[list[int]]:
    """``n`` training term tuples, levels drawn by the mix's shares (exact counts, shuffled)."""
    rng = random.Random(f"train-{mix}-{seed}")
    counts = {k: round(share * n) for k, share in MIXES[mix].items()}
    out = [task.sample_terms(k, rng) for k, c in counts.items() for _ in range(c)]
    rng.shuffle(out)
    return out


def write_parquets(mix: str, out_dir: str | Path, val_per_level: int = 8, n_train: int = 3200) -> tuple[str, str]:
    """Train / held-out parquets of a mix; held-out: ``val_per_level`` prompts of EVERY level of the mix (the
    held-out success is reported per level and as the mix-weighted mean)."""
    import pandas as pd

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train_path, val_path = out / "train.parquet", out / "val.parquet"
    pd.DataFrame(task.rows(train_prompts(mix, n_train), "train")).to_parquet(train_path)
    pd.DataFrame(task.rows(task.held_out_prompts(val_per_level, levels=levels(mix)), "val")).to_parquet(val_path)
    return str(train_path), str(val_path)


def install_warm_start(mix: str, dest: str | Path) -> str:
    """Verify the mix's committed warm start (its SHA-256 sums) and copy it to ``dest`` (an HF model folder)."""
    from sppo_lab.graded import warm_start

    return warm_start.install(dest, None if mix == "graded" else U_WARM_START_DIR)


def eta_squared(p: list[float], weights: list[float] | None = None) -> float:
    """Share of outcome variance the prompt explains: Var(p) / (p̄ (1 − p̄)), p per prompt (or per level with
    ``weights``, the levels' shares). 0 when p̄ is 0 or 1."""
    w = weights or [1.0] * len(p)
    total = sum(w)
    mean = sum(wi * pi for wi, pi in zip(w, p, strict=True)) / total
    var = sum(wi * (pi - mean) ** 2 for wi, pi in zip(w, p, strict=True)) / total
    denom = mean * (1 - mean)
    return var / denom if denom > 0 else 0.0


@dataclass
class BoostConfig:
    """The supervised boost that turns the graded warm start into the U-shaped mix's warm start."""

    steps: int = 200
    """optimizer steps"""
    batch: int = 32
    """responses per step: ``clean_share`` clean level-2 solutions, the rest the warm-up's noisy annotator"""
    clean_share: float = 0.5
    """share of each batch that is a clean (error-free) level-2 solution"""
    lr: float = 3e-4
    """constant learning rate (AdamW, betas 0.9 / 0.98, no weight decay)"""
    q: float = 0.76
    """the annotator's per-step accuracy on the other levels (the warm-up's)"""
    seed: int = 0


def boost_batch(tokenizer, rng: random.Random, cfg: BoostConfig):
    """A right-padded batch (``sppo_lab.graded.warmup.right_padded``): ``clean_share`` clean level-2 solutions,
    the rest the warm-up's noisy annotator on the other levels."""
    from sppo_lab.graded.warmup import right_padded

    n_clean = round(cfg.batch * cfg.clean_share)
    others = [k for k in task.LEVELS if k != 2]
    pairs = []
    for i in range(cfg.batch):
        if i < n_clean:
            terms = task.sample_terms(2, rng)
            pairs.append((terms, task.chain_of_thought(terms)[0]))
        else:
            terms = task.sample_terms(rng.choice(others), rng)
            pairs.append((terms, task.annotate(terms, cfg.q, rng)[0]))
    return right_padded(tokenizer, pairs)


def boost(model, tokenizer, cfg: BoostConfig, log=print) -> float:
    """Train ``model`` in place; returns the mean loss of the last 50 steps."""
    import torch

    from sppo_lab.graded.warmup import sft_step

    torch.manual_seed(cfg.seed)
    rng = random.Random(f"boost-{cfg.seed}")
    optim = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.98), weight_decay=0.0)
    model.train()
    recent: list[float] = []
    t0 = time.time()
    for step in range(cfg.steps):
        recent = (recent + [sft_step(model, optim, boost_batch(tokenizer, rng, cfg))])[-50:]
        if (step + 1) % 25 == 0 or step + 1 == cfg.steps:
            log(
                f"[u warm start] boost step {step + 1}/{cfg.steps}  loss {sum(recent) / len(recent):.4f}  "
                f"{time.time() - t0:.0f} s"
            )
    model.eval()
    return sum(recent) / max(1, len(recent))


def measure(model, tokenizer, mix: str, per_level: int = 16, samples: int = 16, seed: int = 0) -> dict:
    """Held-out success per level (the warm-up's measurement) and the mix's η² from it."""
    from sppo_lab.graded.warmup import evaluate

    prompts = task.held_out_prompts(per_level, levels=levels(mix))
    by_level = evaluate(model, tokenizer, prompts, samples=samples, seed=seed, max_new_tokens=MAX_RESPONSE_LENGTH)
    shares = MIXES[mix]
    p = [by_level[str(k)]["success"] for k in sorted(shares)]
    return {
        "levels": by_level,
        "eta2_by_level": eta_squared(p, [shares[k] for k in sorted(shares)]),
        "mean_success": sum(shares[k] * by_level[str(k)]["success"] for k in shares),
    }


def build_u_warm_start(out: str | Path, cfg: BoostConfig | None = None, log=print) -> Path:
    """The U-shaped mix's warm start in ``out`` (an HF model folder + ``boost_report.json``); reused if present."""
    import torch

    from sppo_lab.graded.evaluate import load_policy
    from sppo_lab.graded.warm_start import verify

    out = Path(out)
    report_path = out / "boost_report.json"
    if report_path.exists() and (out / "model.safetensors").exists():
        return out
    cfg = cfg or BoostConfig()
    torch.set_num_threads(1)
    model, tokenizer = load_policy(verify())
    log(f"[u warm start] boosting the graded warm start: {cfg}")
    t0 = time.time()
    loss = boost(model, tokenizer, cfg, log=log)
    seconds = time.time() - t0
    log("[u warm start] measuring held-out success per level (16 prompts x 16 samples a level) ...")
    measured = measure(model, tokenizer, "u_shaped")
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    report = {"config": asdict(cfg), "boost_seconds": round(seconds, 1), "final_loss": loss, **measured}
    report_path.write_text(json.dumps(report, indent=1))
    log(
        "[u warm start] success by level "
        + ", ".join(f"k{k} {v['success']:.2f}" for k, v in measured["levels"].items())
        + f"; eta^2 {measured['eta2_by_level']:.2f}"
    )
    return out


PROG = "python -m sppo_lab.critic_pays.mixes"


def main(argv=None) -> int:
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for the U-shaped mix's warm start")
    parser.add_argument("--steps", type=positive_int, default=BoostConfig.steps)
    argv = sys.argv[1:] if argv is None else argv

    def body() -> int:
        args = parser.parse_args(argv)
        build_u_warm_start(args.out, BoostConfig(steps=args.steps))
        return 0

    return guarded(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
