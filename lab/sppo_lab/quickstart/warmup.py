"""Supervised warm-up that gives the random tiny policy PARTIAL skill on the addition task.

It minimises the expected NLL under a noisy "annotator": the sum is right with probability ``p_correct``
(otherwise off by one), and it is written in the verifier's format (the bare number) with probability
``p_plain`` (otherwise as "=8"). The warmed-up policy samples an exactly right answer about a quarter of
the time at temperature 1, so RL has two things to learn: the answer format, a prompt-independent habit
that carries over to held-out prompts, and sharper arithmetic. This warm-up is not the RL result; the
quickstart reports it separately.
"""

from __future__ import annotations

import torch

from sppo_lab.quickstart.task import question
from sppo_lab.sft_batch import right_padded_batch


def annotator_targets(total: int, p_correct: float, p_plain: float) -> list[tuple[str, float]]:
    """(answer, probability) pairs of the noisy annotator for one prompt; probabilities sum to 1."""
    wrong = [t for t in (total - 1, total + 1) if t >= 0]
    contents = [(str(total), p_correct)] + [(str(t), (1.0 - p_correct) / len(wrong)) for t in wrong]
    return [(prefix + c, p * q) for c, p in contents for prefix, q in (("", p_plain), ("=", 1.0 - p_plain))]


def _batch(tokenizer, pairs, p_correct, p_plain):
    seqs, weights, prompt_lens = [], [], []
    for a, b in pairs:
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": question(a, b)}], add_generation_prompt=True, tokenize=False
        )
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        for answer, w in annotator_targets(a + b, p_correct, p_plain):
            answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            seqs.append(prompt_ids + answer_ids)
            weights.append(w)
            prompt_lens.append(len(prompt_ids))
    input_ids, attention, labels = right_padded_batch(seqs, prompt_lens, tokenizer.pad_token_id)
    return input_ids, attention, labels, torch.tensor(weights)


def warm_up(
    model,
    tokenizer,
    pairs,
    steps: int = 150,
    lr: float = 3e-3,
    p_correct: float = 0.6,
    p_plain: float = 0.4,
    seed: int = 0,
):
    """Train ``model`` in place on the expected noisy-annotator loss; returns the final loss."""
    torch.manual_seed(seed)
    input_ids, attention, labels, weights = _batch(tokenizer, pairs, p_correct, p_plain)
    optim = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    loss = torch.tensor(0.0)
    for _ in range(steps):
        logits = model(input_ids=input_ids, attention_mask=attention).logits[:, :-1].float()
        target = labels[:, 1:]
        nll = (
            torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100, reduction="none"
            )
            .view(target.shape)
            .sum(-1)
        )
        loss = (nll * weights).sum() / len(pairs)
        optim.zero_grad()
        loss.backward()
        optim.step()
    model.eval()
    return float(loss.detach())


@torch.no_grad()
def success_rate(model, tokenizer, pairs, samples: int = 4, temperature: float = 1.0, seed: int = 0) -> float:
    """Fraction of sampled answers that are exactly right (HF generate, the same sampling as the rollout)."""
    torch.manual_seed(seed)
    hits = total = 0
    for a, b in pairs:
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": question(a, b)}], add_generation_prompt=True, tokenize=False
        )
        ids = torch.tensor([tokenizer(prompt, add_special_tokens=False)["input_ids"]] * samples)
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=6,
            do_sample=True,
            temperature=temperature,
            top_k=0,
            top_p=1.0,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        for row in out[:, ids.shape[1] :]:
            text = tokenizer.decode(row, skip_special_tokens=True).strip()
            hits += text == str(a + b)
            total += 1
    return hits / max(total, 1)
