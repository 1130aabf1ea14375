"""The critic-pays report's statistics on hand values: Holm's adjustment, paired simultaneous intervals, the lr
sweep and the comparison table from run records."""

from __future__ import annotations

import json
import math

import pytest

from sppo_lab.critic_pays import comparison as cmp
from sppo_lab.critic_pays import report


def test_holm_step_down_hand_values():
    # sorted 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04, raised to 0.06 by monotonicity)
    assert report.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert report.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1


def test_paired_interval_p_value_and_detectable_difference():
    t = report.paired([0.1, 0.2, 0.3], family=1)
    se = 0.1 / math.sqrt(3)
    assert t["mean"] == pytest.approx(0.2) and t["sd"] == pytest.approx(0.1)
    assert (t["low"], t["high"]) == pytest.approx((0.2 - 4.302653 * se, 0.2 + 4.302653 * se), abs=1e-5)
    assert t["p"] == pytest.approx(0.0742, abs=5e-4)  # t = 3.464, df 2
    assert t["detectable"] == pytest.approx((4.302653 + 1.060660) * se, abs=1e-5)
    # a family of 6: each interval at 1 - 0.05/6 (t_{0.99583, 2} = 10.886)
    wide = report.paired([0.1, 0.2, 0.3], family=6)
    assert wide["high"] - wide["mean"] == pytest.approx(10.886 * se, rel=1e-3)


def _rec(arm, lr, seed, val, rewards=(0.5,) * 12, step_s=None):
    return {
        "step_s": list(step_s or [9.0, 9.0] + [1.0] * (len(rewards) - 2)),
        "arm": arm,
        "lr": lr,
        "seed": seed,
        "val_after_mix": val,
        "val_after": {"2": val},
        "reward": list(rewards),
        "steps": len(rewards),
        "actor_updates_steps": len(rewards),
        "train_seconds": 100.0,
    }


def test_sweep_table_judges_collapses_on_the_mix_grid_only():
    records = [
        {"arm": "sppo", "lr": "2e-5", "seed": 100, "val_after_mix": 0.90},  # off the grid: shown, prunes nothing
        {"arm": "sppo", "lr": "6e-5", "seed": 100, "val_after_mix": 0.60},
        {"arm": "sppo", "lr": "1.5e-4", "seed": 100, "val_after_mix": 0.30},  # 0.30 below 6e-5: collapsed
    ]
    table = report.sweep_table(records, ("6e-5", "1.5e-4"))
    assert {lr: cell["pruned"] for lr, cell in table["sppo"].items()} == {"2e-5": False, "6e-5": False, "1.5e-4": True}
    assert table["sppo"]["6e-5"]["values"] == [0.60]


def test_comparison_pairs_seeds_against_sppo_at_the_tuned_lrs(tmp_path):
    lo, hi, *others = cmp.SWEEP_LRS["u_shaped"]
    records = []
    for seed in cmp.SWEEP_SEEDS:
        records += [_rec("sppo", lo, seed, 0.60), _rec("sppo", hi, seed, 0.50)]
        records += [_rec("no_baseline", lo, seed, 0.55), _rec("no_baseline", hi, seed, 0.65)]
        records += [_rec(arm, lr, seed, 0.1) for lr in others for arm in ("sppo", "no_baseline")]
    for seed, (s, n) in enumerate([(0.60, 0.70), (0.62, 0.70), (0.58, 0.71)]):
        records += [_rec("sppo", lo, seed, s), _rec("no_baseline", hi, seed, n), _rec("no_baseline", lo, seed, 0.0)]
    lrs = cmp.best_lrs(records, cmp.SWEEP_LRS["u_shaped"])
    assert lrs == {"sppo": lo, "no_baseline": hi}
    comp = report.comparison(records, lrs)
    assert comp["family"] == 1
    nb = comp["arms"]["no_baseline"]
    assert nb["held_out"] == [0.70, 0.70, 0.71] and nb["seeds"] == [0, 1, 2]
    assert nb["minus_sppo"]["mean"] == pytest.approx((0.10 + 0.08 + 0.13) / 3)
    assert nb["minus_sppo"]["p_holm"] == nb["minus_sppo"]["p"]  # a family of one
    assert comp["arms"]["sppo"]["final_train_reward"] == [0.5, 0.5, 0.5]

    out = tmp_path / "u_shaped" / "runs"
    out.mkdir(parents=True)
    for r in records:
        (out / f"{cmp.run_name(r['arm'], r['lr'], r['seed'])}.json").write_text(json.dumps(r))
    md = report.write_mix_report("u_shaped", tmp_path)
    text = md.read_text()
    assert f"| no_baseline | {hi} | 3 | 0.703 | +0.103 |" in text
    assert "| no_baseline | 0.703 |" in text.split("by level")[1]  # the records' one level: (0.70 + 0.70 + 0.71) / 3
    assert json.loads((tmp_path / "u_shaped" / "comparison.json").read_text())["lrs"] == lrs
    assert "Confirmatory" not in text  # no confirm seeds yet

    # the confirmatory phase: fresh seeds, its own family (here no_baseline alone), kept apart from the main seeds
    for seed, (s, n) in zip(cmp.CONFIRM_SEEDS, [(0.5, 0.9), (0.6, 0.8), (0.55, 0.95)]):
        for r in (_rec("sppo", lo, seed, s), _rec("no_baseline", hi, seed, n)):
            (out / f"{cmp.run_name(r['arm'], r['lr'], r['seed'])}.json").write_text(json.dumps(r))
    text = report.write_mix_report("u_shaped", tmp_path).read_text()
    assert f"| no_baseline | {hi} | 3 | 0.703 | +0.103 |" in text  # the main table is unchanged
    confirm = json.loads((tmp_path / "u_shaped" / "comparison.json").read_text())["confirm"]
    assert confirm["family"] == 1 and confirm["arms"]["no_baseline"]["seeds"] == list(cmp.CONFIRM_SEEDS[:3])
    assert confirm["arms"]["no_baseline"]["minus_sppo"]["mean"] == pytest.approx((0.4 + 0.2 + 0.4) / 3)
    assert f"| no_baseline | {hi} | 3 | 0.883 | +0.333 |" in text.split("Confirmatory")[1]
    assert (tmp_path / "u_shaped" / "comparison.png").stat().st_size > 10_000


