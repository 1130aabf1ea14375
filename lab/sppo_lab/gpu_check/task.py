"""The GPU check's tiny task, built from config (nothing downloaded): models, parquets, evaluation prompts.

    python -m sppo_lab.gpu_check.task --root DIR [--device cuda|cpu] [--warmup-steps 150]

``DIR/policy``        CUDA: the vLLM-friendly policy (``sppo_lab.tiny.build_vllm_policy``: Qwen2 hidden 256,
                      2 layers, 4/2 heads, untied); CPU: the quickstart-size policy. With ``--warmup-steps``
                      it gets partial skill (below), so the evaluation's scores are not all zero.
``DIR/critic_same``   ``Qwen2ForTokenClassification`` of the policy's size; ``DIR/critic_small``: hidden 128
                      (CPU: 64), the same char tokenizer
``DIR/data``          ``sppo_lab.quickstart.task.write_parquets`` (train / val, verl's RL schema)
``DIR/eval.parquet``  the validation prompts with data_source ``math_addition`` (routed to the math
                      scorer that ``python -m sppo.eval score`` uses: a ``\\boxed{}`` answer equal to a+b)

Warm-up (a supervised loss, not RL): the expected NLL under a noisy annotator whose answer is right with
probability 0.6 (else off by one) and written as ``\\boxed{S}`` with probability 0.5 (else the bare number
the training reward wants). Both the training reward and the evaluation score are then about 0.3 at
temperature 1, far from 0 and 1, where sampling noise is measurable.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

P_CORRECT = 0.6
P_BOXED = 0.5


def annotator_targets(total: int, p_correct: float = P_CORRECT, p_boxed: float = P_BOXED) -> list[tuple[str, float]]:
    """(answer text, probability) of the warm-up annotator for one prompt; probabilities sum to 1."""
    wrong = [t for t in (total - 1, total + 1) if t >= 0]
    values = [(total, p_correct)] + [(t, (1.0 - p_correct) / len(wrong)) for t in wrong]
    return [
        (text, p * q)
        for value, p in values
        for text, q in ((f"\\boxed{{{value}}}", p_boxed), (str(value), 1.0 - p_boxed))
    ]


def warm_up(model, tokenizer, pairs, steps: int, lr: float = 3e-3, device: str = "cpu", seed: int = 0) -> float:
    """Minimise Σ_target p(target) · NLL(target | prompt) over ``pairs``; returns the last loss."""
    import torch

    from sppo_lab.quickstart.task import question

    torch.manual_seed(seed)
    seqs, weights, starts = [], [], []
    for a, b in pairs:
        text = tokenizer.apply_chat_template([{"role": "user", "content": question(a, b)}], add_generation_prompt=True,
                                             tokenize=False)  # fmt: skip
        prompt = tokenizer(text, add_special_tokens=False)["input_ids"]
        for answer, w in annotator_targets(a + b):
            seqs.append(prompt + tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id])
            weights.append(w)
            starts.append(len(prompt))
    width = max(map(len, seqs))
    ids = torch.full((len(seqs), width), tokenizer.pad_token_id, dtype=torch.long)
    labels = torch.full_like(ids, -100)
    mask = torch.zeros_like(ids)
    for i, (s, p) in enumerate(zip(seqs, starts)):
        ids[i, : len(s)] = torch.tensor(s)
        labels[i, p : len(s)] = torch.tensor(s[p:])
        mask[i, : len(s)] = 1
    ids, labels, mask, w = ids.to(device), labels.to(device), mask.to(device), torch.tensor(weights, device=device)
    model.to(device).train()
    optim = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    loss = torch.tensor(0.0)
    for _ in range(steps):
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        nll = torch.nn.functional.cross_entropy(
            logits.transpose(1, 2), labels[:, 1:], ignore_index=-100, reduction="none"
        )
        loss = (nll.sum(-1) * w).sum() / len(pairs)
        optim.zero_grad()
        loss.backward()
        optim.step()
    model.to("cpu").eval()
    return float(loss.detach())


def write_eval_parquet(val_parquet: str | Path, out: str | Path) -> str:
    """The validation prompts as an evaluation file the math scorer accepts (data_source ``math_addition``)."""
    import pandas as pd

    frame = pd.read_parquet(val_parquet)
    frame["data_source"] = "math_addition"
    frame.to_parquet(out)
    return str(out)


def prepare(root: str | Path, device: str = "cuda", warmup_steps: int = 150) -> dict:
    """Write the task under ``root`` once (``root/task.json`` marks it done); returns its description."""
    root = Path(root)
    marker = root / "task.json"
    if marker.is_file():
        return json.loads(marker.read_text())
    from sppo_lab.quickstart import task
    from sppo_lab.tiny import TinyQwen2, build_char_tokenizer, build_critic, build_policy, build_vllm_policy, save

    tok = build_char_tokenizer()
    if device == "cuda":
        policy = build_vllm_policy(tok, seed=1)
        same, small = (
            TinyQwen2(hidden_size=256, intermediate_size=512),
            TinyQwen2(hidden_size=128, intermediate_size=256),
        )
    else:
        policy = build_policy(tok, seed=1)
        same, small = TinyQwen2(), TinyQwen2(hidden_size=64, num_hidden_layers=1, intermediate_size=128)
    train, val = task.write_parquets(root / "data", n_val=20)
    warm_loss = None
    if warmup_steps > 0:
        train_pairs, _ = task.split_pairs(n_val=20)
        warm_loss = warm_up(policy, tok, train_pairs, warmup_steps, device="cuda" if device == "cuda" else "cpu")
    info = {
        "policy": save(policy, tok, root / "policy"),
        "critic_same": save(build_critic(tok, same, seed=1), tok, root / "critic_same"),
        "critic_small": save(build_critic(tok, small, seed=1), tok, root / "critic_small"),
        "train": train,
        "val": val,
        "eval": write_eval_parquet(val, root / "eval.parquet"),
        "warmup_steps": warmup_steps,
        "warmup_loss": warm_loss,
        "device": device,
    }
    marker.write_text(json.dumps(info, indent=2) + "\n")
    return info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sppo_lab.gpu_check.task", description="write the GPU check's tiny task")
    p.add_argument("--root", required=True)
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--warmup-steps", type=int, default=150)
    args = p.parse_args(argv)
    print(json.dumps(prepare(args.root, args.device, args.warmup_steps), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
