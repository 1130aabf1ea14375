"""Issue 25: ``python -m sppo_lab.graded.evaluate`` and ``.warmup`` on damaged model folders, checkpoints and
output paths: one ``error:`` line, exit code 2, checked before minutes of evaluation (table-driven, in-process)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from sppo_lab.graded import evaluate, warm_start, warmup


def _model(t: Path, damage: Callable[[Path], None] | None = None) -> str:
    """The committed warm start, installed as an HF model folder, then damaged."""
    folder = Path(warm_start.install(t / "model"))
    if damage is not None:
        damage(folder)
    return str(folder)


def _no_chat_template(folder: Path) -> None:
    (folder / "chat_template.jinja").unlink()
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _actor(t: Path, shard: bytes) -> str:
    actor = t / "ckpt" / "global_step_3" / "actor"
    (actor / "huggingface").mkdir(parents=True)
    _model(t)
    (actor / "huggingface" / "config.json").write_text((t / "model" / "config.json").read_text())
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        (actor / "huggingface" / name).write_bytes((t / "model" / name).read_bytes())
    (actor / "model_world_size_1_rank_0.pt").write_bytes(shard)
    (t / "ckpt" / "latest_checkpointed_iteration.txt").write_text("3")
    return str(t / "ckpt")


EVALUATE_CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    (
        "corrupt config.json",
        lambda t: ["--model", _model(t, lambda f: (f / "config.json").write_text("{not json"))],
        "model/config.json' is not a valid JSON file",
    ),
    (
        "truncated weights",
        lambda t: ["--model", _model(t, lambda f: _truncate(f / "model.safetensors"))],
        ": the model cannot be loaded (",
    ),
    ("no chat template", lambda t: ["--model", _model(t, _no_chat_template)], ": the tokenizer has no chat template"),
    (
        "corrupt tokenizer",
        lambda t: ["--model", _model(t, lambda f: (f / "tokenizer.json").write_text("{"))],
        ": the tokenizer cannot be loaded (",
    ),
    (
        "corrupt checkpoint tracker",
        lambda t: (
            (t / "ckpt").mkdir()
            or (t / "ckpt" / "latest_checkpointed_iteration.txt").write_text("three")
            and ["--model", str(t / "ckpt")]
        ),
        "latest_checkpointed_iteration.txt: expected a step number, got 'three'",
    ),
    ("corrupt actor shard", lambda t: ["--model", _actor(t, b"not a torch file")], ": the model cannot be loaded ("),
    (
        "--out is a folder",
        lambda t: (t / "report").mkdir() or ["--model", _model(t), "--out", str(t / "report")],
        "report: is a folder, expected a file name",
    ),
    (
        "--out under a file",
        lambda t: (t / "f").write_text("x") and ["--model", _model(t), "--out", str(t / "f" / "report.json")],
        "f/report.json: folder ",
    ),
]


@pytest.mark.parametrize("name, setup, needle", EVALUATE_CASES, ids=[c[0] for c in EVALUATE_CASES])
def test_evaluate_bad_input_is_one_line(tmp_path, capsys, name, setup, needle):
    argv = setup(tmp_path)
    capsys.readouterr()
    assert evaluate.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m sppo_lab.graded.evaluate: error: "), err
    assert needle in err, err


WARMUP_CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("--out is a file", lambda t: (t / "f").write_text("x") and ["--out", str(t / "f")], "exists and is not a folder"),
    ("--q above 1", lambda t: ["--out", str(t / "o"), "--q", "1.5"], "argument --q: must be <= 1.0, got 1.5"),
    ("--samples zero", lambda t: ["--out", str(t / "o"), "--samples", "0"], "argument --samples: must be >= 1, got 0"),
    ("--seed not an int", lambda t: ["--out", str(t / "o"), "--seed", "1.5"], "argument --seed: invalid int value"),
]


@pytest.mark.parametrize("name, setup, needle", WARMUP_CASES, ids=[c[0] for c in WARMUP_CASES])
def test_warmup_bad_input_is_one_line(tmp_path, capsys, name, setup, needle):
    assert warmup.main(setup(tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m sppo_lab.graded.warmup: error: "), err
    assert needle in err, err
    assert not (tmp_path / "o").exists()
