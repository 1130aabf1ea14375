"""The e2e stage's own code on CPU (hf rollout): train 2 steps + checkpoints, resume 1 step, weights equal.

Slow (two Ray clusters; ~3-6 min on 2 cores): ``bash run_scripts/test.sh -m slow tests/gpu_check``. The same
scenario with tests/conftest.py's runner is in the default suite (tests/e2e/test_verl_cpu.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.ray, pytest.mark.timeout(1200)]


def test_e2e_stage_on_cpu_trains_resumes_and_restores_the_weights(tmp_path):
    out = tmp_path / "e2e_small.json"
    env = dict(os.environ)
    env.pop("VERL_PLATFORM", None)
    proc = subprocess.run(
        [sys.executable, "-m", "sppo_lab.gpu_check.e2e", "--device", "cpu", "--critic", "small", "--root", str(tmp_path),
         "--out", str(out), "--timeout", "1000"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1100,
    )  # fmt: skip
    result = json.loads(out.read_text())
    status = {a["name"]: a["passed"] for a in result["assertions"]}
    assert all(status.values()), (status, proc.stdout[-2000:])
    assert proc.returncode == 0
    assert set(status) >= {"train_ran", "validation_ran", "actor_trained", "critic_trained", "resume_ran",
                           "actor_resumed_weights_equal", "critic_resumed_weights_equal",
                           "actor_resumed_optimizer_equal", "critic_resumed_optimizer_equal", "dataloader_resumed",
                           "latest_checkpoint_is_3"}  # fmt: skip
    position = next(a for a in result["assertions"] if a["name"] == "dataloader_resumed")["measured"]
    assert position["batches_at_step_3"] == position["batches_at_step_2"] + 1
    assert result["measured"]["peak_memory_gb_by_role"], "verl's perf/max_memory_allocated_gb per role"
