"""Tail-effect study: where along the response does a token-level critic tell right from wrong?

    python -m sppo_lab.analysis tail-effect [--out runs/tail_effect] [--updates 300] [--seed 0] [--format plain]
    python -m sppo_lab.analysis tail-effect --out docs/figures --cache-dir runs/tail_effect_cache   # the docs figure
    python -m sppo_lab.analysis tail-effect --format graded --out docs/figures   # the graded task's long responses

The paper's diagnosis (arXiv 2604.08865, the "tail effect"): a token-level critic V(s_t), trained by regression on GAE returns
of one sparse terminal reward, "overfits tail semantics": it separates correct from wrong responses only
near the end, so GAE advantages on early tokens vanish. This file reproduces the measurement in
miniature on the quickstart task ("What is a+b?", reward 1 iff the answer is exactly a+b), in plain
PyTorch (no verl, no Ray), reading top to bottom:

1. seeding; the warmed-up tiny policy of the quickstart (``warmup.warm_up``, ~25 % success at
   temperature 1), cached under ``--cache-dir`` so a rerun skips the warm-up;
2. two critics of the same size and initialisation (``sppo_lab.tiny.build_critic``):
   (a) TOKEN critic V(s_t) over prompt + response, read as verl's critic reads it (the value of response
       token t is the head output at the token before it, so V(s_0) sits on the last prompt token),
       trained like token-level PPO's critic: 0.5 · (V − G)² (token mean) against GAE(γ, λ) returns G,
       computed with the critic's own values from the sparse reward R on the last response token;
   (b) SPPO critic V(s_p): the head output at the last prompt token of the PROMPT ALONE, trained with
       BCE-with-logits against R;
3. ``--updates`` updates of both critics (Adam, one gradient step per update) on fresh samples from
   the FIXED policy (it is never updated here: both critics estimate the value of the same policy);
4. on a fresh evaluation batch: the token critic's V(s_t) and its GAE advantages per response position,
   for correct and for incorrect responses (mean ± std), aligned from the start of the response and
   from its end; the outcome variance V(s_t) explains at each position; SPPO's single advantage
   A = R − σ(V(s_p)) per class (a flat line: the same number on every token). GAE advantages are shown
   before verl's batch whitening (an affine map of the whole batch, which changes no per-position shape).

``--format padded`` lengthens the token-level horizon from 2–5 tokens to ~44: every sampled answer
(its tokens before EOS) is followed by the fixed sentence ``FILLER`` and EOS, as if the policy wrote it
deterministically, and the verifier scores the text before the filler exactly as in the plain format.
The outcomes are the plain format's; only the horizon changes. The outcome is decided by the first
1–3 tokens, so a critic that separates the classes only at the end (the tail effect) is visibly late,
and with λ < 1 the terminal TD error reaches the answer tokens only after discounting by λ^(distance).
(A policy taught the filler by supervised warm-up was tried and dropped: 150 steps from scratch left it
at ~3 % success, 60 more steps on the warmed-up policy at ~5 % and a garbled filler.)

``--format graded`` runs the study on the graded task (``sppo_lab.graded``): prompts ``Compute 7+4+9+2`` of 2-10
terms, the committed warm-start policy (checksum-verified), a chain of thought of 10-84 tokens whose final answer
alone is rewarded. Prompts of one level have one length, so every training batch is one level (levels in turn)
and the evaluation samples each level separately (``eval.sppo.by_level``: σ(V) beside the success per level).

Writes ``OUT/tail_effect.png`` (``tail_effect_<format>.png`` for the other formats) and a JSON of every
plotted number next to it.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from sppo.cli_errors import atomic_path, write_text_atomic
from sppo.critic_quality import explained_variance
from sppo_lab.analysis.errors import AnalysisError
from sppo_lab.analysis.tail_effect_args import Args, response_limit

# --format padded: the fixed, outcome-irrelevant sentence after every answer (41 tokens).
FILLER = " is my final answer, and I am sure of it."
PLOT_MIN_COUNT = 5  # positions reached by fewer responses of a class are not drawn (the JSON has them all)


# ----------------------------------------------------------------------------------------------------
# The maths (pure functions, tested with hand-made numbers)
# ----------------------------------------------------------------------------------------------------


def sparse_rewards(outcomes: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    """Token-level rewards of an outcome reward: R on the last response token, 0 elsewhere.

    Args:
        outcomes: `(torch.Tensor)` shape `(bs,)`, R per response.
        response_mask: `(torch.Tensor)` shape `(bs, T)`, right-padded (1s then 0s), at least one 1 per row.

    Returns:
        `(torch.Tensor)` shape `(bs, T)`.
    """
    mask = response_mask.to(outcomes.dtype)
    last = (mask.sum(-1).long() - 1).clamp(min=0)
    rewards = torch.zeros_like(mask)
    rewards[torch.arange(len(outcomes)), last] = outcomes * (mask.sum(-1) > 0)
    return rewards


def gae(
    token_rewards: torch.Tensor, values: torch.Tensor, response_mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation, as token-level PPO computes it (verl's ``gae``, before whitening).

    δ_t = r_t + γ V_{t+1} − V_t (V after the last response token is 0), A_t = δ_t + γ λ A_{t+1},
    G_t = A_t + V_t. With γ = λ = 1, A_t = R − V_t and G_t = R: every position regresses to the outcome.

    Args:
        token_rewards: `(torch.Tensor)` shape `(bs, T)`.
        values: `(torch.Tensor)` shape `(bs, T)`: V(s_t), the value before response token t.
        response_mask: `(torch.Tensor)` shape `(bs, T)`, right-padded.
        gamma, lam: discount and GAE λ.

    Returns:
        advantages, returns: `(torch.Tensor)` shape `(bs, T)` each, 0 on padding.
    """
    mask = response_mask.to(values.dtype)
    values = values * mask
    rewards = token_rewards * mask
    advantages = torch.zeros_like(values)
    next_value = torch.zeros_like(values[:, 0])
    next_adv = torch.zeros_like(values[:, 0])
    for t in reversed(range(values.shape[1])):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        advantages[:, t] = (delta + gamma * lam * next_adv) * mask[:, t]
        next_value, next_adv = values[:, t], advantages[:, t]
    return advantages, (advantages + values) * mask


