"""verl's real wandb logger on a node without internet: ``WANDB_MODE=offline`` (docs/running.md, "Several nodes").

``WANDB_API_KEY`` alone makes the run scripts log to wandb (run_scripts/common.sh), and ``wandb.init`` then tries to
reach the wandb servers at the start of training. With ``WANDB_MODE=offline`` it writes the run under
``$WANDB_DIR/wandb/offline-run-*/`` instead, for ``wandb sync`` later from a machine that is online. The test runs
verl's ``Tracking`` (the trainer's logger) in a subprocess whose proxies point nowhere, so any network use would fail.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(300)

LOG_TWO_STEPS = """
from verl.utils.tracking import Tracking

config = {"trainer": {"logger": ["console", "wandb"], "project_name": "SPPO"}, "algorithm": {"adv_estimator": "sppo"}}
tracker = Tracking(project_name="SPPO", experiment_name="offline_check", default_backend=["console", "wandb"],
                   config=config)
for step in (1, 2):
    tracker.log(data={"critic/bce_loss": 0.5 / step, "actor/pg_loss": -0.125 * step}, step=step)
tracker.finish()
"""


@pytest.mark.parametrize("api_key", [True, False])
def test_the_wandb_logger_runs_offline_and_writes_its_run_files(tmp_path, api_key):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    dead = "http://127.0.0.1:9"  # the discard port: nothing answers
    env.update(WANDB_MODE="offline", WANDB_DIR=str(tmp_path), HTTPS_PROXY=dead, HTTP_PROXY=dead, NO_PROXY="")
    # wandb's own settings, cache and core logs stay under tmp_path too
    env.update({f"WANDB_{k}_DIR": str(tmp_path / k.lower()) for k in ("CONFIG", "CACHE", "DATA")})
    if api_key:  # a key does not make offline mode reach for the network (nor is it checked)
        env["WANDB_API_KEY"] = "0123456789abcdef0123456789abcdef01234567"
    proc = subprocess.run([sys.executable, "-c", LOG_TWO_STEPS], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=240)  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    [run_dir] = (tmp_path / "wandb").glob("offline-run-*")
    [run_file] = run_dir.glob("run-*.wandb")
    records = run_file.read_bytes()  # wandb's record log: the run, its config and each history row (protobuf)
    for text in (b"SPPO", b"offline_check", b"adv_estimator", b"critic/bce_loss", b"actor/pg_loss", b"0.25", b"-0.25"):
        assert text in records, text
    assert f"wandb sync {run_dir}" in output  # how to upload it later
    assert (tmp_path / "wandb" / "latest-run").resolve() == run_dir.resolve()
