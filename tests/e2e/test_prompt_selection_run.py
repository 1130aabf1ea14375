"""Critic-guided prompt selection through the real trainer on CPU (sppo.prompt_selection)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_sppo_main, tiny_overrides

pytestmark = [
    pytest.mark.ray,
    pytest.mark.slow,
    pytest.mark.timeout(900),
]  # dp = 1; tests/e2e/test_verl_cpu.py covers it at dp = 2


def test_selected_batch_is_what_the_critic_ranked(tiny_task, tmp_path):
    out = tmp_path / "select"
    calib = out / "calibration.jsonl"
    overrides = tiny_overrides(tiny_task, out, steps=2) + [
        "sppo.prompt_selection.enable=true",
        "sppo.prompt_selection.pool_factor=4",
        "sppo.prompt_selection.band=[0.0,0.5]",
        "sppo.prompt_selection.explore_fraction=0.0",
        f"sppo.calibration_log={calib}",
    ]
    result = run_sppo_main(overrides, out)
    assert result.returncode == 0, result.log[-4000:]
    assert [r["step"] for r in result.steps] == [1, 2]
    logged = {row["step"]: row["p"] for row in map(json.loads, calib.read_text().splitlines())}
    for row in result.steps:
        d = row["data"]
        assert d["prompt_selection/pool_size"] == 32.0  # 4 x train_batch_size 8
        assert d["prompt_selection/explored"] == 0.0
        assert "timing_s/select_prompts" in d
        # The critic is not updated between selection and the step's value computation, so the σ(V) the
        # step trained on (calibration log) are the scores selection saw: out of band only where the band
        # could not fill the batch.
        probs = logged[row["step"]]
        assert len(probs) == 8
        shortfall = d["prompt_selection/shortfall"]
        assert sum(p > 0.5 + 1e-4 for p in probs) <= shortfall <= sum(p > 0.5 - 1e-4 for p in probs)
        assert d["prompt_selection/batch_in_band"] == pytest.approx((8 - shortfall) / 8)
