"""Tiny models and tokenizers built from a config (nothing is downloaded): for the quickstart and tests.

The tokenizer is byte-level (one token per byte) plus ChatML's special tokens, wrapped in
``PreTrainedTokenizerFast`` with a ChatML chat template, so verl's ``RLHFDataset`` and agent loop treat it
like a real chat tokenizer. Models are random ``Qwen2`` policies and ``Qwen2ForTokenClassification``
critics (``num_labels=1``), the classes verl loads for the actor and the value model.

For a critic of ANOTHER family (``sppo.critic_retokenize``): ``build_inst_tokenizer`` (a Mistral-style
``<s>[INST] ... [/INST]`` template, other special tokens, another id order and a few merges, so the same
prompt gets other ids and fewer tokens) and ``build_llama_critic`` (``LlamaForTokenClassification``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_char_tokenizer():
    """A byte-level BPE tokenizer with no merges (one token per byte) and ChatML specials; EOS is ``<|im_end|>``.

    Its pipeline is Qwen2's (byte-level pre-tokenizer and decoder), so transformers' ``Qwen2Tokenizer``, which
    ``AutoTokenizer`` picks for a directory holding a qwen2 ``config.json``, loads it faithfully.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    byte_symbols = pre_tokenizers.ByteLevel.alphabet()
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for sym in sorted(byte_symbols):
        vocab[sym] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


@dataclass
class TinyDecoder:
    """Size of a tiny decoder-only transformer; subclasses name the family (its config class and token ids)."""

    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    max_position_embeddings: int = 512

    def family_config(self, tokenizer) -> tuple[type, dict]:
        raise NotImplementedError

    def config(self, tokenizer, **extra):
        config_class, family_kwargs = self.family_config(tokenizer)
        return config_class(
            vocab_size=len(tokenizer),
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            num_key_value_heads=self.num_key_value_heads,
            intermediate_size=self.intermediate_size,
            max_position_embeddings=self.max_position_embeddings,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            torch_dtype="float32",
            **family_kwargs,
            **extra,
        )


@dataclass
class TinyQwen2(TinyDecoder):
    """A tiny Qwen2 (defaults: the quickstart policy, ~0.4 M parameters)."""

    hidden_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    intermediate_size: int = 256

    def family_config(self, tokenizer) -> tuple[type, dict]:
        from transformers import Qwen2Config

        return Qwen2Config, {"tie_word_embeddings": True, "bos_token_id": None}


def build_policy(tokenizer, size: TinyQwen2 = TinyQwen2(), seed: int = 0):
    import torch
    from transformers import GenerationConfig, Qwen2ForCausalLM

    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(size.config(tokenizer))
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, do_sample=True
    )
    return model


def build_critic(
    tokenizer, size: TinyQwen2 = TinyQwen2(hidden_size=64, num_hidden_layers=1, intermediate_size=128), seed: int = 0
):
    import torch
    from transformers import Qwen2ForTokenClassification

    torch.manual_seed(seed)
    return Qwen2ForTokenClassification(size.config(tokenizer, num_labels=1))


def save(model, tokenizer, path: str | Path) -> str:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return str(path)


# --------------------------------------------------------------------------- another family: Llama/Mistral style
INST_SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "[INST]", "[/INST]"]
INST_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}{{ message['content'] }}{{ eos_token }}"
    "{% else %}[INST] {{ message['content'] }} [/INST]{% endif %}{% endfor %}"
)
# Whole-word merges (GPT-2 byte-level symbols: "Ġ" is a leading space).
INST_MERGED_WORDS = ("ĠWhat", "Ġis", "Ġthe", "What")


def _prefix_merges(words: tuple[str, ...]) -> list[tuple[str, str]]:
    merges: list[tuple[str, str]] = []
    for word in words:
        for i in range(2, len(word) + 1):
            pair = (word[: i - 1], word[i - 1])
            if pair not in merges:
                merges.append(pair)
    return merges


def build_inst_tokenizer():
    """Byte-level BPE with a few word merges, ids in another order than ``build_char_tokenizer``'s
    (byte symbols reversed first, then merged words, then the special tokens), Llama's ``<s>``/``</s>``/``<unk>``
    plus Mistral's ``[INST]``/``[/INST]`` control tokens and their chat template; EOS ``</s>``, pad ``<unk>``.

    Saved next to a llama ``config.json``, ``AutoTokenizer`` loads it as a generic ``TokenizersBackend`` from
    ``tokenizer.json`` (no model-specific class rebuilds the pipeline), so it round-trips faithfully.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {sym: i for i, sym in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet(), reverse=True))}
    merges = _prefix_merges(INST_MERGED_WORDS)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    for tok_str in INST_SPECIAL_TOKENS:
        vocab[tok_str] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<unk>",
        additional_special_tokens=["[INST]", "[/INST]"],
    )
    fast.chat_template = INST_TEMPLATE
    return fast


@dataclass
class TinyLlama(TinyDecoder):
    """A tiny Llama critic (defaults: hidden 32, 1 layer)."""

    hidden_size: int = 32
    num_hidden_layers: int = 1
    num_attention_heads: int = 2
    num_key_value_heads: int = 1
    intermediate_size: int = 64

    def family_config(self, tokenizer) -> tuple[type, dict]:
        from transformers import LlamaConfig

        return LlamaConfig, {"bos_token_id": tokenizer.bos_token_id}


def build_llama_critic(tokenizer, size: TinyLlama = TinyLlama(), seed: int = 0):
    """A ``LlamaForTokenClassification`` value model (``num_labels=1``), the class verl's critic loader picks."""
    import torch
    from transformers import LlamaForTokenClassification

    torch.manual_seed(seed)
    return LlamaForTokenClassification(size.config(tokenizer, num_labels=1))


def build_vllm_policy(tokenizer, seed: int = 0):
    """A tiny Qwen2 policy vLLM serves with its usual kernels: hidden 256, 2 layers, 4 heads / 2 KV heads
    (head_dim 64), untied input/output embeddings (for the GPU check, ``sppo_lab.gpu_check``)."""
    import torch
    from transformers import GenerationConfig, Qwen2ForCausalLM

    size = TinyQwen2(
        hidden_size=256, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=512
    )
    config = size.config(tokenizer)
    config.tie_word_embeddings = False
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, do_sample=True
    )
    return model
