"""The numbers of the report, from the run records: the warm-start check, the lr sweep, and each comparison's paired
differences against its reference.

Outcome: held-out success after training, weighted by the mix's level shares (``val_after_mix``); held-out gain is
that minus the warm start's held-out on the same seed (the reference run's step-0 validation: the same constant for
every arm of a seed, so gains and outcomes give the same paired differences). Paired by seed (same prompt order, same
initial critic). One family for the held-out tests of all comparisons: simultaneous intervals (Bonferroni over the
family), Holm-adjusted p-values, and the smallest difference detectable with 80 % power at that level
(``sppo_lab.stats.paired``). Training reward at equal generated tokens and time to target are secondary:
intervals at the same simultaneous level, no Holm.
"""

from __future__ import annotations

import math

from sppo.critic_quality import group_ceiling_auc
from sppo_lab.beyond_the_paper import budget, targets
from sppo_lab.beyond_the_paper.arms import COMPARISONS, Comparison
from sppo_lab.critic_pays import comparison as cmp
from sppo_lab.stats import holm, paired, t_interval


def critic_at(validation: dict) -> dict:
    """The critic's held-out metrics at one validation, with the level ceiling: the AUC of scoring each held-out
    sample with its level's measured success (``sppo.critic_quality.group_ceiling_auc``; what knowing the level is
    worth, which moves with the policy's spread of success) and the critic's AUC as a share of it."""
    out = dict(validation["critic"])
    levels = validation.get("held_out") or {}
    ceiling = group_ceiling_auc(levels, dict.fromkeys(levels, cmp.VAL_PER_LEVEL * cmp.VAL_SAMPLES)) if levels else None
    out["auc_level_ceiling"] = ceiling
    out["auc_of_ceiling"] = out["auc"] / ceiling if ceiling and out.get("auc") is not None else None
    return out


def critic_before_actor(record: dict) -> dict | None:
    """The critic's held-out metrics at the last validation before the first actor update (None without one)."""
    before = [v for v in record["validations"] if v["actor_updates"] == 0]
    return critic_at(before[-1]) if before else None


def critic_after(record: dict, actor_updates: int) -> dict | None:
    """The critic's held-out metrics at the validation after ``actor_updates`` actor updates."""
    at = [v for v in record["validations"] if v["actor_updates"] == actor_updates]
    return critic_at(at[-1]) if at else None


def start_held_out(record: dict) -> float | None:
    """Held-out success at step 0 (the warm start), where the run validated before training."""
    at0 = [v for v in record["validations"] if v["step"] == 0]
    return at0[0]["held_out_mix"] if at0 else None


def token_axis(record: dict) -> list[float]:
    return budget.cumulative(record["generated_tokens"])


def reward_window(record: dict) -> int:
    return targets.window_steps(record["samples_per_step"])


def smoothed_reward(record: dict) -> list[float | None]:
    return targets.trailing_mean(record["reward"], reward_window(record))


def times_to_target(record: dict, target: float = targets.TARGET_REWARD) -> dict[str, float | None]:
    """Generated tokens, training steps and training seconds at which the run reached ``target`` (None: never)."""
    window, reward = reward_window(record), record["reward"]
    axes = {
        "tokens": token_axis(record),
        "steps": [float(i + 1) for i in range(len(reward))],
        "seconds": budget.cumulative([s or 0.0 for s in record["step_s"]]),
    }
    return {name: targets.time_to_target(reward, axis, target, window) for name, axis in axes.items()}


def warmstart_check(records: list[dict], actor_updates: int = 20) -> dict:
    """Per arm and seed, the critic's held-out AUC / Spearman (and AUC as a share of the level ceiling,
    :func:`critic_at`) before the first actor update and after ``actor_updates``; and the issue's target: a warm-up
    arm's value before its first actor update minus plain SPPO's after ``actor_updates`` (per seed, mean and 95 %
    t-interval over seeds)."""
    rows: dict[str, dict[int, dict]] = {}
    for r in records:
        rows.setdefault(r["arm"], {})[r["seed"]] = {
            "before_actor": critic_before_actor(r),
            "after": critic_after(r, actor_updates),
            "held_out_after": r["val_after_mix"],
            "wall_s": r["wall_s"],
            "steps": r["steps"],
        }
    out: dict = {"actor_updates": actor_updates, "arms": rows, "target": {}}
    plain = rows.get("sppo", {})
    for arm, seeds in rows.items():
        if arm == "sppo":
            continue
        target = {}
        for metric in ("auc", "spearman", "auc_of_ceiling"):
            diffs = {
                s: v["before_actor"][metric] - plain[s]["after"][metric]
                for s, v in sorted(seeds.items())
                if s in plain
                and v["before_actor"]
                and plain[s]["after"]
                and v["before_actor"].get(metric) is not None
                and plain[s]["after"].get(metric) is not None
            }
            if diffs:
                mean, half = t_interval(list(diffs.values()))
                target[metric] = {
                    "per_seed": diffs,
                    "mean": mean,
                    "low": mean - half if len(diffs) > 1 else None,  # no interval from one seed
                    "high": mean + half if len(diffs) > 1 else None,
                    "met": sum(d >= 0 for d in diffs.values()),
                }
        out["target"][arm] = target
    return out


