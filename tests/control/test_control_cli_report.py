"""CLI errors, results files, resume, and the round trip results -> report."""

import json
import os
import subprocess
import sys

import pytest

from sppo.cli_errors import write_json_atomic
from sppo_lab.control.cli import main, result_path
from sppo_lab.control.report import load_warm_measurements, markdown, steps_to_threshold, write_report

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENVS = "cartpole, mountaincar, pendulum, lunarlander, hopper"


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["run", "--env", "acrobot", "--algo", "sppo", "--steps", "10"], f"unknown env 'acrobot' (allowed: {ENVS})"),
        (
            ["run", "--env", "cartpole", "--algo", "a2c", "--steps", "10"],
            "unknown algo 'a2c' (allowed: sppo, ppo, grpo)",
        ),
        (["run", "--env", "cartpole", "--algo", "sppo", "--steps", "0"], "--steps must be a positive integer, got 0"),
        (["run", "--env", "cartpole", "--algo", "ppo", "--steps", "-5"], "--steps must be a positive integer, got -5"),
        (
            ["run", "--env", "cartpole", "--algo", "ppo", "--steps", "10", "--horizon", "0"],
            "--horizon must be a positive integer, got 0",
        ),
        (["run", "--env", "cartpole", "--algo", "ppo", "--steps", "ten"], "invalid int value: 'ten'"),
        (
            ["run", "--env", "cartpole", "--algo", "ppo", "--steps", "10", "--seeds", "0"],
            "--seeds must be a positive integer, got 0",
        ),
        (
            ["run", "--env", "cartpole", "--algo", "ppo", "--steps", "10", "--set", "gama=0.9"],
            "--set 'gama=0.9': expected key=value with key one of:",
        ),
        (
            ["run", "--env", "cartpole", "--algo", "ppo", "--steps", "10", "--set", "gamma=high"],
            "--set gamma: expected float, got 'high'",
        ),
        (
            ["run", "--env", "cartpole", "--algo", "sppo", "--steps", "10", "--set", "adv_mode=x"],
            "unknown adv_mode 'x' (allowed: residual, bernoulli)",
        ),
        (
            ["run", "--env", "cartpole", "--algo", "grpo", "--steps", "10", "--set", "group_size=3"],
            "group_size must be >= 2 and divide episodes_per_iter (16), got 3",
        ),
        (["train"], "invalid choice: 'train'"),
        ([], "missing command (allowed: run, report, warmstart, list)"),
    ],
)
def test_bad_input_is_one_clear_line(capsys, tmp_path, argv, needle):
    if argv and argv[0] == "run":
        argv = argv + ["--out", str(tmp_path)]
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("python -m sppo_lab.control")
    assert needle in err
    assert os.listdir(tmp_path) == []  # nothing ran


def test_run_writes_results_and_resumes(capsys, tmp_path):
    argv = [
        "run",
        "--env",
        "cartpole",
        "--algo",
        "sppo",
        "--horizon",
        "20",
        "--seeds",
        "2",
        "--steps",
        "300",
        "--out",
        str(tmp_path),
        "--set",
        "eval_episodes=4",
        "--set",
        "log_every_s=0",
    ]
    code, out, _ = run_cli(capsys, *argv)
    assert code == 0
    paths = [result_path(str(tmp_path), "cartpole", "sppo", 20, s) for s in (0, 1)]
    assert [os.path.exists(p) for p in paths] == [True, True]
    data = json.load(open(paths[1]))
    assert (data["env"], data["algo"], data["horizon"], data["seed"]) == ("cartpole", "sppo", 20, 1)
    assert data["env_steps"] >= 300 and data["eval_episodes"] == 4
    assert data["config"]["eval_episodes"] == 4
    assert data["command"] == "python -m sppo_lab.control " + " ".join(argv)
    assert all({"env_steps", "wall_time", "episodes", "successes"} <= set(p) for p in data["curve"])
    mtimes = [os.path.getmtime(p) for p in paths]
    code, out, _ = run_cli(capsys, *argv, "--seeds", "3")
    assert code == 0 and out.count("exists, skipped") == 2
    assert [os.path.getmtime(p) for p in paths] == mtimes
    assert os.path.exists(result_path(str(tmp_path), "cartpole", "sppo", 20, 2))
    assert [f for f in os.listdir(tmp_path) if f.startswith(".")] == []  # no temp files left


