"""Supervised warm-up of the graded task's tiny policy on a noisy annotator (partial, graded skill).

    python -m sppo_lab.graded.warmup --out runs/graded_warmup [--seed 0] [--steps 1500] [--q 0.76]

Builds the policy from config (``sppo_lab.tiny``: a Qwen2, hidden 128, 4 layers, ~0.6 M parameters), trains it with
cross-entropy on freshly sampled responses of the annotator (``sppo_lab.graded.task.annotate``: each partial sum
right with probability ``q``, else one too high; training prompts only), then measures it on held-out prompts
with ``transformers.generate`` at the training temperature (1.0, no top-k / top-p): per level, success,
mean response tokens (EOS included) and the share of responses that end in EOS. Writes ``OUT/policy`` (an HF
model folder with its tokenizer) and ``OUT/warmup_report.json``. The warm-up is not the RL result.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from sppo.cli_errors import (
    OneLineParser,
    check_output_dir,
    guarded,
    nonneg_int,
    positive_int,
    probability,
    write_text_atomic,
)
from sppo_lab.graded import reward, task
from sppo_lab.sft_batch import right_padded_batch

PROG = "python -m sppo_lab.graded.warmup"
MAX_NEW_TOKENS = 128  # the rollout's response limit: 1.5x the hardest level's reference solution
PROGRESS_S = 15.0  # at most this many seconds between two progress lines (a user waits minutes on 2 cores)


@dataclass
class WarmupConfig:
    """Settings of the warm-up (the defaults made the committed warm-start checkpoint)."""

    steps: int = 1500
    """optimizer steps (one batch of fresh annotator samples each)"""
    batch: int = 32
    """responses per step; the level of each is drawn uniformly from ``task.LEVELS``"""
    lr: float = 2e-3
    """peak learning rate (AdamW, betas 0.9 / 0.98, no weight decay)"""
    warmup_steps: int = 100
    """linear learning-rate warm-up, then cosine decay to 10 % of the peak"""
    q: float = 0.76
    """probability that the annotator writes a partial sum right (else one too high)"""
    seed: int = 0
    """model initialisation and annotator sampling"""


def policy_size():
    from sppo_lab.tiny import TinyQwen2

    return TinyQwen2(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2)


def prompt_ids(tokenizer, terms) -> list[int]:
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": task.question(terms)}], add_generation_prompt=True, tokenize=False
    )
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def response_ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


def right_padded(tokenizer, pairs: list[tuple[list, str]]):
    """(input_ids, attention_mask, labels), right-padded, from (terms, response text) pairs: each row is the
    prompt, the response and EOS; the loss is on the response and its EOS only."""
    seqs, starts = [], []
    for terms, text in pairs:
        p = prompt_ids(tokenizer, terms)
        seqs.append(p + response_ids(tokenizer, text))
        starts.append(len(p))
    return right_padded_batch(seqs, starts, tokenizer.pad_token_id)


def training_batch(tokenizer, rng: random.Random, batch: int, q: float):
    """A batch of the annotator's responses, levels drawn uniformly (see ``right_padded``)."""
    pairs = []
    for _ in range(batch):
        terms = task.sample_terms(rng.choice(task.LEVELS), rng)
        pairs.append((terms, task.annotate(terms, q, rng)[0]))
    return right_padded(tokenizer, pairs)


def sft_step(model, optim, batch) -> float:
    """One cross-entropy step on a ``right_padded`` batch (gradient clipped at norm 1); returns the loss."""
    import torch

    input_ids, attention, labels = batch
    logits = model(input_ids=input_ids, attention_mask=attention).logits[:, :-1].float()
    loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100
    )
    optim.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optim.step()
    return float(loss.detach())


def lr_at(step: int, cfg: WarmupConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    frac = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))


