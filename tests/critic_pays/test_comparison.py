"""The comparison harness: its plan (SPPO first, tuned lrs), lr selection, per-run records, and one real run."""

from __future__ import annotations

import json

import pytest

from sppo.cli_errors import UserError
from sppo_lab.critic_pays import comparison as cmp
from sppo_lab.critic_pays import sharpening


def _record(arm, lr, seed, val):
    return {"arm": arm, "lr": lr, "seed": seed, "val_after_mix": val}


def test_sweep_plan_runs_sppo_first_and_grpo_last_in_each_seed():
    todo = cmp.plan("sweep", "u_shaped", ["grpo", "no_baseline", "sppo"], [100], lrs=["1e-5", "3e-5"])
    assert todo == [
        ("sppo", "1e-5", 100),
        ("no_baseline", "1e-5", 100),
        ("grpo", "1e-5", 100),
        ("sppo", "3e-5", 100),
        ("no_baseline", "3e-5", 100),
        ("grpo", "3e-5", 100),
    ]


def test_best_lr_is_the_highest_mean_held_out_success_over_both_sweep_seeds():
    a, b = "2e-5", "6e-5"
    s0, s1 = cmp.SWEEP_SEEDS
    records = [
        _record("sppo", a, s0, 0.60),
        _record("sppo", a, s1, 0.62),
        _record("sppo", b, s0, 0.70),
        _record("sppo", b, s1, 0.50),  # mean 0.60 < 0.61
        _record("no_baseline", a, s0, 0.6),
        _record("no_baseline", b, s0, 0.7),
        _record("no_baseline", b, s1, 0.7),  # lr a misses a seed: the sweep is incomplete
        _record("gae", a, s0, 0.5),
        _record("gae", a, s1, 0.5),
        _record("gae", b, s0, 0.5),
        _record("gae", b, s1, 0.5),  # a tie goes to the smaller lr
    ]
    assert cmp.best_lrs(records, lrs=(a, b)) == {"sppo": a, "gae": min(a, b, key=float)}
    assert cmp.best_lrs(records, lrs=(a, b, "1e-4")) == {}  # a third lr not swept yet: no arm is finished


def test_each_mix_sweeps_its_own_grid_and_its_main_phase_chooses_from_it(tmp_path):
    assert cmp.SWEEP_LRS["graded"] == ("6e-5", "1.5e-4", "4e-4")
    todo = cmp.plan("sweep", "graded", ["sppo"], [100], results=tmp_path)
    assert todo == [("sppo", "6e-5", 100), ("sppo", "1.5e-4", 100), ("sppo", "4e-4", 100)]
    runs = tmp_path / "graded" / "runs"
    runs.mkdir(parents=True)
    values = {("6e-5", 100): 0.40, ("1.5e-4", 100): 0.50, ("6e-5", 101): 0.44, ("1.5e-4", 101): 0.42}
    values |= {("4e-4", 100): 0.20}  # collapsed on seed 100 (0.30 below 1.5e-4): done without seed 101
    values |= {("2e-5", 100): 0.90}  # an lr off the mix's grid is never chosen and prunes nothing
    for (lr, seed), v in values.items():
        (runs / f"{cmp.run_name('sppo', lr, seed)}.json").write_text(json.dumps(_record("sppo", lr, seed, v)))
    assert cmp.plan("main", "graded", ["sppo"], [0, 1], results=tmp_path) == [
        ("sppo", "1.5e-4", 0),
        ("sppo", "1.5e-4", 1),
    ]
    with pytest.raises(UserError, match="sweep is not finished for sppo"):  # u_shaped's grid has 4 lrs
        cmp.plan("main", "u_shaped", ["sppo"], [0], results=tmp_path)


