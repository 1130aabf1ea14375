"""SPPO's critic through verl's own value engine, with remove-padding on (device-agnostic).

    python -m sppo_lab.gpu_check.engine_check --device cpu  --out engine.json   # fp32, gloo (a unit test)
    python -m sppo_lab.gpu_check.engine_check --device cuda --out engine.json   # bf16 mixed precision, nccl

Run it in a fresh process: verl picks its platform (and its FSDP engine module reads the device name) at
import time. The critic is built exactly as SPPO's trainer builds it: the project's hydra config
(``sppo/configs/sppo_trainer.yaml``, ``platform=cpu`` on CPU) composed with ``critic.model.use_remove_padding=True``,
turned into verl's ``CriticConfig`` with ``omega_conf_to_dataclass`` and handed to verl's ``TrainingWorker``
(model_type ``value_model``: ``EngineRegistry`` -> ``FSDPEngineWithValueHead``, FSDP2) on a single-rank
process group, instantiated in this process instead of as a Ray actor. SPPO's ``sppo_value_loss`` is
installed with ``set_loss_fn``, as the trainer does; batches are built with the trainer's ``prompt_only_batch``.

Assertions (see ``run``):
  value_engine                 the engine is verl's FSDPEngineWithValueHead with use_remove_padding on
  packed_forward_is_one_row    the packed forward fed the model ONE (1, total_tokens) row, no attention mask;
                               the padded one a (batch, max_len) block with a mask
  packed_eq_per_sequence       V(s_p) from the packed batch == each prompt alone
  packed_eq_padded             == the engine's padded (use_remove_padding=False) forward of the same batch
  packed_eq_prompt_response    == a packed prompt+response forward read at the last prompt token
  packing_boundaries_matter    control: packing WITHOUT per-sequence position restarts changes V by more
                               than the tolerance (so the equalities above can fail)
  bce_steps                    ``steps`` BCE steps through ``train_mini_batch``: finite, decreasing loss
  train_forward_packed         every training forward was one packed row
Tolerance: fp32 atol 1e-5. bf16 (CUDA): |Δ| <= 2e-2 + 2e-2·|V|: bf16 keeps 8 significant bits (a relative
rounding step of 2^-8 ≈ 0.004); the three forwards use different attention kernels (flash varlen, padded
flash with a mask, single sequences) and round activations in another order through two layers, the
norm and the head, so a few bf16 steps (≈ 0.01 at |V| ≈ 1) of disagreement are expected, a real
boundary leak is not small (the control measures it).
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from sppo_lab.gpu_check.report import assertion, loss_decreased, max_abs_diff, stage_result, within, write_json

# (a, b) operands of the bundled task's question "What is a+b?": digit counts vary the prompt length.
PAIRS = [(3, 4), (123456789, 98765), (12, 7), (1, 2345678), (123, 45), (31, 415926), (5, 6789), (99999, 1),
         (10, 10), (7, 0), (4567, 890), (2, 30), (888, 8), (64, 64), (90210, 5), (0, 0)]  # fmt: skip

TOLERANCES = {"float32": (1e-5, 0.0), "bfloat16": (2e-2, 2e-2)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _single_rank_env() -> None:
    """What verl's Worker and ``initialize_global_process_group_ray`` read: one rank, a local rendezvous."""
    for key, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1",
                       "MASTER_ADDR": "127.0.0.1"}.items():  # fmt: skip
        os.environ.setdefault(key, value)
    os.environ.setdefault("MASTER_PORT", str(_free_port()))


def select_platform(device: str) -> None:
    """CPU: activate SPPO's CPU extension (platform, engines, gloo, sdpa critic loader) before verl picks one."""
    if device == "cpu":
        os.environ["VERL_PLATFORM"] = "cpu"
        from sppo.cpu import activate

        activate()
    elif os.environ.get("VERL_PLATFORM", "").strip().lower() == "cpu":
        raise RuntimeError("VERL_PLATFORM=cpu is set: unset it for a CUDA engine check")
    from verl.utils.device import get_device_name

    if get_device_name() != device:
        raise RuntimeError(
            f"verl's platform is {get_device_name()!r}, not {device!r}: run this check in a fresh process"
        )


