"""The dry-run summary shows issue 28's options: adaptive N's mode and budget, and the critic options that are on."""

from __future__ import annotations

from hydra import compose, initialize_config_dir

from sppo.config_checks import check_config
from sppo.tools.dry_run import format_summary, summarize
from tests.conftest import REPO

BASE = [
    "platform=cpu",
    "data.train_files=/nonexistent/train.parquet",
    "data.val_files=/nonexistent/val.parquet",
    "actor_rollout_ref.model.path=/nonexistent/policy",
    "critic.model.path=/nonexistent/critic",
    "data.train_batch_size=16",
    "actor_rollout_ref.actor.ppo_mini_batch_size=4",
    "data.max_response_length=64",
]


def _summary(*overrides: str) -> tuple[dict, str]:
    with initialize_config_dir(config_dir=str(REPO / "sppo" / "configs"), version_base=None):
        cfg = compose("sppo_trainer", overrides=BASE + list(overrides))
    check_config(cfg)
    summary, warnings = summarize(cfg)
    return summary, format_summary(summary, warnings)


def test_adaptive_n_mode_and_budget():
    s, text = _summary("sppo.adaptive_n.enable=true", "sppo.adaptive_n.budget=40")
    assert s["adaptive_n"] == {"budget": 40, "max_n": 4, "rule": "rank", "prior_strength": 1.0}
    assert s["batch"]["sequences_per_step"] == 40 and s["max_generated_tokens_per_step"] == 40 * 64
    lines = text.splitlines()
    assert (
        "  sampling adaptive N: 40 samples/step (2.5 per prompt), 1..4 per prompt by the critic's uncertainty "
        "(rule rank), group baseline kappa 1"
    ) in lines
    assert "  tokens   <= 2,560 generated per step (40 samples x 64)" in lines
    batch = next(line for line in lines if line.startswith("  batch"))
    assert batch.startswith(
        "  batch    16 prompts -> 40 sequences/step (adaptive N); actor mini-batch ~10 sequences "
        "(4 updates/step as configured)"
    )
    assert "N = 1..4 per prompt (adaptive N)" in next(line for line in lines if line.startswith("  rollout"))


def test_critic_options_line():
    s, text = _summary(
        "sppo.adaptive_norm.enable=true",
        "sppo.truncation.mode=mask",
        "sppo.truncation.penalty=0.2",
        "sppo.critic_warmstart.epochs=3",
        "trainer.critic_warmup=4",
    )
    assert s["critic_options"] == [
        "adaptive normalisation (whiten until the critic/explained_var average (decay 0.9) reaches 0.05)",
        "truncated responses: critic target mask, advantage penalty 0.2",
        "critic warm start: 3 epochs over all rollouts of warm-up steps 1..3",
    ]
    assert "  options  " + "; ".join(s["critic_options"]) in text.splitlines()
    assert "sampling" not in text


def test_off_by_default():
    s, text = _summary()
    assert s["adaptive_n"] is None and s["critic_options"] == []
    assert "  options  " not in text and "  sampling " not in text
    assert "  tokens   <= 1,024 generated per step (16 x 1 x 64)" in text.splitlines()
