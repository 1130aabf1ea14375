"""Per-level held-out success of a graded-task policy: a Hugging Face model folder or a verl checkpoint.

    python -m sppo_lab.graded.evaluate --model runs/quickstart_graded/checkpoints [--out report.json] [--samples 8]

The measurement is the warm-up report's (``sppo_lab.graded.warmup.evaluate``: 16 held-out prompts a level,
``--samples`` each, HF generate at temperature 1.0, no top-k / top-p, at most 128 new tokens), so a trained
policy is compared with its warm-up on the same prompts. A verl training folder (its latest
``global_step_N/``), ``global_step_N/`` or ``global_step_N/actor/`` is read in full precision from the actor's
single FSDP shard (``model_world_size_1_rank_0.pt``; runs with one data-parallel rank, as on CPU).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sppo.cli_errors import (
    OneLineParser,
    UserError,
    check_output_file,
    guarded,
    nonneg_int,
    positive_int,
    write_text_atomic,
)

PROG = "python -m sppo_lab.graded.evaluate"


def actor_dir(path: Path) -> Path:
    """The FSDP actor folder of a verl training folder / ``global_step_N`` / actor folder."""
    tracker = path / "latest_checkpointed_iteration.txt"
    if tracker.is_file():
        step = tracker.read_text(errors="replace").strip()
        if not step.isdigit():
            raise UserError(f"{tracker}: expected a step number, got {step[:40]!r}")
        path = path / f"global_step_{int(step)}"
    if (path / "actor").is_dir():
        path = path / "actor"
    if not (path / "model_world_size_1_rank_0.pt").is_file() or not (path / "huggingface" / "config.json").is_file():
        raise UserError(
            f"--model {path}: not an HF model folder nor a one-rank verl actor checkpoint "
            "(model_world_size_1_rank_0.pt + huggingface/config.json)"
        )
    return path


def load_policy(model: str | Path):
    """(model, tokenizer) in float32 from an HF folder or a one-rank verl actor checkpoint."""
    path = Path(model)
    if not path.exists():
        raise UserError(f"--model {path}: no such file or directory")
    is_hf = (path / "config.json").is_file() and (path / "model.safetensors").is_file()
    actor = None if is_hf else actor_dir(path)

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder = path if actor is None else actor / "huggingface"
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except Exception as exc:  # noqa: BLE001 - transformers raises many types for damaged tokenizer files
        raise UserError(f"--model {folder}: the tokenizer cannot be loaded ({_first_line(exc)})") from None
    if not getattr(tokenizer, "chat_template", None):
        raise UserError(
            f"--model {folder}: the tokenizer has no chat template (the task's prompts are rendered with it)"
        )
    try:
        if actor is None:
            return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval(), tokenizer
        policy = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder), dtype=torch.float32)
        missing, unexpected = policy.load_state_dict(one_rank_state(actor), strict=False)
    except (KeyboardInterrupt, UserError):
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged config, weight file or shard: torch/transformers types
        raise UserError(f"--model {path}: the model cannot be loaded ({_first_line(exc)})") from None
    if unexpected or [m for m in missing if "lm_head" not in m]:
        raise UserError(
            f"--model {actor}: weights do not fit the model (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    policy.tie_weights()
    return policy.eval(), tokenizer


def one_rank_state(role_dir: Path) -> dict:
    """The float32 state dict of a one-rank verl FSDP checkpoint folder (``actor/`` or ``critic/``)."""
    import torch

    shard = torch.load(role_dir / "model_world_size_1_rank_0.pt", map_location="cpu", weights_only=False)
    # verl saves FSDP2 DTensors; with one rank each local tensor is the whole parameter
    return {k: (v._local_tensor if hasattr(v, "_local_tensor") else v).float() for k, v in shard.items()}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def evaluate_model(model: str | Path, samples: int = 8, seed: int = 0) -> dict:
    policy, tokenizer = load_policy(model)  # checks the path before the heavy imports
    import torch

    from sppo_lab.graded import task
    from sppo_lab.graded.warmup import evaluate

    torch.set_num_threads(1)
    return evaluate(policy, tokenizer, task.held_out_prompts(16, seed=0), samples=samples, seed=seed)


def _run(argv) -> int:
    p = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, type=Path, help="HF model folder or verl checkpoint folder")
    p.add_argument("--out", type=Path, help="write the per-level report here (JSON)")
    p.add_argument("--samples", type=positive_int, default=8, help="samples per held-out prompt (16 a level)")
    p.add_argument("--seed", type=nonneg_int, default=0, help="sampling seed")
    args = p.parse_args(argv)
    if args.out:
        check_output_file(args.out)  # before minutes of evaluation
    levels = evaluate_model(args.model, args.samples, args.seed)
    text = json.dumps({"model": str(args.model), "levels": levels}, indent=1)
    if args.out:
        write_text_atomic(args.out, text)
    for k, r in levels.items():
        print(f"k={k:>2}: success {r['success']:.3f} ({r['samples']} samples), {r['mean_response_tokens']:.1f} tokens")
    return 0


def main(argv=None) -> int:
    """Exit code 0, 2 (bad input: one line on stderr), 130 (interrupted)."""
    return guarded(PROG, lambda: _run(argv))


if __name__ == "__main__":
    sys.exit(main())