def test_a_column_swept_with_lrs_collapses_against_the_lrs_already_swept(tmp_path):
    runs = tmp_path / "u_shaped" / "runs"
    runs.mkdir(parents=True)
    for lr, v in (("6e-5", 0.60), ("1.5e-4", 0.80), ("1e-3", 0.50)):  # 1e-3: 0.30 below 1.5e-4's 0.80
        (runs / f"{cmp.run_name('sppo', lr, 100)}.json").write_text(json.dumps(_record("sppo", lr, 100, v)))
    assert cmp.plan("sweep", "u_shaped", ["sppo"], [101], results=tmp_path, lrs=["1e-3"]) == []
    assert cmp.plan("sweep", "u_shaped", ["sppo"], [101], results=tmp_path, lrs=["6e-5"]) == [("sppo", "6e-5", 101)]


def test_main_plan_refuses_an_unfinished_sweep(tmp_path):
    with pytest.raises(UserError, match="sweep is not finished for sppo"):
        cmp.plan("main", "u_shaped", ["sppo"], [0], results=tmp_path)


def test_summarize_run_reads_verl_rows():
    rows = [
        {"step": 1, "data": {cmp.REWARD_KEY: 0.5, "timing_s/step": 2.0, "actor/pg_clipfrac": 0.0}},
        {"step": 2, "data": {cmp.REWARD_KEY: 0.75, "timing_s/step": 1.5, "actor/pg_loss": 0.1}},
        {"step": 2, "data": {"val-core/sppo_graded_k02/acc/mean@16": 1.0, "val-core/sppo_graded_k12/acc/mean@16": 0.5}},
    ]
    s = cmp.summarize_run(rows, "u_shaped")
    assert s["steps"] == 2 and s["actor_updates_steps"] == 1 and s["train_seconds"] == 3.5
    assert s["reward"] == [0.5, 0.75] and s["clipfrac"] == [0.0, None]
    assert s["val_after"] == {"2": 1.0, "12": 0.5}
    assert s["val_after_mix"] == pytest.approx(0.5 * 1.0 + 0.1 * 0.5)


def test_arm_overrides_come_last(tmp_path):
    info = {"policy": "p", "critic": "c", "train": "t", "val": "v"}
    ov = cmp.overrides(cmp.ARMS["grpo"], "6e-5", 3, info, tmp_path, 13, -1)
    minis = [o for o in ov if o.startswith("actor_rollout_ref.actor.ppo_mini_batch_size=")]
    assert minis == ["actor_rollout_ref.actor.ppo_mini_batch_size=16", "actor_rollout_ref.actor.ppo_mini_batch_size=4"]
    assert "actor_rollout_ref.rollout.n=8" in ov and "trainer.total_training_steps=13" in ov
    assert "actor_rollout_ref.actor.optim.lr=6e-5" in ov and "data.seed=3" in ov
    assert not any(o.startswith("sppo.max_train_seconds") for o in ov)  # a fixed step budget, not the clock
    prefit = cmp.overrides(cmp.ARMS["sppo_prefit"], "2e-5", 3, info, tmp_path, 60 + 9, -1)
    assert "trainer.critic_warmup=10" in prefit and "trainer.total_training_steps=69" in prefit


def test_budgets_in_steps_equal_updates_and_equal_time():
    calibration = {"grpo_over_sppo": 4.8}
    assert cmp.budget_steps(cmp.ARMS["sppo"], 60, None) == 60
    assert cmp.budget_steps(cmp.ARMS["sppo_prefit"], 60, None) == 69  # + the 9 critic-only steps
    assert cmp.budget_steps(cmp.ARMS["grpo_updates"], 60, None) == 15  # 4 optimizer updates a step
    assert cmp.budget_steps(cmp.ARMS["grpo"], 60, calibration) == 12  # round(60 / 4.8) = 12.5 -> 12 (banker's)
    assert cmp.budget_steps(cmp.ARMS["grpo"], 60, {"grpo_over_sppo": 4.0}) == 15
    with pytest.raises(UserError, match="time calibration"):
        cmp.budget_steps(cmp.ARMS["grpo"], 60, None)