def sweep_table(records: list[dict]) -> dict[str, dict[str, dict]]:
    """arm -> lr -> {"values": held-out per sweep seed, "mean"}."""
    out: dict[str, dict[str, dict]] = {}
    for r in records:
        if r.get("val_after_mix") is not None:
            out.setdefault(r["arm"], {}).setdefault(r["lr"], {"values": []})["values"].append(r["val_after_mix"])
    for lrs in out.values():
        for cell in lrs.values():
            cell["mean"] = sum(cell["values"]) / len(cell["values"])
    return out


def _arm_summary(runs: list[dict], gains: list[float | None], common_tokens: float) -> dict:
    times = [times_to_target(r) for r in runs]
    at_budget = [
        budget.interpolate(token_axis(r), smoothed_reward(r), common_tokens) if common_tokens else None for r in runs
    ]
    return {
        "lr": runs[0]["lr"],
        "seeds": [r["seed"] for r in runs],
        "held_out": [r["val_after_mix"] for r in runs],
        "held_out_mean": sum(r["val_after_mix"] for r in runs) / len(runs),
        "held_out_gain": gains,
        "generated_tokens": [r["generated_tokens_total"] for r in runs],
        "generated_samples": [r["generated_samples_total"] for r in runs],
        "actor_update_steps": [r["actor_updates_steps"] for r in runs],
        "train_seconds": [r["train_seconds"] for r in runs],
        "time_to_target": times,
        "reached": sum(t["tokens"] is not None for t in times),
        "reward_at_common_tokens": at_budget,
    }


def _paired_ratio(a: list[float | None], b: list[float | None]) -> dict:
    """Geometric mean of a / b over the seeds where both are defined (both runs reached the target)."""
    ratios = [x / y for x, y in zip(a, b, strict=True) if x is not None and y is not None and y > 0]
    if not ratios:
        return {"n": 0, "geomean": None}
    return {"n": len(ratios), "geomean": math.exp(sum(math.log(r) for r in ratios) / len(ratios))}


def tuned_runs(records: list[dict], lrs: dict[str, str], seeds: tuple[int, ...]) -> dict[tuple[str, int], dict]:
    """(arm, seed) -> the record of that arm at its tuned lr (``lrs``) on one of ``seeds``, in the records' order."""
    return {(r["arm"], r["seed"]): r for r in records if r["seed"] in seeds and lrs.get(r["arm"]) == r["lr"]}


def main_progress(records: list[dict], lrs: dict[str, str], seeds: tuple[int, ...]) -> dict:
    """How much of the main phase the records hold: runs at each arm's tuned lr on the main seeds, out of every arm
    with a tuned lr x every seed, and the seeds that every such arm has (the ones a complete comparison reads)."""
    done = tuned_runs(records, lrs, seeds)
    complete = [s for s in seeds if lrs and all((a, s) in done for a in lrs)]
    return {"recorded": len(done), "planned": len(lrs) * len(seeds), "complete_seeds": complete}


def compare(records: list[dict], lrs: dict[str, str], seeds: tuple[int, ...]) -> dict:
    """Every comparison at the arms' tuned lrs over ``seeds``: per arm its summary, and against the reference the
    paired held-out difference (Holm over the family of all comparisons), the paired difference of the training
    reward at the comparison's common generated tokens, and the ratio of times to target in generated tokens."""
    runs = tuned_runs(records, lrs, seeds)
    start = {s: start_held_out(r) for (a, s), r in runs.items() if start_held_out(r) is not None}
    tests: list[tuple[str, str, dict]] = []
    out: dict = {"target_reward": targets.TARGET_REWARD, "window_samples": targets.WINDOW_SAMPLES, "comparisons": {}}
    for comp in COMPARISONS:
        names = [comp.reference, *comp.arms]
        present = {a: [runs[(a, s)] for s in seeds if (a, s) in runs] for a in names}
        present = {a: v for a, v in present.items() if v}
        if comp.reference not in present:
            continue
        totals = [r["generated_tokens_total"] for v in present.values() for r in v]
        common = budget.common_budget(totals)
        arms = {}
        for a, rs in present.items():
            gains = [r["val_after_mix"] - start[r["seed"]] if r["seed"] in start else None for r in rs]
            arms[a] = _arm_summary(rs, gains, common)
        out["comparisons"][comp.name] = {
            "reference": comp.reference,
            "budget": comp.budget,
            "common_tokens": common,
            "arms": arms,
        }
        tests += _paired_tests(comp, arms)
    family = len(tests)
    out["family"] = family
    for comp_name, arm, diffs in tests:
        t = out["comparisons"][comp_name]["arms"][arm]
        t["minus_reference"] = paired(diffs["held_out"], family)
        t["reward_at_common_tokens_minus_reference"] = (
            paired(diffs["reward"], family) if len(diffs["reward"]) >= 2 else None
        )
        t["time_to_target_ratio"] = diffs["time_ratio"]
    with_p = [(c, a) for c, a, _ in tests if out["comparisons"][c]["arms"][a]["minus_reference"]["p"] is not None]
    adjusted = holm([out["comparisons"][c]["arms"][a]["minus_reference"]["p"] for c, a in with_p])
    for (c, a), p in zip(with_p, adjusted, strict=True):
        out["comparisons"][c]["arms"][a]["minus_reference"]["p_holm"] = p
    return out


