"""``python -m sppo.tools.plan_memory`` on bad input (issue 14): one ``python -m sppo.tools.plan_memory: error:`` line, exit 2.

Table-driven: each case is run as a real subprocess and must exit 2 with exactly one stderr line carrying
the prefix, no traceback, nothing like "nan GiB" on stdout, and no (partial) ``--json`` output file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "python -m sppo.tools.plan_memory: error:"
GOOD = ["--policy", "7B", "--critic", "1.5B", "--gpus", "4", "--tp", "4"]


def _configs(tmp: Path) -> dict[str, Path]:
    """Dry-run JSON files, each wrong in one way."""

    def cfg(**rollout) -> dict:
        return {
            "algorithm": {"adv_estimator": "sppo"},
            "data": {"max_prompt_length": 1024, "max_response_length": 8192},
            "trainer": {"n_gpus_per_node": 4, "nnodes": 1},
            "actor_rollout_ref": {
                "model": {"path": "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"},
                "actor": {"ppo_micro_batch_size_per_gpu": 1},
                "rollout": {"tensor_model_parallel_size": 1, "gpu_memory_utilization": 0.8, **rollout},
            },
            "critic": {"enable": False},
        }

    files = {
        "util0": {"config": cfg(gpu_memory_utilization=0)},
        "util_big": {"config": cfg(gpu_memory_utilization=1.5)},
        "seqs0": {"config": cfg(max_num_seqs=0)},
        "list": [1, 2, 3],
        "config_not_object": {"config": "x"},
    }
    out = {}
    for name, data in files.items():
        out[name] = tmp / f"{name}.json"
        out[name].write_text(json.dumps(data))
    neg = cfg()
    neg["data"]["max_response_length"] = -5
    (tmp / "neg_response.json").write_text(json.dumps({"config": neg}))
    unknown = cfg()
    unknown["actor_rollout_ref"]["model"]["path"] = "someone/unknown-model"
    (tmp / "unknown_model.json").write_text(json.dumps({"config": unknown}))
    (tmp / "broken.json").write_text("{not json")
    (tmp / "binary.json").write_bytes(b"PAR1\x00\xff\xfe")
    out.update({n: tmp / f"{n}.json" for n in ("neg_response", "unknown_model", "broken", "binary")})
    return out


def cases(tmp: Path) -> dict[str, list[str]]:
    c = _configs(tmp)
    table: dict[str, list[str]] = {}
    # every numeric flag: not a number, non-finite, out of range
    numeric = {
        "--policy-params": ["nan", "inf", "-inf", "0", "-7e9", "abc", ""],
        "--critic-params": ["nan", "0", "-1"],
        "--gpu-mem-gib": ["0", "-80", "nan", "inf", "eighty"],
        "--gpu-memory-utilization": ["0", "1.5", "-0.1", "nan", "inf"],
        "--overhead-gib": ["-1", "nan", "inf"],
    }
    counts = [
        "--gpus",
        "--tp",
        "--prompt-len",
        "--response-len",
        "--micro-batch",
        "--critic-micro-batch",
        "--max-num-seqs",
        "--max-model-len",
        "--max-num-batched-tokens",
    ]
    for flag in counts:
        numeric[flag] = ["0", "-1", "2.5", "nan", "x"]
    for flag, values in numeric.items():
        # the other flags good (the flag's own good value dropped), then the bad value
        base = [] if flag == "--policy-params" else [x for i, x in enumerate(GOOD) if flag not in GOOD[i - 1 : i + 1]]
        for v in values:
            table[f"{flag}={v or 'empty'}"] = [*base, f"{flag}={v}"]
    # choices, unknown flags, sources
    table.update(
        {
            "vllm_budget_choice": [*GOOD, "--vllm-budget", "everything"],
            "critic_tokens_choice": [*GOOD, "--critic-tokens", "some"],
            "unknown_flag": [*GOOD, "--bogus"],
            "flag_without_value": [*GOOD, "--gpus"],
            "unknown_policy": ["--policy", "someone/unknown-model"],
            "unknown_critic": ["--policy", "7B", "--critic", "13B"],
            "no_source": [],
            "tp_not_dividing_gpus": ["--policy", "7B", "--gpus", "4", "--tp", "3"],
            "tp_over_gpus": ["--policy", "7B", "--gpus", "4", "--tp", "8"],
            "two_kinds_of_source": ["--config-json", str(c["util0"]), "--policy", "7B"],
            "overrides_without_script": [*GOOD, "data.train_batch_size=8"],
            "missing_script": ["--script", str(tmp / "no_such_script.sh")],
            "missing_config_json": ["--config-json", str(tmp / "absent.json")],
            "config_json_is_folder": ["--config-json", str(tmp)],
            "json_folder_missing": [*GOOD, "--json", str(tmp / "no" / "such" / "dir" / "out.json")],
            "json_is_folder": [*GOOD, "--json", str(tmp)],
        }
    )
    for name in (
        "util0",
        "util_big",
        "seqs0",
        "list",
        "config_not_object",
        "neg_response",
        "unknown_model",
        "broken",
        "binary",
    ):
        table[f"config_json_{name}"] = ["--config-json", str(c[name])]
    return table


def run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sppo.tools.plan_memory", *args],
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_bad_input_is_one_line_and_exit_2(tmp_path):
    table = cases(tmp_path)
    assert len(table) >= 80  # reported in the closing note of issue 14
    before = set(tmp_path.rglob("*"))
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip(table, pool.map(run, table.values())))
    failures = []
    for name, proc in results.items():
        lines = proc.stderr.splitlines()
        ok = (
            proc.returncode == 2
            and len(lines) == 1
            and lines[0].startswith(PREFIX)
            and "Traceback" not in proc.stderr
            and "nan GiB" not in proc.stdout
            and "inf GiB" not in proc.stdout
        )
        if not ok:
            failures.append(f"{name}: exit {proc.returncode}, stderr {proc.stderr[-300:]!r}")
    assert not failures, "\n".join(failures)
    assert set(tmp_path.rglob("*")) == before  # no output (or temporary) files left behind


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--policy-params", "nan"], "argument --policy-params: must be a finite number, got 'nan'"),
        (["--policy", "7B", "--gpu-mem-gib", "0"], "argument --gpu-mem-gib: must be > 0, got '0'"),
        (
            ["--policy", "7B", "--gpu-memory-utilization", "1.5"],
            "argument --gpu-memory-utilization: must be in (0, 1], got '1.5'",
        ),
        (["--policy", "7B", "--gpus", "2.5"], "argument --gpus: must be a whole number >= 1, got '2.5'"),
        (["--policy", "7B", "--gpus", "4", "--tp", "3"], "--tp 3 must divide --gpus 4"),
    ],
)
def test_messages_name_the_flag_and_value(args, expected):
    proc = run(args)
    assert proc.returncode == 2 and proc.stderr.strip() == f"{PREFIX} {expected}"


def test_good_input_still_works_and_writes_json(tmp_path):
    out = tmp_path / "plan.json"
    proc = run([*GOOD, "--prompt-len", "2048", "--actor-offload", "--json", str(out)])
    assert proc.returncode == 0, proc.stderr
    assert "peak:" in proc.stdout and proc.stderr == ""
    data = json.loads(out.read_text())["explicit sizes"]
    assert data["vllm_starts"] and data["peak_gib"] > 0
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]  # the atomic write left no temporary file