def test_grpo_updates_takes_grpos_lr_and_is_not_swept():
    s0, s1 = cmp.SWEEP_SEEDS
    records = [_record("grpo", lr, s, v) for lr, v in (("2e-5", 0.6), ("6e-5", 0.7)) for s in (s0, s1)]
    assert cmp.best_lrs(records, lrs=("2e-5", "6e-5")) == {"grpo": "6e-5", "grpo_updates": "6e-5"}
    todo = cmp.plan("sweep", "u_shaped", ["grpo_updates", "grpo", "sppo"], [s0], lrs=["2e-5"])
    assert todo == [("sppo", "2e-5", s0), ("grpo", "2e-5", s0)]


def test_calibration_median_and_ratio(tmp_path, monkeypatch):
    """Two rounds alternate SPPO and GRPO; the first 2 steps of each run are left out; the file is the result."""
    calls = []

    def fake_launch(arm, lr, seed, mix, work, total, save_freq, run_dir=None):
        calls.append((arm.name, total, run_dir.name))
        per_step = {"sppo": 1.0, "grpo": 5.0}[arm.name] * (1 + 0.1 * len(calls))
        return {"step_s": [30.0, 9.0] + [per_step] * (total - 2)}

    monkeypatch.setattr(cmp, "launch", fake_launch)
    out = cmp.calibrate("u_shaped", tmp_path / "w", tmp_path / "r")
    steps = cmp.CALIBRATION_STEPS
    assert calls == [
        ("sppo", steps, "sppo_0"),
        ("grpo", steps, "grpo_0"),
        ("sppo", steps, "sppo_1"),
        ("grpo", steps, "grpo_1"),
    ]
    # sppo: 1.1 and 1.3 (10 steps each) -> median 1.2; grpo: 6.0 and 7.0 -> 6.5
    assert out["sppo_step_s"] == 1.2 and out["grpo_step_s"] == 6.5 and out["grpo_over_sppo"] == round(6.5 / 1.2, 3)
    assert cmp.calibrate("u_shaped", tmp_path / "w", tmp_path / "r") == out and len(calls) == 4  # not rerun


@pytest.mark.ray
def test_a_no_baseline_run_through_verl_writes_its_record_and_is_skipped_on_rerun(tmp_path):
    """The real pipeline: the U-shaped mix from its committed warm start, verl's trainer with A = R, 2 steps."""
    argv = ["run", "--mix", "u_shaped", "--phase", "sweep", "--arms", "no_baseline", "--seeds", "100", "--lrs", "2e-5"]
    argv += ["--steps", "2", "--work", str(tmp_path / "work"), "--results", str(tmp_path / "results")]
    assert cmp.main(argv) == 0
    (path,) = (tmp_path / "results" / "u_shaped" / "runs").glob("*.json")
    record = json.loads(path.read_text())
    assert path.name == "no_baseline__lr2e-5__seed100.json"
    assert record["estimator"] == "no_baseline" and record["steps"] == 2 and record["actor_updates_steps"] == 2
    assert sorted(record["val_after"], key=int) == ["2", "4", "6", "8", "10", "12"]
    assert 0.0 <= record["val_after_mix"] <= 1.0
    mtime = path.stat().st_mtime
    assert cmp.main(argv) == 0  # the record is the resume point: nothing reruns
    assert path.stat().st_mtime == mtime
    # the sharpening analysis reads the same run's real verl metrics: pass@1/4/16 at every level, entropy each step
    (entry,) = sharpening.collect("u_shaped", tmp_path / "work", tmp_path / "results").values()
    assert sorted(entry["by_level"], key=int) == ["2", "4", "6", "8", "10", "12"]
    for level, cells in entry["by_level"].items():
        assert cells["pass@1"] == record["val_after"][level]
        assert 0.0 <= cells["pass@1"] <= cells["pass@4"] <= cells["pass@16"] <= 1.0
    assert len(entry["entropy"]) == 2 and all(e > 0 for e in entry["entropy"])


