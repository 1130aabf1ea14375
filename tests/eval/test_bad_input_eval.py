"""Issue 14, ``python -m sppo.eval generate / score / compare``: every kind of bad input is one stderr line
with the verb's prefix, exit code 2, no traceback and no partial output (table-driven, each case run as
a subprocess; errors in the arguments are found before pandas, torch or a model is loaded)."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from tests.bad_input import UNWRITABLE, check_case
from tests.eval.conftest import verl_row

EVAL = "sppo.eval"


def _gen(t: Path, *extra: str, model: str = "{model}", out: str = "out") -> list[str]:
    return ["generate", "--model", model, "--benchmarks", "math500", "--data-dir", "{data}", "--out", out,
            "--backend", "hf", "--max-tokens", "8", "--limit", "2", *extra]  # fmt: skip


def _bench(t: Path, change: Callable[[dict], None], every: bool = False) -> str:
    """A benchmark file with row 1 changed (``every``: all rows, where a column cannot mix types)."""
    rows = [verl_row("math__math", f"What is {i}+1?", str(i + 1)) for i in range(3)]
    for row in rows if every else rows[1:2]:
        change(row)
    pd.DataFrame(rows).to_parquet(t / "bench.parquet")
    return "bench.parquet"


def _old_run(t: Path, settings: dict | None, meta_text: str | None = None) -> None:
    """An ``out`` folder holding one finished problem made with other settings (or a corrupt meta.json)."""
    shard = t / "out" / "shards" / "math500"
    shard.mkdir(parents=True)
    pd.DataFrame([{"benchmark": "math500", "problem_id": 0, "sample_idx": 0}]).to_parquet(
        shard / "part-000000-x.parquet"
    )
    meta = meta_text if meta_text is not None else json.dumps({"settings": settings, "benchmarks": {}})
    (t / "out" / "meta.json").write_text(meta)


GENERATE_CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("no --model", lambda t: ["generate", "--benchmarks", "math500", "--out", "out"], "required: --model"),
    ("empty --model", lambda t: _gen(t, model=""), "argument --model: must not be empty"),
    ("k zero", lambda t: _gen(t, "--k", "0"), "argument --k: must be >= 1, got 0"),
    ("k not an int", lambda t: _gen(t, "--k", "2.5"), "argument --k: invalid int value: '2.5'"),
    ("k unbounded", lambda t: _gen(t, "--k", "1000000"), "argument --k: must be <= 4096"),
    ("temperature NaN", lambda t: _gen(t, "--temperature", "nan"), "argument --temperature: must be a finite number"),
    ("temperature negative", lambda t: _gen(t, "--temperature", "-1"), "argument --temperature: must be >= 0.0"),
    ("top-p above 1", lambda t: _gen(t, "--top-p", "1.5"), "argument --top-p: must be <= 1.0, got 1.5"),
    ("top-p zero", lambda t: _gen(t, "--top-p", "0"), "argument --top-p: must be > 0.0, got 0"),
    ("top-p inf", lambda t: _gen(t, "--top-p", "inf"), "argument --top-p: must be a finite number"),
    ("max-tokens zero", lambda t: _gen(t, "--max-tokens", "0"), "argument --max-tokens: must be >= 1"),
    ("seed negative", lambda t: _gen(t, "--seed", "-1"), "argument --seed: must be >= 0"),
    ("limit zero", lambda t: _gen(t, "--limit", "0"), "argument --limit: must be >= 1"),
    ("stop-after negative", lambda t: _gen(t, "--stop-after", "-1"), "argument --stop-after: must be >= 0"),
    ("unknown backend", lambda t: _gen(t, "--backend", "tgi"), "argument --backend: invalid choice: 'tgi'"),
    ("gpu memory above 1", lambda t: _gen(t, "--gpu-memory-utilization", "2"), "must be <= 1.0, got 2"),
    ("tensor parallel zero", lambda t: _gen(t, "--tensor-parallel-size", "0"), "must be >= 1, got 0"),
    (
        "--out is a file",
        lambda t: (t / "f").write_text("x") and _gen(t, out="f"),
        "--out f: exists and is not a folder",
    ),
    ("--out unwritable", lambda t: _gen(t, out=UNWRITABLE), "is not writable"),
    (
        "--merged-dir is a file",
        lambda t: (t / "f").write_text("x") and _gen(t, "--merged-dir", "f"),
        "--merged-dir f: exists",
    ),
    ("unknown benchmark", lambda t: [a if a != "math500" else "gsm8k" for a in _gen(t)], "unknown benchmark 'gsm8k'"),
    (
        "benchmark not parquet",
        lambda t: (
            (t / "junk.parquet").write_text("junk") and [a if a != "math500" else "junk.parquet" for a in _gen(t)]
        ),
        "not a readable parquet file",
    ),
    (
        "prompt a plain string",
        lambda t: [a if a != "math500" else _bench(t, lambda r: r.update(prompt="Q?"), True) for a in _gen(t)],
        "3 bad row(s) (first: row 0: prompt is a plain string",
    ),
    (
        "list ground truth",
        lambda t: [
            a if a != "math500" else _bench(t, lambda r: r["reward_model"].update(ground_truth=["2", "3"]), True)
            for a in _gen(t)
        ],
        "row 0: ground truth is a list",
    ),
    (
        "None ground truth",
        lambda t: [
            a if a != "math500" else _bench(t, lambda r: r["reward_model"].update(ground_truth=None)) for a in _gen(t)
        ],
        "row 1: missing ground truth",
    ),
    ("model missing", lambda t: _gen(t, model="nomodel"), "no such file or directory"),
    ("results with other settings", lambda t: _old_run(t, {"k": 7}) or _gen(t), "holds a run with other settings"),
    ("corrupt meta.json", lambda t: _old_run(t, None, "{not json") or _gen(t), "out/meta.json: corrupt meta.json"),
    ("prompt longer than the model", lambda t: _gen(t, model="{short_model}"), "the prompt is "),
    # issue 25: damaged model folders and caches, flags that do not apply to the run
    (
        "model without a chat template",
        lambda t: _gen(t, model="{broken:no_chat_template}"),
        "the tokenizer has no chat template, and generate renders every problem with it",
    ),
    ("corrupt config.json", lambda t: _gen(t, model="{broken:bad_config}"), "config.json cannot be read"),
    (
        "truncated safetensors",
        lambda t: _gen(t, model="{broken:truncated}"),
        "model.safetensors: not a complete safetensors file",
    ),
    ("no tokenizer files", lambda t: _gen(t, model="{broken:no_tokenizer}"), "no tokenizer files (tokenizer.json"),
    (
        "corrupt weight index",
        lambda t: _gen(t, model="{broken:bad_index}"),
        "model.safetensors.index.json: corrupt weight index",
    ),
    (
        "training folder with a corrupt tracker",
        lambda t: (
            (t / "ckpt" / "global_step_2").mkdir(parents=True)
            or (t / "ckpt" / "latest_checkpointed_iteration.txt").write_text("two")
            and _gen(t, model="ckpt")
        ),
        "latest_checkpointed_iteration.txt: expected a step number, got 'two'",
    ),
    (
        "--merged-dir with an HF model",
        lambda t: _gen(t, "--merged-dir", "merged"),
        "--merged-dir is where an FSDP checkpoint is merged",
    ),
    ("empty --merged-dir", lambda t: _gen(t, "--merged-dir", ""), "argument --merged-dir: must not be empty"),
    (
        "vLLM flags with the hf backend",
        lambda t: _gen(t, "--tensor-parallel-size", "2", "--gpu-memory-utilization", "0.5"),
        "--tensor-parallel-size and --gpu-memory-utilization set the vLLM engine, and this run uses the hf backend",
    ),
    (
        "empty prompt list",
        lambda t: [a if a != "math500" else _bench(t, lambda r: r.update(prompt=[]), True) for a in _gen(t)],
        "row 0: prompt is not a non-empty list of chat messages",
    ),
]


@pytest.fixture(scope="module")
def broken_models(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Copies of the tiny model, each damaged in one way."""
    root = tmp_path_factory.mktemp("broken")
    out = {}
    for kind in ("no_chat_template", "bad_config", "truncated", "no_tokenizer", "bad_index"):
        folder = root / kind
        shutil.copytree(tiny_model, folder)
        out[kind] = folder
    (out["no_chat_template"] / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((out["no_chat_template"] / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (out["no_chat_template"] / "tokenizer_config.json").write_text(json.dumps(config))
    (out["bad_config"] / "config.json").write_text("{not json")
    weights = out["truncated"] / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        (out["no_tokenizer"] / name).unlink(missing_ok=True)
    (out["bad_index"] / "model.safetensors").unlink()
    (out["bad_index"] / "model.safetensors.index.json").write_text("{")
    return out


@pytest.fixture(scope="module")
def short_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny policy with 32 positions: every benchmark prompt is longer."""
    from sppo_lab import tiny

    tokenizer = tiny.build_char_tokenizer()
    model = tiny.build_policy(tokenizer, tiny.TinyQwen2(max_position_embeddings=32))
    return Path(tiny.save(model, tokenizer, tmp_path_factory.mktemp("short") / "model"))


@pytest.mark.parametrize("name,setup,needle", GENERATE_CASES, ids=[c[0] for c in GENERATE_CASES])
def test_generate_bad_input(tmp_path: Path, name: str, setup, needle: str, request: pytest.FixtureRequest) -> None:
    argv = setup(tmp_path)
    fill = {"{data}": lambda: str(request.getfixturevalue("data_dir")),
            "{model}": lambda: str(request.getfixturevalue("tiny_model")),
            "{short_model}": lambda: str(request.getfixturevalue("short_model"))}  # fmt: skip
    for kind in ("no_chat_template", "bad_config", "truncated", "no_tokenizer", "bad_index"):
        fill[f"{{broken:{kind}}}"] = lambda kind=kind: str(request.getfixturevalue("broken_models")[kind])
    argv = [fill[a]() if a in fill else a for a in argv]
    line = check_case(EVAL, "python -m sppo.eval generate", argv, tmp_path, needle)
    if name == "prompt longer than the model":
        assert "but the model has 32 positions" in line


def _samples(t: Path, every: bool = False, **change: object) -> str:
    """Responses in generate's format with row 1 changed (``every``: all rows)."""
    rows = [{"data_source": "math__math", "benchmark": "math500", "problem_id": i, "sample_idx": 0, "row_index": i,
             "prompt": "p", "response": "\\boxed{2}", "ground_truth": "2"} for i in range(3)]  # fmt: skip
    for row in rows if every else rows[1:2]:
        row.update(change)
    pd.DataFrame(rows).to_parquet(t / "r.parquet")
    return "r.parquet"


SCORE_CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    (
        "timeout negative",
        lambda t: ["score", _samples(t), "--timeout", "-1"],
        "argument --timeout: must be > 0.0, got -1",
    ),
    ("timeout zero", lambda t: ["score", _samples(t), "--timeout", "0"], "argument --timeout: must be > 0.0"),
    (
        "timeout NaN",
        lambda t: ["score", _samples(t), "--timeout", "nan"],
        "argument --timeout: must be a finite number",
    ),
    ("timeout unbounded", lambda t: ["score", _samples(t), "--timeout", "1e9"], "argument --timeout: must be <= 3600"),
    ("workers zero", lambda t: ["score", _samples(t), "--workers", "0"], "argument --workers: must be >= 1"),
    (
        "workers unbounded",
        lambda t: ["score", _samples(t), "--workers", "100000"],
        "argument --workers: must be <= 256",
    ),
    ("max-tokens zero", lambda t: ["score", _samples(t), "--max-tokens", "0"], "argument --max-tokens: must be >= 1"),
    ("missing file", lambda t: ["score", "nope.parquet"], "nope.parquet: no such file or directory"),
    (
        "not parquet",
        lambda t: (t / "r.parquet").write_text("x") and ["score", "r.parquet"],
        "not a readable parquet file",
    ),
    ("folder without responses", lambda t: (t / "d").mkdir() or ["score", "d"], "d: no responses.parquet"),
    (
        "--out is a file",
        lambda t: (t / "f").write_text("x") and ["score", _samples(t), "--out", "f"],
        "--out f: exists",
    ),
    ("--out unwritable", lambda t: ["score", _samples(t), "--out", UNWRITABLE], "is not writable"),
    (
        "list ground truth",
        lambda t: ["score", _samples(t, True, ground_truth=["2", "3"])],
        "3 bad row(s) (first: row 0: ground truth is a list",
    ),
    ("NaN ground truth", lambda t: ["score", _samples(t, ground_truth=math.nan)], "row 1: ground truth is nan"),
    (
        "None ground truth",
        lambda t: ["score", _samples(t, ground_truth=None)],
        "row 1: ground truth is nan",
    ),  # pandas reads null as NaN
    ("None response", lambda t: ["score", _samples(t, response=None)], "row 1: response is missing"),
    (
        "verl prompt a plain string",
        lambda t: (
            pd.DataFrame(
                [{**verl_row("math__math", "Q?", "2"), "prompt": "Q?", "responses": ["\\boxed{2}"]}]
            ).to_parquet(t / "v.parquet")
            or ["score", "v.parquet"]
        ),
        "row 0: prompt is a plain string",
    ),
    (
        "corrupt meta.json",
        lambda t: (
            (t / "g").mkdir()
            or shutil.move(str(t / _samples(t)), str(t / "g" / "responses.parquet"))
            and (t / "g" / "meta.json").write_text("{")
            and ["score", "g"]
        ),
        "g/meta.json: corrupt meta.json",
    ),
    # issue 25: rows that pandas' groupby would silently drop, counts out of range, empty response lists, flags
    # that do not apply to the file's format
    (
        "null problem_id",
        lambda t: ["score", _samples(t, problem_id=None)],
        "1 bad row(s) (first: row 1: problem_id is missing)",
    ),
    (
        "null benchmark",
        lambda t: ["score", _samples(t, benchmark=None)],
        "row 1: benchmark is missing, expected a name",
    ),
    (
        "benchmark a number",
        lambda t: ["score", _samples(t, True, benchmark=5)],
        "row 0: benchmark is 5, expected a name",
    ),
    (
        "negative sample_idx",
        lambda t: ["score", _samples(t, sample_idx=-1)],
        "row 1: sample_idx is -1, expected an integer >= 0",
    ),
    (
        "fractional sample_idx",
        lambda t: ["score", _samples(t, sample_idx=0.5)],
        "row 1: sample_idx is 0.5, expected an integer >= 0",
    ),
    (
        "negative token count",
        lambda t: ["score", _samples(t, True, response_tokens=-5)],
        "row 0: response_tokens is -5, expected a count >= 0 (or null: unknown)",
    ),
    (
        "truncated on another scale",
        lambda t: ["score", _samples(t, True, truncated=100)],
        "row 0: truncated is 100, expected true/false or 0/1 (or null: unknown)",
    ),
    (
        "duplicate samples",
        lambda t: ["score", _samples(t, problem_id=0)],
        "1 duplicate (benchmark, problem_id, sample_idx) rows",
    ),
    (
        "unknown data_source",
        lambda t: ["score", _samples(t, True, data_source="gsm8k")],
        "sppo.reward: unknown data_source 'gsm8k'; accepted prefixes",
    ),
    (
        "verl empty response list",
        lambda t: _verl(t, [["\\boxed{2}"], []]) or ["score", "v.parquet"],
        "v.parquet: row 1: 'responses' is empty (every row needs at least one response)",
    ),
    (
        "verl null responses",
        lambda t: _verl(t, [["\\boxed{2}"], None]) or ["score", "v.parquet"],
        "v.parquet: row 1: 'responses' must be a list of strings",
    ),
    (
        "--tokenizer on generate's format",
        lambda t: ["score", _samples(t), "--tokenizer", "tok", "--max-tokens", "8"],
        "--tokenizer and --max-tokens apply to verl's main_generation format",
    ),
    (
        "--max-tokens without --tokenizer",
        lambda t: _verl(t, [["\\boxed{2}"]]) or ["score", "v.parquet", "--max-tokens", "8"],
        "--max-tokens needs --tokenizer",
    ),
    (
        "--tokenizer that cannot load",
        lambda t: _verl(t, [["\\boxed{2}"]]) or ["score", "v.parquet", "--tokenizer", "nope"],
        "--tokenizer nope: cannot be loaded",
    ),
]


def _verl(t: Path, responses: list) -> None:
    """verl main_generation output: one benchmark row per entry of ``responses`` (its list of responses)."""
    rows = [{**verl_row("math__math", f"Q{i}?", "2"), "responses": r} for i, r in enumerate(responses)]
    pd.DataFrame(rows).to_parquet(t / "v.parquet")


@pytest.mark.parametrize("name,setup,needle", SCORE_CASES, ids=[c[0] for c in SCORE_CASES])
def test_score_bad_input(tmp_path: Path, name: str, setup, needle: str) -> None:
    check_case(EVAL, "python -m sppo.eval score", setup(tmp_path), tmp_path, needle)


def _score_dir(t: Path, name: str, metrics: object) -> str:
    (t / name).mkdir()
    (t / name / "metrics.json").write_text(metrics if isinstance(metrics, str) else json.dumps(metrics))
    return name


def _jsonl(t: Path) -> str:
    (t / "a.jsonl").write_text(json.dumps({"step": 1, "data": {"val-core/math__math/acc/mean@1": 0.5}}) + "\n")
    return "a.jsonl"


COMPARE_CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("no run", lambda t: ["compare"], "the following arguments are required: runs"),
    (
        "a parquet run",
        lambda t: pd.DataFrame({"a": [1]}).to_parquet(t / "r.parquet") or ["compare", "r.parquet"],
        "run r.parquet: a parquet file; compare reads",
    ),
    (
        "a binary run",
        lambda t: (t / "r.jsonl").write_bytes(b"\x89PNG\xff\xfe") and ["compare", "r.jsonl"],
        "not a text file",
    ),
    ("missing run", lambda t: ["compare", "nope.jsonl"], "run nope.jsonl: no such file or directory"),
    (
        "no scores",
        lambda t: (t / "e.jsonl").write_text("{}\n") and ["compare", "e.jsonl"],
        "no validation scores found",
    ),
    ("labels mismatch", lambda t: ["compare", _jsonl(t), "--labels", "a", "b"], "--labels has 2 names for 1 runs"),
    ("empty label", lambda t: ["compare", _jsonl(t), "--labels", ""], "argument --labels: must not be empty"),
    (
        "corrupt metrics.json",
        lambda t: ["compare", _score_dir(t, "s", "{")],
        "s/metrics.json: not a score metrics.json",
    ),
    ("metrics.json a list", lambda t: ["compare", _score_dir(t, "s", [1])], "not a score metrics.json"),
    (
        "avg NaN",
        lambda t: ["compare", _score_dir(t, "s", {"benchmarks": {"math500": {"avg": "nan"}}})],
        "avg of 'math500' is nan",
    ),
    (
        "avg above 1",
        lambda t: ["compare", _score_dir(t, "s", {"benchmarks": {"math500": {"avg": 55}}})],
        "expected a fraction in [0, 1]",
    ),
    (
        "step a string",
        lambda t: ["compare", _score_dir(t, "s", {"benchmarks": {"math500": {"avg": 0.5}}, "source": {"step": "x"}})],
        "source.step is 'x'",
    ),
    (
        "--out is a file",
        lambda t: (t / "f").write_text("x") and ["compare", _jsonl(t), "--out", "f"],
        "--out f: exists",
    ),
    ("--out unwritable", lambda t: ["compare", _jsonl(t), "--out", UNWRITABLE], "is not writable"),
    # issue 25: scores on another scale, runs that cannot be told apart
    (
        "reward on a +-1 scale",
        lambda t: _jsonl_values(t, {"val-core/math__math/reward/mean@1": -0.4}) and ["compare", "v.jsonl"],
        "run v.jsonl: val-core/math__math/reward/mean@1 = -0.4 at step 1 is not a fraction in [0, 1]",
    ),
    (
        "accuracy in percent",
        lambda t: _jsonl_values(t, {"val-core/math__math/acc/mean@1": 55.0}) and ["compare", "v.jsonl"],
        "val-core/math__math/acc/mean@1 = 55 at step 1 is not a fraction in [0, 1]",
    ),
    (
        "duplicate labels",
        lambda t: [
            "compare",
            _jsonl(t),
            _score_dir(t, "s", {"benchmarks": {"math500": {"avg": 0.5}}}),
            "--labels",
            "a",
            "a",
        ],  # fmt: skip
        "--labels: 'a' names two runs; give each run its own label",
    ),
    ("the same run twice", lambda t: ["compare", _jsonl(t), "./a.jsonl"], "run ./a.jsonl is given twice"),
    (
        "avg a boolean",
        lambda t: ["compare", _score_dir(t, "s", {"benchmarks": {"math500": {"avg": True}}})],
        "not a score metrics.json (TypeError: avg is True, expected a number)",
    ),
    (
        "benchmarks not an object",
        lambda t: ["compare", _score_dir(t, "s", {"benchmarks": [0.5]})],
        "s/metrics.json: not a score metrics.json",
    ),
    ("folder without scores", lambda t: (t / "d").mkdir() or ["compare", "d"], "run d: no validation scores found"),
]


def _jsonl_values(t: Path, data: dict) -> str:
    (t / "v.jsonl").write_text(json.dumps({"step": 1, "data": data}) + "\n")
    return "v.jsonl"


@pytest.mark.parametrize("name,setup,needle", COMPARE_CASES, ids=[c[0] for c in COMPARE_CASES])
def test_compare_bad_input(tmp_path: Path, name: str, setup, needle: str) -> None:
    check_case(EVAL, "python -m sppo.eval compare", setup(tmp_path), tmp_path, needle)


def test_no_or_unknown_verb(tmp_path: Path) -> None:
    check_case(EVAL, "python -m sppo.eval", [], tmp_path, "the following arguments are required: verb")
    check_case(EVAL, "python -m sppo.eval", ["grade"], tmp_path, "invalid choice: 'grade'")


def test_failed_run_before_any_sample_does_not_block_the_rerun(tmp_path: Path) -> None:
    from sppo.eval.generate import _open_meta

    out = tmp_path / "out"
    out.mkdir()
    (out / "meta.json").write_text(json.dumps({"settings": {"k": 7}, "benchmarks": {}}))  # no shard: nothing made
    meta = _open_meta(out, {"k": 1}, {})
    assert meta["settings"] == {"k": 1} and meta["complete"] is False
    (out / "meta.json").write_text("{corrupt")
    assert _open_meta(out, {"k": 1}, {})["settings"] == {"k": 1}


def test_force_replaces_a_run_with_other_settings(tmp_path: Path) -> None:
    from sppo.eval.generate import _open_meta

    _old_run(tmp_path, {"k": 7})
    meta = _open_meta(tmp_path / "out", {"k": 1}, {}, force=True)
    assert meta["settings"] == {"k": 1} and not (tmp_path / "out" / "shards").exists()
