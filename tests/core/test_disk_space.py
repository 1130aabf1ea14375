"""The launch check on free disk space for checkpoints (sppo/disk_space.py), with hand-computed sizes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sppo.disk_space import at_once, bytes_per_param, check_checkpoint_space, role_params, saves_left

# parameter counts of the known architectures (sppo/tools/plan_memory.py, from the released config.json files)
R7_LM, R7_VALUE = 7_615_616_512, 7_070_622_721
R15_LM, R15_VALUE = 1_777_088_000, 1_543_715_841


def config(tmp_path, policy="7B", critic="7B", estimator="sppo", **trainer) -> dict:
    names = {"7B": "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "1.5B": "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"}
    return {
        "algorithm": {"adv_estimator": estimator},
        "actor_rollout_ref": {"model": {"path": names[policy]}, "actor": {}},
        "critic": {"enable": None, "model": {"path": names[critic]}},
        "trainer": {
            "save_freq": 10,
            "total_training_steps": 200,
            "default_local_dir": str(tmp_path / "ckpt" / "SPPO" / "run"),
            "resume_mode": "auto",
            "max_actor_ckpt_to_keep": 2,
            "max_critic_ckpt_to_keep": 2,
            **trainer,
        },
    }


def free(gb: float):
    """A disk_usage stand-in: ``gb`` GB free, whatever the path (it records the path asked)."""
    asked = []

    def usage(path: str):
        asked.append(path)
        return SimpleNamespace(free=gb * 1e9)

    usage.asked = asked
    return usage


def test_bytes_per_parameter_follow_save_contents():
    assert bytes_per_param(None) == 12  # verl's default: model (fp32) 4 + optimizer (AdamW moments) 8 + extra 0
    assert bytes_per_param(["model", "optimizer", "extra"]) == 12
    assert bytes_per_param(["model", "optimizer", "extra", "hf_model"]) == 16
    assert bytes_per_param(["model"]) == 4


def test_saves_left_counts_every_save_freq_step_and_the_last():
    assert saves_left(2000, 20) == 100
    assert saves_left(200, 10) == 20
    assert saves_left(205, 10) == 21  # 10, 20, ..., 200 and the last step 205
    assert saves_left(200, 10, start=40) == 16  # a resume from global_step_40
    assert saves_left(200, 10, start=200) == 0
    assert saves_left(None, 10) is None


def test_checkpoints_at_once_under_the_keep_limit():
    assert at_once(2, 100) == 2  # k >= 2: the oldest goes before the save
    assert at_once(1, 100) == 2  # k = 1: the new one is written before the old one is removed
    assert at_once(1, 1) == 1 and at_once(3, 2) == 2  # never more than this launch saves
    assert at_once(None, 5) == 5 and at_once(0, 5) == 5  # no limit: every save stays
    assert at_once(None, None) == 1 and at_once(2, None) == 2  # unknown step count


def test_role_params_of_the_official_runs(tmp_path):
    assert role_params(config(tmp_path)) == {"actor": R7_LM, "critic": R7_VALUE}
    assert role_params(config(tmp_path, critic="1.5B")) == {"actor": R7_LM, "critic": R15_VALUE}
    assert role_params(config(tmp_path, estimator="grpo")) == {"actor": R7_LM}  # no critic for GRPO
    gae_off = config(tmp_path, estimator="gae")
    gae_off["critic"]["enable"] = False
    assert role_params(gae_off) == {"actor": R7_LM}
    unknown = config(tmp_path)
    unknown["critic"]["model"]["path"] = "someone/else-3B"
    assert role_params(unknown) is None


@pytest.mark.parametrize(
    ("policy", "critic", "gb"),
    [("7B", "7B", 176.234870796), ("7B", "1.5B", 109.911988236), ("1.5B", "1.5B", 39.849646092)],
)
def test_a_save_is_12_bytes_per_parameter_of_both_roles(tmp_path, policy, critic, gb):
    """~176 GB a 7B SPPO save, ~110 GB with the 1.5B critic, ~40 GB at 1.5B (docs/running.md, "Checkpoints")."""
    cfg = config(tmp_path, policy, critic, max_actor_ckpt_to_keep=1, max_critic_ckpt_to_keep=1, total_training_steps=10)
    # one save this launch (step 10): exactly that much is needed
    assert check_checkpoint_space(cfg, free(gb + 1e-6)) is None
    assert check_checkpoint_space(cfg, free(gb - 1e-6)) is not None


def test_the_shortfall_is_one_line_naming_sizes_and_remedies(tmp_path):
    usage = free(300)
    line = check_checkpoint_space(config(tmp_path), usage)  # 2 kept x 176.2 GB = 352.5 GB > 300 GB
    run = tmp_path / "ckpt" / "SPPO" / "run"
    assert line == (
        f"checkpoints need about 353 GB in {run} (actor 91 GB + critic 85 GB a save; at once: actor 2, critic 2) but "
        "300 GB are free there: free space, lower trainer.max_actor_ckpt_to_keep / trainer.max_critic_ckpt_to_keep, "
        "or move trainer.default_local_dir (CKPT_DIR) to a larger disk"
    )
    assert usage.asked == [str(tmp_path)]  # the nearest folder that exists: the run's folder is made later
    assert check_checkpoint_space(config(tmp_path), free(353)) is None


def test_a_resumed_launch_counts_only_its_own_saves_and_names_earlier_ones(tmp_path):
    cfg = config(tmp_path)
    run = tmp_path / "ckpt" / "SPPO" / "run"
    for step in (180, 190):
        (run / f"global_step_{step}").mkdir(parents=True)
    (run / "latest_checkpointed_iteration.txt").write_text("190\n")
    # one save left (step 200): 176.2 GB; the earlier two are on the disk already (in what is not free)
    assert check_checkpoint_space(cfg, free(200)) is None
    line = check_checkpoint_space(cfg, free(100))
    assert line.startswith("checkpoints need about 177 GB") and "at once: actor 1, critic 1" in line
    assert line.endswith("; 2 global_step_* folder(s) of earlier launches are there, which verl never prunes")
    # resume_mode=disable starts at step 0: 20 saves, 2 kept at once
    cfg["trainer"]["resume_mode"] = "disable"
    assert "at once: actor 2, critic 2" in check_checkpoint_space(cfg, free(200))


def test_nothing_to_check_without_saves_or_sizes(tmp_path):
    assert check_checkpoint_space(config(tmp_path, save_freq=-1), free(0)) is None
    unknown = config(tmp_path)
    unknown["actor_rollout_ref"]["model"]["path"] = "/nonexistent/model"
    assert check_checkpoint_space(unknown, free(0)) is None
    # no keep limit: every one of the 20 saves stays
    no_limit = config(tmp_path, max_actor_ckpt_to_keep=None, max_critic_ckpt_to_keep=None)
    assert "at once: actor 20, critic 20" in check_checkpoint_space(no_limit, free(1000))
    assert check_checkpoint_space(no_limit, free(3525)) is None  # 20 x 176.2 GB


def test_it_reads_a_composed_dictconfig(tmp_path):
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(config(tmp_path, critic="1.5B"))
    cfg.actor_rollout_ref.actor.checkpoint = {"save_contents": ["model", "optimizer", "extra", "hf_model"]}
    # actor 7.62 B x 16 + critic 1.54 B x 12 = 140.4 GB a save, 2 at once
    assert "(actor 122 GB + critic 19 GB a save" in check_checkpoint_space(cfg, free(100))
    assert check_checkpoint_space(cfg, free(2 * (R7_LM * 16 + R15_VALUE * 12) / 1e9 + 1e-6)) is None
