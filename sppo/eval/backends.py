"""Two samplers behind one small interface: vLLM on GPU, Hugging Face ``generate`` elsewhere.

A backend turns a list of :class:`Request` (prompt token ids and a per-sample seed) into one
:class:`Completion` per request, in order. The sample drawn for a request depends only on the
model, the prompt, the sampling settings and the request's seed, never on what else is in the
batch (vLLM: ``SamplingParams.seed``; HF: one ``torch.Generator`` per row, see
:class:`SeededSampler`), so a resumed run draws the same samples as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sppo.eval.errors import EvalError

BACKENDS = ("auto", "vllm", "hf")


@dataclass(frozen=True)
class SamplingSettings:
    """How responses are sampled (defaults: the paper's evaluation, temperature 0.6, 8192 tokens)."""

    temperature: float = 0.6
    """Softmax temperature; 0 means greedy decoding."""
    top_p: float = 1.0
    """Nucleus sampling: keep the smallest set of tokens whose probability reaches top_p."""
    max_tokens: int = 8192
    """Most tokens generated per response (the end-of-sequence token included)."""

    def check(self) -> None:
        """Raise :class:`EvalError` for an out-of-range setting."""
        if not self.temperature >= 0:
            raise EvalError(f"--temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise EvalError(f"--top-p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise EvalError(f"--max-tokens must be >= 1, got {self.max_tokens}")


@dataclass(frozen=True)
class Request:
    """One sample to draw: ``prompt_ids`` (chat template applied) and its own ``seed``."""

    prompt_ids: list[int]
    seed: int


@dataclass(frozen=True)
class Completion:
    """One response: decoded ``text`` (special tokens removed), ``num_tokens`` generated (EOS
    included) and ``truncated`` (stopped by ``max_tokens`` before an end-of-sequence token)."""

    text: str
    num_tokens: int
    truncated: bool


class Backend(Protocol):
    """What :mod:`sppo.eval.generate` needs from a sampler."""

    name: str
    batch_problems: int
    """How many problems to send per :meth:`generate` call (results are saved after each call)."""

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]: ...

    def generate(self, requests: Sequence[Request]) -> list[Completion]: ...


def sample_seed(seed: int, benchmark: str, problem_id: int, sample_idx: int) -> int:
    """The seed of one sample: 63 bits of SHA-256 of ``(seed, benchmark, problem_id, sample_idx)``."""
    blob = f"{seed}/{benchmark}/{problem_id}/{sample_idx}".encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "big") & (2**63 - 1)


