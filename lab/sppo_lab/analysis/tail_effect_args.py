"""Settings of the tail-effect study (``python -m sppo_lab.analysis tail-effect``), apart from the study itself
so that the command line is parsed and checked before torch is imported (lab/sppo_lab/analysis/tail_effect.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sppo_lab.analysis.errors import AnalysisError

FORMATS = ("plain", "padded", "graded")
#: --max-new-tokens 0: the task's own response limit (the quickstart's 6; the graded task's 128)
TASK_MAX_NEW_TOKENS = {"plain": 6, "padded": 6, "graded": 128}
#: Upper bounds of the counts (bounded work: the study runs on a CPU in minutes).
CAPS = {"updates": 100_000, "batch": 4096, "eval_samples": 100_000, "max_new_tokens": 512, "warmup_steps": 100_000}


def _arg(default, help: str):
    """A field of ``Args``: its default and the help line of its ``--flag``."""
    return field(default=default, metadata={"help": help})


@dataclass
class Args:
    """Settings of the study; every field is a ``--flag`` of ``python -m sppo_lab.analysis tail-effect``."""

    out: str = _arg("runs/tail_effect", "output directory (PNG + JSON)")
    cache_dir: str | None = _arg(None, "where the warmed-up policy is cached (default: OUT/cache)")
    seed: int = _arg(0, "seed of the warm-up, the critics' initialisation and the sampling")
    format: str = _arg(
        "plain",
        "plain (the quickstart's bare number), padded (answer + a fixed 41-token sentence) or graded (the graded "
        "task's chain of thought, 10-84 tokens, from its committed warm start)",
    )
    updates: int = _arg(300, "critic updates (one Adam step each, on a fresh batch)")
    batch: int = _arg(64, "responses per update (one per prompt; prompts drawn with replacement)")
    eval_samples: int = _arg(512, "fresh responses for the evaluation (the plotted numbers)")
    critic_lr: float = _arg(1e-3, "Adam learning rate of both critics (the quickstart's critic.optim.lr)")
    gamma: float = _arg(1.0, "GAE discount γ (verl's default 1.0)")
    lam: float = _arg(0.95, "GAE λ of the token critic's returns and of the plotted advantages")
    temperature: float = _arg(1.0, "sampling temperature (the quickstart trains at 1.0)")
    max_new_tokens: int = _arg(0, "limit on the policy's answer (HF generate); 0: the task's (6 a+b, 128 graded)")
    warmup_steps: int = _arg(150, "supervised warm-up steps of the a+b policy (the quickstart's 150; not graded)")

    def check(self) -> None:
        """Fail on a bad setting before any model is built (one line, naming the allowed values)."""
        if self.format not in FORMATS:
            raise AnalysisError(f"--format must be one of {', '.join(FORMATS)}, got '{self.format}'")
        for name in ("updates", "batch"):
            if getattr(self, name) < 1:
                raise AnalysisError(f"--{name} must be >= 1, got {getattr(self, name)}")
        for name, cap in CAPS.items():
            if getattr(self, name) > cap:
                raise AnalysisError(f"--{name.replace('_', '-')} must be at most {cap}, got {getattr(self, name)}")
        if self.seed < 0:
            raise AnalysisError(f"--seed must be >= 0, got {self.seed}")
        if self.eval_samples < 2:
            raise AnalysisError(f"--eval-samples must be >= 2, got {self.eval_samples}")
        if self.warmup_steps < 0:
            raise AnalysisError(f"--warmup-steps must be >= 0, got {self.warmup_steps}")
        if self.max_new_tokens < 0:
            raise AnalysisError(f"--max-new-tokens must be >= 0 (0: the task's limit), got {self.max_new_tokens}")
        for name in ("gamma", "lam"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise AnalysisError(f"--{name} must lie in [0, 1], got {getattr(self, name)}")
        if not self.temperature > 0 or not self.critic_lr > 0:
            raise AnalysisError("--temperature and --critic-lr must be > 0")


def response_limit(args: Args) -> int:
    """The generation limit: ``--max-new-tokens``, or the task's own when it is 0."""
    return args.max_new_tokens or TASK_MAX_NEW_TOKENS[args.format]
