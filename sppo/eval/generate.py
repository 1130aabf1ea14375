"""``generate``: sample ``k`` responses per benchmark row, resumably, into a responses parquet.

    python -m sppo.eval generate --model MODEL_OR_CKPT --benchmarks all5 --data-dir data/offline_eval \
        --k 8 --out runs/eval/NAME [--temperature 0.6] [--top-p 1.0] [--max-tokens 8192] [--seed 0]

Output directory ``OUT``::

    meta.json                      settings, model, benchmark files (SHA-256), progress, seconds
    shards/<benchmark>/part-*.parquet   finished problems, appended atomically (tmp file + rename)
    responses.parquet              all shards, one row per sample (rewritten at the end of each run)
    model_hf/                      the merged model, when --model is an FSDP checkpoint

Resuming: the unit of work is a *problem* (all its rows x k samples). Its rows are written in one
shard file only when all of its samples are done, so a killed run loses at most the problems in
flight; on restart, problems present in the shards are skipped, and ``responses.parquet`` keeps one
row per (benchmark, problem_id, sample_idx). A restart with different settings (k, temperature,
top-p, max tokens, seed, limit, backend, model, or a changed benchmark file) is refused unless ``--force``
(which deletes the old samples); a ``meta.json`` without any finished sample (a run that failed before
producing anything) never blocks a rerun. A prompt longer than the model's context is refused before the
model is loaded (:func:`check_prompt_lengths`).

Row ``r``-th repeat of a problem (AIME24 repeats each problem 8 times) gets samples
``sample_idx = repeat * k + j`` for ``j < k``; every sample has its own seed
(:func:`sppo.eval.backends.sample_seed`), so the responses do not depend on interruptions.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sppo.cli_errors import write_json_atomic, write_parquet_atomic
from sppo.eval.backends import Backend, Request, SamplingSettings, sample_seed
from sppo.eval.benchmarks import Problem, file_digest, load_problems, resolve
from sppo.eval.errors import EvalError

RESPONSES = "responses.parquet"
META = "meta.json"
#: Columns of responses.parquet, in order.
COLUMNS = (
    "data_source", "benchmark", "problem_id", "sample_idx", "row_index", "prompt", "response",
    "ground_truth", "response_tokens", "truncated", "seed",
)  # fmt: skip
KEY = ["benchmark", "problem_id", "sample_idx"]


@dataclass
class GenerateConfig:
    """Settings of one ``generate`` run (the CLI flags)."""

    model: str
    """Model directory, verl checkpoint (training dir, global_step_N or its actor/) or hf://ORG/NAME."""
    benchmarks: list[str]
    """Benchmark names, suite names (official_val, all5) or parquet paths."""
    out: str
    """Output directory (resumed when it exists)."""
    data_dir: str = "data/offline_eval"
    """Where the official benchmark files are."""
    k: int = 1
    """Samples per benchmark row."""
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    """Temperature (0.6), top-p (1.0) and max tokens (8192)."""
    seed: int = 0
    """Base seed of the per-sample seeds."""
    limit: int | None = None
    """Only the first N problems of each benchmark."""
    stop_after: int | None = None
    """Stop after N problems in this invocation (the rest is done by a later run)."""
    backend: str = "auto"
    """auto (vLLM if importable with CUDA, else HF), vllm or hf."""
    merged_dir: str | None = None
    """Where an FSDP checkpoint is merged (default OUT/model_hf)."""
    backend_options: dict[str, Any] = field(default_factory=dict)
    """Extra keyword arguments of the vLLM backend (tensor_parallel_size, ...)."""
    force: bool = False
    """``out`` holds samples made with other settings: delete them and start again (else an error)."""

    def check(self) -> None:
        if self.k < 1:
            raise EvalError(f"--k must be >= 1, got {self.k}")
        if self.limit is not None and self.limit < 1:
            raise EvalError(f"--limit must be >= 1, got {self.limit}")
        if self.stop_after is not None and self.stop_after < 0:
            raise EvalError(f"--stop-after must be >= 0, got {self.stop_after}")
        if not self.benchmarks:
            raise EvalError("no benchmark given (--benchmarks NAME ...)")
        self.sampling.check()


# ------------------------------------------------------------------------------------ the store