def test_run_script_runs_each_part_with_its_settings(tmp_path):
    """PYTHON=echo prints each part's command instead of running it."""
    import os
    import subprocess

    from tests.conftest import REPO

    script = REPO / "run_scripts" / "run_critic_pays.sh"
    env = dict(
        os.environ, PYTHON="echo", WORK=str(tmp_path / "w"), PARTS="checkpoints variance main_u confirm_u report"
    )
    done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if not line.startswith("[critic-pays]")]
    ckpt_u, ckpt_g, var_u, var_g, main_u, confirm_u, rep = lines
    assert ckpt_u.endswith("--mix u_shaped --phase sweep --arms sppo --seeds 100 --lrs 2e-5 --checkpoint-run")
    assert "--mix graded" in ckpt_g
    step20 = f"{tmp_path}/w/u_shaped/runs/sppo__lr2e-5__seed100/checkpoints/global_step_20"
    assert var_u.startswith("-m sppo_lab.critic_pays.gradient_variance --mix u_shaped") and f"warm {step20} " in var_u
    assert var_g.endswith("graded/runs/sppo__lr2e-5__seed100/checkpoints/global_step_60")
    assert confirm_u.endswith("--mix u_shaped --phase confirm")
    assert (
        main_u.endswith("--mix u_shaped --phase main") and rep == f"-m sppo_lab.critic_pays.report --work {tmp_path}/w"
    )
    bad = subprocess.run(["bash", str(script)], env=dict(env, PARTS="sweep_u plots"), capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        "run_critic_pays.sh: unknown part 'plots' (allowed: checkpoints variance sweep_u main_u confirm_u sweep_graded main_graded report)"
    ]


def test_an_lr_that_collapsed_on_the_first_sweep_seed_is_not_run_on_the_second(tmp_path):
    s0, s1 = cmp.SWEEP_SEEDS
    runs = tmp_path / "u_shaped" / "runs"
    runs.mkdir(parents=True)
    first = {"2e-5": 0.60, "6e-5": 0.70, "1.5e-4": 0.46, "4e-4": 0.44}  # 0.70 - 0.25 = 0.45: only 4e-4 collapsed
    for lr, v in first.items():
        (runs / f"{cmp.run_name('sppo', lr, s0)}.json").write_text(json.dumps(_record("sppo", lr, s0, v)))
    records = cmp.load_records("u_shaped", tmp_path)
    grid = cmp.SWEEP_LRS["u_shaped"]
    assert cmp.pruned_lrs(records, "sppo", grid) == {"4e-4"} and cmp.pruned_lrs(records, "gae", grid) == set()
    todo = cmp.plan("sweep", "u_shaped", ["sppo"], None, results=tmp_path)
    assert [(lr, s) for _, lr, s in todo if s == s1] == [("2e-5", s1), ("6e-5", s1), ("1.5e-4", s1)]
    assert cmp.best_lrs(records, cmp.SWEEP_LRS["u_shaped"]) == {}  # the second seed is still missing at the other lrs
    second = [_record("sppo", lr, s1, v) for lr, v in (("2e-5", 0.62), ("6e-5", 0.64), ("1.5e-4", 0.50))]
    assert cmp.best_lrs(records + second, cmp.SWEEP_LRS["u_shaped"]) == {
        "sppo": "6e-5"
    }  # mean 0.67 over 0.61 and 0.48; 4e-4 was pruned


def test_one_sweep_invocation_skips_an_lr_that_collapsed_on_its_first_seed(tmp_path, monkeypatch):
    """Both sweep seeds in one command: the collapse on seed 100 is seen before seed 101's runs start."""
    values = {("2e-5", 100): 0.60, ("6e-5", 100): 0.30, ("2e-5", 101): 0.61}  # 0.30 < 0.60 - 0.25: collapsed
    calls = []

    def fake_launch(arm, lr, seed, mix, work, total, save_freq, run_dir=None):
        calls.append((lr, seed))
        return {**_record(arm.name, lr, seed, values[(lr, seed)]), "steps": total, "train_seconds": 1.0, "wall_s": 1.0}

    monkeypatch.setattr(cmp, "launch", fake_launch)
    argv = ["run", "--mix", "u_shaped", "--phase", "sweep", "--arms", "sppo", "--lrs", "2e-5", "6e-5"]
    argv += ["--work", str(tmp_path / "w"), "--results", str(tmp_path / "r")]
    assert cmp.main(argv) == 0
    assert calls == [("2e-5", 100), ("6e-5", 100), ("2e-5", 101)]
    assert cmp.best_lrs(cmp.load_records("u_shaped", tmp_path / "r"), lrs=("2e-5", "6e-5")) == {"sppo": "2e-5"}