def test_levels_table_averages_each_level_over_seeds():
    comp = {
        "arms": {
            "sppo": {"val_after_by_level": [{"2": 1.0, "12": 0.0}, {"2": 0.5, "12": 0.25}]},
            "no_baseline": {"val_after_by_level": [{"2": 0.75, "10": 0.5}]},
        }
    }
    lines = report.levels_markdown(comp)
    assert lines[2] == "| arm | k = 2 | k = 10 | k = 12 |"  # levels in numeric order, not string order
    assert lines[4] == "| sppo | 0.750 | – | 0.125 |"
    assert lines[5] == "| no_baseline | 0.750 | 0.500 | – |"
    assert report.levels_markdown({"arms": {}}) == []


def test_time_per_step_is_a_ratio_of_medians_without_warm_up_steps():
    """SPPO runs: median step s 1.0 and 3.0 (run medians) -> 2.0; no_baseline 1.0 and 2.0 -> 1.5: ratio 0.75.
    Each run's first 2 steps (here 50 s) are left out; GRPO's ratio is the calibration's."""
    records = [
        _rec("sppo", "2e-5", 0, 0.5, rewards=(0.5,) * 5, step_s=[50, 50, 1, 1, 9]),
        _rec("sppo", "2e-5", 1, 0.5, rewards=(0.5,) * 5, step_s=[50, 50, 3, 3, 3]),
        _rec("no_baseline", "2e-5", 0, 0.5, rewards=(0.5,) * 5, step_s=[50, 50, 1, 1, 1]),
        _rec("no_baseline", "2e-5", 1, 0.5, rewards=(0.5,) * 5, step_s=[50, 50, 2, 2, 0.1]),
        _rec("grpo", "2e-5", 0, 0.5, rewards=(0.5,) * 5),
    ]
    lrs = {"sppo": "2e-5", "no_baseline": "2e-5", "grpo": "2e-5"}
    comp = report.comparison(records, lrs, seeds=(0, 1))
    ratios = report.time_per_step_vs_sppo(comp, records, {"grpo_over_sppo": 4.8})
    assert ratios == {"sppo": 1.0, "no_baseline": 0.75, "grpo": 4.8}
    assert report.time_per_step_vs_sppo(comp, records, None)["grpo"] is None


def test_gradient_variance_table_and_figure(tmp_path):
    from sppo_lab.critic_pays.gradient_variance import BASELINES

    entry = {
        "success": 0.5,
        "eta2": 0.71,
        "eta2_token_weighted": 0.56,
        "sq_norm_correct": 31.0,
        "sq_norm_wrong": 11580.0,
        "baselines": {b: {"variance_vs_none": float(i + 1), "cosine_to_full": 0.5} for i, b in enumerate(BASELINES)},
    }
    data = {"u_shaped": {"warm": entry, "global_step_20": entry}}
    text = report.gradient_variance_markdown(data)
    assert "| warm | 0.50 | 0.71 | 0.56 | 31.0 | 11580.0 |" in text
    assert "| batch_mean | 2.00 (0.50) | 2.00 (0.50) |" in text
    report.plot_gradient_variance(data, tmp_path / "gv.png")
    assert (tmp_path / "gv.png").stat().st_size > 10_000


def test_moving_average_is_trailing():
    assert report.moving_average([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
    assert report.moving_average([1.0, 3.0], 1) == [1.0, 3.0]