def _shard_files(out: Path, names: Sequence[str]) -> list[Path]:
    root = out / "shards"
    return [p for name in names for p in sorted((root / name).glob("part-*.parquet"))]


def read_shards(out: Path, benchmarks: Sequence[str] | None = None) -> Any:
    """All finished samples under ``out/shards`` (temporary files ignored), one row per key."""
    import pandas as pd

    root = out / "shards"
    names = benchmarks if benchmarks is not None else sorted(p.name for p in root.glob("*") if p.is_dir())
    frames = []
    for path in _shard_files(out, names):
        try:
            frames.append(pd.read_parquet(path))
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a damaged file
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EvalError(f"{path}: corrupt shard ({first}); delete it and rerun to regenerate its problem") from None
    if not frames:
        return pd.DataFrame({c: [] for c in COLUMNS})
    frame = pd.concat(frames, ignore_index=True)
    return frame.drop_duplicates(KEY, keep="first").sort_values(KEY, kind="stable").reset_index(drop=True)


def _settings(config: GenerateConfig, backend: str, model: str) -> dict[str, Any]:
    """What must not change between a run and its resumption."""
    return {
        "model": model,
        "backend": backend,
        "k": config.k,
        "seed": config.seed,
        "limit": config.limit,
        **asdict(config.sampling),
    }


def _discard_samples(out: Path) -> None:
    """Delete what ``generate`` wrote under ``out`` (meta.json, responses.parquet, shards/): ``--force``."""
    import shutil

    for name in (META, RESPONSES):
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / "shards", ignore_errors=True)


def _open_meta(
    out: Path, settings: dict[str, Any], files: dict[str, dict[str, Any]], force: bool = False
) -> dict[str, Any]:
    """Load ``meta.json`` (refusing different settings or changed files unless ``force``) or start a new one.

    A ``meta.json`` without any finished sample (a run that failed before producing anything) never blocks
    a rerun: it is replaced.
    """
    path = out / META
    fresh = {"settings": settings, "benchmarks": dict(files), "generation_seconds": 0.0, "complete": False}
    if not path.is_file():
        return fresh
    has_samples = bool(list((out / "shards").glob("*/part-*.parquet")))
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        old_settings, old_files = meta["settings"], meta["benchmarks"]
        if not isinstance(old_settings, dict) or not isinstance(old_files, dict):
            raise TypeError("settings/benchmarks are not objects")
    except (ValueError, KeyError, TypeError) as exc:
        if not has_samples or force:
            _discard_samples(out)
            return fresh
        raise EvalError(
            f"{path}: corrupt meta.json ({exc}); use --force to start {out} again, or another --out"
        ) from None
    if not has_samples:
        return fresh
    changed = [f"{k}: {old_settings.get(k)!r} -> {v!r}" for k, v in settings.items() if old_settings.get(k) != v]
    for name, info in files.items():
        old = old_files.get(name)
        if old is not None and old.get("sha256") != info["sha256"]:
            changed.append(f"benchmark file {info['path']} changed")
    if changed:
        if force:
            _discard_samples(out)
            return fresh
        raise EvalError(
            f"{out} holds a run with other settings ({'; '.join(changed)}); use --force to replace it, or another --out"
        )
    for name, info in files.items():
        old_files.setdefault(name, info)
    return meta


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_weights(folder: Path) -> dict[str, tuple[int, ...]]:
    """The weight files of a model folder are complete enough to load: a safetensors header that covers its file,
    every shard an index names, a torch checkpoint that is a zip archive. Returns the stored shapes (safetensors
    only); raises :class:`EvalError`."""
    import zipfile

    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = folder / index_name
        if index.is_file():
            try:
                shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                raise EvalError(f"{index}: corrupt weight index ({type(exc).__name__}: {exc})") from None
            missing = [name for name in shards if not (folder / name).is_file()]
            if missing:
                raise EvalError(f"{folder}: weight shard {missing[0]} named by {index_name} is missing")
            files = [folder / name for name in shards]
            break
    else:
        files = [folder / name for name in ("model.safetensors", "pytorch_model.bin") if (folder / name).is_file()]
    shapes: dict[str, tuple[int, ...]] = {}
    for file in files:
        if file.suffix == ".safetensors":
            from safetensors import safe_open

            try:
                with safe_open(str(file), framework="pt") as handle:
                    for key in handle.keys():
                        shapes[key] = tuple(handle.get_slice(key).get_shape())
            except Exception as exc:  # noqa: BLE001 - safetensors raises its own error type for a damaged file
                raise EvalError(f"{file}: not a complete safetensors file ({_first_line(exc)})") from None
        elif not zipfile.is_zipfile(file):
            raise EvalError(f"{file}: not a complete PyTorch checkpoint (not a zip archive)")
    return shapes