def align_to_end(x: torch.Tensor, response_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Re-index right-padded rows by distance from their last token: column k holds x[i, L_i − 1 − k].

    Args:
        x, response_mask: `(torch.Tensor)` shape `(bs, T)`; the mask right-padded, L_i = its row sum.

    Returns:
        the re-indexed x and its mask, shape `(bs, T)` each (column 0 = the last token of every row).
    """
    lengths = response_mask.long().sum(-1, keepdim=True)
    k = torch.arange(x.shape[1]).unsqueeze(0)
    valid = k < lengths
    index = (lengths - 1 - k).clamp(min=0)
    return torch.gather(x, 1, index) * valid, valid


def position_stats(x: torch.Tensor, response_mask: torch.Tensor, select: torch.Tensor, align: str = "start") -> dict:
    """Mean, population std and count of x per response position, over the selected rows.

    Args:
        x: `(torch.Tensor)` shape `(bs, T)`.
        response_mask: `(torch.Tensor)` shape `(bs, T)`, right-padded.
        select: `(torch.Tensor)` bool, shape `(bs,)`: the rows to aggregate (e.g. the correct responses).
        align: ``start`` (column t = response token t) or ``end`` (column k = k tokens before the last).

    Returns:
        ``{"mean": [...], "std": [...], "count": [...]}``, lists of length T; mean and std are ``None``
        where no selected row reaches that position.
    """
    if align not in ("start", "end"):
        raise ValueError(f"align must be 'start' or 'end', got {align!r}")
    x = x.double()
    mask = response_mask.bool()
    if align == "end":
        x, mask = align_to_end(x, mask)
    mask = mask & select.bool().unsqueeze(-1)
    out: dict = {"mean": [], "std": [], "count": []}
    for t in range(x.shape[1]):
        col = x[mask[:, t], t]
        out["count"].append(int(col.numel()))
        out["mean"].append(col.mean().item() if col.numel() else None)
        out["std"].append(col.std(unbiased=False).item() if col.numel() else None)
    return out


def position_explained_variance(
    values: torch.Tensor, outcomes: torch.Tensor, response_mask: torch.Tensor, align: str = "start"
) -> list:
    """``explained_variance`` of V at each position over all rows reaching it: how much V(s_t) knows of R.

    Undefined (Var(R) = 0 among the rows reaching a position, or fewer than 2 of them) is ``None``, as
    ``position_stats`` leaves an empty position: the JSON file gets null.
    """
    mask = response_mask.bool()
    if align == "end":
        values, mask = align_to_end(values.double(), mask)
    return [
        _json_number(explained_variance(values[mask[:, t], t], outcomes[mask[:, t]])) for t in range(values.shape[1])
    ]


def _json_number(x: float) -> float | None:
    """NaN ("undefined", sppo.critic_quality.explained_variance) as None: JSON has no NaN."""
    return None if math.isnan(x) else x


# ----------------------------------------------------------------------------------------------------
# Policy, sampling, critics
# ----------------------------------------------------------------------------------------------------


def prompt_ids(tokenizer, terms: tuple[int, ...], fmt: str = "plain") -> list[int]:
    """The chat-rendered prompt of a problem: "What is a+b?" (terms = (a, b)) or, graded, "Compute 7+4+9+2"."""
    if fmt == "graded":
        from sppo_lab.graded.task import question

        content = question(terms)
    else:
        from sppo_lab.quickstart.task import question

        content = question(*terms)
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
    )
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def outcome(text: str, terms: tuple[int, ...], fmt: str) -> float:
    """The verifier of the format: the quickstart's exact match (padded: of the text before ``FILLER``), or the
    graded task's final-answer check; the answer is the sum of the terms in both tasks."""
    if fmt == "graded":
        from sppo_lab.graded.reward import compute_score as graded_score

        return graded_score("sppo_graded", text, str(sum(terms)))
    from sppo_lab.quickstart.reward import compute_score

    if fmt == "padded":
        if not text.endswith(FILLER):
            return 0.0
        text = text[: -len(FILLER)]
    return compute_score("sppo_addition", text, str(sum(terms)))


def _shown(path: Path) -> str:
    """A path as results record it: relative to the checkout when inside it (no machine paths in results)."""
    from sppo_lab.paths import REPO

    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def load_or_warm_up(args: Args, tokenizer) -> tuple[object, dict]:
    """The quickstart's warmed-up policy (``warmup.warm_up``), from the cache if an earlier run saved it; graded:
    the committed warm start (``sppo_lab.graded.warm_start``, its checksums verified)."""
    from transformers import Qwen2ForCausalLM

    from sppo_lab.quickstart import task, warmup
    from sppo_lab.tiny import build_policy, save

    if args.format == "graded":
        from sppo_lab.graded import warm_start

        folder = warm_start.verify()
        policy = Qwen2ForCausalLM.from_pretrained(folder)
        policy.eval()
        return policy, {"cached": True, "path": _shown(folder), "warmup_seconds": None}
    cache = Path(args.cache_dir) if args.cache_dir else Path(args.out) / "cache"
    path = cache / f"policy_seed{args.seed}_warmup{args.warmup_steps}"
    if (path / "config.json").exists():
        policy = Qwen2ForCausalLM.from_pretrained(path)
        policy.eval()
        return policy, {"cached": True, "path": _shown(path), "warmup_seconds": None}
    t0 = time.time()
    policy = build_policy(tokenizer, seed=args.seed)
    print(f"[tail-effect] supervised warm-up of the tiny policy ({args.warmup_steps} steps) ...", flush=True)
    warmup.warm_up(policy, tokenizer, task.all_pairs(), steps=args.warmup_steps, seed=args.seed)
    # saved under a temporary name and renamed: an interrupted save never leaves a half cache behind
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save(policy, tokenizer, tmp)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return policy, {"cached": False, "path": _shown(path), "warmup_seconds": round(time.time() - t0, 1)}


@dataclass
class Batch:
    input_ids: torch.Tensor  # (n, P + T): prompt + response, pad after the end
    prompt_len: int  # P: every prompt of a batch has the same length (one a+b batch; one graded level)
    response_mask: torch.Tensor  # (n, T): 1 up to and including EOS (or to T if cut off)
    outcomes: torch.Tensor  # (n,): R ∈ {0, 1}
    cut_off: int = 0  # answers that hit max_new_tokens without EOS


def pad_with_filler(
    response: torch.Tensor, mask: torch.Tensor, filler: list[int], eos: int, pad: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``--format padded``: each answer (its tokens before EOS) followed by the filler tokens and EOS.

    Args:
        response: `(torch.Tensor)` shape `(n, T)`: sampled tokens; mask: `(n, T)` bool, right-padded, EOS included.
        filler: token ids of ``FILLER``; eos, pad: token ids.

    Returns:
        the padded responses and their mask, shape `(n, T')` each, right-padded with ``pad``.
    """
    rows = []
    for row, m in zip(response, mask, strict=True):
        answer = [t for t in row[m].tolist() if t != eos]
        rows.append(answer + filler + [eos])
    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), pad, dtype=response.dtype)
    new_mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=response.dtype)
        new_mask[i, : len(r)] = True
    return out, new_mask


@torch.no_grad()
def sample(policy, tokenizer, problems: list[tuple[int, ...]], args: Args) -> Batch:
    """One response per problem (its terms) from the policy at ``args.temperature`` (HF generate, as the
    quickstart's check)."""
    prompts = [prompt_ids(tokenizer, terms, args.format) for terms in problems]
    if len({len(p) for p in prompts}) != 1:
        raise AnalysisError("the study needs prompts of equal length in a batch (single-digit terms, one level)")
    ids = torch.tensor(prompts)
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    out = policy.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=response_limit(args),
        do_sample=True,
        temperature=args.temperature,
        top_k=0,
        top_p=1.0,
        eos_token_id=eos,
        pad_token_id=pad,
    )
    response = out[:, ids.shape[1] :]
    is_eos = (response == eos).long()
    mask = (torch.cumsum(is_eos, dim=1) - is_eos) == 0  # no EOS strictly before t
    cut_off = int((is_eos.sum(1) == 0).sum())
    response = torch.where(mask, response, pad)
    if args.format == "padded":
        response, mask = pad_with_filler(
            response, mask, tokenizer(FILLER, add_special_tokens=False)["input_ids"], eos, pad
        )
    outcomes = [
        outcome(tokenizer.decode(row[m], skip_special_tokens=True), terms, args.format)
        for row, m, terms in zip(response, mask, problems, strict=True)
    ]
    return Batch(
        torch.cat([ids, response], 1), ids.shape[1], mask.float(), torch.tensor(outcomes, dtype=torch.float32), cut_off
    )


def token_values(critic, batch: Batch) -> torch.Tensor:
    """(a) V(s_t) per response token, shape `(n, T)`: the head output at the token BEFORE response token t."""
    P, T = batch.prompt_len, batch.response_mask.shape[1]
    attention = torch.cat([torch.ones(len(batch.input_ids), P), batch.response_mask], 1).long()
    head = critic(input_ids=batch.input_ids, attention_mask=attention).logits[..., 0]
    return head[:, P - 1 : P - 1 + T] * batch.response_mask


def prompt_logits(critic, batch: Batch) -> torch.Tensor:
    """(b) SPPO's V(s_p), shape `(n,)`: the head output at the last token of the prompt alone."""
    prompt = batch.input_ids[:, : batch.prompt_len]
    return critic(input_ids=prompt, attention_mask=torch.ones_like(prompt)).logits[:, -1, 0]


# ----------------------------------------------------------------------------------------------------
# The study
# ----------------------------------------------------------------------------------------------------


def run(args: Args) -> dict:
    args.check()
    torch.set_num_threads(1)
    t_start = time.time()
    from sppo_lab.quickstart import task
    from sppo_lab.tiny import build_char_tokenizer, build_critic

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_char_tokenizer()
    if args.format == "graded":  # the warm start's own tokenizer (the same byte-level vocabulary, its template)
        from transformers import AutoTokenizer

        from sppo_lab.graded import warm_start

        tokenizer = AutoTokenizer.from_pretrained(warm_start.verify())
    policy, policy_info = load_or_warm_up(args, tokenizer)

    # Both critics: same architecture, same initialisation.
    token_critic = build_critic(tokenizer, seed=args.seed)
    sppo_critic = build_critic(tokenizer, seed=args.seed)
    opt_token = torch.optim.Adam(token_critic.parameters(), lr=args.critic_lr)
    opt_sppo = torch.optim.Adam(sppo_critic.parameters(), lr=args.critic_lr)
    torch.manual_seed(args.seed)  # the same samples whether or not the warm-up came from the cache
    rng = random.Random(args.seed)
    train_pairs, _ = task.split_pairs(seed=0)  # the quickstart's training prompts

    def problems(n: int, level: int | None) -> list[tuple[int, ...]]:
        """n training problems: a+b pairs, or graded term tuples of one level (one prompt length)."""
        if level is None:
            return [rng.choice(train_pairs) for _ in range(n)]
        from sppo_lab.graded.task import sample_terms

        return [tuple(sample_terms(level, rng)) for _ in range(n)]

    levels = _levels(args)
    curve = []
    t_train = time.time()
    log_every = max(1, args.updates // 20)
    for update in range(1, args.updates + 1):
        batch = sample(policy, tokenizer, problems(args.batch, levels[(update - 1) % len(levels)]), args)
        mask = batch.response_mask

        # (a) token-level PPO's critic: regress V(s_t) on GAE returns computed with its own values
        values = token_values(token_critic, batch)
        _, returns = gae(sparse_rewards(batch.outcomes, mask), values.detach(), mask, args.gamma, args.lam)
        token_loss = 0.5 * (((values - returns) ** 2) * mask).sum() / mask.sum()
        opt_token.zero_grad()
        token_loss.backward()
        opt_token.step()

        # (b) SPPO's critic: BCE of σ(V(s_p)) against R, from the prompt alone
        logits = prompt_logits(sppo_critic, batch)
        bce = F.binary_cross_entropy_with_logits(logits, batch.outcomes)
        opt_sppo.zero_grad()
        bce.backward()
        opt_sppo.step()

        if update % log_every == 0 or update == args.updates:
            row = {
                "update": update,
                "token_value_loss": round(token_loss.item(), 5),
                "sppo_bce": round(bce.item(), 5),
                "reward_mean": round(batch.outcomes.mean().item(), 4),
            }
            curve.append(row)
            print(
                f"[tail-effect] update {update:>4}/{args.updates}  token critic 0.5·MSE {row['token_value_loss']:.4f}"
                f"  SPPO BCE {row['sppo_bce']:.4f}  reward {row['reward_mean']:.3f}",
                flush=True,
            )
    train_seconds = time.time() - t_train

    # Evaluation on fresh samples: the plotted numbers (graded: each level sampled apart, then put together).
    parts, level_of, cut_off = [], [], 0
    for level, n in zip(levels, _split(args.eval_samples, len(levels)), strict=True):
        if n == 0:
            continue
        batch = sample(policy, tokenizer, problems(n, level), args)
        cut_off += batch.cut_off
        with torch.no_grad():
            values = token_values(token_critic, batch).double()
            R = batch.outcomes.double()
            advantages, _ = gae(
                sparse_rewards(R, batch.response_mask), values, batch.response_mask, args.gamma, args.lam
            )
            p = torch.sigmoid(prompt_logits(sppo_critic, batch)).double()
        parts.append((values, advantages, batch.response_mask.double(), R, p))
        level_of += [level] * n
    values, advantages, mask = (_cat_padded([part[i] for part in parts]) for i in range(3))
    R, p = torch.cat([part[3] for part in parts]), torch.cat([part[4] for part in parts])
    sppo_adv = R - p
    classes = {"correct": R == 1, "incorrect": R == 0}
    lengths = mask.sum(-1)

    def by_class(x):
        return {
            name: {align: position_stats(x, mask, sel, align) for align in ("start", "end")}
            for name, sel in classes.items()
        }

    def flat(x):
        return {
            name: {
                "mean": x[sel].mean().item() if sel.any() else None,
                "std": x[sel].std(unbiased=False).item() if sel.any() else None,
                "count": int(sel.sum()),
            }
            for name, sel in classes.items()
        }

    result = {
        "config": {**asdict(args), "filler": FILLER if args.format == "padded" else None},
        "policy": {**policy_info, "eval_success_rate": R.mean().item()},
        "training": {"seconds": round(train_seconds, 1), "curve": curve},
        "eval": {
            "n": int(len(R)),
            "n_correct": int(classes["correct"].sum()),
            "n_incorrect": int(classes["incorrect"].sum()),
            "response_length": {
                "mean": lengths.mean().item(),
                "min": int(lengths.min()),
                "max": int(lengths.max()),
                "cut_off": cut_off,
            },
            "token_critic": {
                "values": by_class(values),
                "advantages": by_class(advantages),
                "explained_variance": {
                    align: position_explained_variance(values, R, mask, align) for align in ("start", "end")
                },
            },
            "sppo": {
                "p": flat(p),
                "advantage": flat(sppo_adv),
                "explained_variance": _json_number(explained_variance(p, R)),
                "by_level": _by_level(p, R, level_of),
            },
        },
    }
    result["seconds"] = round(time.time() - t_start, 1)
    stem = "tail_effect" if args.format == "plain" else f"tail_effect_{args.format}"
    result["files"] = {"png": str(out / f"{stem}.png"), "json": str(out / f"{stem}.json")}
    plot(result, out / f"{stem}.png")
    write_text_atomic(out / f"{stem}.json", json.dumps(result, indent=1))
    return result


def _levels(args: Args) -> list[int | None]:
    """Graded: the task's levels (one per training batch, in turn); a+b: one undivided pool (None)."""
    if args.format != "graded":
        return [None]
    from sppo_lab.graded.task import LEVELS

    return list(LEVELS)


def _split(n: int, parts: int) -> list[int]:
    """n as ``parts`` near-equal counts, the larger ones first: _split(12, 5) == [3, 3, 2, 2, 2]."""
    return [n // parts + (i < n % parts) for i in range(parts)]


def _cat_padded(xs: list[torch.Tensor]) -> torch.Tensor:
    """`(n_i, T_i)` tensors -> `(sum n_i, max T_i)`, zero-padded on the right (masked positions)."""
    width = max(x.shape[1] for x in xs)
    return torch.cat([F.pad(x, (0, width - x.shape[1])) for x in xs])


def _by_level(p: torch.Tensor, R: torch.Tensor, level_of: list[int | None]) -> dict | None:
    """Graded: per level, SPPO's mean σ(V(s_p)) beside the measured success (None for a+b)."""
    if level_of[0] is None:
        return None
    out = {}
    for level in sorted(set(level_of)):
        sel = torch.tensor([lv == level for lv in level_of])
        out[f"k{level}"] = {
            "sigmoid_v_mean": p[sel].mean().item(),
            "success": R[sel].mean().item(),
            "n": int(sel.sum()),
        }
    return out


def plot(result: dict, path: str | Path) -> None:
    """3 × 2 panels: V(s_t), GAE advantage, explained variance; positions from the start (left) and end (right).

    Positions reached by fewer than ``PLOT_MIN_COUNT`` responses of a class are left out of the figure
    (the JSON keeps them, with their counts).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    ev = result["eval"]
    cfg = result["config"]
    colors = {"correct": "tab:green", "incorrect": "tab:red"}
    fig, axes = plt.subplots(3, 2, figsize=(11, 10.5), sharex="col")
    for col, align in enumerate(("start", "end")):
        sign = 1 if align == "start" else -1
        for row, key in enumerate(("values", "advantages")):
            ax = axes[row, col]
            sppo_key = "p" if key == "values" else "advantage"
            for name, color in colors.items():
                stats = ev["token_critic"][key][name][align]
                rows = zip(stats["mean"], stats["std"], stats["count"], strict=True)
                pts = [(sign * t, m, s) for t, (m, s, c) in enumerate(rows) if c >= PLOT_MIN_COUNT]
                if pts:
                    xs, ms, ss = zip(*pts, strict=True)
                    ax.plot(
                        xs, ms, "o-", color=color, ms=3, label=f"token-level critic, {name} (n = {stats['count'][0]})"
                    )
                    lo = [m - s for m, s in zip(ms, ss, strict=True)]
                    hi = [m + s for m, s in zip(ms, ss, strict=True)]
                    ax.fill_between(xs, lo, hi, color=color, alpha=0.15)
                flat = ev["sppo"][sppo_key][name]
                if flat["mean"] is not None:
                    ax.axhline(
                        flat["mean"], color=color, ls="--", lw=1.5, label=f"SPPO (one number for every token), {name}"
                    )
            if key == "advantages":
                ax.axhline(0.0, color="black", lw=0.6)
            ax.grid(alpha=0.3)
        ax = axes[2, col]
        evs = ev["token_critic"]["explained_variance"][align]
        counts = [
            a + b for a, b in zip(*(ev["token_critic"]["values"][n][align]["count"] for n in colors), strict=True)
        ]
        pts = [
            (sign * t, v)
            for t, (v, c) in enumerate(zip(evs, counts, strict=True))
            if v is not None and c >= PLOT_MIN_COUNT
        ]
        if pts:
            ax.plot(*zip(*pts, strict=True), "o-", color="tab:blue", ms=3, label="token-level critic V(s_t)")
        if ev["sppo"]["explained_variance"] is not None:
            ax.axhline(ev["sppo"]["explained_variance"], color="tab:purple", ls="--", label="SPPO critic σ(V(s_p))")
        ax.axhline(0.0, color="black", lw=0.6)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(
            "response position t (s_t = prompt + first t response tokens)"
            if align == "start"
            else "position relative to the last response token (0 = the last, EOS)"
        )
    axes[0, 0].set_ylabel("value: V(s_t) token-level,\nσ(V(s_p)) SPPO")
    axes[1, 0].set_ylabel(f"advantage: GAE (γ={cfg['gamma']}, λ={cfg['lam']}),\nR − σ(V(s_p)) SPPO")
    axes[2, 0].set_ylabel("outcome variance explained\n1 − Var(R − V) / Var(R)")
    axes[0, 0].set_title("aligned at the response start", fontsize=10)
    axes[0, 1].set_title("aligned at the response end", fontsize=10)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    handles2, labels2 = axes[2, 0].get_legend_handles_labels()
    fig.legend(handles + handles2, labels + labels2, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(
        f"Token-level critic vs SPPO critic after {cfg['updates']} critic updates — format {cfg['format']}, "
        f"{ev['n']} fresh responses ({ev['n_correct']} correct), mean ± std;\n"
        f"positions reached by fewer than {PLOT_MIN_COUNT} responses of a class are not drawn",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
