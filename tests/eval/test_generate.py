"""End to end on CPU with a tiny random model: generate -> score -> tables that agree with a direct
recount; resuming after an interruption gives the same responses as an uninterrupted run; the
sampler's draws do not depend on the batch; bad input fails before a model is loaded."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from sppo.eval import generate
from sppo.eval.backends import (
    Completion,
    HFBackend,
    Request,
    SamplingSettings,
    SeededSampler,
    choose_backend,
    sample_seed,
)
from sppo.eval.cli import main
from sppo.eval.errors import EvalError
from sppo.reward import compute_score
from sppo.reward.normalize import normalize

MAX_TOKENS = 8


def gen_argv(model: Path, data_dir: Path, out: Path, *extra: str) -> list[str]:
    return ["generate", "--model", str(model), "--benchmarks", "math500", "--data-dir", str(data_dir),
            "--k", "2", "--limit", "5", "--max-tokens", str(MAX_TOKENS), "--backend", "hf", "--out", str(out), *extra]  # fmt: skip


@pytest.fixture(scope="module")
def uninterrupted(tiny_model: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted run: 5 problems x 2 samples, then scored."""
    out = tmp_path_factory.mktemp("gen") / "full"
    assert main(gen_argv(tiny_model, data_dir, out)) == 0
    assert main(["score", str(out), "--workers", "1"]) == 0
    return out


def recount(responses: pd.DataFrame) -> dict:
    """The metrics recomputed from the responses parquet alone, with textbook formulas."""
    per_problem = []
    for _, group in responses.sort_values("sample_idx").groupby("problem_id"):
        results = [compute_score(r.data_source, r.response, r.ground_truth) for r in group.itertuples()]
        n, c = len(results), sum(r["acc"] for r in results)
        votes = Counter(normalize(r["pred"]) for r in results if r["pred"] is not None)
        if votes:
            top = max(votes.values())
            winner = next(
                normalize(r["pred"]) for r in results if r["pred"] is not None and votes[normalize(r["pred"])] == top
            )
            maj = next(r["acc"] for r in results if r["pred"] is not None and normalize(r["pred"]) == winner)
        else:
            maj = False
        per_problem.append((n, c, maj, sum(r["pred"] is None for r in results)))
    n = per_problem[0][0]
    return {
        "problems": len(per_problem),
        "avg": sum(c / n for _, c, _, _ in per_problem) / len(per_problem),
        "pass": {
            k: sum(1 - math.comb(n - c, k) / math.comb(n, k) for _, c, _, _ in per_problem) / len(per_problem)
            for k in (1, 2)
        },
        "maj": sum(m for _, _, m, _ in per_problem) / len(per_problem),
        "no_answer": sum(a for *_, a in per_problem) / len(responses),
        "mean_tokens": responses["response_tokens"].mean(),
        "truncated": responses["truncated"].mean(),
    }