def _check_shapes(model_path: str, config: Any, shapes: dict[str, tuple[int, ...]]) -> None:
    """Every weight stored under a parameter's own name has that parameter's shape (transformers would refuse the
    folder after printing a multi-line report). The model is built on the meta device: no memory, no weights."""
    if not shapes:
        return
    import torch
    from transformers import AutoModelForCausalLM

    try:
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
    except Exception:  # noqa: BLE001 - an architecture transformers cannot build here: the backend reports it
        return
    for name, tensor in model.state_dict().items():
        stored = shapes.get(name)
        if stored is not None and stored != tuple(tensor.shape):
            raise EvalError(
                f"--model {model_path}: weight {name} has shape {list(stored)} but config.json makes it "
                f"{list(tensor.shape)}; the weights and config.json come from different models"
            )


def check_model(model_path: str) -> tuple[Any, Any]:
    """``(config, tokenizer)`` of a local model folder, read before any model is loaded and before ``OUT`` is
    written: a corrupt or incomplete ``config.json``, weight file or tokenizer, and a tokenizer without a chat
    template (every problem is rendered with it), are one :class:`EvalError` line each."""
    from transformers import AutoConfig, AutoTokenizer

    folder = Path(model_path)
    try:
        config = AutoConfig.from_pretrained(model_path)
    except Exception as exc:  # noqa: BLE001 - transformers raises OSError, ValueError, KeyError, ...
        raise EvalError(f"--model {model_path}: config.json cannot be read ({_first_line(exc)})") from None
    _check_shapes(model_path, config, _check_weights(folder))
    tokenizer_files = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json")
    if not any((folder / name).is_file() for name in tokenizer_files):
        raise EvalError(f"--model {model_path}: no tokenizer files ({', '.join(tokenizer_files)}) in the folder")
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_path)
    except Exception as exc:  # noqa: BLE001 - transformers raises many types for a damaged tokenizer
        raise EvalError(f"--model {model_path}: the tokenizer cannot be loaded ({_first_line(exc)})") from None
    if not getattr(tokenizer, "chat_template", None):
        raise EvalError(
            f"--model {model_path}: the tokenizer has no chat template, and generate renders every problem with it "
            "(use the chat model's tokenizer files, or add a chat_template.jinja)"
        )
    return config, tokenizer


def _positions(config: Any) -> int | None:
    """The model's context length (``max_position_embeddings`` and the like) from its config, or None."""
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def check_prompt_lengths(model_path: str, problems: Sequence[Problem], max_tokens: int) -> None:
    """Check the model folder (:func:`check_model`) and refuse a prompt that does not fit its context, before
    any model is loaded.

    Raises :class:`EvalError` naming both lengths when a prompt (chat template included) has as many tokens as
    the model has positions or more; prints one warning when prompt + ``max_tokens`` exceeds them (the
    responses of those problems are cut by the context, not by ``--max-tokens``).
    """
    from sppo.eval.backends import chat_prompt_ids

    config, tokenizer = check_model(model_path)
    positions = _positions(config)
    if positions is None or not problems:
        return
    try:
        lengths = [(len(chat_prompt_ids(tokenizer, p.messages)), p) for p in problems]
    except Exception as exc:  # noqa: BLE001 - a chat template that fails on these messages
        raise EvalError(f"--model {model_path}: its chat template fails on the problems ({_first_line(exc)})") from None
    empty = next((p for n, p in lengths if n == 0), None)
    if empty is not None:
        raise EvalError(
            f"--model {model_path}: benchmark '{empty.benchmark}' problem {empty.problem_id} renders to 0 tokens "
            "(a broken tokenizer)"
        )
    longest, problem = max(lengths, key=lambda item: item[0])
    if longest >= positions:
        raise EvalError(
            f"benchmark '{problem.benchmark}' problem {problem.problem_id}: the prompt is {longest} tokens but the "
            f"model has {positions} positions (max_position_embeddings); use a model with a longer context"
        )
    over = sum(1 for n, _ in lengths if n + max_tokens > positions)
    if over:
        print(f"sppo.eval generate: warning: {over} prompt(s) + --max-tokens {max_tokens} exceed the model's "
              f"{positions} positions; their responses end at the context limit", flush=True)  # fmt: skip


