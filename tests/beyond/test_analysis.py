"""The report's numbers on hand-made records: the warm-start target, paired differences with Holm over the family,
gains, time to target in generated tokens (never reached included), reward at the common generated tokens; and the
report CLI's files and its one-line error."""

from __future__ import annotations

import json

import pytest

from sppo_lab.beyond_the_paper import analysis, report
from sppo_lab.stats import holm, paired


def _val(step, updates, auc, spearman, held=0.5, levels=None):
    return {
        "step": step,
        "actor_updates": updates,
        "held_out_mix": held,
        "held_out": levels or {},
        "critic": {"auc": auc, "spearman": spearman},
    }


def _check_record(arm, seed, validations, warmup=0):
    return {
        "arm": arm,
        "seed": seed,
        "validations": validations,
        "val_after_mix": validations[-1]["held_out_mix"],
        "wall_s": 100.0,
        "steps": 20 + warmup,
        "warmup_steps": warmup,
    }


def test_warmstart_target_per_seed_mean_and_interval():
    records = [
        _check_record("sppo", 0, [_val(0, 0, 0.5, -0.25), _val(20, 20, 0.75, 0.5)]),
        _check_record("sppo", 1, [_val(0, 0, 0.5, -0.25), _val(20, 20, 0.75, 0.625)]),
        _check_record(
            "sppo_warmstart", 0, [_val(10, 0, 0.875, 0.75), _val(20, 10, 0.8, 0.7), _val(30, 20, 0.9, 0.8)], 10
        ),
        _check_record("sppo_warmstart", 1, [_val(10, 0, 0.625, 0.5), _val(30, 20, 0.8, 0.7)], 10),
    ]
    out = analysis.warmstart_check(records)
    no_levels = {"auc_level_ceiling": None, "auc_of_ceiling": None}  # a validation without per-level success
    assert out["arms"]["sppo"][0]["before_actor"] == {"auc": 0.5, "spearman": -0.25, **no_levels}  # fresh, step 0
    assert out["arms"]["sppo_warmstart"][0]["before_actor"] == {"auc": 0.875, "spearman": 0.75, **no_levels}
    assert out["arms"]["sppo_warmstart"][0]["after"] == {"auc": 0.9, "spearman": 0.8, **no_levels}
    auc = out["target"]["sppo_warmstart"]["auc"]
    assert auc["per_seed"] == {0: 0.125, 1: -0.125} and auc["mean"] == 0.0 and auc["met"] == 1
    # sd of (0.125, -0.125) = 0.125 * sqrt(2); half-width t_{0.975, 1} * sd / sqrt(2) = 12.706205 * 0.125
    assert auc["high"] == pytest.approx(12.706205 * 0.125) and auc["low"] == pytest.approx(-12.706205 * 0.125)
    spearman = out["target"]["sppo_warmstart"]["spearman"]
    assert spearman["per_seed"] == {0: 0.25, 1: -0.125} and spearman["mean"] == 0.0625 and spearman["met"] == 1


def test_warmstart_check_measures_the_critic_against_the_level_ceiling():
    """Level ceiling: every held-out sample scored by its level's success (128 samples a level). Levels at 0.75 and
    0.25: the 96 solved at 0.75 each beat the 96 unsolved at 0.25 (96 x 96) and tie the 32 at 0.75 (96 x 16); the 32
    solved at 0.25 tie those 96 (32 x 48): 12,288 of 128 x 128 pairs."""
    ceiling = (96 * 96 + 96 * 16 + 32 * 48) / (128 * 128)
    levels = {"2": 0.75, "4": 0.25}
    records = [
        _check_record("sppo", 0, [_val(0, 0, 0.5, 0.0, levels=levels), _val(20, 20, 0.66, 0.5, levels=levels)]),
        _check_record("sppo_warmstart", 0, [_val(10, 0, 0.6, 0.5, levels=levels)], 10),
    ]
    out = analysis.warmstart_check(records)
    before = out["arms"]["sppo_warmstart"][0]["before_actor"]
    assert before["auc_level_ceiling"] == pytest.approx(ceiling) == pytest.approx(0.75)
    assert before["auc_of_ceiling"] == pytest.approx(0.6 / 0.75)
    share = out["target"]["sppo_warmstart"]["auc_of_ceiling"]
    assert share["per_seed"][0] == pytest.approx((0.6 - 0.66) / 0.75) and share["met"] == 0


