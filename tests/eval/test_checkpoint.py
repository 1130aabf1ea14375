"""``--model`` resolution (model dir vs verl checkpoint dirs) and a real FSDP2 checkpoint converted
with verl's model merger, then used by ``generate``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sppo.eval.checkpoint import ModelSource, materialize, resolve_model
from sppo.eval.cli import main
from sppo.eval.errors import EvalError


def touch(path: Path, text: str = "{}") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def fake_actor(step_dir: Path, hf_weights: bool = False) -> Path:
    """The files verl's FSDPCheckpointManager writes under global_step_N/actor (contents faked)."""
    actor = step_dir / "actor"
    touch(actor / "fsdp_config.json", '{"FSDP_version": 2, "world_size": 1}')
    touch(actor / "model_world_size_1_rank_0.pt", "x")
    touch(actor / "huggingface" / "config.json")
    if hf_weights:
        touch(actor / "huggingface" / "model.safetensors", "x")
    return actor


def test_resolution_of_model_and_checkpoint_directories(tmp_path: Path) -> None:
    hf = tmp_path / "hf"
    touch(hf / "config.json")
    touch(hf / "model.safetensors", "x")
    assert resolve_model(str(hf)) == ModelSource("hf", str(hf), None)
    assert resolve_model("hf://deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B") == ModelSource(
        "hub", "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
    )

    root = tmp_path / "ckpts"
    fake_actor(root / "global_step_5")
    actor20 = fake_actor(root / "global_step_20")
    actor100 = fake_actor(root / "global_step_100")
    expected100 = ModelSource("fsdp", str(actor100), 100)
    assert resolve_model(str(root)) == expected100  # highest step (numeric, not lexical)
    touch(root / "latest_checkpointed_iteration.txt", "20")
    assert resolve_model(str(root)) == ModelSource("fsdp", str(actor20), 20)  # verl's marker wins
    assert resolve_model(str(root / "global_step_100")) == expected100
    assert resolve_model(str(actor100)) == expected100

    with_hf = fake_actor(tmp_path / "other" / "global_step_7", hf_weights=True)
    assert resolve_model(str(with_hf.parent)) == ModelSource(
        "hf", str(with_hf / "huggingface"), 7
    )  # saved hf_model: no merge


@pytest.mark.parametrize(
    "layout,needle",
    [
        ({"notes.txt": "x"}, "neither a Hugging Face model directory"),
        ({"config.json": "{}"}, "neither a Hugging Face model directory"),  # config without weights
        ({"latest_checkpointed_iteration.txt": "9"}, "names step 9 but"),
        ({"latest_checkpointed_iteration.txt": "last"}, "expected a step number"),
        ({"global_step_3/actor/fsdp_config.json": "{}", "global_step_3/actor/model_world_size_1_rank_0.pt": "x"},
         "without huggingface/config.json"),
    ],
)  # fmt: skip
def test_resolution_errors(tmp_path: Path, layout: dict[str, str], needle: str) -> None:
    for name, text in layout.items():
        touch(tmp_path / "m" / name, text)
    with pytest.raises(EvalError, match=needle):
        resolve_model(str(tmp_path / "m"))


def write_fsdp2_checkpoint(model: object, tokenizer: object, actor: Path) -> None:
    """What verl's FSDPCheckpointManager writes for FSDP2, world size 1: the sharded state dict
    (DTensors on a 1-D "fsdp" mesh), fsdp_config.json and huggingface/ (config + tokenizer)."""
    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        mesh = init_device_mesh("cpu", (1,), mesh_dim_names=("fsdp",))
        fully_shard(model, mesh=mesh)
        actor.mkdir(parents=True)
        torch.save(model.state_dict(), actor / "model_world_size_1_rank_0.pt")
    finally:
        dist.destroy_process_group()
    (actor / "fsdp_config.json").write_text(json.dumps({"FSDP_version": 2, "world_size": 1}))
    model.config.architectures = ["Qwen2ForCausalLM"]
    model.config.save_pretrained(actor / "huggingface")
    tokenizer.save_pretrained(actor / "huggingface")


def test_fsdp2_checkpoint_is_merged_and_generated_from(tmp_path: Path, data_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from sppo_lab import tiny

    tokenizer = tiny.build_char_tokenizer()
    model = tiny.build_policy(tokenizer, tiny.TinyQwen2(max_position_embeddings=2048), seed=3)
    reference = {k: v.detach().clone() for k, v in model.state_dict().items()}
    root = tmp_path / "checkpoints"
    write_fsdp2_checkpoint(model, tokenizer, root / "global_step_3" / "actor")
    (root / "latest_checkpointed_iteration.txt").write_text("3")

    source = resolve_model(str(root))
    assert source == ModelSource("fsdp", str(root / "global_step_3" / "actor"), 3)
    merged = Path(materialize(source, tmp_path / "merged"))
    loaded = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32).state_dict()
    for key, value in reference.items():  # verl's merger writes bfloat16
        assert torch.equal(loaded[key], value.to(torch.bfloat16).float()), key
    stamp = (merged / "model.safetensors").stat().st_mtime_ns
    assert materialize(source, tmp_path / "merged") == str(merged)  # reused, not merged again
    assert (merged / "model.safetensors").stat().st_mtime_ns == stamp

    out = tmp_path / "eval"
    argv = ["generate", "--model", str(root), "--benchmarks", "math500", "--data-dir", str(data_dir), "--k", "1",
            "--limit", "1", "--max-tokens", "2", "--backend", "hf", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["step"] == 3 and meta["complete"]
    assert (out / "model_hf" / "model.safetensors").is_file()


def test_a_corrupt_merge_marker_is_one_line(tmp_path: Path) -> None:
    """Issue 25: the merged-model cache's marker cut by a crash was a JSONDecodeError traceback."""
    from sppo.eval.checkpoint import _MERGED_MARKER, merge_fsdp_checkpoint
    from sppo.eval.errors import EvalError

    target = tmp_path / "model_hf"
    target.mkdir()
    (target / "config.json").write_text("{}")
    (target / "model.safetensors").write_bytes(b"x")
    (target / _MERGED_MARKER).write_text('{"actor_dir": ')
    with pytest.raises(EvalError) as err:
        merge_fsdp_checkpoint(tmp_path / "actor", target)
    assert str(err.value) == (
        f"{target / _MERGED_MARKER}: corrupt merge marker (JSONDecodeError); remove {target} to merge again"
    )
