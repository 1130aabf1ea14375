"""What one run leaves: the critic-pays record (``comparison.launch``) plus what this study reads from the same
verl metrics file: generated samples and tokens per step, the share of responses cut at the length limit, the options'
own metrics, and every held-out validation with the critic's held-out ranking (``val-critic/*``, logged by
``sppo/trainer/heldout.py`` through ``sppo/critic_quality.py``).
"""

from __future__ import annotations

from sppo_lab.beyond_the_paper import budget
from sppo_lab.beyond_the_paper.arms import StudyArm
from sppo_lab.critic_pays import comparison as cmp
from sppo_lab.critic_pays import mixes
from sppo_lab.graded import task

CRITIC_METRICS = (
    "auc",
    "spearman",
    "pearson",
    "auc_ceiling",
    "auc_group_ceiling",
)  # val-critic/<name> (sppo.critic_quality)
OPTION_SERIES = {  # record key -> verl metric, per training step (None where the step did not log it)
    "response_clip_ratio": "response_length/clip_ratio",
    "truncation_share": "truncation/share",
    "adaptive_norm_normalizing": "adaptive_norm/normalizing",
    "critic_warmstart_replay_rows": "critic_warmstart/replay_rows",
    "adaptive_n_max": "adaptive_n/n_max",
    "adaptive_n_multi_sample_share": "adaptive_n/multi_sample_share",
    "adaptive_n_sigmoid_v_std": "adaptive_n/sigmoid_v_std",  # how spread the scores the allocation ranked were
}


def held_out(data: dict, mix: str) -> dict[str, float]:
    """level -> held-out success at one validation row (empty when the row is no validation)."""
    out = {}
    for k in mixes.levels(mix):
        key = f"val-core/{task.data_source(k)}/acc/mean@{cmp.VAL_SAMPLES}"
        if key in data:
            out[str(k)] = data[key]
    return out


def validations(rows: list[dict], mix: str) -> list[dict]:
    """Every validation of the run in step order: step, actor updates made by then, held-out success (per level and
    mix-weighted) and the critic's held-out AUC / Spearman / Pearson (None where undefined or not SPPO)."""
    updates_by_step: dict[int, int] = {}
    done = 0
    for r in rows:
        if cmp.REWARD_KEY in r["data"]:
            done += "actor/pg_loss" in r["data"]
            updates_by_step[r["step"]] = done
    out = []
    for r in rows:
        levels = held_out(r["data"], mix)
        if not levels:
            continue
        out.append(
            {
                "step": r["step"],
                "actor_updates": updates_by_step.get(r["step"], 0),
                "held_out_mix": sum(mixes.MIXES[mix][int(k)] * v for k, v in levels.items()),
                "held_out": levels,
                "critic": {m: r["data"].get(f"val-critic/{m}") for m in CRITIC_METRICS},
            }
        )
    return out


def study_series(rows: list[dict], arm: StudyArm, mix: str) -> dict:
    """The series this study adds to the critic-pays record."""
    steps = [r["data"] for r in rows if cmp.REWARD_KEY in r["data"]]
    samples = [budget.step_samples(d, arm.n) for d in steps]
    tokens = [budget.step_tokens(d, arm.n) for d in steps]
    out = {
        "samples": samples,
        "generated_tokens": tokens,
        "generated_samples_total": sum(samples),
        "generated_tokens_total": round(sum(tokens), 1),
        "actor_update": ["actor/pg_loss" in d for d in steps],
        "validations": validations(rows, mix),
    }
    for key, metric in OPTION_SERIES.items():
        out[key] = [d.get(metric) for d in steps]
    return out


def study_record(base: dict, rows: list[dict], arm: StudyArm, phase: str, steps: int, mix: str) -> dict:
    """The launch's record, this study's series, and the arm's definition (provenance)."""
    return {
        **base,
        "phase": phase,
        "base_steps": steps,
        "actor_steps": budget.actor_steps(arm, steps),
        "warmup_steps": arm.warmup_steps,
        "samples_per_step": arm.samples_per_step,
        "what": arm.what,
        "arm_overrides": list(arm.overrides),
        **study_series(rows, arm, mix),
    }