def _main_record(arm, seed, held, rewards, validations=(), lr="6e-5"):
    return {
        "arm": arm,
        "lr": lr,
        "seed": seed,
        "val_after_mix": held,
        "validations": list(validations),
        "samples_per_step": 160,  # a window of one step: time to target = the first step at the target
        "reward": rewards,
        "generated_tokens": [100.0] * len(rewards),
        "generated_tokens_total": 100.0 * len(rewards),
        "generated_samples_total": 160 * len(rewards),
        "step_s": [2.0] * len(rewards),
        "actor_updates_steps": len(rewards),
        "train_seconds": 2.0 * len(rewards),
    }


def _features_records():
    start = [_val(0, 0, 0.5, 0.0, held=0.5)]
    return [
        _main_record("sppo", 0, 0.5, [0.6, 0.65, 0.71], start),
        _main_record("sppo", 1, 0.625, [0.6, 0.7, 0.7], start),
        _main_record("sppo", 2, 0.75, [0.5, 0.5, 0.5], start),
        _main_record("sppo_adaptive_norm", 0, 0.625, [0.6, 0.72, 0.8]),
        _main_record("sppo_adaptive_norm", 1, 0.75, [0.75, 0.5, 0.5]),
        _main_record("sppo_adaptive_norm", 2, 0.75, [0.5, 0.5, 0.5]),
        _main_record("sppo_warmstart", 0, 0.5, [0.5, 0.5, 0.5]),
        _main_record("sppo_warmstart", 1, 0.5, [0.5, 0.5, 0.5]),
        _main_record("sppo_warmstart", 2, 0.5, [0.5, 0.5, 0.5]),
        _main_record("sppo_warmstart", 3, 0.9, [0.9, 0.9, 0.9], lr="1.5e-4"),  # not its tuned lr: left out
    ]


def test_paired_differences_holm_gain_and_time_to_target():
    lrs = {"sppo": "6e-5", "sppo_adaptive_norm": "6e-5", "sppo_warmstart": "6e-5"}
    out = analysis.compare(_features_records(), lrs, (0, 1, 2))
    assert out["family"] == 2 and list(out["comparisons"]) == ["features"]
    c = out["comparisons"]["features"]
    assert c["common_tokens"] == 300.0
    ref, norm, warm = (c["arms"][a] for a in ("sppo", "sppo_adaptive_norm", "sppo_warmstart"))
    assert ref["held_out_gain"] == [0.0, 0.125, 0.25]  # minus the reference's step-0 held-out, 0.5
    assert norm["held_out_gain"] == [0.125, 0.25, 0.25]
    # times to target 0.70 in generated tokens (100 a step): sppo 300, 200, never; adaptive_norm 200, 100, never
    assert [t["tokens"] for t in ref["time_to_target"]] == [300.0, 200.0, None]
    assert [t["tokens"] for t in norm["time_to_target"]] == [200.0, 100.0, None]
    assert ref["reached"] == 2 and warm["reached"] == 0
    assert norm["time_to_target_ratio"] == {"n": 2, "geomean": pytest.approx((2 / 3 * 1 / 2) ** 0.5)}
    assert warm["time_to_target_ratio"] == {"n": 0, "geomean": None}
    assert ref["reward_at_common_tokens"] == [0.71, 0.7, 0.5]
    diff = norm["minus_reference"]
    assert diff["mean"] == pytest.approx((0.125 + 0.125 + 0.0) / 3)
    assert diff == pytest.approx({**paired([0.125, 0.125, 0.0], 2), "p_holm": diff["p_holm"]})
    p_norm, p_warm = diff["p"], warm["minus_reference"]["p"]
    assert [diff["p_holm"], warm["minus_reference"]["p_holm"]] == holm([p_norm, p_warm])
    reward = norm["reward_at_common_tokens_minus_reference"]
    assert reward["mean"] == pytest.approx((0.09 - 0.2 + 0.0) / 3)
    assert warm["seeds"] == [0, 1, 2]


