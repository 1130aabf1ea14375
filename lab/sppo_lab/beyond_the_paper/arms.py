"""The arms of the study and the comparisons they form.

Every arm is a run of the critic-pays harness (16 prompts a step from the mix's warm start, the same small critic,
held-out validation of 8 prompts a level x 16 samples) with its own overrides. ``actor_steps`` is the number of
training steps with an actor update at the base budget ``steps`` (``--steps``, 60 for the sweep and the main phase):
the arms of one comparison are sized against it (``budget.py``).

Comparisons (one family: Holm over all of them, ``report.py``):

* ``features``: plain SPPO N = 1 against each option at equal actor updates (``steps`` each; the warm-up arms add
  their critic-only steps), responses <= 128 tokens; with the no-baseline control (A = R, no critic), which beat
  SPPO on this mix in the critic-pays study: where an option lands between the two says how much of that gap it
  closes.
* ``truncation``: the same at ``SHORT_RESPONSE`` = 64 tokens for both arms: levels 8 (60-66 tokens with EOS), 10 and
  12 (76-102) cannot finish a correct answer, so about 30 % of the mix's prompts are cut (``response_length/clip_ratio``
  is recorded per step).
* ``equal_tokens``: SPPO N = 1, adaptive N, GRPO N = k and REINFORCE++ N = 1 at the same number of generated samples
  (2 x 16 x ``steps``); the tokens each run actually generated are recorded (``records.py``) and the training reward is
  compared at equal generated tokens (``budget.align``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sppo_lab.critic_pays import comparison as cmp

BATCH = cmp.BATCH  # prompts a step
WARMUP_STEPS = 10  # critic-only steps of the warm-up arms (trainer.critic_warmup = WARMUP_STEPS + 1)
# the warm-start check's longer warm start: as many rollouts of the initial policy (20 x 16) as plain SPPO's critic has
# seen by step 20 (the 10-step warm start reached 0.89-0.93 of the level ceiling's AUC there, plain SPPO 0.96-1.00)
LONG_WARMUP_STEPS = 20
WARMSTART_EPOCHS = 4  # sppo.critic_warmstart.epochs: each warm-up step trains 4 epochs on every warm-up rollout so far
SHORT_RESPONSE = 64  # data.max_response_length of the truncation comparison
MAX_N = 4  # adaptive N's most samples a prompt; GRPO's N (= k)
SAMPLES_PER_PROMPT = 2  # adaptive N's budget per step, in samples per prompt (sppo.adaptive_n.budget = 2 x 16)


@dataclass(frozen=True)
class StudyArm:
    name: str
    estimator: str
    what: str
    n: int = 1  # actor_rollout_ref.rollout.n
    samples_per_step: int = BATCH  # generated samples a step (adaptive N: its budget; GRPO: n x BATCH)
    step_share: tuple[int, int] = (1, 1)  # actor-update steps = steps x a / b (equal samples across the token arms)
    warmup_steps: int = 0  # critic-only steps before the first actor update
    overrides: tuple[str, ...] = ()


def _warmup(epochs: int, steps: int = WARMUP_STEPS) -> tuple[str, ...]:
    out = (f"trainer.critic_warmup={steps + 1}",)
    return out + ((f"sppo.critic_warmstart.epochs={epochs}",) if epochs else ())


_SHORT = (f"data.max_response_length={SHORT_RESPONSE}",)
_ADAPTIVE_N = (
    "sppo.adaptive_n.enable=true",
    f"sppo.adaptive_n.max_n={MAX_N}",
    f"sppo.adaptive_n.budget={SAMPLES_PER_PROMPT * BATCH}",
)

ARMS: dict[str, StudyArm] = {
    a.name: a
    for a in (
        StudyArm("sppo", "sppo", "plain SPPO N = 1: A = R − σ(V(s_p))"),
        StudyArm("no_baseline", "no_baseline", "the no-baseline control: A = R, no critic"),
        StudyArm(
            "sppo_warmstart",
            "sppo",
            f"critic warm start: {WARMUP_STEPS} critic-only steps, each {WARMSTART_EPOCHS} epochs on every warm-up "
            "rollout so far",
            warmup_steps=WARMUP_STEPS,
            overrides=_warmup(WARMSTART_EPOCHS),
        ),
        StudyArm(
            "sppo_warmstart_long",
            "sppo",
            f"critic warm start as above with {LONG_WARMUP_STEPS} critic-only steps (the warm-start check only)",
            warmup_steps=LONG_WARMUP_STEPS,
            overrides=_warmup(WARMSTART_EPOCHS, LONG_WARMUP_STEPS),
        ),
        StudyArm(
            "sppo_critic_warmup",
            "sppo",
            f"verl's trainer.critic_warmup alone: {WARMUP_STEPS} critic-only steps, each on its own rollouts once",
            warmup_steps=WARMUP_STEPS,
            overrides=_warmup(0),
        ),
        StudyArm(
            "sppo_adaptive_norm",
            "sppo",
            "adaptive normalisation: batch-normalised advantages until the critic's explained variance passes 0.05",
            overrides=("sppo.adaptive_norm.enable=true",),
        ),
        StudyArm(
            "sppo_adaptive_n",
            "sppo",
            f"adaptive N: {SAMPLES_PER_PROMPT * BATCH} samples a step, 1..{MAX_N} a prompt by the rank of σ(V)(1 − σ(V))",
            samples_per_step=SAMPLES_PER_PROMPT * BATCH,
            overrides=_ADAPTIVE_N,
        ),
        StudyArm("sppo_short", "sppo", f"plain SPPO N = 1, responses <= {SHORT_RESPONSE} tokens", overrides=_SHORT),
        StudyArm(
            "sppo_trunc_mask",
            "sppo",
            f"truncation-aware target: cut responses masked from the critic's BCE, responses <= {SHORT_RESPONSE} tokens",
            overrides=(*_SHORT, "sppo.truncation.mode=mask"),
        ),
        StudyArm(
            "sppo_tokens",
            "sppo",
            "plain SPPO N = 1 at the token arms' sample budget (twice the steps)",
            step_share=(SAMPLES_PER_PROMPT, 1),
        ),
        StudyArm(
            "grpo_k",
            "grpo",
            f"GRPO N = {MAX_N}, 2 optimizer updates a step (mini-batches of 8 prompts), same samples as adaptive N",
            n=MAX_N,
            samples_per_step=MAX_N * BATCH,
            step_share=(SAMPLES_PER_PROMPT, MAX_N),
            overrides=(f"actor_rollout_ref.actor.ppo_mini_batch_size={BATCH // 2}",),
        ),
        StudyArm(
            "reinforce_pp",
            "reinforce_plus_plus_baseline",
            "verl's REINFORCE++ baseline N = 1 (no critic) at the token arms' sample budget",
            step_share=(SAMPLES_PER_PROMPT, 1),
        ),
    )
}


@dataclass(frozen=True)
class Comparison:
    name: str
    reference: str
    arms: tuple[str, ...]
    budget: str


COMPARISONS: tuple[Comparison, ...] = (
    Comparison(
        "features",
        "sppo",
        ("sppo_warmstart", "sppo_critic_warmup", "sppo_adaptive_norm", "sppo_adaptive_n", "no_baseline"),
        "equal actor updates (steps), responses <= 128 tokens; no_baseline: the control (A = R, no critic)",
    ),
    Comparison(
        "truncation",
        "sppo_short",
        ("sppo_trunc_mask",),
        f"equal actor updates, responses <= {SHORT_RESPONSE} tokens (about 30 % of the prompts cannot finish)",
    ),
    Comparison(
        "equal_tokens",
        "sppo_tokens",
        ("sppo_adaptive_n", "grpo_k", "reinforce_pp"),
        f"equal generated samples ({SAMPLES_PER_PROMPT} x 16 a step x steps); tokens recorded, reward aligned on them",
    ),
)

REFERENCES = tuple(c.reference for c in COMPARISONS)
# the arms of the sweep and the main phase: those of the comparisons, in ARMS order
STUDY_ARMS = tuple(a for a in ARMS if any(a == c.reference or a in c.arms for c in COMPARISONS))
