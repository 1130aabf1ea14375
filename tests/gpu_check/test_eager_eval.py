"""The GPU check's evaluation stage builds vLLM in eager mode (sppo_lab.gpu_check.eager_eval), without a GPU."""

from __future__ import annotations

import sys
import types

import pytest

from sppo_lab.gpu_check import eager_eval, evalcheck


class Engine:
    def get_tokenizer(self):
        return "tokenizer"


@pytest.fixture
def fake_vllm(monkeypatch):
    """A stand-in ``vllm`` module whose ``LLM`` records how it was built."""
    built = []

    def LLM(*args, **kwargs):  # noqa: N802 - vLLM's name
        built.append(kwargs)
        return Engine()

    module = types.ModuleType("vllm")
    module.LLM = LLM
    monkeypatch.setitem(sys.modules, "vllm", module)
    return module, built


def test_patched_llm_is_eager_unless_the_caller_chose(fake_vllm):
    module, built = fake_vllm
    eager_eval.patch_vllm()
    eager_eval.patch_vllm()  # idempotent: wrapped once
    assert isinstance(module.LLM(model="m", gpu_memory_utilization=0.3), Engine)
    module.LLM(model="m", enforce_eager=False)
    assert built == [{"model": "m", "gpu_memory_utilization": 0.3, "enforce_eager": True},
                     {"model": "m", "enforce_eager": False}]  # fmt: skip


def test_sppo_eval_backend_gets_the_eager_engine(fake_vllm):
    """sppo.eval.backends.VLLMBackend imports ``LLM`` from vllm when it builds the engine: it sees the wrapper."""
    from sppo.eval.backends import VLLMBackend

    _, built = fake_vllm
    eager_eval.patch_vllm()
    backend = VLLMBackend("model-dir", settings=None, gpu_memory_utilization=0.3)
    assert backend.tokenizer == "tokenizer"
    [kwargs] = built  # one engine, eager, with the backend's own settings
    assert (
        kwargs["enforce_eager"] is True and kwargs["model"] == "model-dir" and kwargs["gpu_memory_utilization"] == 0.3
    )


def test_only_vllm_generation_is_patched(fake_vllm):
    assert eager_eval.uses_vllm(["generate", "--backend", "vllm", "--model", "m"])
    assert eager_eval.uses_vllm(["generate", "--backend=vllm"])
    assert not eager_eval.uses_vllm(["generate", "--backend", "hf"])
    assert not eager_eval.uses_vllm(["score", "out", "--backend", "vllm"])
    assert eager_eval.uses_vllm(["generate"])  # auto, and vllm importable (the fake)


def test_the_eval_stage_runs_sppo_eval_through_the_eager_wrapper(tmp_path, monkeypatch):
    calls = []

    def run(cmd, **kwargs):
        calls.append(cmd)
        return types.SimpleNamespace(returncode=0)

    monkeypatch.setattr(evalcheck.subprocess, "run", run)
    res = evalcheck._cli(["generate", "--backend", "vllm"], tmp_path / "eval.log", timeout=5)
    assert res["returncode"] == 0
    assert calls == [[sys.executable, "-m", "sppo_lab.gpu_check.eager_eval", "generate", "--backend", "vllm"]]
    assert (tmp_path / "eval.log").read_text() == "$ python -m sppo_lab.gpu_check.eager_eval generate --backend vllm\n"