# ----------------------------------------------------------------------------------- the driver

#: Seconds between two progress lines when stderr is not a terminal (logs, batch jobs); the last line always comes.
PROGRESS_INTERVAL_S = 10.0


class Progress:
    """One line on stdout per ``PROGRESS_INTERVAL_S`` seconds of generation (and one at the end) where no
    progress bar is drawn: ``sppo.eval generate: 12/40 problems done, 30 s, about 70 s left``."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        self.total, self.done, self.enabled = total, 0, enabled
        self.started = self.last = time.monotonic()

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if not self.enabled or (now - self.last < PROGRESS_INTERVAL_S and self.done < self.total):
            return
        self.last = now
        elapsed = now - self.started
        left = elapsed / self.done * (self.total - self.done)
        tail = f", about {left:.0f} s left" if self.done < self.total else ""
        print(f"sppo.eval generate: {self.done}/{self.total} problems done, {elapsed:.0f} s{tail}", flush=True)


def check_options(config: GenerateConfig, source: Any, backend_name: str) -> None:
    """Flags that do not apply to this run are refused instead of being silently ignored."""
    if config.merged_dir and source.kind != "fsdp":
        raise EvalError(
            f"--merged-dir is where an FSDP checkpoint is merged, and --model {config.model} needs no merge "
            f"({'a hub id' if source.kind == 'hub' else 'a Hugging Face model folder'}); drop --merged-dir"
        )
    vllm_only = [f"--{k.replace('_', '-')}" for k, v in config.backend_options.items() if v is not None]
    if vllm_only and backend_name != "vllm":
        raise EvalError(
            f"{' and '.join(vllm_only)} set the vLLM engine, and this run uses the {backend_name} backend "
            "(--backend vllm needs vllm and a CUDA device); drop them"
        )


def _load_backend(make_backend: Callable[..., Backend] | None, name: str, model_path: str, config: GenerateConfig):
    """The sampler; a model that cannot be loaded (weights that do not fit the config, ...) is one line."""
    from sppo.eval import backends

    if make_backend is not None:
        return make_backend(name, model_path, config.sampling)
    options = {k: v for k, v in config.backend_options.items() if v is not None}
    try:
        return backends.make_backend(name, model_path, config.sampling, **options)
    except (EvalError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - torch, safetensors, transformers, vLLM: many types
        raise EvalError(f"--model {model_path}: the model cannot be loaded ({_first_line(exc)})") from None


def _requests(backend: Backend, problem: Problem, k: int, seed: int) -> list[tuple[int, int, Request]]:
    """``(sample_idx, row_index, request)`` for every sample of one problem."""
    ids = backend.prompt_ids(problem.messages)
    out = []
    for repeat, row_index in enumerate(problem.row_indices):
        for j in range(k):
            sample_idx = repeat * k + j
            request = Request(ids, sample_seed(seed, problem.benchmark, problem.problem_id, sample_idx))
            out.append((sample_idx, row_index, request))
    return out


def _rows(problem: Problem, samples: list[tuple[int, int, Request]], completions: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "data_source": problem.data_source,
            "benchmark": problem.benchmark,
            "problem_id": problem.problem_id,
            "sample_idx": sample_idx,
            "row_index": row_index,
            "prompt": problem.prompt_text,
            "response": completion.text,
            "ground_truth": problem.ground_truth,
            "response_tokens": completion.num_tokens,
            "truncated": completion.truncated,
            "seed": request.seed,
        }
        for (sample_idx, row_index, request), completion in zip(samples, completions, strict=True)
    ]


def run(
    config: GenerateConfig, make_backend: Callable[[str, str, SamplingSettings], Backend] | None = None
) -> dict[str, Any]:
    """Generate what is missing under ``config.out``; returns the final ``meta.json`` content.

    Everything that can be checked (settings, benchmark files, model path) is checked before a
    model is loaded. ``make_backend(name, model, sampling)`` builds the sampler (tests pass fakes).
    """
    import pandas as pd
    from tqdm import tqdm

    from sppo.eval import backends, checkpoint

    config.check()
    out = Path(config.out)
    benchmarks = resolve(config.benchmarks, config.data_dir)
    problems = {name: load_problems(name, path, config.limit) for name, path in benchmarks}
    files = {
        name: {
            "path": str(path),
            "sha256": file_digest(path),
            "problems": len(problems[name]),
            "rows": sum(len(p.row_indices) for p in problems[name]),
        }
        for name, path in benchmarks
    }
    source = checkpoint.resolve_model(config.model)
    backend_name = backends.choose_backend(config.backend)
    check_options(config, source, backend_name)
    if make_backend is None and source.kind != "fsdp":  # an FSDP checkpoint is checked once merged, below
        check_prompt_lengths(source.path, [p for ps in problems.values() for p in ps], config.sampling.max_tokens)
    model_id = source.path if source.kind == "hub" else str(Path(source.path).resolve())
    out.mkdir(parents=True, exist_ok=True)
    meta = _open_meta(out, _settings(config, backend_name, model_id), files, force=config.force)
    meta["step"] = source.step
    write_json_atomic(out / META, meta, sort_keys=True)

    done = read_shards(out, [name for name, _ in benchmarks])
    done_keys = set(zip(done["benchmark"], done["problem_id"], done["sample_idx"]))
    pending = [
        p for name, _ in benchmarks for p in problems[name]
        if any((name, p.problem_id, s) not in done_keys for s in range(len(p.row_indices) * config.k))
    ]  # fmt: skip
    todo = pending if config.stop_after is None else pending[: config.stop_after]
    print(f"sppo.eval generate: {len(pending)} of {sum(map(len, problems.values()))} problems to do"
          + (f", {len(todo)} in this run" if len(todo) < len(pending) else ""), flush=True)  # fmt: skip

    started = time.monotonic()
    if todo:
        model_path = checkpoint.materialize(source, config.merged_dir or out / "model_hf")
        if make_backend is None and source.kind == "fsdp":
            check_prompt_lengths(model_path, todo, config.sampling.max_tokens)
        backend = _load_backend(make_backend, backend_name, model_path, config)
        bar = tqdm(total=len(todo), unit="problem", desc="generate", file=sys.stderr, dynamic_ncols=True, disable=None)
        progress = Progress(len(todo), enabled=bar.disable)  # no bar (stderr is not a terminal): lines on stdout
        for start in range(0, len(todo), max(1, backend.batch_problems)):
            batch = todo[start : start + max(1, backend.batch_problems)]
            per_problem = [_requests(backend, p, config.k, config.seed) for p in batch]
            completions = backend.generate([r for samples in per_problem for _, _, r in samples])
            offset = 0
            for problem, samples in zip(batch, per_problem, strict=True):
                rows = _rows(problem, samples, completions[offset : offset + len(samples)])
                offset += len(samples)
                shard = f"part-{problem.problem_id:06d}-{uuid.uuid4().hex[:8]}.parquet"
                write_parquet_atomic(
                    pd.DataFrame(rows, columns=list(COLUMNS)), out / "shards" / problem.benchmark / shard
                )
            bar.update(len(batch))
            progress.update(len(batch))
        bar.close()

    responses = read_shards(out, list(meta["benchmarks"]))
    write_parquet_atomic(responses[list(COLUMNS)], out / RESPONSES)
    expected = sum(info["rows"] for info in meta["benchmarks"].values()) * config.k
    meta["generation_seconds"] = meta.get("generation_seconds", 0.0) + (time.monotonic() - started)
    meta["samples"] = len(responses)
    meta["complete"] = len(responses) == expected
    write_json_atomic(out / META, meta, sort_keys=True)
    print(f"sppo.eval generate: {len(responses)} of {expected} samples in {out / RESPONSES}"
          + ("" if meta["complete"] else " (incomplete: run the same command again to continue)"))  # fmt: skip
    return meta
