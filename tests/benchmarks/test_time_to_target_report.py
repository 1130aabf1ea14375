"""The time-to-target benchmark's analysis on hand-made verl metric rows (values computed by hand)."""

from __future__ import annotations

import json

import pytest

from sppo_lab.benchmarks.time_to_target_report import (
    VAL_KEY,
    markdown_table,
    reward_curve,
    summarize,
    time_to_target,
    write_report,
)


def _rows(rewards, step_s, resp_len=3.0, val=(0.1, 0.4), extra=None):
    rows = [{"step": 0, "data": {VAL_KEY: val[0]}}]
    for k, (r, t) in enumerate(zip(rewards, step_s, strict=True), start=1):
        d = {
            "critic/score/mean": r,
            "timing_s/step": t,
            "timing_s/gen": t / 2,
            "timing_s/update_actor": t / 4,
            "response_length/mean": resp_len,
        }
        d.update(extra or {})
        rows.append({"step": k, "data": d})
    rows.append({"step": len(rewards), "data": {VAL_KEY: val[1]}})
    return rows


SPPO = {
    "method": "sppo",
    "n": 1,
    "batch": 2,
    "seed": 0,
    "peak_rss_gib": 1.5,
    "rows": _rows([0.0, 0.5, 1.0, 1.0], [1, 2, 3, 4]),
}
GRPO = {"method": "grpo", "n": 2, "batch": 2, "seed": 0, "peak_rss_gib": 2.5, "rows": _rows([0.25, 0.75], [5, 5])}


def test_reward_curve_smooths_over_equal_sample_windows():
    curve = reward_curve(SPPO["rows"], samples_per_step=2, window_samples=4)  # window: 2 steps
    assert [p["smoothed"] for p in curve] == [None, 0.25, 0.75, 1.0]
    assert [p["train_s"] for p in curve] == [1, 3, 6, 10]
    assert [p["samples"] for p in curve] == [2, 4, 6, 8]
    assert [p["tokens"] for p in curve] == [6, 12, 18, 24]
    grpo = reward_curve(GRPO["rows"], samples_per_step=4, window_samples=4)  # window: 1 step
    assert [p["smoothed"] for p in grpo] == [0.25, 0.75]


def test_time_to_target_is_the_first_smoothed_hit():
    curve = reward_curve(SPPO["rows"], 2, 4)
    assert time_to_target(curve, 0.5) == {"step": 3, "train_s": 6, "samples": 6, "tokens": 18}
    assert time_to_target(curve, 0.25) == {"step": 2, "train_s": 3, "samples": 4, "tokens": 12}
    assert time_to_target(curve, 1.01) is None


def test_ratios_against_sppo_of_the_same_seed():
    summary = summarize([SPPO, GRPO], targets=[0.5, 0.9], window_samples=4)
    grpo = summary["methods"]["grpo"]
    r = grpo["ratio_vs_sppo"]["0.5"]
    assert r["per_seed"][0]["wall"] == pytest.approx(10 / 6)
    assert r["per_seed"][0]["samples"] == pytest.approx(8 / 6)
    assert not r["any_lower_bound"]
    # GRPO never reaches 0.9 (best 0.75); SPPO does at step 4 (10 s): its whole 10 s is a lower bound
    r9 = grpo["ratio_vs_sppo"]["0.9"]
    assert r9["per_seed"][0] == {"wall": 1.0, "samples": 1.0, "lower_bound": True}
    assert grpo["to_target"]["0.9"]["reached"] == "0/1"
    sppo_run = next(x for x in summary["runs"] if x["method"] == "sppo")
    assert sppo_run["final_reward"] == 1.0
    assert (sppo_run["val_before"], sppo_run["val_after"]) == (0.1, 0.4)
    assert sppo_run["step_phases_s"]["gen"] == pytest.approx(1.25)  # mean of 0.5, 1, 1.5, 2
    assert sppo_run["step_phases_s"]["other"] == pytest.approx(2.5 - 1.25 - 0.625)