def compose_config(overrides: list[str]):
    """The project's training config (``sppo/configs/sppo_trainer.yaml`` on verl's ``ppo_trainer``), as sppo.main composes it."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from sppo.main import CONFIG_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        return compose("sppo_trainer", overrides=overrides)


def build_critic_dir(root: Path, hidden: int, layers: int, seed: int = 0) -> str:
    """A random tiny ``Qwen2ForTokenClassification`` critic (char tokenizer; init std 0.1, so attention
    mixes tokens strongly and a leak across packed sequences shows)."""
    import torch
    from transformers import Qwen2ForTokenClassification

    from sppo_lab.tiny import TinyQwen2, build_char_tokenizer, save

    tok = build_char_tokenizer()
    size = TinyQwen2(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                     intermediate_size=2 * hidden)  # fmt: skip
    torch.manual_seed(seed)
    model = Qwen2ForTokenClassification(size.config(tok, num_labels=1, initializer_range=0.1))
    return save(model, tok, root / "critic")


def task_prompts(tokenizer, n: int) -> list[list[int]]:
    """Chat-templated prompts of the bundled task, of different lengths."""
    from sppo_lab.quickstart.task import question

    out = []
    for a, b in (PAIRS * (n // len(PAIRS) + 1))[:n]:
        text = tokenizer.apply_chat_template([{"role": "user", "content": question(a, b)}], add_generation_prompt=True,
                                             tokenize=False)  # fmt: skip
        out.append(tokenizer(text, add_special_tokens=False)["input_ids"])
    return out


def _nested(rows):
    import torch

    return torch.nested.as_nested_tensor([torch.as_tensor(r, dtype=torch.int64) for r in rows], layout=torch.jagged)


class ValueEngineHarness:
    """verl's critic ``TrainingWorker`` in this process, plus a record of what the model was fed."""

    def __init__(self, critic_path: str, device: str, lr: float, grad_ckpt: bool, micro_batch: int):
        from verl.utils.config import omega_conf_to_dataclass
        from verl.workers.config import TrainingWorkerConfig

        from sppo.critic_loss import sppo_value_loss

        overrides = [
            f"critic.model.path={critic_path}",
            f"actor_rollout_ref.model.path={critic_path}",
            "critic.model.use_remove_padding=True",
            f"critic.model.enable_gradient_checkpointing={grad_ckpt}",
            f"critic.optim.lr={lr}",
            f"critic.ppo_micro_batch_size_per_gpu={micro_batch}",
            f"critic.ppo_mini_batch_size={micro_batch}",
        ]
        if device == "cpu":
            overrides.insert(0, "platform=cpu")
        self.config = compose_config(overrides)
        critic_cfg = omega_conf_to_dataclass(self.config.critic)
        # as verl's trainer does (trainer_base.py, "define critic class")
        critic_cfg.engine.infer_max_token_len_per_gpu = critic_cfg.ppo_infer_max_token_len_per_gpu
        critic_cfg.engine.max_token_len_per_gpu = critic_cfg.ppo_infer_max_token_len_per_gpu
        self.critic_cfg = critic_cfg
        _single_rank_env()
        from verl.workers.engine_workers import TrainingWorker

        self.worker = TrainingWorker(
            TrainingWorkerConfig(
                model_type="value_model",
                model_config=critic_cfg.model,
                engine_config=critic_cfg.engine,
                optimizer_config=critic_cfg.optim,
                checkpoint_config=critic_cfg.checkpoint,
            )
        )
        self.worker.reset()
        self.worker.set_loss_fn(partial(sppo_value_loss, config=critic_cfg))
        self.engine = self.worker.engine
        self.fed: list[dict[str, Any]] = []
        self.engine.module.register_forward_pre_hook(self._record, with_kwargs=True)

    def _record(self, module, args, kwargs):
        ids = kwargs.get("input_ids")
        self.fed.append({"shape": tuple(ids.shape) if ids is not None else None,
                         "attention_mask": kwargs.get("attention_mask") is not None})  # fmt: skip

    def _settings(self, td, remove_padding: bool, micro_batch: int) -> None:
        from verl.utils import tensordict_utils as tu

        tu.assign_non_tensor(td, temperature=1.0, use_remove_padding=remove_padding, use_dynamic_bsz=False,
                             micro_batch_size_per_gpu=micro_batch)  # fmt: skip

    def values(self, rows: list[list[int]], remove_padding: bool = True, positions: list[list[int]] | None = None):
        """Nested `(bs, len_i)` value-head outputs of ``rows`` in ONE micro-batch (``infer_batch``)."""
        import torch
        from verl.utils import tensordict_utils as tu

        from sppo.trainer import prompt_only_batch

        td = prompt_only_batch(_nested(rows), None, torch.ones(len(rows)))
        if positions is not None:
            td["position_ids"] = _nested(positions)
        self._settings(td, remove_padding, len(rows))
        tu.assign_non_tensor(td, compute_loss=False)
        return tu.get(self.worker.infer_batch(td), "values")

    def train_step(self, rows: list[list[int]], targets, micro_batch: int) -> dict[str, Any]:
        """One BCE mini-batch step (all rows) through ``train_mini_batch`` with SPPO's loss."""
        import torch
        from verl.utils import tensordict_utils as tu

        from sppo.critic_loss import TARGET_KEY, WEIGHT_KEY
        from sppo.trainer import prompt_only_batch

        weights = torch.ones(len(rows))
        td = prompt_only_batch(_nested(rows), None, weights)
        td[TARGET_KEY] = targets.float()
        td[WEIGHT_KEY] = weights
        self._settings(td, True, micro_batch)
        tu.assign_non_tensor(td, global_batch_size=len(rows), mini_batch_size=len(rows), epochs=1, seed=42,
                             dataloader_kwargs={"shuffle": False})  # fmt: skip
        return tu.get(self.worker.train_mini_batch(td), "metrics")