def chat_prompt_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of ``messages`` with the tokenizer's chat template and the generation prompt."""
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def vllm_usable() -> bool:
    """vLLM importable and a CUDA device present."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def choose_backend(name: str) -> str:
    """``auto`` -> ``vllm`` when :func:`vllm_usable`, else ``hf``; ``vllm`` without it is an error."""
    if name not in BACKENDS:
        raise EvalError(f"unknown backend '{name}' (allowed: {', '.join(BACKENDS)})")
    if name == "auto":
        return "vllm" if vllm_usable() else "hf"
    if name == "vllm" and not vllm_usable():
        raise EvalError("--backend vllm needs vllm installed and a CUDA device (pip install 'sppo[gpu]')")
    return name


def make_backend(name: str, model: str, settings: SamplingSettings, **options: Any) -> Backend:
    """Build the backend ``name`` (``vllm``/``hf``, after :func:`choose_backend`) for ``model``."""
    if name == "vllm":
        return VLLMBackend(model, settings, **options)
    return HFBackend(model, settings)


# ----------------------------------------------------------------------------------------------- HF


class SeededSampler:
    """A ``transformers`` logits processor that samples each row with its own ``torch.Generator``.

    Used with greedy decoding (``do_sample=False``): it draws the next token of row ``b`` from
    ``softmax(scores[b] / temperature)`` restricted to the top-p nucleus, using generator ``b``, and
    returns scores that are 0 for that token and -inf elsewhere, so the greedy step picks it.
    Sampling runs in float32 on the CPU, so a row's draws do not depend on the device or batch.

    Args:
        generators: one per row of the batch, shape ``(batch,)``.
        temperature: > 0 samples; 0 takes the argmax.
        top_p: nucleus mass in (0, 1].
    """

    def __init__(self, generators: Sequence[Any], temperature: float, top_p: float) -> None:
        self.generators = list(generators)
        self.temperature = temperature
        self.top_p = top_p

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        """``scores``: ``(batch, vocab)`` logits -> ``(batch, vocab)`` one-hot log-probabilities."""
        import torch

        logits = scores.detach().float().cpu()
        if self.temperature == 0:
            chosen = logits.argmax(dim=-1)
        else:
            probs = torch.softmax(logits / self.temperature, dim=-1)
            if self.top_p < 1:
                sorted_probs, order = probs.sort(dim=-1, descending=True)
                before = sorted_probs.cumsum(dim=-1) - sorted_probs  # mass strictly before each token
                sorted_probs[before >= self.top_p] = 0  # the top token always stays (before = 0)
                probs = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
            chosen = torch.stack(
                [torch.multinomial(probs[b], 1, generator=g)[0] for b, g in enumerate(self.generators)]
            )
        out = torch.full_like(scores, float("-inf"))
        out[torch.arange(len(chosen)), chosen.to(scores.device)] = 0
        return out


class HFBackend:
    """Hugging Face ``generate`` on CUDA if available, else CPU (float32 on CPU, bfloat16 on GPU).

    One :meth:`generate` call runs its requests as one left-padded batch; the generation driver
    sends one problem at a time (``batch_problems = 1``), whose samples share a prompt.
    """

    name = "hf"
    batch_problems = 1

    def __init__(self, model: str, settings: SamplingSettings) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.settings = settings
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=dtype).to(self.device).eval()
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if self.tokenizer.eos_token_id is not None:
            eos_ids.add(self.tokenizer.eos_token_id)
        if not eos_ids:
            raise EvalError(f"{model}: no end-of-sequence token in the tokenizer or generation config")
        self.eos_ids = sorted(eos_ids)
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else self.eos_ids[0]
        # Sampling is fully given by our settings (as for vLLM, which ignores the model's file when
        # SamplingParams are passed): drop generation_config.json's defaults (top_k, repetition
        # penalty, ...) so that generate() cannot merge them into ours.
        from transformers import GenerationConfig

        self.model.generation_config = GenerationConfig(eos_token_id=self.eos_ids, pad_token_id=self.pad_id)

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        return chat_prompt_ids(self.tokenizer, messages)

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList

        width = max(len(r.prompt_ids) for r in requests)
        ids = torch.full((len(requests), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(requests), width), dtype=torch.long)
        for b, request in enumerate(requests):  # left padding
            ids[b, width - len(request.prompt_ids) :] = torch.tensor(request.prompt_ids)
            mask[b, width - len(request.prompt_ids) :] = 1
        generators = [torch.Generator().manual_seed(r.seed) for r in requests]
        config = GenerationConfig(
            do_sample=False,
            max_new_tokens=self.settings.max_tokens,
            eos_token_id=self.eos_ids,
            pad_token_id=self.pad_id,
            temperature=None,
            top_p=None,
            top_k=None,
        )
        sampler = SeededSampler(generators, self.settings.temperature, self.settings.top_p)
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=ids.to(self.device),
                attention_mask=mask.to(self.device),
                generation_config=config,
                logits_processor=LogitsProcessorList([sampler]),
            )
        completions = []
        for row in out[:, width:].tolist():
            stop = next((i for i, t in enumerate(row) if t in self.eos_ids), None)
            tokens = row if stop is None else row[:stop]
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            completions.append(Completion(text, len(row) if stop is None else stop + 1, stop is None))
        return completions


# --------------------------------------------------------------------------------------------- vLLM


class VLLMBackend:
    """vLLM's offline ``LLM`` engine; every request carries its own ``SamplingParams.seed``."""

    name = "vllm"

    def __init__(
        self,
        model: str,
        settings: SamplingSettings,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.85,
        batch_problems: int = 256,
    ) -> None:
        from vllm import LLM

        self.settings = settings
        self.batch_problems = batch_problems
        self.llm = LLM(
            model=model,
            tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization,
            enable_prefix_caching=True,
        )
        self.tokenizer = self.llm.get_tokenizer()

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        return chat_prompt_ids(self.tokenizer, messages)

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        from vllm import SamplingParams

        params = [
            SamplingParams(
                n=1,
                temperature=self.settings.temperature,
                top_p=self.settings.top_p,
                max_tokens=self.settings.max_tokens,
                seed=r.seed,
            )
            for r in requests
        ]
        prompts = [{"prompt_token_ids": r.prompt_ids} for r in requests]
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        completions = []
        for output in outputs:
            sample = output.outputs[0]
            completions.append(Completion(sample.text, len(sample.token_ids), sample.finish_reason == "length"))
        return completions
