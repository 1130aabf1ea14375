"""Fixtures for the run-script tests: placeholder data, an offline hub cache, and one batch of dry runs.

Every experiment script (and every bad case) is dry-run once per session, as ``SPPO_DRY_RUN=1 bash
run_scripts/X.sh`` in a subprocess. Importing verl costs ~15-30 s of CPU per Python process here, so:

* each script runs under a stub interpreter (``PYTHON``) that records the command line it was given, then
  ``batch_main.py`` replays all recorded ``-m sppo.main ...`` command lines in forked children of one
  process that imported verl once;
* two runs go end to end with the real interpreter (``REAL_RUNS``), and a test checks that they agree with
  their batched twins, so the batching changes nothing but the cost.

The models are the official hub ids, resolved offline from a fake hub cache whose snapshots hold the real
``config.json`` numbers and a tiny tokenizer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS_DIR = ROOT / "run_scripts"

# The official SPPO scripts and the baselines, both model sizes.
SPPO_SCRIPTS = (
    "run_ds1.5B_PPO_SEQUENCE_shuffle.sh",
    "run_R1-7B_DAPO_SEQUENCE.sh",
    "run_R1-7B_DAPO_SEQUENCE_small_critic.sh",
    "run_ds1.5B_PPO_SEQUENCE_async.sh",  # the 1.5B run in verl's colocate_async trainer mode
    "run_ds1.5B_PPO_SEQUENCE_separate_async.sh",  # ... and in its separate_async mode (rollout on GPUs of its own)
)
BASELINES = {
    "ds1.5B": ("run_ds1.5B_GAE.sh", "run_ds1.5B_GRPO.sh", "run_ds1.5B_RLOO.sh", "run_ds1.5B_REMAX.sh"),
    "R1-7B": ("run_R1-7B_DAPO_GAE.sh", "run_R1-7B_DAPO_GRPO.sh", "run_R1-7B_DAPO_RLOO.sh", "run_R1-7B_DAPO_REMAX.sh"),
}
ALL_SCRIPTS = SPPO_SCRIPTS + BASELINES["ds1.5B"] + BASELINES["R1-7B"]

# Bad settings: (name, script, extra overrides, environment changes); each must exit 2 with one error line.
BAD_CASES = {
    "mini_batch_not_dividing": (
        "run_ds1.5B_PPO_SEQUENCE_shuffle.sh",
        ["actor_rollout_ref.actor.ppo_mini_batch_size=96"],
        {},
    ),
    "tp_not_dividing_gpus": (
        "run_R1-7B_DAPO_SEQUENCE.sh",
        ["actor_rollout_ref.rollout.tensor_model_parallel_size=3"],
        {},
    ),
    "missing_data": ("run_R1-7B_DAPO_GRPO.sh", [], {"DATA_DIR": "EMPTY"}),
}

# SPPO_SMOKE=1 (three real-size steps, run_scripts/common.sh smoke_overrides), dry-run: (name, script, env changes).
# The overrides are the same for every script (a shell test checks that), so one script per model size composes them.
SMOKE_CASES = {
    "smoke_ds1.5B_PPO_SEQUENCE_shuffle": ("run_ds1.5B_PPO_SEQUENCE_shuffle.sh", [], {"SPPO_SMOKE": "1"}),
    "smoke_R1-7B_DAPO_SEQUENCE_small_critic": ("run_R1-7B_DAPO_SEQUENCE_small_critic.sh", [], {"SPPO_SMOKE": "1"}),
}

# Every script on verl's Megatron engine (model_engine=megatron, tests/scripts/test_megatron_scripts.py): name -> script.
MEGATRON_CASES = {f"megatron_{s}": s for s in ALL_SCRIPTS}

# Run end to end with the real interpreter too (name -> the batched job it must agree with).
REAL_RUNS = {
    "real_run_ds1.5B_PPO_SEQUENCE_shuffle.sh": "run_ds1.5B_PPO_SEQUENCE_shuffle.sh",
    "real_missing_data": "missing_data",
}

TRAIN_FILES = ("deepscaler-math.parquet", "dapo-math-17k_dedup.parquet")
VAL_FILES = ("offline_eval/math__aime_repeated_8x_240.parquet", "offline_eval/math__math_500.parquet")


def python_for_scripts() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def write_placeholder_data(data_dir: Path, rows: int = 4) -> None:
    """Tiny parquets in verl's format under the official names."""
    import pandas as pd

    row = {
        "data_source": "math__math",
        "prompt": [{"role": "user", "content": "What is 1+1? Please output the final answer within \\boxed{}."}],
        "ability": "math",
        "reward_model": {"style": "rule", "ground_truth": "2"},
        "extra_info": {"index": 0, "split": "train"},
    }
    for name in TRAIN_FILES + VAL_FILES:
        path = data_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame([row] * rows).to_parquet(path)