def _first(value):
    return float(value[0] if isinstance(value, (list, tuple)) else value)


def run(device: str, steps: int = 20, n_prompts: int = 8, hidden: int = 64, layers: int = 2, lr: float = 1e-3,
        grad_ckpt: bool = True, workdir: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Build the value engine, run the checks, return the stage result (see the module docstring)."""
    started = time.monotonic()
    select_platform(device)
    import torch

    from sppo.critic_loss import last_token_logits
    from sppo_lab.tiny import build_char_tokenizer

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    root = Path(workdir or tempfile.mkdtemp(prefix="sppo_engine_check_"))
    critic_path = build_critic_dir(root, hidden, layers)
    tok = build_char_tokenizer()
    micro = max(1, n_prompts // 2)  # two micro-batches per training step: gradient accumulation is exercised
    h = ValueEngineHarness(critic_path, device, lr, grad_ckpt, micro)
    build_s = time.monotonic() - started
    # the compute dtype the engine resolved (FSDP mixed precision param_dtype; it autocasts to it)
    dtype = "float32" if getattr(h.engine, "_autocast_dtype", torch.bfloat16) == torch.float32 else "bfloat16"
    atol, rtol = TOLERANCES[dtype]
    checks = []
    module = getattr(h.engine.module, "module", h.engine.module)
    attn = getattr(getattr(h.engine.module, "config", None), "_attn_implementation", None)
    checks.append(assertion(
        "value_engine",
        type(h.engine).__name__ == "FSDPEngineWithValueHead" and bool(h.engine.use_remove_padding),
        engine=type(h.engine).__name__, module=type(module).__name__, use_remove_padding=bool(h.engine.use_remove_padding),
        strategy=h.critic_cfg.engine.strategy, attn_implementation=attn, dtype=dtype,
        gradient_checkpointing=grad_ckpt, device=device,
    ))  # fmt: skip

    prompts = task_prompts(tok, n_prompts)
    lengths = [len(p) for p in prompts]
    total = sum(lengths)

    # packed, timed (3 forwards, the first one also warms up)
    h.fed.clear()
    t0 = time.monotonic()
    v_packed = last_token_logits(h.values(prompts, True)).float().cpu()
    packed_fed = list(h.fed)
    for _ in range(2):
        h.values(prompts, True)
    if device == "cuda":
        torch.cuda.synchronize()
    infer_s = (time.monotonic() - t0) / 3
    h.fed.clear()
    v_padded = last_token_logits(h.values(prompts, False)).float().cpu()
    padded_fed = list(h.fed)
    # nested values of a padded forward are already cut to each row's length: read the last entry
    v_single = torch.cat([last_token_logits(h.values([p], True)).float().cpu() for p in prompts])
    gen = torch.Generator().manual_seed(0)
    responses = [torch.randint(3, len(tok), (int(n),), generator=gen).tolist()
                 for n in torch.randint(1, 25, (len(prompts),), generator=gen)]  # fmt: skip
    full = [p + r for p, r in zip(prompts, responses)]
    v_full_rows = h.values(full, True).unbind()
    v_full = torch.stack([row[len(p) - 1] for row, p in zip(v_full_rows, prompts)]).float().cpu()
    # control: the same packed row with positions running on across sequences (no boundary information)
    run_on, offset = [], 0
    for n in lengths:
        run_on.append(list(range(offset, offset + n)))
        offset += n
    v_leak = last_token_logits(h.values(prompts, True, positions=run_on)).float().cpu()

    tol = {"atol": atol, "rtol": rtol}
    checks.append(assertion(
        "packed_forward_is_one_row",
        bool(packed_fed) and packed_fed[0]["shape"] == (1, total) and not packed_fed[0]["attention_mask"]
        and bool(padded_fed) and padded_fed[0]["shape"] == (len(prompts), max(lengths)) and padded_fed[0]["attention_mask"],
        packed_input=packed_fed[0] if packed_fed else None, padded_input=padded_fed[0] if padded_fed else None,
        total_tokens=total, prompt_lengths=lengths,
    ))  # fmt: skip
    for name, other in (("per_sequence", v_single), ("padded", v_padded), ("prompt_response", v_full)):
        checks.append(assertion(
            f"packed_eq_{name}", within(v_packed.tolist(), other.tolist(), atol, rtol),
            max_abs_diff=max_abs_diff(v_packed.tolist(), other.tolist()), **tol,
        ))  # fmt: skip
    checks.append(assertion(
        "packing_boundaries_matter", not within(v_leak.tolist(), v_single.tolist(), atol, rtol),
        max_abs_diff=max_abs_diff(v_leak.tolist(), v_single.tolist()), **tol,
    ))  # fmt: skip

    # BCE steps: a fixed batch with fixed 0/1 targets, the engine's optimizer (AdamW) and lr scheduler
    targets = torch.tensor([float(i % 3 == 0) for i in range(len(prompts))])
    if device == "cuda":
        torch.cuda.synchronize()
    h.fed.clear()
    losses, grad_norms = [], []
    t0 = time.monotonic()
    for _ in range(steps):
        metrics = h.train_step(prompts, targets, micro)
        losses.append(_first(metrics.get("critic/bce_loss", metrics.get("loss"))))
        grad_norms.append(_first(metrics.get("grad_norm", float("nan"))))
    if device == "cuda":
        torch.cuda.synchronize()
    train_s = time.monotonic() - t0
    decreased = loss_decreased(losses)
    passed = decreased.pop("passed")
    checks.append(assertion("bce_steps", passed, losses=losses, grad_norms=grad_norms, **decreased))
    train_shapes = [f["shape"] for f in h.fed]
    checks.append(assertion(
        "train_forward_packed", bool(train_shapes) and all(s is not None and s[0] == 1 for s in train_shapes),
        forwards=len(train_shapes), shapes=sorted(set(train_shapes)),
    ))  # fmt: skip

    if device == "cuda":
        peak = {"max_memory_allocated_gb": torch.cuda.max_memory_allocated() / 2**30,
                "max_memory_reserved_gb": torch.cuda.max_memory_reserved() / 2**30}  # fmt: skip
    else:
        peak = {"max_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
    measured = {
        "device": device, "dtype": dtype, "steps": steps, "prompts": len(prompts), "prompt_lengths": lengths,
        "critic": {"hidden": hidden, "layers": layers, "path": critic_path}, "v_packed": v_packed.tolist(),
        "infer_tokens_per_s": total / infer_s if infer_s > 0 else None,
        "train_tokens_per_s": total * steps / train_s if train_s > 0 else None,
        "build_s": build_s, "train_s": train_s, "total_s": time.monotonic() - started, **peak,
    }  # fmt: skip
    return stage_result("engine", checks, **measured)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sppo_lab.gpu_check.engine_check", description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=("cpu", "cuda"), default="cuda")
    p.add_argument("--out", required=True, help="write the stage result (JSON) here")
    p.add_argument("--steps", type=int, default=20, help="BCE steps (default 20)")
    p.add_argument("--prompts", type=int, default=8, help="prompts per batch (default 8)")
    p.add_argument("--hidden", type=int, default=64, help="critic hidden size (default 64)")
    p.add_argument("--layers", type=int, default=2, help="critic layers (default 2)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--no-grad-ckpt", action="store_true", help="gradient checkpointing off")
    p.add_argument("--workdir", default=None, help="where the tiny critic is written (default: a temp dir)")
    args = p.parse_args(argv)
    result = run(args.device, args.steps, args.prompts, args.hidden, args.layers, args.lr, not args.no_grad_ckpt,
                 args.workdir)  # fmt: skip
    write_json(result, args.out)
    failed = [a["name"] for a in result["assertions"] if not a["passed"]]
    print(f"engine check ({args.device}): {len(result['assertions']) - len(failed)}/{len(result['assertions'])} passed"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""))  # fmt: skip
    try:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
    except Exception:  # noqa: BLE001 - best effort at exit
        pass
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
