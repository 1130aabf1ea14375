"""The quickstart's task, reward, warm-up targets and metrics bookkeeping."""

import json
from pathlib import Path

import pandas as pd
import pytest

from sppo_lab.quickstart import reward, task
from sppo_lab.quickstart.run import _keep_earlier_metrics, parse_args, read_metrics
from sppo_lab.quickstart.warmup import annotator_targets


def test_parquets_in_verl_schema_and_disjoint(tmp_path):
    train, val = task.write_parquets(tmp_path, n_val=20)
    tr, va = pd.read_parquet(train), pd.read_parquet(val)
    assert len(tr) == 80 and len(va) == 20
    row = tr.iloc[0]
    a, b = row["extra_info"]["a"], row["extra_info"]["b"]
    assert list(row["prompt"]) == [{"role": "user", "content": f"What is {a}+{b}?"}]
    assert row["reward_model"]["ground_truth"] == str(a + b)
    assert row["data_source"] == "sppo_addition"
    pairs = lambda df: {(e["a"], e["b"]) for e in df["extra_info"]}  # noqa: E731
    assert not pairs(tr) & pairs(va)


@pytest.mark.parametrize("response, score", [("8", 1.0), (" 8 ", 1.0), ("=8", 0.0), ("9", 0.0), ("", 0.0), ("88", 0.0)])
def test_reward_is_exact_match(response, score):
    assert reward.compute_score("sppo_addition", response, "8") == score


def test_annotator_targets_hand_computed():
    targets = dict(annotator_targets(5, p_correct=0.6, p_plain=0.4))
    assert targets["5"] == pytest.approx(0.24)  # exactly right: right sum AND bare number
    assert targets["=5"] == pytest.approx(0.36)
    assert targets["4"] == pytest.approx(0.08) and targets["=6"] == pytest.approx(0.12)
    assert sum(targets.values()) == pytest.approx(1.0)
    # no negative sums: 0+0 has one wrong neighbour only
    assert dict(annotator_targets(0, 0.6, 0.4)) == pytest.approx({"0": 0.24, "=0": 0.36, "1": 0.16, "=1": 0.24})


def test_metrics_of_an_interrupted_run_are_kept(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(json.dumps({"step": s, "data": {"critic/score/mean": s}}) for s in (1, 2, 3)))
    _keep_earlier_metrics(path)
    assert not path.exists()
    path.write_text(
        "\n".join(json.dumps({"step": s, "data": {"critic/score/mean": 10 * s}}) for s in (3, 4)) + "\n{partial"
    )
    rows = read_metrics(path)
    assert [(r["step"], r["data"]["critic/score/mean"]) for r in rows] == [(1, 1), (2, 2), (3, 30), (4, 40)]


def test_bad_arguments_fail_with_one_line(capsys):
    with pytest.raises(SystemExit) as err:
        parse_args(["--steps", "0"])
    assert err.value.code == 2
    assert "--steps, --batch and --n must be positive" in capsys.readouterr().err


def test_task_option_defaults_to_the_graded_task_with_its_own_steps_and_validations():
    args = parse_args([])
    assert (args.task, args.out, args.steps, args.test_freq) == ("graded", "runs/quickstart_graded", 80, 20)
    plain = parse_args(["--task", "addition"])
    assert (plain.out, plain.steps, plain.test_freq) == ("runs/quickstart", 150, None)
    assert parse_args(["--steps", "40", "--test-freq", "10"]).steps == 40
    with pytest.raises(SystemExit) as err:
        parse_args(["--task", "chess"])
    assert err.value.code == 2