def warm_up(
    model, tokenizer, cfg: WarmupConfig, log=print, probe=None, probe_every: int = 300, progress_s: float = PROGRESS_S
) -> float:
    """Train ``model`` in place; returns the mean loss (nats per response token) of the last 50 steps.

    Logs a progress line every 100 steps and at least every ``progress_s`` seconds (and the last step).
    ``probe(model)``, if given, runs every ``probe_every`` steps (a progress check; its string is logged)."""
    import torch

    rng = random.Random(f"annotator-{cfg.seed}")
    optim = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.98), weight_decay=0.0)
    model.train()
    recent: list[float] = []
    t0 = last = time.time()
    for step in range(cfg.steps):
        for group in optim.param_groups:
            group["lr"] = lr_at(step, cfg)
        loss = sft_step(model, optim, training_batch(tokenizer, rng, cfg.batch, cfg.q))
        recent = (recent + [loss])[-50:]
        now = time.time()
        if (step + 1) % 100 == 0 or step + 1 == cfg.steps or now - last >= progress_s:
            last = now
            log(f"[graded warm-up] step {step + 1}/{cfg.steps}  loss {sum(recent) / len(recent):.4f}  {now - t0:.0f} s")
        if probe is not None and (step + 1) % probe_every == 0 and step + 1 < cfg.steps:
            model.eval()
            log(f"[graded warm-up] step {step + 1}: probing the policy on held-out prompts")
            log(f"[graded warm-up] step {step + 1} probe: {probe(model)}")
            last = time.time()
            model.train()
    model.eval()
    return sum(recent) / max(1, len(recent))


def generated_length(ids: list[int], eos_id: int) -> tuple[int, bool]:
    """Tokens of a generated response up to and including its first EOS (all of them if it has none)."""
    return (ids.index(eos_id) + 1, True) if eos_id in ids else (len(ids), False)


