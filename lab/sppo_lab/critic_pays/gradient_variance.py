"""The mechanism, measured directly: how much each baseline lowers the variance of a 16-sample policy gradient.

    python -m sppo_lab.critic_pays.gradient_variance --mix u_shaped \\
        --checkpoints warm runs/critic_pays/u_shaped/runs/sppo__lr2e-5__seed100/checkpoints/global_step_{20,40,60} \\
        [--prompts 256] [--samples 8] [--batches 2000] [--sketch-dim 16384] [--out benchmarks/results/critic_pays]

No Ray. For each checkpoint (``warm``: the mix's warm start with a fresh critic; otherwise a verl checkpoint folder
``global_step_N`` whose ``actor/`` and ``critic/`` are loaded), it samples ``--samples`` responses to each of
``--prompts`` training prompts of the mix (HF generate, temperature 1, as the rollout), scores them, and takes each
response's score s_i = ∇_θ Σ_t log π(y_t | x, y_<t) (one backward pass per response), compressed by a CountSketch
to ``--sketch-dim`` dimensions (inner products preserved in expectation). A 16-sample estimate, as one N = 1 training
step sees it, is g_B = Σ_{i∈B} a_i s_i / Σ_{i∈B} T_i (token-mean aggregation, T_i the response's tokens) over 16
distinct prompts, one response each. Baselines (a_i):

    none            R_i
    batch_mean      R_i − mean_B(R)
    reinforce_pp    verl's REINFORCE++ baseline at N = 1 (its own function): the token-weighted batch-whitened reward
    whiten          (R_i − mean_B R) / std_B(R)
    critic          R_i − σ(V(x_i)), the checkpoint's critic (SPPO)
    critic_whiten   R − σ(V) whitened over the batch (SPPO + whitening)
    oracle          R_i − p̂(x_i), the prompt's success over its OTHER samples (leave-one-out: unbiased)
    optimal         R_i − b*(x_i), b* = Σ_j R_j ‖s_j‖² / Σ_j ‖s_j‖² over the prompt's other samples

Reported per baseline: the estimator's total variance E‖g_B − E g_B‖², its mean squared error and mean cosine against
the full-sample gradient G (all responses, the oracle baseline; ``cosine_to_full_none``: against the full-sample
gradient without a baseline), and E[a²]. Per checkpoint: η² (share of outcome
variance the prompt explains, binomial noise removed; also token-weighted), mean ‖s‖² of correct vs wrong responses.
Writes ``gradient_variance.json`` (merged with what is there: one entry per mix and checkpoint) and a figure.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

from sppo.cli_errors import OneLineParser, UserError, guarded, positive_int, write_text_atomic
from sppo_lab.critic_pays import mixes
from sppo_lab.paths import RESULTS

PROG = "python -m sppo_lab.critic_pays.gradient_variance"
BASELINES = ("none", "batch_mean", "reinforce_pp", "whiten", "critic", "critic_whiten", "oracle", "optimal")
BATCH = 16


# ---------------------------------------------------------------------------------------------- pure statistics
def eta_squared_from_samples(outcomes: list[list[float]], tokens: list[list[int]] | None = None) -> float:
    """η² = Var_x(p) / (p̄(1 − p̄)) from ``outcomes[x]``: M 0/1 outcomes per prompt (equal M).

    Var_x(p) is the variance of the per-prompt means minus the binomial noise of a mean of M draws
    (E[p̂(1 − p̂)] / (M − 1)), so a prompt-free outcome gives η² ≈ 0. With ``tokens``, every sample weighs its
    response tokens (the token-mean loss's weighting): prompts weigh their total tokens, p̄ is token-weighted.
    """
    m = len(outcomes[0])
    if m < 2 or any(len(o) != m for o in outcomes):
        raise ValueError("need the same number (>= 2) of samples for every prompt")
    if tokens is None:
        tokens = [[1] * m for _ in outcomes]
    w = [sum(t) for t in tokens]
    p = [sum(r * ti for r, ti in zip(o, t, strict=True)) / sum(t) for o, t in zip(outcomes, tokens, strict=True)]
    total = sum(w)
    mean = sum(wi * pi for wi, pi in zip(w, p, strict=True)) / total
    between = sum(wi * (pi - mean) ** 2 for wi, pi in zip(w, p, strict=True)) / total
    noise = sum(wi * pi * (1 - pi) for wi, pi in zip(w, p, strict=True)) / total / (m - 1)
    denom = mean * (1 - mean)
    return max(0.0, between - noise) / denom if denom > 0 else 0.0


def leave_one_out_baselines(rewards, sq_norms, prompt_of):
    """Per sample: the oracle p̂ and the variance-optimal b* of its prompt over the prompt's OTHER samples.

    Args:
        rewards: `(n,)` 0/1 outcomes; sq_norms: `(n,)` ‖s_i‖²; prompt_of: `(n,)` int prompt index of each sample.
    Returns:
        (oracle `(n,)`, optimal `(n,)`); b* falls back to p̂ where the others' ‖s‖² sum to 0.
    """
    import torch

    n_prompts = int(prompt_of.max()) + 1
    r_sum = torch.zeros(n_prompts, dtype=torch.float64).index_add_(0, prompt_of, rewards)
    count = torch.zeros(n_prompts, dtype=torch.float64).index_add_(0, prompt_of, torch.ones_like(rewards))
    rs_sum = torch.zeros(n_prompts, dtype=torch.float64).index_add_(0, prompt_of, rewards * sq_norms)
    s_sum = torch.zeros(n_prompts, dtype=torch.float64).index_add_(0, prompt_of, sq_norms)
    others = (count[prompt_of] - 1).clamp(min=1)
    oracle = (r_sum[prompt_of] - rewards) / others
    s_others = s_sum[prompt_of] - sq_norms
    optimal = torch.where(s_others > 0, (rs_sum[prompt_of] - rewards * sq_norms) / s_others.clamp(min=1e-300), oracle)
    return oracle, optimal


def batch_advantages(name: str, rewards, tokens, critic_p, oracle, optimal):
    """`(16,)` advantages of one batch under baseline ``name`` (see the module docstring)."""
    import torch
    from verl.trainer.ppo.core_algos import get_adv_estimator_fn

    from sppo.advantage import sequence_advantage

    valid = torch.ones_like(rewards, dtype=torch.bool)
    if name == "none":
        return rewards
    if name == "batch_mean":
        return rewards - rewards.mean()
    if name == "whiten":
        return sequence_advantage(rewards, torch.zeros_like(rewards), valid, whiten=True)
    if name == "critic":
        return rewards - critic_p
    if name == "critic_whiten":
        return sequence_advantage(rewards, critic_p, valid, whiten=True)
    if name == "oracle":
        return rewards - oracle
    if name == "optimal":
        return rewards - optimal
    if name == "reinforce_pp":
        width = int(tokens.max())
        mask = (torch.arange(width)[None, :] < tokens[:, None]).float()
        token_rewards = torch.zeros(len(rewards), width)
        token_rewards[torch.arange(len(rewards)), tokens.long() - 1] = rewards.float()
        index = list(range(len(rewards)))  # one sample per prompt: each its own group, as at N = 1
        adv, _ = get_adv_estimator_fn("reinforce_plus_plus_baseline")(token_rewards, mask, index=index)
        return adv[:, 0].double()
    raise ValueError(f"unknown baseline {name!r}")


def estimator_statistics(
    sketches, rewards, tokens, critic_p, oracle, optimal, prompt_of, batches: int, seed: int = 0
) -> dict:
    """Variance, MSE and cosine to the full-sample gradient of each baseline's 16-sample estimate.

    Args:
        sketches: `(n, d)` sketched scores s_i; rewards, critic_p, oracle, optimal: `(n,)`; tokens: `(n,)` T_i;
        prompt_of: `(n,)` prompt index. A batch is 16 distinct prompts, one random sample of each.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    n_prompts = int(prompt_of.max()) + 1
    by_prompt = [torch.nonzero(prompt_of == x).flatten() for x in range(n_prompts)]
    # two references, each the full-sample (all responses) token-mean gradient: under the oracle baseline, and under
    # no baseline (the lowest-variance one when wrong responses carry the large score norms)
    full = ((rewards - oracle)[:, None] * sketches).sum(0) / tokens.sum()
    full_none = (rewards[:, None] * sketches).sum(0) / tokens.sum()
    picks = []
    for _ in range(batches):
        chosen = torch.randperm(n_prompts, generator=gen)[:BATCH]
        picks.append(
            torch.stack([by_prompt[x][torch.randint(len(by_prompt[x]), (1,), generator=gen)][0] for x in chosen])
        )
    out = {}
    for name in BASELINES:
        estimates, sq_adv = [], []
        for idx in picks:
            a = batch_advantages(name, rewards[idx], tokens[idx], critic_p[idx], oracle[idx], optimal[idx]).double()
            estimates.append((a[:, None] * sketches[idx]).sum(0) / tokens[idx].sum())
            sq_adv.append(float((a**2).mean()))
        g = torch.stack(estimates)
        mean = g.mean(0)
        variance = float(((g - mean) ** 2).sum(1).mean())
        mse = float(((g - full) ** 2).sum(1).mean())
        cosine = float(torch.nn.functional.cosine_similarity(g, full[None, :], dim=1).mean())
        cosine_none = float(torch.nn.functional.cosine_similarity(g, full_none[None, :], dim=1).mean())
        out[name] = {
            "variance": variance,
            "mse": mse,
            "cosine_to_full": cosine,
            "cosine_to_full_none": cosine_none,
            "mean_sq_advantage": sum(sq_adv) / len(sq_adv),
            "bias_sq": float(((mean - full) ** 2).sum()),
        }
    ref = out["none"]["variance"]
    for name in BASELINES:
        out[name]["variance_vs_none"] = out[name]["variance"] / ref if ref > 0 else math.nan
    return out


# ---------------------------------------------------------------------------------------------- models and sampling
def count_sketch(model, dim: int, seed: int = 0):
    """(bucket `(P,)`, sign `(P,)`) for the model's P parameters: s ↦ Σ sign·s into ``dim`` buckets."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return torch.randint(dim, (total,), generator=gen), torch.randint(0, 2, (total,), generator=gen).double() * 2 - 1


def load_checkpoint(spec: str, mix: str, work: Path):
    """(policy, tokenizer, critic) for ``warm`` (the mix's warm start, a fresh critic of seed 0) or a verl
    ``global_step_N`` folder (its actor and critic)."""
    import torch
    from transformers import AutoConfig, AutoModelForTokenClassification

    from sppo_lab.graded.evaluate import load_policy, one_rank_state
    from sppo_lab.tiny import build_critic

    if spec == "warm":
        folder = work / "gradient_variance" / mix / "warm_policy"
        if not (folder / "config.json").exists():
            mixes.install_warm_start(mix, folder)
        policy, tokenizer = load_policy(folder)
        torch.manual_seed(0)
        return policy, tokenizer, build_critic(tokenizer, seed=0).float().eval()
    path = Path(spec)
    if not (path / "actor").is_dir() or not (path / "critic").is_dir():
        raise UserError(f"--checkpoints {spec}: not 'warm' nor a verl global_step_N folder with actor/ and critic/")
    policy, tokenizer = load_policy(path / "actor")
    hf = path / "critic" / "huggingface"
    critic = AutoModelForTokenClassification.from_config(AutoConfig.from_pretrained(hf), dtype=torch.float32)
    critic.load_state_dict(one_rank_state(path / "critic"))
    return policy, tokenizer, critic.eval()


def sample_responses(policy, tokenizer, prompts: list[list[int]], samples: int, seed: int):
    """Per response: (prompt index, prompt ids, response ids incl. EOS, reward)."""
    import torch

    from sppo_lab.graded import reward, task
    from sppo_lab.graded.warmup import generate, generated_length, prompt_ids

    torch.manual_seed(seed)
    eos = tokenizer.eos_token_id
    out = []
    chunk = 128
    items = [(x, terms) for x, terms in enumerate(prompts) for _ in range(samples)]
    for start in range(0, len(items), chunk):
        part = items[start : start + chunk]
        encoded = [prompt_ids(tokenizer, terms) for _, terms in part]
        for (x, terms), e, row in zip(
            part, encoded, generate(policy, tokenizer, encoded, mixes.MAX_RESPONSE_LENGTH), strict=True
        ):
            n, _ = generated_length(row, eos)
            text = tokenizer.decode(row[:n], skip_special_tokens=True)
            r = reward.compute_score(task.data_source(len(terms)), text, str(sum(terms)))
            out.append((x, e, row[:n], float(r)))
    return out


def sequence_scores(policy, responses, bucket, sign, dim: int):
    """`(n, dim)` sketched ∇ Σ_t log π(y_t) per response, `(n,)` exact ‖s‖², `(n,)` response tokens."""
    import torch

    params = [p for p in policy.parameters() if p.requires_grad]
    sketches = torch.zeros(len(responses), dim, dtype=torch.float64)
    sq = torch.zeros(len(responses), dtype=torch.float64)
    tokens = torch.zeros(len(responses), dtype=torch.float64)
    for i, (_, prompt, response, _) in enumerate(responses):
        ids = torch.tensor([prompt + response])
        logits = policy(input_ids=ids).logits[0, len(prompt) - 1 : -1].float()
        logp = torch.log_softmax(logits, -1).gather(1, torch.tensor(response)[:, None]).sum()
        grads = torch.autograd.grad(logp, params, allow_unused=True)
        flat = torch.cat(
            [(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params, strict=True)]
        ).double()
        sq[i] = float((flat**2).sum())
        sketches[i].index_add_(0, bucket, flat * sign)
        tokens[i] = len(response)
    return sketches, sq, tokens


def critic_probs(critic, tokenizer, prompts: list[list[int]]):
    """`(n_prompts,)` σ(V(s_p)): the value head at the last prompt token (prompt-only, as SPPO's critic reads)."""
    import torch

    from sppo_lab.graded.warmup import prompt_ids

    out = []
    with torch.no_grad():
        for terms in prompts:
            ids = torch.tensor([prompt_ids(tokenizer, terms)])
            out.append(torch.sigmoid(critic(input_ids=ids).logits[0, -1, 0].float()))
    return torch.stack(out).double()


def measure_checkpoint(spec: str, args) -> dict:
    import torch

    torch.set_num_threads(1)
    t0 = time.time()
    policy, tokenizer, critic = load_checkpoint(spec, args.mix, Path(args.work))
    prompts = mixes.train_prompts(args.mix, n=args.prompts, seed=1000)  # not the training stream's prompts
    responses = sample_responses(policy, tokenizer, prompts, args.samples, seed=args.seed)
    bucket, sign = count_sketch(policy, args.sketch_dim, seed=args.seed)
    sketches, sq, tokens = sequence_scores(policy, responses, bucket, sign, args.sketch_dim)
    rewards = torch.tensor([r for *_, r in responses], dtype=torch.float64)
    prompt_of = torch.tensor([x for x, *_ in responses])
    p_critic = critic_probs(critic, tokenizer, prompts)[prompt_of]
    oracle, optimal = leave_one_out_baselines(rewards, sq, prompt_of)
    stats = estimator_statistics(
        sketches, rewards, tokens, p_critic, oracle, optimal, prompt_of, args.batches, args.seed
    )
    outcomes = [[float(rewards[i]) for i in torch.nonzero(prompt_of == x).flatten()] for x in range(len(prompts))]
    token_counts = [[int(tokens[i]) for i in torch.nonzero(prompt_of == x).flatten()] for x in range(len(prompts))]
    correct = rewards > 0.5
    levels = {}
    for k in mixes.levels(args.mix):
        sel = torch.tensor([len(prompts[int(x)]) == k for x in prompt_of])
        if sel.any():
            levels[str(k)] = {
                "success": float(rewards[sel].mean()),
                "sigmoid_v_mean": float(p_critic[sel].mean()),
                "tokens_mean": float(tokens[sel].mean()),
                "sq_norm_correct": float(sq[sel & correct].mean()) if (sel & correct).any() else None,
                "sq_norm_wrong": float(sq[sel & ~correct].mean()) if (sel & ~correct).any() else None,
            }
    return {
        "checkpoint": spec if spec == "warm" else Path(spec).name,
        "responses": len(responses),
        "prompts": len(prompts),
        "samples_per_prompt": args.samples,
        "success": float(rewards.mean()),
        "eta2": eta_squared_from_samples(outcomes),
        "eta2_token_weighted": eta_squared_from_samples(outcomes, token_counts),
        "sq_norm_correct": float(sq[correct].mean()) if correct.any() else None,
        "sq_norm_wrong": float(sq[~correct].mean()) if (~correct).any() else None,
        "tokens_correct": float(tokens[correct].mean()) if correct.any() else None,
        "tokens_wrong": float(tokens[~correct].mean()) if (~correct).any() else None,
        "levels": levels,
        "baselines": stats,
        "batches": args.batches,
        "sketch_dim": args.sketch_dim,
        "seconds": round(time.time() - t0, 1),
    }


def main(argv=None) -> int:
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--mix", choices=list(mixes.MIXES), required=True)
    parser.add_argument("--checkpoints", nargs="+", required=True, help="'warm' and/or verl global_step_N folders")
    parser.add_argument("--prompts", type=positive_int, default=256)
    parser.add_argument("--samples", type=positive_int, default=8, help="responses per prompt (>= 2)")
    parser.add_argument("--batches", type=positive_int, default=2000, help="16-sample estimates per baseline")
    parser.add_argument("--sketch-dim", type=positive_int, default=16384)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default="runs/critic_pays", help="scratch folder (the installed warm start)")
    parser.add_argument("--out", default=str(RESULTS / "critic_pays"), help="folder of gradient_variance.json")
    argv = sys.argv[1:] if argv is None else argv

    def body() -> int:
        args = parser.parse_args(argv)
        if args.samples < 2:
            raise UserError(f"{PROG}: --samples must be >= 2 (the oracle baseline leaves one sample out)")
        if args.prompts < BATCH:
            raise UserError(f"{PROG}: --prompts must be >= {BATCH} (a batch holds {BATCH} distinct prompts)")
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        path = out / "gradient_variance.json"
        results = json.loads(path.read_text()) if path.exists() else {}
        for spec in args.checkpoints:
            print(f"[gradient variance] {args.mix} {spec}: sampling {args.prompts} x {args.samples} ...", flush=True)
            entry = measure_checkpoint(spec, args)
            results.setdefault(args.mix, {})[entry["checkpoint"]] = entry
            write_text_atomic(path, json.dumps(results, indent=1) + "\n")  # after every checkpoint: resumable
            rows = ", ".join(f"{b} {entry['baselines'][b]['variance_vs_none']:.2f}" for b in BASELINES)
            print(
                f"[gradient variance] {entry['checkpoint']}: success {entry['success']:.2f}, eta2 {entry['eta2']:.2f} "
                f"(token-weighted {entry['eta2_token_weighted']:.2f}); variance vs none: {rows} ({entry['seconds']:.0f} s)",
                flush=True,
            )
        return 0

    return guarded(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
