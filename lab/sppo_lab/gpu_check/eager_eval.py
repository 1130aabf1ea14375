"""``python -m sppo.eval`` with vLLM in eager mode: the GPU check's evaluation stage (sppo_lab.gpu_check.evalcheck).

    python -m sppo_lab.gpu_check.eager_eval generate --backend vllm --model CKPT ...   # any sppo.eval command line

vLLM's default compiles the model with torch.compile and captures CUDA graphs at start-up: a minute or more spent on a
tiny model that the check samples for seconds. ``sppo.eval generate`` has no flag for vLLM's ``enforce_eager``, so
this wraps ``vllm.LLM`` (which ``sppo.eval.backends.VLLMBackend`` looks up when it builds the engine) to pass
``enforce_eager=True`` unless the caller chose, then runs sppo.eval's own ``main``. Other backends run unchanged.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any


def eager(llm: Callable[..., Any]) -> Callable[..., Any]:
    """``llm`` (vLLM's ``LLM``) building its engine with ``enforce_eager=True`` unless the call says otherwise."""

    @functools.wraps(llm)
    def build(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("enforce_eager", True)
        return llm(*args, **kwargs)

    build.sppo_eager = True
    return build


def patch_vllm() -> None:
    """Make ``vllm.LLM`` eager in this process (idempotent)."""
    import vllm

    if not getattr(vllm.LLM, "sppo_eager", False):
        vllm.LLM = eager(vllm.LLM)


def uses_vllm(argv: list[str]) -> bool:
    """Does this sppo.eval command line sample with vLLM (``--backend vllm``, or ``auto`` with vLLM importable)?"""
    backend = "auto"
    for i, arg in enumerate(argv):
        if arg == "--backend" and i + 1 < len(argv):
            backend = argv[i + 1]
        elif arg.startswith("--backend="):
            backend = arg.split("=", 1)[1]
    if argv[:1] != ["generate"] or backend == "hf":
        return False
    if backend == "vllm":
        return True
    import importlib.util

    try:
        return importlib.util.find_spec("vllm") is not None
    except ValueError:  # imported already, without a module spec
        return "vllm" in sys.modules


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if uses_vllm(argv):
        patch_vllm()
    from sppo.eval.cli import main as eval_main

    return eval_main(argv)


if __name__ == "__main__":
    sys.exit(main())