def test_generate_then_score_end_to_end(uninterrupted: Path, data_dir: Path) -> None:
    responses = pd.read_parquet(uninterrupted / "responses.parquet")
    assert list(responses.columns) == list(generate.COLUMNS)
    assert len(responses) == 10
    assert sorted(zip(responses["problem_id"], responses["sample_idx"])) == [(p, s) for p in range(5) for s in range(2)]
    source = pd.read_parquet(data_dir / "math__math_500.parquet")
    for r in responses.itertuples():  # prompt and answer come from the benchmark row
        assert r.prompt == source["prompt"][r.row_index][0]["content"]
        assert r.ground_truth == source["reward_model"][r.row_index]["ground_truth"]
        assert r.seed == sample_seed(0, "math500", r.problem_id, r.sample_idx)
        assert 1 <= r.response_tokens <= MAX_TOKENS and r.truncated == (r.response_tokens == MAX_TOKENS)
    assert responses.groupby("problem_id")["response"].nunique().min() == 2  # two different samples each

    meta = json.loads((uninterrupted / "meta.json").read_text())
    assert meta["complete"] and meta["samples"] == 10 and meta["settings"]["k"] == 2
    assert meta["settings"]["temperature"] == 0.6 and meta["settings"]["max_tokens"] == MAX_TOKENS

    for name in ("metrics.json", "metrics.csv", "metrics.md", "scored.parquet", "bar_math500.png", "pass_at_k.png"):
        assert (uninterrupted / name).is_file(), name
    metrics = json.loads((uninterrupted / "metrics.json").read_text())
    m, expected = metrics["benchmarks"]["math500"], recount(responses)
    assert m["problems"] == expected["problems"] == 5 and m["k"] == 2
    for key in ("avg", "maj", "no_answer", "mean_tokens", "truncated"):
        assert m[key] == pytest.approx(expected[key], abs=1e-12), key
    assert {int(k): v for k, v in m["pass"].items()} == {
        k: pytest.approx(v, abs=1e-12) for k, v in expected["pass"].items()
    }
    with (uninterrupted / "metrics.csv").open() as handle:
        row = next(r for r in csv.DictReader(handle) if r["benchmark"] == "math500")
    assert float(row["avg"]) == pytest.approx(expected["avg"]) and float(row["mean_tokens"]) == pytest.approx(
        expected["mean_tokens"]
    )
    md_row = next(
        line for line in (uninterrupted / "metrics.md").read_text().splitlines() if line.startswith("| MATH500")
    )
    cells = [c.strip() for c in md_row.strip("|").split("|")]
    assert cells[3] == f"{100 * expected['avg']:.1f}" and cells[7] == f"{expected['mean_tokens']:.1f}"
    assert cells[8] == f"{100 * expected['no_answer']:.1f}" and cells[9] == f"{100 * expected['truncated']:.1f}"