def test_report_writes_json_markdown_and_figure(tmp_path, capsys):
    folder = tmp_path / "u_shaped" / "runs"
    (folder / "warmstart_check").mkdir(parents=True)
    (folder / "warmstart_check" / "sppo__lr1.5e-4__seed0.json").write_text(
        json.dumps(_check_record("sppo", 0, [_val(0, 0, 0.5, -0.25), _val(20, 20, 0.75, 0.5)]))
    )
    (folder / "warmstart_check" / "sppo_warmstart__lr1.5e-4__seed0.json").write_text(
        json.dumps(_check_record("sppo_warmstart", 0, [_val(10, 0, 0.875, 0.75), _val(30, 20, 0.9, 0.8)], 10))
    )
    assert report.main(["--results", str(tmp_path)]) == 0
    md = (tmp_path / "u_shaped" / "comparison.md").read_text()
    assert "| sppo_warmstart | 0 | 0.875 | – | – | 0.750 | 0.900 | – | – | 0.800 | 0.500 | 30 | 100 |" in md
    assert "| sppo_warmstart | auc | +0.125 | +0.125 | – | 1 of 1 |" in md  # one seed: no interval in md
    assert "Pending: no main-phase records yet" in md
    data = json.loads((tmp_path / "u_shaped" / "comparison.json").read_text())
    assert data["main"] is None and data["lrs"] == {}
    assert data["warmstart_check"]["target"]["sppo_warmstart"]["auc"]["mean"] == 0.125
    assert (tmp_path / "u_shaped" / "comparison.png").stat().st_size > 0
    capsys.readouterr()
    assert report.main(["--results", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m sppo_lab.beyond_the_paper.report: error: no run records under ")
    assert len(err.strip().splitlines()) == 1


def test_report_with_main_records_tables_and_figure(tmp_path):
    main = tmp_path / "u_shaped" / "runs" / "main"
    main.mkdir(parents=True)
    sweep = tmp_path / "u_shaped" / "runs" / "sweep"
    sweep.mkdir(parents=True)
    for r in _features_records():
        (main / f"{r['arm']}__lr{r['lr']}__seed{r['seed']}.json").write_text(json.dumps(r))
    for arm in ("sppo", "sppo_adaptive_norm", "sppo_warmstart"):
        for lr, val in (("6e-5", 0.7), ("1.5e-4", 0.6), ("4e-4", 0.5)):
            for seed in (100, 101):
                rec = {"arm": arm, "lr": lr, "seed": seed, "val_after_mix": val}
                (sweep / f"{arm}__lr{lr}__seed{seed}.json").write_text(json.dumps(rec))
    report.write_report("u_shaped", tmp_path)
    md = (tmp_path / "u_shaped" / "comparison.md").read_text()
    assert "| sppo | 0.700 (n=2) | 0.600 (n=2) | 0.500 (n=2) | 6e-5 |" in md
    assert (
        "### features: against sppo (equal actor updates (steps), responses <= 128 tokens; no_baseline: the control"
        in md
    )
    assert "| sppo_adaptive_norm | 6e-5 | 3 | 0.708 | +0.208 | +0.083 |" in md
    # median of 200 and 100 tokens; ratio (2/3 x 1/2)^0.5; training seconds to target: steps 2 and 1 at 2 s, median 3
    assert "| 2 of 3 | 150 | 0.58 (n=2) | 3 |" in md
    assert (
        "| sppo | 6e-5 | 3 | 0.625 | +0.125 | ref. | – | – | – | 300 | 6 | 0.637 |" in md
    )  # 3 steps x 2 s of training
    assert "## What each option did (main runs, mean over seeds)" in md
    assert "| sppo | 3 | – | – | – | – | – | 0.500 | 0.500 | – |" in md  # its step-0 validation is its only one
    data = json.loads((tmp_path / "u_shaped" / "comparison.json").read_text())
    assert data["activity"]["sppo"]["seeds"] == 3
    # 3 arms with a tuned lr x 8 main seeds; warmstart's seed 3 is at another lr; seeds 0-2 have every arm
    assert data["main_progress"] == {"recorded": 9, "planned": 24, "complete_seeds": [0, 1, 2]}
    assert "**Interim: 9 of 24 main runs recorded** (seeds every arm has: 0, 1, 2)." in md
    assert (tmp_path / "u_shaped" / "comparison.png").stat().st_size > 0


def test_main_progress_counts_tuned_runs_and_the_seeds_every_arm_has():
    lrs = {"sppo": "1.5e-4", "no_baseline": "1.5e-4"}
    records = [
        {"arm": "sppo", "lr": "1.5e-4", "seed": 0},
        {"arm": "no_baseline", "lr": "1.5e-4", "seed": 0},
        {"arm": "sppo", "lr": "1.5e-4", "seed": 1},
        {"arm": "no_baseline", "lr": "6e-5", "seed": 1},  # not its tuned lr
        {"arm": "sppo", "lr": "1.5e-4", "seed": 100},  # not a main seed
    ]
    assert analysis.main_progress(records, lrs, (0, 1)) == {"recorded": 3, "planned": 4, "complete_seeds": [0]}
    done = records[:3] + [{"arm": "no_baseline", "lr": "1.5e-4", "seed": 1}]
    progress = analysis.main_progress(done, lrs, (0, 1))
    assert progress == {"recorded": 4, "planned": 4, "complete_seeds": [0, 1]}
    assert report.progress_markdown(progress) == ["Main phase complete: 4 of 4 runs.", ""]
    assert analysis.main_progress([], {}, (0, 1)) == {"recorded": 0, "planned": 0, "complete_seeds": []}


def test_option_activity_means_over_seeds_at_the_tuned_lr():
    def rec(arm, seed, lr="6e-5", validations=(), **series):
        return {"arm": arm, "seed": seed, "lr": lr, "validations": list(validations), **series}

    records = [
        rec(
            "sppo",
            0,
            validations=[_val(0, 0, 0.4, 0.0), _val(20, 20, 0.8, 0.0)],
            response_clip_ratio=[0.1, 0.3],
            critic_explained_var=[0.1, 0.3, 0.5],
            adaptive_norm_normalizing=[None, None],
        ),
        rec(
            "sppo",
            1,
            validations=[_val(0, 0, 0.6, 0.0), _val(20, 20, 0.9, 0.0)],
            response_clip_ratio=[0.0, 0.2],
            critic_explained_var=[0.2, 0.2, 0.6],
        ),
        rec("sppo", 2, lr="1.5e-4", response_clip_ratio=[1.0, 1.0]),  # not its tuned lr: left out
        rec("sppo_adaptive_norm", 0, adaptive_norm_normalizing=[1.0, 1.0, 0.0]),
        rec("sppo_adaptive_norm", 1, adaptive_norm_normalizing=[1.0, 0.0, 0.0]),
        rec("sppo_trunc_mask", 0, truncation_share=[0.25, None, 0.75]),
        rec("sppo_adaptive_n", 0, adaptive_n_sigmoid_v_std=[0.1, 0.3], adaptive_n_multi_sample_share=[0.75, 0.75]),
        rec("sppo_adaptive_n", 1),  # a record from before the series was kept
    ]
    lrs = dict.fromkeys(("sppo", "sppo_adaptive_norm", "sppo_trunc_mask", "sppo_adaptive_n"), "6e-5")
    out = analysis.option_activity(records, lrs, (0, 1, 2), last=2)
    sppo = out["sppo"]
    assert sppo["seeds"] == 2 and sppo["clip_ratio"] == pytest.approx(0.15)  # seeds 0.2 and 0.1
    assert sppo["auc_first_update"] == pytest.approx(0.5) and sppo["auc_end"] == pytest.approx(0.85)
    assert sppo["explained_var_end"] == pytest.approx(0.4)  # last 2 steps: 0.4 and 0.4
    assert sppo["normalised_steps"] is None  # the option was off: nothing logged
    assert out["sppo_adaptive_norm"]["normalised_steps"] == 1.5  # 2 and 1 steps before the hand-over
    assert out["sppo_adaptive_norm"]["auc_end"] is None  # no validation in these records
    assert out["sppo_trunc_mask"]["truncation_share"] == 0.5
    n = out["sppo_adaptive_n"]
    assert n["seeds"] == 2 and n["sigmoid_v_std"] == pytest.approx(0.2) and n["multi_sample_share"] == 0.75