def test_seed_spread_and_table(tmp_path):
    sppo1 = dict(SPPO, seed=1, rows=_rows([0.5, 0.5, 1.0, 1.0], [1, 1, 1, 1]))  # hits 0.5 at step 2, 2 s
    grpo1 = dict(GRPO, seed=1, rows=_rows([0.75, 0.75], [4, 4]))  # hits at step 1, 4 s
    summary = summarize([SPPO, GRPO, sppo1, grpo1], targets=[0.5], window_samples=4)
    wall = summary["methods"]["grpo"]["ratio_vs_sppo"]["0.5"]["wall"]
    assert wall["n"] == 2
    assert wall["mean"] == pytest.approx((10 / 6 + 4 / 2) / 2)
    assert wall["std"] == pytest.approx(abs(10 / 6 - 2) / 2**0.5)
    table = markdown_table(summary)
    assert "| grpo | 2 | 2/2 |" in table
    assert "1.83 ± 0.24×" in table
    # 95 % t-interval of the two per-seed ratios: t(0.975, 1) = 12.706 x std / sqrt(2)
    half = 12.706205 * abs(10 / 6 - 2) / 2**0.5 / 2**0.5
    assert wall["ci95"] == pytest.approx(half)
    assert f"(95 % CI {1.8333 - half:.2f}–{1.8333 + half:.2f}×)" in table
    # held-out gains: SPPO 0.4 - 0.1 = 0.3 on both seeds, GRPO 0.3 too: a paired difference of 0 on each seed
    diff = summary["methods"]["grpo"]["held_out_gain_minus_sppo"]
    assert (diff["n"], diff["mean"], diff["std"]) == (2, pytest.approx(0.0), pytest.approx(0.0))
    assert "| grpo | 0.10 ± 0.00 | 0.40 ± 0.00 | 0.30 ± 0.00 | 0.000 ± 0.000 (95 % CI 0.000–0.000) |" in table
    summary["date"], summary["machine"], summary["budget_s"] = "2026-11-22", "test", 10
    write_report(summary, [SPPO, GRPO, sppo1, grpo1], tmp_path, window_samples=4)
    assert json.loads((tmp_path / "time_to_target.json").read_text())["methods"]["grpo"]["seeds"] == [0, 1]
    for name in ("reward_vs_time.png", "step_breakdown.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_peak_gpu_memory_per_role_when_verl_reports_it():
    rows = _rows(
        [0.5, 0.5],
        [1, 1],
        extra={"actor/perf/max_memory_allocated_gb": 3.0, "critic/perf/max_memory_allocated_gb": 1.0},
    )
    rows[1]["data"]["actor/perf/max_memory_allocated_gb"] = 5.0
    summary = summarize([dict(SPPO, rows=rows)], targets=[0.5], window_samples=2)
    assert summary["runs"][0]["peak_gpu_gib"] == {"actor": 5.0, "critic": 1.0}
    assert "actor 5.00, critic 1.00" in markdown_table(summary)


def test_prompt_selection_statistics_are_reported():
    rows = _rows([0.5, 0.5], [1, 1])
    for row, (hit, band) in zip(rows[1:3], [(0.5, 0.75), (0.25, 0.625)], strict=True):
        row["data"].update(
            {
                "prompt_selection/pool_hit_rate": hit,
                "prompt_selection/batch_in_band": band,
                "prompt_selection/shortfall": 1.0,
            }
        )
    summary = summarize([SPPO, dict(SPPO, method="sppo_select", rows=rows)], targets=[0.5], window_samples=2)
    run = next(r for r in summary["runs"] if r["method"] == "sppo_select")
    assert run["prompt_selection"] == {"pool_hit_rate": 0.375, "batch_in_band": 0.6875, "shortfall": 1.0}
    assert "- sppo_select seed 0: band hit rate in the pool 0.38, batch in band 0.69" in markdown_table(summary)
    assert next(r for r in summary["runs"] if r["method"] == "sppo")["prompt_selection"] == {}
    assert "prompt_selection" not in summary["methods"]["sppo"]


def test_prompt_selection_is_aggregated_over_seeds_with_a_t_interval():
    def selected(seed, hit):
        rows = _rows([0.5], [1])
        rows[1]["data"].update(
            {
                "prompt_selection/pool_hit_rate": hit,
                "prompt_selection/batch_in_band": 1.0,
                "prompt_selection/shortfall": 0.0,
            }
        )
        return dict(SPPO, method="sppo_select", seed=seed, rows=rows)

    summary = summarize([selected(0, 0.25), selected(1, 0.75)], targets=[0.5], window_samples=2)
    hit = summary["methods"]["sppo_select"]["prompt_selection"]["pool_hit_rate"]
    # mean 0.5, sample std sqrt(0.125) = 0.35355, half-width t(0.975, 1) * std / sqrt(2) = 12.706 * 0.25 = 3.1765
    assert hit["mean"] == pytest.approx(0.5)
    assert hit["std"] == pytest.approx(0.353553, abs=1e-6)
    assert hit["ci95"] == pytest.approx(12.7062 * 0.25, abs=1e-3)
    assert "| sppo_select | 2 | 0.50 ± 0.35 (95 % CI -2.68–3.68) | 1.00 ± 0.00 (95 % CI 1.00–1.00) |" in markdown_table(
        summary
    )


def test_mean_curve_interpolates_on_the_common_time_span():
    from sppo_lab.benchmarks.time_to_target_report import mean_curve

    xs, ys = mean_curve([[(0.0, 0.0), (10.0, 1.0)], [(0.0, 1.0), (5.0, 1.0), (20.0, 1.0)]], points=3)
    assert xs == [0.0, 5.0, 10.0]
    assert ys == pytest.approx([0.5, 0.75, 1.0])
    assert mean_curve([[(1.0, 0.5)]]) == ([], [])


def test_throughput_and_policy_lag_per_run_and_method():
    lag = "training/off_policy/trajectory_staleness"
    rows = _rows([0.0, 1.0], [2, 6])
    rows[1]["data"].update({f"{lag}/mean": 0.0, f"{lag}/max": 0})
    rows[2]["data"].update({f"{lag}/mean": 0.5, f"{lag}/max": 2})
    async_run = {"method": "sppo_colocate_async", "n": 1, "batch": 2, "seed": 0, "peak_rss_gib": 1.0, "rows": rows}
    summary = summarize([SPPO, async_run], targets=[0.5], window_samples=2)
    run = next(x for x in summary["runs"] if x["method"] == "sppo_colocate_async")
    assert run["samples_per_s"] == pytest.approx(4 / 8)  # 2 steps x 2 samples in 2 + 6 s
    assert run["step_s"] == pytest.approx(4.0)
    assert (run["lag_mean"], run["lag_max"]) == (pytest.approx(0.25), 2)
    sppo = next(x for x in summary["runs"] if x["method"] == "sppo")
    assert (sppo["samples_per_s"], sppo["lag_mean"], sppo["lag_max"]) == (pytest.approx(8 / 10), 0.0, 0)
    assert "| sppo_colocate_async | 0.50 | 4.00 | 0.25 | 2 |" in markdown_table(summary)


def test_held_out_gain_is_paired_with_sppo_of_the_same_seed():
    sppo1 = dict(SPPO, seed=1, rows=_rows([0.5], [1], val=(0.2, 0.3)))  # gain 0.1
    grpo0 = dict(GRPO, rows=_rows([0.5], [1], val=(0.1, 0.6)))  # gain 0.5 vs SPPO seed 0's 0.3: +0.2
    grpo1 = dict(GRPO, seed=1, rows=_rows([0.5], [1], val=(0.3, 0.8)))  # gain 0.5 vs 0.1: +0.4
    grpo2 = dict(GRPO, seed=2, rows=_rows([0.5], [1], val=(0.3, 0.8)))  # no SPPO run of seed 2: not paired
    summary = summarize([SPPO, sppo1, grpo0, grpo1, grpo2], targets=[0.5], window_samples=2)
    diff = summary["methods"]["grpo"]["held_out_gain_minus_sppo"]
    assert diff["n"] == 2 and diff["mean"] == pytest.approx(0.3) and diff["std"] == pytest.approx(0.1 * 2**0.5)
    assert diff["ci95"] == pytest.approx(12.7062 * 0.1, abs=1e-3)
    assert "| sppo | 0.15 ± 0.07 | 0.35 ± 0.07 | 0.20 ± 0.14 | 0 (reference) |" in markdown_table(summary)


def test_held_out_critic_quality_at_the_last_validation():
    def with_critic(seed, spearman, auc):
        rows = _rows([0.5], [1])
        rows[0]["data"]["val-critic/spearman"] = -0.5  # before training: not the one reported
        rows[-1]["data"].update(
            {
                "val-critic/spearman": spearman,
                "val-critic/pearson": 0.5,
                "val-critic/auc": auc,
                "val-critic/samples_per_prompt_min": 16.0,
                "val-critic/k02/sigmoid_v_mean": 0.9,
            }
        )
        return dict(SPPO, seed=seed, rows=rows)

    summary = summarize([with_critic(0, 0.6, 0.7), with_critic(1, 0.8, 0.7), GRPO], targets=[0.5], window_samples=2)
    end = summary["runs"][0]["critic_curve"][-1]
    assert {k: end[k] for k in ("spearman", "pearson", "auc", "samples_per_prompt_min")} == {
        "spearman": 0.6,
        "pearson": 0.5,
        "auc": 0.7,
        "samples_per_prompt_min": 16.0,
    }
    spearman = summary["methods"]["sppo"]["critic_curve"][-1]["spearman"]
    assert spearman["mean"] == pytest.approx(0.7) and spearman["std"] == pytest.approx(0.1 * 2**0.5)
    assert "critic_curve" not in summary["methods"]["grpo"]
    assert (
        "| sppo | end | 1 | 2 | 0.70 ± 0.14 (95 % CI -0.57–1.97) | 0.50 ± 0.00 (95 % CI 0.50–0.50) | "
        "0.70 ± 0.00 (95 % CI 0.70–0.70) | 16 ± 0 |" in markdown_table(summary).splitlines()
    )


def test_generation_share_and_held_out_success_of_either_task():
    from sppo_lab.benchmarks.time_to_target_report import held_out_success

    rows = _rows([0.0, 1.0], [2, 4])
    rows[1]["data"]["timing_s/gen"], rows[2]["data"]["timing_s/gen"] = 1.0, 3.0
    summary = summarize([dict(SPPO, rows=rows)], targets=[0.5], window_samples=2)
    assert summary["runs"][0]["gen_share"] == pytest.approx((1 / 2 + 3 / 4) / 2)
    # the throughput row: 2 steps x 2 samples in 6 s, step 3 s, no lag, generation share 0.62
    assert "| sppo | 0.67 | 3.00 | 0.00 | 0 | 0.62 |" in markdown_table(summary).splitlines()
    graded = {"val-core/sppo_graded_k02/acc/mean@4": 0.75, "val-core/sppo_graded_k10/acc/mean@4": 0.25}
    assert held_out_success({**graded, "val-aux/sppo_graded_k02/acc/std@4": 9.0}) == 0.5
    assert held_out_success({"val-core/sppo_addition/acc/mean@4": 0.4}) == 0.4
    assert held_out_success({"critic/score/mean": 1.0}) is None


def _critic_row(step, spearman, auc, levels):
    data = {"val-critic/spearman": spearman, "val-critic/auc": auc, "val-critic/samples_per_prompt_min": 16.0}
    for group, (sigmoid_v, success) in levels.items():
        data[f"val-critic/{group}/sigmoid_v_mean"] = sigmoid_v
        data[f"val-critic/{group}/success_mean"] = success
    return {"step": step, "data": data}


def test_critic_quality_over_training_per_validation_and_level(tmp_path):
    from sppo_lab.benchmarks.time_to_target_report import critic_quality_curve

    def run(seed, end_step, spearman_mid, spearman_end):
        rows = [
            _critic_row(0, -0.5, 0.3, {"sppo_graded_k02": (0.5, 0.8), "sppo_graded_k10": (0.5, 0.1)}),
            {"step": 1, "data": {"critic/score/mean": 0.5, "timing_s/step": 1.0}},
            _critic_row(2, spearman_mid, 0.7, {"sppo_graded_k02": (0.7, 0.8), "sppo_graded_k10": (0.3, 0.2)}),
            {"step": 3, "data": {"critic/score/mean": 0.5, "timing_s/step": 1.0}},
            _critic_row(end_step, spearman_end, 0.8, {"sppo_graded_k02": (0.9, 0.9), "sppo_graded_k10": (0.1, 0.3)}),
        ]
        return dict(SPPO, seed=seed, rows=rows)

    curve = critic_quality_curve(run(0, 3, 0.6, 0.8)["rows"])
    assert [(p["step"], p["label"], p["spearman"]) for p in curve] == [(0, "0", -0.5), (2, "2", 0.6), (3, "end", 0.8)]
    assert curve[1]["levels"]["sppo_graded_k10"] == {"sigmoid_v": 0.3, "success": 0.2}
    assert "pearson" not in curve[0]  # logged only where defined

    summary = summarize([run(0, 3, 0.6, 0.8), run(1, 5, 0.8, 0.6)], targets=[0.5], window_samples=2)
    agg = summary["methods"]["sppo"]["critic_curve"]
    assert [p["label"] for p in agg] == ["0", "2", "end"]
    assert agg[2]["step"]["mean"] == 4.0 and agg[2]["step"]["n"] == 2  # the runs ended at steps 3 and 5
    assert agg[1]["spearman"]["mean"] == pytest.approx(0.7) and agg[1]["spearman"]["std"] == pytest.approx(0.1 * 2**0.5)
    assert agg[0]["pearson"]["n"] == 0
    table = markdown_table(summary).splitlines()
    # t(0.975, 1 df) = 12.706: half-width 12.706 * 0.1414 / sqrt(2) = 1.27
    assert (
        "| sppo | 2 | 2 | 2 | 0.70 ± 0.14 (95 % CI -0.57–1.97) | – | 0.70 ± 0.00 (95 % CI 0.70–0.70) | 16 ± 0 |"
        in table
    )
    assert (
        "| sppo | end | 4 | 2 | 0.70 ± 0.14 (95 % CI -0.57–1.97) | – | 0.80 ± 0.00 (95 % CI 0.80–0.80) | 16 ± 0 |"
        in table
    )
    assert "| method | validation | k02 | k10 |" in table
    assert "| sppo | 2 | 0.70 / 0.80 | 0.30 / 0.20 |" in table
    assert "| sppo | end | 0.90 / 0.90 | 0.10 / 0.30 |" in table
    write_report(summary, [run(0, 3, 0.6, 0.8), run(1, 5, 0.8, 0.6)], tmp_path, window_samples=2)
    assert (tmp_path / "critic_quality.png").stat().st_size > 0
