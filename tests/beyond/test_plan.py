"""The plan of each phase, the resume logic, lr selection, the harness arm's overrides, and the records' series."""

from __future__ import annotations

import json

import pytest

from sppo.cli_errors import UserError
from sppo_lab.beyond_the_paper import plan, records, run
from sppo_lab.beyond_the_paper.arms import ARMS
from sppo_lab.critic_pays import comparison as cmp


def test_check_plan_seed_by_seed_reference_first():
    todo = plan.plan(plan.PHASES["warmstart_check"], ["sppo_warmstart", "sppo"], [0, 1])
    assert todo == [
        ("sppo", "1.5e-4", 0),
        ("sppo_warmstart", "1.5e-4", 0),
        ("sppo", "1.5e-4", 1),
        ("sppo_warmstart", "1.5e-4", 1),
    ]


def test_sweep_plan_covers_every_arm_lr_and_seed():
    todo = plan.plan(plan.PHASES["sweep"])
    assert {a for a, _, _ in todo} == set(ARMS) - {"sppo_warmstart_long"}  # the check's arm is in no comparison
    assert len(todo) == 11 * 2 * 2 and "no_baseline" in {a for a, _, _ in todo}  # the control is swept too
    assert todo[:2] == [("sppo", "6e-5", 100), ("no_baseline", "6e-5", 100)]
    assert todo[-1] == ("reinforce_pp", "1.5e-4", 101)


def _rec(arm, lr, seed, val):
    return {"arm": arm, "lr": lr, "seed": seed, "val_after_mix": val}


def test_best_lr_and_main_plan():
    a, b = "6e-5", "1.5e-4"
    sweep = [
        _rec("sppo", a, 100, 0.5),
        _rec("sppo", a, 101, 0.75),
        _rec("sppo", b, 100, 0.625),
        _rec("sppo", b, 101, 0.625),  # mean 0.625 = a's mean (exact in binary): the tie goes to the smaller lr
        _rec("grpo_k", a, 100, 0.5),
        _rec("grpo_k", a, 101, 0.5),
        _rec("grpo_k", b, 100, 0.7),
        _rec("grpo_k", b, 101, 0.6),
        _rec("reinforce_pp", a, 100, 0.9),  # lr b missing: not finished
    ]
    assert plan.best_lrs(sweep, ("sppo", "grpo_k", "reinforce_pp"), (a, b), (100, 101)) == {"sppo": a, "grpo_k": b}
    todo = plan.plan(plan.PHASES["main"], ["grpo_k", "sppo"], [0, 1], [a, b], sweep)
    assert todo == [("sppo", a, 0), ("grpo_k", b, 0), ("sppo", a, 1), ("grpo_k", b, 1)]
    with pytest.raises(UserError, match="sweep is not finished for reinforce_pp"):
        plan.plan(plan.PHASES["main"], ["sppo", "reinforce_pp"], [0], [a, b], sweep)


def test_pending_skips_records_and_refuses_another_budget(tmp_path):
    todo = [("sppo", "6e-5", 0), ("sppo_warmstart", "6e-5", 0)]
    (tmp_path / "sppo__lr6e-5__seed0.json").write_text(json.dumps({"base_steps": 20}))
    assert plan.pending(todo, tmp_path, 20) == [("sppo_warmstart", "6e-5", 0)]
    with pytest.raises(UserError, match="was made with --steps 20, this run plans 60"):
        plan.pending(todo, tmp_path, 60)


def test_harness_arm_overrides_come_after_the_harness_defaults(tmp_path):
    arm = plan.harness_arm(ARMS["sppo_warmstart"], 20)
    assert arm.overrides == (
        "trainer.critic_warmup=11",
        "sppo.critic_warmstart.epochs=4",
        "trainer.test_freq=10",
        "trainer.val_before_train=False",
    )
    info = {"policy": "p", "critic": "c", "train": "t", "val": "v"}
    ov = cmp.overrides(arm, "1.5e-4", 0, info, tmp_path, 30, -1)
    assert ov[-4:] == list(arm.overrides) and "trainer.total_training_steps=30" in ov
    assert plan.harness_arm(ARMS["sppo_short"], 60).overrides == (
        "data.max_response_length=64",
        "trainer.test_freq=20",
        "trainer.val_before_train=True",
    )
    grpo = plan.harness_arm(ARMS["grpo_k"], 60)
    assert (
        grpo.n == 4 and grpo.estimator == "grpo" and "actor_rollout_ref.actor.ppo_mini_batch_size=8" in grpo.overrides
    )