def test_a_failed_run_leaves_no_record_and_the_rerun_retries_only_it(tmp_path, monkeypatch, capsys):
    calls = []

    def fake_launch(arm, lr, seed, mix, work, total, save_freq, run_dir=None):
        calls.append(lr)
        if lr == "6e-5" and len(calls) < 3:
            raise RuntimeError("training failed: see run.log")
        return {**_record(arm.name, lr, seed, 0.6), "steps": total, "train_seconds": 2.0, "wall_s": 3.0}

    monkeypatch.setattr(cmp, "launch", fake_launch)
    argv = ["run", "--mix", "u_shaped", "--phase", "sweep", "--arms", "sppo", "--seeds", "100", "--lrs", "2e-5"]
    argv += ["6e-5", "--work", str(tmp_path / "w"), "--results", str(tmp_path / "r")]
    assert cmp.main(argv) == 1
    out, err = capsys.readouterr()
    assert "[critic-pays] done: held-out 0.600, 60 steps, 2 s of training, wall 3 s" in out
    assert err.splitlines() == [
        "[critic-pays] training failed: see run.log",
        "[critic-pays] failed (rerun to retry): sppo__lr6e-5__seed100",
    ]
    assert sorted(p.name for p in cmp.records_dir("u_shaped", tmp_path / "r").iterdir()) == [
        "sppo__lr2e-5__seed100.json"
    ]
    assert cmp.main(argv) == 0 and calls == ["2e-5", "6e-5", "6e-5"]


def test_confirm_plan_is_the_main_runs_of_the_confirm_arms_on_fresh_seeds(tmp_path):
    runs = tmp_path / "u_shaped" / "runs"
    runs.mkdir(parents=True)
    for arm in ("sppo", "no_baseline", "grpo"):
        for seed in cmp.SWEEP_SEEDS:
            for lr in cmp.SWEEP_LRS["u_shaped"]:
                rec = _record(arm, lr, seed, 0.7 if lr == "6e-5" else 0.5)
                (runs / f"{cmp.run_name(arm, lr, seed)}.json").write_text(json.dumps(rec))
    todo = cmp.plan("confirm", "u_shaped", None, None, results=tmp_path)
    assert not set(cmp.CONFIRM_SEEDS) & (set(cmp.MAIN_SEEDS) | set(cmp.SWEEP_SEEDS))
    assert todo[:3] == [("sppo", "6e-5", 8), ("no_baseline", "6e-5", 8), ("grpo", "6e-5", 8)]
    assert len(todo) == 3 * len(cmp.CONFIRM_SEEDS) and {s for _, _, s in todo} == set(cmp.CONFIRM_SEEDS)
    # the same runs as the main phase on those seeds: records are shared, nothing reruns
    assert todo == cmp.plan("main", "u_shaped", ["grpo", "sppo", "no_baseline"], list(cmp.CONFIRM_SEEDS), tmp_path)


def test_a_phase_with_nothing_to_run_is_one_line_and_exit_2(tmp_path, capsys):
    """grpo_updates takes GRPO's lr and is not swept: a sweep of it alone has no runs."""
    argv = ["run", "--mix", "u_shaped", "--phase", "sweep", "--arms", "grpo_updates"]
    assert cmp.main([*argv, "--work", str(tmp_path / "w"), "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"{cmp.PROG}: error: --phase sweep: nothing to run for these arms and seeds"]