def generate(model, tokenizer, encoded: list[list[int]], max_new_tokens: int, temperature: float = 1.0) -> list[list]:
    """The generated ids of each prompt (``encoded``: prompt ids), sampled with HF ``generate`` at ``temperature``
    (no top-k / top-p), left-padded so that every prompt ends where generation starts; rows run to the longest."""
    import torch

    width = max(len(e) for e in encoded)
    input_ids = torch.full((len(encoded), width), tokenizer.pad_token_id, dtype=torch.long)
    attention = torch.zeros_like(input_ids)
    for i, e in enumerate(encoded):
        input_ids[i, width - len(e) :] = torch.tensor(e)
        attention[i, width - len(e) :] = 1
    with torch.no_grad():
        out = model.generate(
            input_ids,
            attention_mask=attention,
            max_new_tokens=max_new_tokens,
            do_sample=True,
            temperature=temperature,
            top_k=0,
            top_p=1.0,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    return out[:, width:].tolist()


def evaluate(
    model,
    tokenizer,
    prompts,
    samples: int = 4,
    temperature: float = 1.0,
    seed: int = 0,
    max_new_tokens: int = MAX_NEW_TOKENS,
    log=None,
) -> dict:
    """Per-level success on ``prompts`` with ``samples`` samples each (HF generate, left padding).

    Each response is cut at its first EOS on the generated ids, decoded without special tokens (as verl
    decodes it for the reward) and scored with ``reward.compute_score``. ``log``, if given, gets one line per
    level as it is done (the whole evaluation takes minutes on 2 cores).
    """
    import torch

    torch.manual_seed(seed)
    by_level: dict[int, list] = {}
    for terms in prompts:
        by_level.setdefault(len(terms), []).append(terms)
    eos = tokenizer.eos_token_id
    result: dict = {}
    t0 = time.time()
    for k in sorted(by_level):
        encoded = [prompt_ids(tokenizer, t) for t in by_level[k] for _ in range(samples)]
        answers = [sum(t) for t in by_level[k] for _ in range(samples)]
        hits, lengths, ended, hit_lengths = 0, [], 0, []
        for row, answer in zip(generate(model, tokenizer, encoded, max_new_tokens, temperature), answers, strict=True):
            n, has_eos = generated_length(row, eos)
            text = tokenizer.decode(row[:n], skip_special_tokens=True)
            ok = reward.compute_score(task.data_source(k), text, str(answer)) == 1.0
            hits += ok
            lengths.append(n)
            ended += has_eos
            if ok:
                hit_lengths.append(n)
        reference = [len(response_ids(tokenizer, task.chain_of_thought(t)[0])) for t in by_level[k]]
        result[str(k)] = {
            "samples": len(answers),
            "prompts": len(by_level[k]),
            "success": hits / len(answers),
            "mean_response_tokens": sum(lengths) / len(lengths),
            "mean_correct_response_tokens": sum(hit_lengths) / len(hit_lengths) if hit_lengths else None,
            "ended_with_eos": ended / len(answers),
            "reference_tokens_min": min(reference),
            "reference_tokens_max": max(reference),
        }
        if log is not None:
            log(
                f"[graded evaluation] level k={k} ({len(result)}/{len(by_level)}): success {hits / len(answers):.3f} "
                f"on {len(answers)} samples, {time.time() - t0:.0f} s"
            )
    return result


def run(out: Path, cfg: WarmupConfig, val_per_level: int = 16, samples: int = 8) -> dict:
    import torch

    from sppo_lab.tiny import build_char_tokenizer, build_policy, save

    torch.set_num_threads(1)
    tokenizer = build_char_tokenizer()
    model = build_policy(tokenizer, size=policy_size(), seed=cfg.seed)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"[graded warm-up] policy {n_params:,} parameters; {cfg}", flush=True)
    t0 = time.time()
    probe_prompts = task.held_out_prompts(4, seed=1)

    def probe(m) -> str:  # 4 held-out prompts x 4 samples a level: a rough progress check, not the report
        found = evaluate(m, tokenizer, probe_prompts, samples=4, seed=cfg.seed)
        return "  ".join(f"k={k} {r['success']:.2f}" for k, r in found.items())

    def log(message: str) -> None:
        print(message, flush=True)

    loss = warm_up(model, tokenizer, cfg, log=log, probe=probe)
    seconds = time.time() - t0
    t1 = time.time()
    held_out = task.held_out_prompts(val_per_level, seed=0)
    log(f"[graded warm-up] evaluating on {len(held_out)} held-out prompts x {samples} samples")
    levels = evaluate(model, tokenizer, held_out, samples=samples, seed=cfg.seed, log=log)
    report = {
        "command": f"{PROG} --out {out} --seed {cfg.seed} --steps {cfg.steps} --q {cfg.q}",
        "config": asdict(cfg),
        "policy_parameters": n_params,
        "warmup_seconds": round(seconds, 1),
        "eval_seconds": round(time.time() - t1, 1),
        "final_loss": loss,
        "eval": {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "max_new_tokens": MAX_NEW_TOKENS, "held_out": True},
        "annotator_success": {str(k): cfg.q ** (k - 1) for k in task.LEVELS},
        "levels": levels,
        "torch": torch.__version__,
    }
    save(model, tokenizer, out / "policy")
    write_text_atomic(out / "warmup_report.json", json.dumps(report, indent=1))
    for k, r in levels.items():
        print(
            f"[graded warm-up] k={k:>2}: success {r['success']:.3f} ({r['samples']} samples), "
            f"{r['mean_response_tokens']:.1f} tokens, annotator {cfg.q ** (int(k) - 1):.3f}",
            flush=True,
        )
    return report


def _parser() -> OneLineParser:
    p = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    d = WarmupConfig()
    p.add_argument("--out", required=True, type=Path, help="output folder (policy/ and warmup_report.json)")
    p.add_argument("--seed", type=nonneg_int, default=d.seed, help="model initialisation and annotator sampling")
    p.add_argument("--steps", type=positive_int, default=d.steps, help="optimizer steps")
    p.add_argument("--q", type=probability, default=d.q, help="annotator's per-step probability of a right sum")
    p.add_argument("--samples", type=positive_int, default=8, help="samples per held-out prompt (16 prompts a level)")
    return p


def _run(argv) -> int:
    args = _parser().parse_args(argv)
    out = check_output_dir(args.out)
    run(out, WarmupConfig(steps=args.steps, q=args.q, seed=args.seed), samples=args.samples)
    return 0


def main(argv=None) -> int:
    """Exit code 0 (written), 2 (bad input: one line on stderr), 130 (interrupted)."""
    return guarded(PROG, lambda: _run(argv))


if __name__ == "__main__":
    sys.exit(main())