def _rows():
    """verl's file-logger rows: the validation before training (step 0), a warm-up step, an actor step."""
    val = {f"val-core/sppo_graded_k{k:02d}/acc/mean@16": v for k, v in ((2, 1.0), (12, 0.5))}
    return [
        {"step": 0, "data": {**val, "val-critic/auc": 0.4, "val-critic/spearman": -0.3}},
        {"step": 1, "data": {cmp.REWARD_KEY: 0.5, "response_length/mean": 30.0, "critic_warmstart/replay_rows": 16.0}},
        # verl logs a validation after a training step in that step's row
        {
            "step": 2,
            "data": {
                **{cmp.REWARD_KEY: 0.6, "response_length/mean": 20.5, "actor/pg_loss": 0.1},
                **{**val, "val-critic/auc": 0.8, "val-critic/spearman": 0.7, "val-critic/pearson": 0.6},
                **{"val-critic/auc_ceiling": 0.9, "val-critic/auc_group_ceiling": 0.85},
            },
        },
    ]


def test_study_series_from_verl_rows():
    s = records.study_series(_rows(), ARMS["sppo_warmstart"], "u_shaped")
    assert s["samples"] == [16, 16] and s["generated_tokens"] == [480.0, 328.0]
    assert s["generated_samples_total"] == 32 and s["generated_tokens_total"] == 808.0
    assert s["actor_update"] == [False, True]
    assert s["critic_warmstart_replay_rows"] == [16.0, None]
    mix = 0.5 * 1.0 + 0.1 * 0.5
    assert s["validations"] == [
        {
            "step": 0,
            "actor_updates": 0,
            "held_out_mix": pytest.approx(mix),
            "held_out": {"2": 1.0, "12": 0.5},
            "critic": {"auc": 0.4, "spearman": -0.3, "pearson": None, "auc_ceiling": None, "auc_group_ceiling": None},
        },
        {
            "step": 2,
            "actor_updates": 1,
            "held_out_mix": pytest.approx(mix),
            "held_out": {"2": 1.0, "12": 0.5},
            "critic": {"auc": 0.8, "spearman": 0.7, "pearson": 0.6, "auc_ceiling": 0.9, "auc_group_ceiling": 0.85},
        },
    ]
    adaptive = records.study_series(
        [
            {
                "step": 1,
                "data": {
                    **{cmp.REWARD_KEY: 0.5, "response_length/mean": 10.0, "adaptive_n/samples": 32.0},
                    **{"adaptive_n/sigmoid_v_std": 0.3, "adaptive_n/multi_sample_share": 0.75},
                },
            }
        ],
        ARMS["sppo_adaptive_n"],
        "u_shaped",
    )
    assert adaptive["samples"] == [32] and adaptive["generated_tokens_total"] == 320.0
    assert adaptive["adaptive_n_sigmoid_v_std"] == [0.3] and adaptive["adaptive_n_multi_sample_share"] == [0.75]


def _fake_run_one(calls, fail=()):
    def fake(name, lr, seed, phase, steps, mix, work):
        calls.append((name, lr, seed, steps))
        if name in fail:
            raise RuntimeError(f"{name} failed")
        return {
            "val_after_mix": 0.5,
            "steps": steps,
            "generated_tokens_total": 100.0,
            "wall_s": 1.0,
            "base_steps": steps,
        }

    return fake