def fake_result(env, algo, horizon, seed, final, per_iter_successes, episodes=16, steps=1000, warm=None):
    curve, total = [], 0
    for i, s in enumerate(per_iter_successes):
        total += steps
        curve.append(
            {
                "env_steps": total,
                "wall_time": 0.5 * (i + 1),
                "episodes": episodes,
                "successes": s,
                "mean_length": 10.0,
                "diagnostics": {},
            }
        )
    return {
        "algo": algo,
        "env": env,
        "horizon": horizon,
        "seed": seed,
        "total_steps": total,
        "env_steps": total,
        "wall_time": 0.5 * len(curve) + 1.0,
        "train_episodes": 0,
        "train_successes": 0,
        "final_success": final,
        "eval_episodes": 32,
        "config": {},
        "curve": curve,
        **({} if warm is None else {"warm_start_success": warm, "warm_start_episodes": 100}),
    }


def test_steps_to_50_uses_trailing_64_episodes():
    # 16 episodes per iteration: the window covers the last 4 iterations
    r = fake_result("cartpole", "sppo", 50, 0, 1.0, [0, 0, 0, 0, 16, 16, 16, 0, 16])
    # trailing rates: it5 16/64, it6 32/64 = 0.5 -> first hit at 6 * 1000 steps
    assert steps_to_threshold(r["curve"]) == 6000
    assert steps_to_threshold(fake_result("x", "ppo", 50, 0, 0.0, [1] * 8)["curve"]) is None


def test_results_round_trip_into_report(tmp_path):
    results = [
        fake_result("cartpole", "sppo", 1000, 0, 0.4, [0, 0, 16, 16, 16], warm=0.2),
        fake_result("cartpole", "sppo", 1000, 1, 0.6, [0, 16, 16, 16, 16], warm=0.3),
        fake_result("cartpole", "ppo", 1000, 0, 0.25, [0, 0, 0, 0, 0], warm=0.2),
        fake_result("cartpole", "ppo", 1000, 1, 0.125, [0, 0, 0, 0, 0], warm=0.3),
        fake_result("hopper", "grpo", 1000, 0, 0.875, [16] * 5),
        fake_result("cartpole", "sppo", 200, 0, 1.0, [16] * 5),
    ]
    for r in results:
        write_json_atomic(result_path(str(tmp_path), r["env"], r["algo"], r["horizon"], r["seed"]), r)
    # a warm-start measurement without runs (as `python -m sppo_lab.control warmstart` caches it)
    warm_dir = tmp_path / "warmstart"
    write_json_atomic(
        str(warm_dir / "hopper__seed0__H500.json"),
        {"env": "hopper", "seed": 0, "horizon": 500, "episodes": 100, "success": 0.3},
    )
    out = tmp_path / "report"
    md_path = write_report(str(tmp_path), str(out))
    text = open(md_path).read()
    assert text == open(md_path).read() and text.startswith("# Control suite results")
    # mean ± 95 % t half-width, t_{0.975,1} = 12.706205: (0.4, 0.6) -> 0.500 ± 12.706205 * 0.1
    # = 1.271; (0.25, 0.125) -> 0.188 ± 0.794; warm start (0.2, 0.3) -> 0.250 ± 0.635; best
    # (0.500) - warm (0.250) = +0.250
    assert "| cartpole | 0.250 ± 0.635 | 0.500 ± 1.271 | 0.188 ± 0.794 | — | +0.250 |" in text
    assert "| hopper | — | — | — | 0.875 ± 0.000 | — |" in text
    assert "| cartpole | 0.25 ± 0.64 |" not in text and "| cartpole | 0.200 ± 0.000 | 0.300 ± 0.000 |" not in text
    assert "| env | H = 500 | H = 1000 | per-seed at H = 1000 |" in text
    assert "| cartpole | — | 0.250 ± 0.635 | 0.20, 0.30 |" in text and "| hopper | 0.300 ± 0.000 | — |  |" in text
    # SPPO - PPO paired by seed: differences (0.15, 0.475); bootstrap percentiles of two points
    # are the points themselves; no GRPO at cartpole
    assert "| cartpole | 2 | +0.31" in text and "| [+0.150, +0.475] | [" in text and "| — | — | — |" in text
    # steps to 50 % (trailing 64 episodes): seed 0 at 4000 (32/64), seed 1 at 2000 (16/32)
    assert "| cartpole | SPPO | 2 | 5000 | 0.500 ± 0.141 | 0.400, 0.600 | 3k (2/2) |" in text
    assert "| cartpole | PPO (GAE) | 2 | 5000 | 0.188 ± 0.088 | 0.250, 0.125 | — (0/2) |" in text
    assert "## H = 200: final success" in text and "| cartpole | 1.000 ± 0.000 |" in text
    for png in ("curves_cartpole.png", "curves_hopper.png", "horizon_sweep.png"):
        assert (out / png).stat().st_size > 1000
        assert f"]({png})" in text
    assert markdown(results, warm_measurements=load_warm_measurements(str(warm_dir))) in text