def test_a_run_folder_of_the_other_task_is_refused_with_one_line(tmp_path, capsys):
    from sppo_lab.quickstart.run import main

    (tmp_path / "warmup.json").write_text(json.dumps({"policy_path": "p"}))  # an a+b run (no "task" recorded)
    assert main(["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"python -m sppo_lab.quickstart.run: error: {tmp_path} holds a run of --task addition; use another --out for --task graded\n"
    )


def test_graded_task_overrides_and_per_level_validation():
    from sppo_lab.quickstart.run import trainer_overrides, val_points

    info = {"train_file": "t.parquet", "val_file": "v.parquet", "policy_path": "p", "critic_path": "c"}
    plain = trainer_overrides(parse_args(["--task", "addition"]), info, Path("out"))
    assert (
        "data.max_response_length=6" in plain
        and "reward.custom_reward_function.path=pkg://sppo_lab.quickstart.reward" in plain
    )
    graded = trainer_overrides(parse_args(["--task", "graded"]), info, Path("out"))
    assert "data.max_response_length=128" in graded and "data.max_prompt_length=64" in graded
    assert "reward.custom_reward_function.path=pkg://sppo_lab.graded.reward" in graded
    assert "actor_rollout_ref.actor.optim.lr=2e-5" in graded and "trainer.test_freq=20" in graded
    assert "trainer.total_training_steps=80" in graded and "trainer.test_freq=150" in plain
    halfway = trainer_overrides(
        parse_args(["--task", "graded", "--steps", "120", "--test-freq", "60"]), info, Path("o")
    )
    assert "trainer.test_freq=60" in halfway and "trainer.total_training_steps=120" in halfway
    assert "actor_rollout_ref.rollout.val_kwargs.n=16" in graded  # per-prompt success for val-critic/*
    keys = [f"val-core/sppo_graded_k{k:02d}/acc/mean@16" for k in (2, 4, 6, 8, 10)]
    rows = [
        {"step": 0, "data": {key: 0.1 * i for i, key in enumerate(keys)}},
        {"step": 1, "data": {"critic/score/mean": 0.5}},
        {"step": 2, "data": {key: 0.2 for key in keys}},
    ]
    points, groups = val_points(rows, "graded")
    assert points == [(0, pytest.approx(0.2)), (2, pytest.approx(0.2))]
    assert groups["k2"] == [0.0, 0.2] and groups["k10"] == [pytest.approx(0.4), 0.2]
    assert val_points([{"step": 0, "data": {"val-core/sppo_addition/acc/mean@4": 0.3}}], "addition")[0] == [(0, 0.3)]


def test_graded_task_refuses_a_corrupted_warm_start(tmp_path, monkeypatch, capsys):
    from sppo_lab.graded import warm_start
    from sppo_lab.quickstart.run import main

    folder = tmp_path / "warm_start"
    folder.mkdir()
    for name in warm_start.MODEL_FILES:
        (folder / name).write_text(name)
    warm_start.write_sums(folder)
    (folder / "model.safetensors").write_text("corrupted")
    monkeypatch.setattr(warm_start, "WARM_START_DIR", folder)
    assert main(["--task", "graded", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m sppo_lab.quickstart.run: error: ")
    assert "model.safetensors: sha256" in err and "does not match SHA256SUMS" in err
    assert not (tmp_path / "out" / "warmup.json").exists()


def test_reward_curve_gets_a_critic_quality_panel_when_validations_logged_it(tmp_path):
    from sppo_lab.quickstart.plot import plot_reward_curve

    steps = [{"step": k, "data": {"critic/score/mean": 0.1 * k, "critic/sigmoid_v_mean": 0.5}} for k in (1, 2)]
    critic = [
        {"step": 0, "data": {"val-critic/prompts": 4.0, "val-critic/spearman": -0.5, "val-critic/auc": 0.3}},
        {"step": 2, "data": {"val-critic/prompts": 4.0, "val-critic/spearman": 0.8, "val-critic/auc": 0.7}},
    ]
    for name, rows in (("plain.png", None), ("with_critic.png", critic)):
        plot_reward_curve(steps, [(0, 0.2), (2, 0.4)], tmp_path / name, critic_rows=rows)
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    from PIL import Image

    # the critic panel widens the figure (7 x 4 in -> 12 x 4 in at 110 dpi)
    assert Image.open(tmp_path / "plain.png").size[0] < Image.open(tmp_path / "with_critic.png").size[0]


def critic_row(step: int, spearman: float, levels: dict[int, tuple[float, float]] | None = None) -> dict:
    data = {"val-critic/prompts": 40.0, "val-critic/spearman": spearman}
    for k, (p, s) in (levels or {}).items():
        data[f"val-critic/sppo_graded_k{k:02d}/sigmoid_v_mean"] = p
        data[f"val-critic/sppo_graded_k{k:02d}/success_mean"] = s
    return {"step": step, "data": data}


def test_the_panel_titles_say_what_the_numbers_show():
    from sppo_lab.quickstart.plot import critic_headline, level_label, levels_headline, success_headline

    assert success_headline([(0, 0.375), (20, 0.5), (80, 0.55)]) == "held-out success rises: 0.38 → 0.55"
    assert success_headline([(0, 0.5), (80, 0.25)]) == "held-out success does not rise: 0.50 → 0.25"
    assert success_headline([(0, 0.5)]) == "held-out success: 0.50"
    levels = {2: (0.6, 0.8), 4: (0.3, 0.5)}
    rows = [critic_row(0, -0.5, levels), critic_row(20, 0.82, levels), critic_row(40, 0.4, levels)]
    assert critic_headline(rows[:2]) == (
        "σ(V) ranks held-out prompts by difficulty\nSpearman -0.50 (step 0) → +0.82 (step 20)"
    )
    # more than three validations: the first, the second and the last
    four = [*rows[:2], critic_row(30, 0.1), critic_row(40, 0.7, levels)]
    assert critic_headline(four).endswith("Spearman -0.50 (step 0) → +0.82 (step 20) → +0.70 (step 40)")
    assert critic_headline(rows).startswith("σ(V) does not rank held-out prompts by difficulty\n")
    assert critic_headline([critic_row(0, 0.1)]).startswith("σ(V) vs held-out prompt success (a+b: ")
    # σ(V) (0.2, 0.6, 0.3) against success (0.8, 0.5, 0.5): deviations (-1/6, 7/30, -1/15) and (0.2, -0.1, -0.1),
    # Pearson = -0.05 / sqrt(0.08667 * 0.06) = -0.6934
    three = critic_row(60, 0.9, {2: (0.2, 0.8), 4: (0.6, 0.5), 6: (0.3, 0.5)})
    assert levels_headline(three) == (
        "per level, σ(V) beside measured success\n(held-out prompts, step 60; Pearson over levels -0.69)"
    )
    assert levels_headline(critic_row(20, 0.9, levels)).startswith("per level, σ(V) follows measured success\n")
    assert [level_label(g) for g in ("sppo_graded_k02", "sppo_graded_k10", "sppo_addition")] == [
        "k=2",
        "k=10",
        "sppo_addition",
    ]