def write_offline_hub(hf_home: Path) -> None:
    """A hub cache holding deepseek-ai/DeepSeek-R1-Distill-Qwen-{1.5B,7B}: real config.json, tiny tokenizer."""
    from sppo.tools.plan_memory import ARCHITECTURES
    from sppo_lab.tiny import build_char_tokenizer

    tok = build_char_tokenizer()
    commit = "0" * 40
    for name, a in ARCHITECTURES.items():
        repo = hf_home / "hub" / f"models--deepseek-ai--{name}"
        snap = repo / "snapshots" / commit
        snap.mkdir(parents=True, exist_ok=True)
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(commit)
        tok.save_pretrained(snap)
        config = {
            "architectures": ["Qwen2ForCausalLM"],
            "model_type": "qwen2",
            "hidden_size": a.hidden,
            "intermediate_size": a.intermediate,
            "num_hidden_layers": a.layers,
            "num_attention_heads": a.heads,
            "num_key_value_heads": a.kv_heads,
            "vocab_size": a.vocab,
            "tie_word_embeddings": a.tied_embeddings,
            "max_position_embeddings": 131072,
            "rms_norm_eps": 1e-6,
            "torch_dtype": "bfloat16",
        }
        (snap / "config.json").write_text(json.dumps(config))


@dataclass
class DryRun:
    name: str
    returncode: int
    stdout: str
    stderr: str
    result: dict | None  # {config, summary, warnings} from SPPO_DRY_RUN_JSON
    seconds: float

    @property
    def config(self) -> dict:
        assert self.result is not None, f"{self.name}: no JSON\n{self.stderr[-3000:]}"
        return self.result["config"]

    @property
    def summary(self) -> dict:
        assert self.result is not None, f"{self.name}: no JSON\n{self.stderr[-3000:]}"
        return self.result["summary"]


@pytest.fixture(scope="session")
def script_env() -> dict:
    """Environment for running the scripts offline on a CPU machine, in dry-run mode.

    The directory is a plain temporary directory, not pytest's numbered basetemp, which concurrent pytest
    sessions of the same user may rotate away while these long subprocesses still use it.
    """
    base = Path(tempfile.mkdtemp(prefix="sppo_scripts_"))
    write_placeholder_data(base / "data")
    (base / "empty").mkdir()
    write_offline_hub(base / "hf")
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "WANDB_API_KEY",
            "WANDB_MODE",
            "MODEL_PATH",
            "CRITIC_MODEL_PATH",
            "SAVE_FREQ",
            "TEST_FREQ",
            "EXPERIMENT_NAME",
            "SPPO_SMOKE",
            "SMOKE_DIR",
            "ROLLOUT_GPUS",
        )
    }
    env.update(
        PYTHON=python_for_scripts(),
        SPPO_DRY_RUN="1",
        SPPO_DRY_RUN_QUIET="1",
        DATA_DIR=str(base / "data"),
        CKPT_DIR=str(base / "ckpt"),
        HF_HOME=str(base / "hf"),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        CUDA_VISIBLE_DEVICES="",  # the no-GPU path, also on a GPU machine
        TOKENIZERS_PARALLELISM="false",
    )
    env["_BASE"] = str(base)
    yield env
    shutil.rmtree(base, ignore_errors=True)


def _job_env(script_env: dict, change: dict) -> dict:
    env = dict(script_env, **change)
    if env.get("SPPO_SMOKE") == "1":
        env["SMOKE_DIR"] = str(Path(script_env["_BASE"]) / "smoke")
    if env.get("DATA_DIR") == "EMPTY":
        env["DATA_DIR"] = str(Path(script_env["_BASE"]) / "empty")
    return env


def run_script(
    script: str, env: dict, overrides: list[str] = (), name: str | None = None, timeout: int = 1200
) -> DryRun:
    """Run one script to completion; output goes to files (a pipe would also wait for any stray grandchild)."""
    name = name or script
    logs = Path(env["_BASE"]) / "logs"
    logs.mkdir(exist_ok=True)
    out = Path(env["_BASE"]) / "json" / f"{name}.json"
    env = dict(env, SPPO_DRY_RUN_JSON=str(out))
    start = time.monotonic()
    with open(logs / f"{name}.out", "w") as so, open(logs / f"{name}.err", "w") as se:
        proc = subprocess.run(
            ["bash", str(SCRIPTS_DIR / script), *overrides, f"hydra.run.dir={env['_BASE']}/hydra/{name}"],
            check=False,
            env=env,
            stdout=so,
            stderr=se,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            cwd=str(ROOT),
        )
    result = json.loads(out.read_text()) if proc.returncode == 0 and out.is_file() else None
    stdout, stderr = (logs / f"{name}.out").read_text(), (logs / f"{name}.err").read_text()
    return DryRun(name, proc.returncode, stdout, stderr, result, time.monotonic() - start)