def test_report_cli_and_errors(capsys, tmp_path):
    code, _, err = run_cli(capsys, "report", str(tmp_path / "missing"))
    assert code == 2 and "is not a directory" in err
    r = fake_result("mountaincar", "grpo", 500, 3, 0.5, [8, 8])
    write_json_atomic(result_path(str(tmp_path), "mountaincar", "grpo", 500, 3), r)
    code, out, _ = run_cli(capsys, "report", str(tmp_path), "--title", "T")
    assert code == 0
    text = open(tmp_path / "report.md").read()
    assert text.startswith("# T") and "| mountaincar | 0.500 ± 0.000 |" in text


def test_run_script_runs_grid_and_resumes(tmp_path):
    env = dict(
        os.environ,
        OUT=str(tmp_path / "grid"),
        SEEDS="1",
        ENVS="cartpole",
        ALGOS="ppo",
        HORIZONS="20",
        STEPS_cartpole="200",
        EVAL_EPISODES="2",
        JOBS="1",
        NICE="0",
        WARM="0",  # the warm-start phase is covered in test_control_warmstart.py
        PYTHON=sys.executable,
    )
    script = os.path.join(REPO, "run_scripts", "run_control_suite.sh")
    first = subprocess.run(["bash", script], env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "[grid] 1 runs (0 already done)" in first.stdout
    assert "[grid]   1/1 done  cartpole     ppo   H=20" in first.stdout
    assert (tmp_path / "grid" / "cartpole__ppo__H20__seed0.json").exists()
    assert (tmp_path / "grid" / "report" / "report.md").exists()
    second = subprocess.run(["bash", script], env=dict(env, REPORT="0"), capture_output=True, text=True, timeout=300)
    assert second.returncode == 0 and "[grid] 1 runs (1 already done)" in second.stdout
    log = (tmp_path / "grid" / "logs" / "cartpole__ppo__H20__seed0.log").read_text()
    assert "exists, skipped" in log


def test_run_script_budget_per_env_and_horizon(tmp_path):
    """STEPS_<env>_H<h> wins over STEPS_<env>; a (env, H) without either is refused before any run."""
    script = os.path.join(REPO, "run_scripts", "run_control_suite.sh")
    base = dict(os.environ, OUT=str(tmp_path / "g"), ENVS="cartpole", HORIZONS="20", PYTHON=sys.executable)
    base.pop("STEPS_cartpole", None)
    missing = subprocess.run(["bash", script], env=base, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2
    assert "[grid] no step budget for env 'cartpole' at H=20 (set STEPS_cartpole_H20)" in missing.stderr
    assert not (tmp_path / "g" / "logs").exists() or not os.listdir(tmp_path / "g" / "logs")


def test_results_files_with_the_old_name_of_the_bernoulli_advantage_still_match(tmp_path):
    import dataclasses

    from sppo_lab.control.cli import CliError, existing_result_status
    from sppo_lab.control.sppo import Args

    args = Args(env="cartpole", horizon=20, total_steps=300, adv_mode="bernoulli")
    path = tmp_path / "old.json"
    for stored, status in (("standardized", "same"), ("bernoulli", "same")):  # "standardized" before 2026-12
        write_json_atomic(path, {"config": dict(dataclasses.asdict(args), adv_mode=stored)})
        assert existing_result_status(str(path), args) == status
    write_json_atomic(path, {"config": dict(dataclasses.asdict(args), adv_mode="residual")})
    with pytest.raises(CliError, match="adv_mode: 'residual' -> 'bernoulli'"):
        existing_result_status(str(path), args)