def test_resume_after_interruption_gives_identical_responses(
    uninterrupted: Path, tiny_model: Path, data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "resumed"
    assert main(gen_argv(tiny_model, data_dir, out, "--stop-after", "2")) == 0  # "killed" after 2 problems
    partial = pd.read_parquet(out / "responses.parquet")
    assert sorted(set(partial["problem_id"])) == [0, 1] and len(partial) == 4
    assert not json.loads((out / "meta.json").read_text())["complete"]
    # a shard a killed run left half-written is ignored
    (out / "shards" / "math500" / ".part-000002-dead.parquet.1234.tmp").write_bytes(b"half a file")
    assert main(gen_argv(tiny_model, data_dir, out)) == 0
    resumed = pd.read_parquet(out / "responses.parquet")
    full = pd.read_parquet(uninterrupted / "responses.parquet")
    pd.testing.assert_frame_equal(resumed, full)
    assert len(list((out / "shards" / "math500").glob("part-*.parquet"))) == 5  # one shard per problem, none redone
    assert json.loads((out / "meta.json").read_text())["complete"]


def test_finished_run_is_not_regenerated_and_other_settings_are_refused(
    uninterrupted: Path, tiny_model: Path, data_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    def no_backend(*args: object) -> None:
        raise AssertionError("a finished run must not load a model")

    config = generate.GenerateConfig(
        model=str(tiny_model), benchmarks=["math500"], out=str(uninterrupted), data_dir=str(data_dir), k=2, limit=5,
        sampling=SamplingSettings(max_tokens=MAX_TOKENS), backend="hf",
    )  # fmt: skip
    assert generate.run(config, make_backend=no_backend)["samples"] == 10
    assert main(gen_argv(tiny_model, data_dir, uninterrupted, "--temperature", "1.0")) == 2
    assert "holds a run with other settings (temperature: 0.6 -> 1.0); use --force" in capsys.readouterr().err


def test_samples_do_not_depend_on_the_batch(tiny_model: Path) -> None:
    backend = HFBackend(str(tiny_model), SamplingSettings(temperature=1.0, max_tokens=6))
    short = backend.prompt_ids([{"role": "user", "content": "1+1?"}])
    long = backend.prompt_ids([{"role": "user", "content": "What is the sum of the first ten odd numbers?"}])
    alone = backend.generate([Request(long, 7)])
    batched = backend.generate([Request(long, 7), Request(long, 8)])
    padded = backend.generate([Request(short, 5), Request(long, 7)])  # left padding for the short prompt
    assert alone[0] == batched[0] == padded[1]
    assert backend.generate([Request(long, 8)])[0] == batched[1]
    assert batched[0] != batched[1]  # different seeds, different samples (6 random bytes)


def test_seeded_sampler_greedy_and_nucleus() -> None:
    import torch

    scores = torch.tensor([[0.0, 3.0, 1.0, 2.0], [5.0, 0.0, 0.0, 0.0]])
    gens = [torch.Generator().manual_seed(i) for i in range(2)]
    greedy = SeededSampler(gens, temperature=0.0, top_p=1.0)(None, scores)
    assert greedy.argmax(-1).tolist() == [1, 0] and torch.isinf(greedy).sum() == 6
    # top_p small: only the most likely token survives, whatever the seed
    for seed in range(20):
        nucleus = SeededSampler([torch.Generator().manual_seed(seed)] * 2, temperature=1.0, top_p=0.05)(None, scores)
        assert nucleus.argmax(-1).tolist() == [1, 0]
    # a plain sample draws every token over many seeds
    drawn = {
        int(SeededSampler([torch.Generator().manual_seed(s)], 1.0, 1.0)(None, scores[:1]).argmax()) for s in range(200)
    }
    assert drawn == {0, 1, 2, 3}


class _FakeSamplingParams:
    def __init__(self, **kwargs: object) -> None:
        self.kwargs = kwargs


class _FakeLLM:
    calls: list = []

    def __init__(self, model: str, **kwargs: object) -> None:
        self.model, self.kwargs = model, kwargs

    def get_tokenizer(self) -> object:
        from sppo_lab.tiny import build_char_tokenizer

        return build_char_tokenizer()

    def generate(self, prompts: list, params: list, use_tqdm: bool = False) -> list:
        from types import SimpleNamespace as NS

        _FakeLLM.calls.append((prompts, params))
        return [
            NS(
                outputs=[
                    NS(
                        text=f"seed {p.kwargs['seed']}",
                        token_ids=[1] * (3 if i else 5),
                        finish_reason="stop" if i else "length",
                    )
                ]
            )
            for i, p in enumerate(params)
        ]


def test_vllm_backend_maps_requests_and_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The vLLM adapter with a stand-in ``vllm`` module (no GPU here): one SamplingParams per request
    with its own seed, and finish_reason "length" read as truncated."""
    import types

    from sppo.eval import backends

    fake = types.ModuleType("vllm")
    fake.LLM, fake.SamplingParams = _FakeLLM, _FakeSamplingParams
    monkeypatch.setitem(sys.modules, "vllm", fake)
    backend = backends.make_backend("vllm", "some/model", SamplingSettings(0.6, 0.95, 100), tensor_parallel_size=2)
    assert backend.llm.kwargs["tensor_parallel_size"] == 2
    ids = backend.prompt_ids([{"role": "user", "content": "hi"}])
    out = backend.generate([Request(ids, 11), Request(ids, 12)])
    assert out == [Completion("seed 11", 5, True), Completion("seed 12", 3, False)]
    prompts, params = _FakeLLM.calls[-1]
    assert prompts == [{"prompt_token_ids": ids}] * 2
    assert [p.kwargs for p in params] == [
        {"n": 1, "temperature": 0.6, "top_p": 0.95, "max_tokens": 100, "seed": s} for s in (11, 12)
    ]


def test_backend_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    from sppo.eval import backends

    monkeypatch.setattr(backends, "vllm_usable", lambda: False)
    assert choose_backend("auto") == "hf" and choose_backend("hf") == "hf"
    with pytest.raises(EvalError, match="needs vllm installed and a CUDA device"):
        choose_backend("vllm")
    with pytest.raises(EvalError, match="unknown backend 'tgi'"):
        choose_backend("tgi")
    monkeypatch.setattr(backends, "vllm_usable", lambda: True)
    assert choose_backend("auto") == "vllm"


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--k", "0"], "argument --k: must be >= 1, got 0"),
        (["--k", "two"], "argument --k: invalid int value: 'two'"),
        (["--temperature", "-1"], "argument --temperature: must be >= 0.0, got -1"),
        (["--top-p", "0"], "argument --top-p: must be > 0.0, got 0"),
        (["--max-tokens", "0"], "argument --max-tokens: must be >= 1, got 0"),
        (["--limit", "0"], "argument --limit: must be >= 1, got 0"),
        (
            ["--benchmarks", "gsm8k"],
            "unknown benchmark 'gsm8k' (known: aime24, aime25, amc23, math500, minerva, official_val, all5;",
        ),
        (["--benchmarks", "aime25"], "benchmark 'aime25': "),
        (["--backend", "tgi"], "argument --backend: invalid choice: 'tgi' (choose from 'auto', 'vllm', 'hf')"),
    ],
)
def test_generate_bad_input_one_line(
    extra: list[str], needle: str, tiny_model: Path, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(gen_argv(tiny_model, data_dir, tmp_path / "out", *extra)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m sppo.eval generate: error: "), err
    assert needle in err
    assert not (tmp_path / "out").exists()  # nothing written, no model loaded


def test_generate_bad_benchmark_files(
    tiny_model: Path, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    source = pd.read_parquet(data_dir / "math__math_500.parquet")
    cases = {
        "nocol.parquet": (source.drop(columns=["reward_model"]), "missing column(s) reward_model"),
        "gsm.parquet": (source.assign(data_source="gsm8k"), "data_source 'gsm8k' has no math scorer"),
        "empty.parquet": (source.iloc[:0], "no rows"),
    }
    for name, (frame, needle) in cases.items():
        frame.to_parquet(tmp_path / name)
        assert main(gen_argv(tiny_model, data_dir, tmp_path / "out", "--benchmarks", str(tmp_path / name))) == 2
        assert needle in capsys.readouterr().err, name
    (tmp_path / "junk.parquet").write_text("junk")
    assert main(gen_argv(tiny_model, data_dir, tmp_path / "out", "--benchmarks", str(tmp_path / "junk.parquet"))) == 2
    assert "not a readable parquet file" in capsys.readouterr().err
    assert main(gen_argv(tmp_path / "nomodel", data_dir, tmp_path / "out")) == 2
    assert "no such file or directory" in capsys.readouterr().err


def test_module_entry_point_exit_code(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sppo.eval", "generate", "--model", "m", "--benchmarks", "math500", "--k", "0", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr == "python -m sppo.eval generate: error: argument --k: must be >= 1, got 0\n"


class _EchoBackend:
    """A stand-in sampler: the response names the request's seed; every 3rd one is 'truncated'."""

    name = "fake"
    batch_problems = 2

    def __init__(self) -> None:
        self.requests: list[Request] = []

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        return [len(messages[0]["content"])]

    def generate(self, requests: list[Request]) -> list[Completion]:
        self.requests.extend(requests)
        return [Completion(f"seed {r.seed} \\boxed{{2}}", 3, r.seed % 3 == 0) for r in requests]


def test_repeated_rows_form_one_problem_with_k_samples_per_row(tmp_path: Path) -> None:
    """AIME24's file repeats each problem 8 times: the repeats are one problem with n = repeats * k."""
    from tests.eval.conftest import verl_row

    rows = [
        verl_row("math__aime_repeated_8x", f"Find {q}.", a) for _ in range(3) for q, a in (("1+1", "2"), ("2+2", "4"))
    ]
    path = tmp_path / "math__aime_repeated_8x_240.parquet"
    pd.DataFrame(rows).to_parquet(path)
    model = tmp_path / "model"  # an HF-looking directory: the backend is a fake and never reads it
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_text("x")
    backend = _EchoBackend()
    config = generate.GenerateConfig(
        model=str(model), benchmarks=[str(path)], out=str(tmp_path / "out"), k=2, backend="hf"
    )
    meta = generate.run(config, make_backend=lambda *args: backend)
    assert (
        meta["complete"] and meta["benchmarks"]["aime24"]["problems"] == 2 and meta["benchmarks"]["aime24"]["rows"] == 6
    )
    responses = pd.read_parquet(tmp_path / "out" / "responses.parquet")
    assert set(responses["benchmark"]) == {"aime24"}  # label from the official file name
    assert responses.groupby("problem_id")["sample_idx"].apply(list).to_dict() == {0: list(range(6)), 1: list(range(6))}
    # sample_idx = repeat * k + j: repeats 0, 1, 2 are rows 0/2/4 (problem 0) and 1/3/5 (problem 1)
    assert responses[responses.problem_id == 1]["row_index"].tolist() == [1, 1, 3, 3, 5, 5]
    assert len(backend.requests) == 12 and len({r.seed for r in backend.requests}) == 12
    scores = tmp_path / "scores"
    assert main(["score", str(tmp_path / "out"), "--out", str(scores), "--workers", "1", "--no-plots"]) == 0
    m = json.loads((scores / "metrics.json").read_text())["benchmarks"]["aime24"]
    assert (m["k"], m["avg"], m["maj"]) == (6, 0.5, 0.5)  # "\boxed{2}" is right for 1+1 only
    assert sorted(map(int, m["pass"])) == [1, 2, 4]


def test_progress_lines_when_no_bar_is_drawn(tmp_path: Path, data_dir: Path, monkeypatch, capsys) -> None:
    """Issue 25: a run whose stderr is not a terminal (a log, a batch job) had no per-problem progress at all."""
    monkeypatch.setattr(generate, "PROGRESS_INTERVAL_S", 0.0)
    model = tmp_path / "model"  # an HF-looking directory: the backend is a fake and never reads it
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_text("x")
    config = generate.GenerateConfig(
        model=str(model), benchmarks=["math500"], data_dir=str(data_dir), out=str(tmp_path / "out"), limit=3
    )
    backend = _EchoBackend()
    backend.batch_problems = 1  # results are saved (and progress reported) after each call to the backend
    generate.run(config, make_backend=lambda *args: backend)
    lines = [line for line in capsys.readouterr().out.splitlines() if "problems done" in line]
    assert [line.split(",")[0] for line in lines] == [f"sppo.eval generate: {i}/3 problems done" for i in (1, 2, 3)]
    assert "left" in lines[0] and "left" not in lines[-1]


def test_weights_that_do_not_fit_the_config_are_one_line(
    tiny_model: Path, data_dir: Path, tmp_path: Path, capsys
) -> None:
    """A folder whose files are all readable but whose weights do not fit its config.json: the load fails with one
    line, not a traceback (and no sample is written)."""
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    config = json.loads((model / "config.json").read_text())
    config["intermediate_size"] = config["intermediate_size"] * 2
    (model / "config.json").write_text(json.dumps(config))
    assert main(gen_argv(model, data_dir, tmp_path / "out")) == 2
    assert capsys.readouterr().err == (
        f"python -m sppo.eval generate: error: --model {model}: weight model.layers.0.mlp.gate_proj.weight has shape "
        f"[{config['intermediate_size'] // 2}, {config['hidden_size']}] but config.json makes it "
        f"[{config['intermediate_size']}, {config['hidden_size']}]; the weights and config.json come from different "
        "models\n"
    )
    assert not (tmp_path / "out").exists()  # checked before anything is written