def record_job(script: str, env: dict, overrides: list[str], name: str) -> dict:
    """Run ``script`` under a stub interpreter that records its command line; return a batch_main job."""
    base = Path(env["_BASE"])
    stub = base / "record_python"
    if not stub.exists():
        stub.write_text('#!/usr/bin/env bash\nprintf \'%s\\0\' "$PWD" "$@" > "$SPPO_RECORD_ARGS"\n')
        stub.chmod(0o755)
    rec = base / "argv" / name
    rec.parent.mkdir(exist_ok=True)
    hydra_dir = f"hydra.run.dir={base}/hydra/{name}"
    proc = subprocess.run(
        ["bash", str(SCRIPTS_DIR / script), *overrides, hydra_dir],
        check=False,
        env=dict(env, PYTHON=str(stub), SPPO_RECORD_ARGS=str(rec)),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(ROOT),
    )
    assert proc.returncode == 0, proc.stderr
    cwd, *argv = rec.read_bytes().decode().split("\0")[:-1]
    logs = base / "logs"
    logs.mkdir(exist_ok=True)
    # the environment the script's `exec` would give Python: the caller's plus what common.sh exports
    py_env = {k: v for k, v in env.items() if not k.startswith("_")}
    py_env.update(
        PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false", SPPO_DRY_RUN_JSON=str(base / "json" / f"{name}.json")
    )
    stem = logs / name
    return {
        "name": name,
        "argv": argv,
        "cwd": cwd,
        "env": py_env,
        "stdout": f"{stem}.out",
        "stderr": f"{stem}.err",
        "rc": f"{stem}.rc",
        "trace": proc.stderr,
    }


def run_batch(jobs: list[dict], python: str, base: Path, timeout: int = 1200) -> dict[str, DryRun]:
    """Replay recorded command lines with batch_main.py (one verl import, one forked child per job)."""
    spec = base / "jobs.json"
    spec.write_text(json.dumps(jobs))
    start = time.monotonic()
    # The batch process gets the jobs' shared environment: libraries read some of it at import time
    # (huggingface_hub's HF_HOME / HF_HUB_OFFLINE), before any child sets a job's own.
    proc = subprocess.run(
        [python, str(Path(__file__).with_name("batch_main.py")), str(spec), "--parallel", "2"],
        check=False,
        env=jobs[0]["env"],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(ROOT),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    seconds = time.monotonic() - start
    runs = {}
    for job in jobs:
        rc = int(Path(job["rc"]).read_text())
        out = Path(job["env"]["SPPO_DRY_RUN_JSON"])
        result = json.loads(out.read_text()) if rc == 0 and out.is_file() else None
        stdout, stderr = Path(job["stdout"]).read_text(), Path(job["stderr"]).read_text()
        runs[job["name"]] = DryRun(job["name"], rc, stdout, job["trace"] + stderr, result, seconds)
    return runs


@pytest.fixture(scope="session")
def dry_runs(script_env) -> dict[str, DryRun]:
    """Every script and every bad case, dry-run once: batched, plus the REAL_RUNS end to end (concurrently)."""
    specs = [(s, [], {}, s) for s in ALL_SCRIPTS]
    specs += [(script, overrides, change, case) for case, (script, overrides, change) in BAD_CASES.items()]
    specs += [(script, overrides, change, case) for case, (script, overrides, change) in SMOKE_CASES.items()]
    specs += [(script, ["model_engine=megatron"], {}, case) for case, script in MEGATRON_CASES.items()]
    by_name = {name: (script, overrides, change) for script, overrides, change, name in specs}
    jobs = [
        record_job(script, _job_env(script_env, change), overrides, name) for script, overrides, change, name in specs
    ]
    with ThreadPoolExecutor(max_workers=1 + len(REAL_RUNS)) as pool:
        batch = pool.submit(run_batch, jobs, script_env["PYTHON"], Path(script_env["_BASE"]))
        real = {}
        for real_name, twin in REAL_RUNS.items():
            script, overrides, change = by_name[twin]
            real[real_name] = pool.submit(run_script, script, _job_env(script_env, change), overrides, real_name)
        runs = batch.result()
        runs.update({name: f.result() for name, f in real.items()})
    return runs