def _paired_tests(comp: Comparison, arms: dict) -> list[tuple[str, str, dict]]:
    ref = arms[comp.reference]
    ref_by_seed = dict(zip(ref["seeds"], range(len(ref["seeds"])), strict=True))
    out = []
    for a in comp.arms:
        if a not in arms:
            continue
        x = arms[a]
        pairs = [(i, ref_by_seed[s]) for i, s in enumerate(x["seeds"]) if s in ref_by_seed]
        if not pairs:
            continue
        rewards = [
            (x["reward_at_common_tokens"][i], ref["reward_at_common_tokens"][j])
            for i, j in pairs
            if x["reward_at_common_tokens"][i] is not None and ref["reward_at_common_tokens"][j] is not None
        ]
        diffs = {
            "held_out": [x["held_out"][i] - ref["held_out"][j] for i, j in pairs],
            "reward": [p - q for p, q in rewards],
            "time_ratio": _paired_ratio(
                [x["time_to_target"][i]["tokens"] for i, _ in pairs],
                [ref["time_to_target"][j]["tokens"] for _, j in pairs],
            ),
        }
        out.append((comp.name, a, diffs))
    return out


def _mean(values: list) -> float | None:
    xs = [v for v in values if v is not None]
    return sum(xs) / len(xs) if xs else None


def _steps_on(series: list) -> int | None:
    """Steps whose logged flag is on; None when no step logged it (the option was off)."""
    logged = [x for x in series if x is not None]
    return sum(1 for x in logged if x) if logged else None


def option_activity(records: list[dict], lrs: dict[str, str], seeds: tuple[int, ...], last: int = 10) -> dict:
    """What each arm's option did in its main runs (at its tuned lr over ``seeds``), per arm, means over seeds:

    * ``clip_ratio``: share of responses at the length limit (verl's ``response_length/clip_ratio``, all steps);
    * ``truncation_share``: share cut before an end token (``truncation/share``; the truncation arms);
    * ``normalised_steps``: steps with batch-normalised advantages before the hand-over (adaptive normalisation);
    * ``sigmoid_v_std`` / ``multi_sample_share``: spread of the scores adaptive N ranked, share of prompts given
      more than one sample;
    * ``auc_first_update`` / ``auc_end``: the critic's held-out AUC at the last validation before the first actor
      update (plain SPPO: its fresh critic at step 0; a warm-up arm: after its critic-only steps) and at the end;
    * ``explained_var_end``: the critic's explained variance on its training batches, mean of the last ``last`` steps.
    """
    runs: dict[str, list[dict]] = {}
    for (arm, _), r in tuned_runs(records, lrs, seeds).items():
        runs.setdefault(arm, []).append(r)
    out = {}
    for arm, rs in runs.items():
        first = [critic_before_actor(r) for r in rs]
        end = [critic_at(r["validations"][-1]) if r.get("validations") else None for r in rs]
        out[arm] = {
            "seeds": len(rs),
            "clip_ratio": _mean([_mean(r.get("response_clip_ratio") or []) for r in rs]),
            "truncation_share": _mean([_mean(r.get("truncation_share") or []) for r in rs]),
            "normalised_steps": _mean([_steps_on(r.get("adaptive_norm_normalizing") or []) for r in rs]),
            "sigmoid_v_std": _mean([_mean(r.get("adaptive_n_sigmoid_v_std") or []) for r in rs]),
            "multi_sample_share": _mean([_mean(r.get("adaptive_n_multi_sample_share") or []) for r in rs]),
            "auc_first_update": _mean([c.get("auc") if c else None for c in first]),
            "auc_end": _mean([c.get("auc") if c else None for c in end]),
            "explained_var_end": _mean([_mean((r.get("critic_explained_var") or [])[-last:]) for r in rs]),
        }
    return out