def test_run_cli_resumes_from_its_records(tmp_path, monkeypatch, capsys):
    calls: list = []
    monkeypatch.setattr(run, "run_one", _fake_run_one(calls, fail=("sppo_warmstart",)))
    argv = ["--phase", "warmstart_check", "--arms", "sppo", "sppo_warmstart", "--seeds", "0", "--steps", "2"]
    argv += ["--results", str(tmp_path), "--work", str(tmp_path / "w")]
    assert run.main(argv) == 1  # one run failed: no record for it, the others are kept
    assert calls == [("sppo", "1.5e-4", 0, 2), ("sppo_warmstart", "1.5e-4", 0, 2)]
    folder = tmp_path / "u_shaped" / "runs" / "warmstart_check"
    assert sorted(p.name for p in folder.iterdir()) == ["sppo__lr1.5e-4__seed0.json"]
    calls.clear()
    monkeypatch.setattr(run, "run_one", _fake_run_one(calls))
    assert run.main(argv) == 0
    assert calls == [("sppo_warmstart", "1.5e-4", 0, 2)]  # the finished run is skipped
    calls.clear()
    assert run.main([*argv, "--list"]) == 0 and calls == []
    assert capsys.readouterr().out.splitlines()[-1] == "0 of 2 runs left (warmstart_check, u_shaped, base steps 2)"


def test_list_estimates_what_is_left_from_the_records_walls(tmp_path, capsys):
    done = [
        {"arm": "sppo", "wall_s": 100.0, "steps": 20},
        {"arm": "sppo", "wall_s": 140.0, "steps": 20},  # sppo at 20 steps: its own mean, 120 s
        {"arm": "grpo_k", "wall_s": 400.0, "steps": 40},  # the line through (20, 100), (20, 140), (40, 400): mean
        {"arm": "sppo_short", "wall_s": 0.0, "steps": 60},  # (80/3, 640/3), slope (11200/3) / (800/3) = 14 s a step
    ]
    assert plan.estimated_seconds(done, "sppo", 20) == 120.0
    assert plan.estimated_seconds(done, "sppo", 30) == pytest.approx(640 / 3 + 14 * (30 - 80 / 3))  # 260
    assert plan.estimated_seconds(done[:2], "grpo_k", 30) is None  # one step count: no line to fit
    folder = plan.records_dir("u_shaped", "sweep", tmp_path)
    folder.mkdir(parents=True)
    for i, r in enumerate(done):
        (folder / f"r{i}.json").write_text(json.dumps(r))
    argv = ["--phase", "warmstart_check", "--arms", "sppo", "sppo_warmstart", "--seeds", "0", "--steps", "20"]
    assert run.main([*argv, "--results", str(tmp_path), "--list"]) == 0
    # sppo: 20 steps, its own 120 s; the warm start (10 critic-only + 20 steps): 260 s on the line
    assert capsys.readouterr().out.splitlines() == [
        "sppo lr 1.5e-4 seed 0: 20 steps, ≈ 2 min",
        "sppo_warmstart lr 1.5e-4 seed 0: 30 steps, ≈ 4 min",
        "2 of 2 runs left (warmstart_check, u_shaped, base steps 20)",
        "≈ 0.1 h one run at a time, from the walls of the 4 records so far (launch and validation included, "
        "measured beside whatever else ran then)",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--phase", "nope"], "argument --phase: invalid choice: 'nope'"),
        (["--phase", "sweep", "--lrs", "fast"], "--lrs fast: expected a positive number"),
        (["--phase", "sweep", "--lrs", "0"], "--lrs 0: expected a positive number"),
        (["--phase", "sweep", "--steps", "3"], "grpo_k: 3 base steps x 2/4 is not a whole number"),
        (["--phase", "sweep", "--steps", "0"], "argument --steps"),
        (["--phase", "main"], "--phase main: the lr sweep is not finished for sppo,"),
        (["--phase", "sweep", "--arms", "ppo"], "argument --arms: invalid choice: 'ppo'"),
    ],
)
def test_bad_input_is_one_line_exit_2(argv, message, tmp_path, capsys):
    assert run.main([*argv, "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("python -m sppo_lab.beyond_the_paper.run: error: ")
    assert message in err
