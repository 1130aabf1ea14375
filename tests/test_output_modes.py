"""Issue 25: every output file gets the umask-derived mode (0644 under umask 022), not mkstemp's 0600, so
teammates on a shared cluster can read prepared data, metrics and results. ``sppo.cli_errors.atomic_path`` is
the one atomic writer (``atomic_write``, ``write_text_atomic``, ``write_json_atomic`` and
``write_parquet_atomic`` go through it)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sppo.cli_errors import atomic_path, atomic_write, write_json_atomic, write_parquet_atomic, write_text_atomic
from tests.bad_input import REPO, _env


@pytest.fixture
def umask():
    """Set a umask for one test and restore the old one afterwards."""
    old = os.umask(0o022)
    os.umask(old)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)], ids=["022", "027", "002"])
def test_atomic_writers_give_the_umask_mode(tmp_path, umask, mask, expected):
    import pandas as pd

    umask(mask)
    with atomic_write(tmp_path / "a.txt") as handle:
        handle.write("a")
    with atomic_path(tmp_path / "b.png") as tmp:
        tmp.write_bytes(b"b")
    write_text_atomic(tmp_path / "c.md", "c")
    write_json_atomic(tmp_path / "d.json", {"d": 1})
    write_parquet_atomic(pd.DataFrame({"e": [1]}), tmp_path / "e.parquet")
    modes = {p.name: _mode(p) for p in sorted(tmp_path.iterdir())}
    assert modes == {name: expected for name in ("a.txt", "b.png", "c.md", "d.json", "e.parquet")}


def test_a_rewrite_repairs_a_0600_file_and_leaves_no_temporary(tmp_path, umask):
    umask(0o022)
    target = tmp_path / "metrics.json"
    target.write_text("old")
    target.chmod(0o600)  # written by an earlier version
    write_text_atomic(target, "new")
    assert target.read_text() == "new" and _mode(target) == 0o644
    with pytest.raises(RuntimeError), atomic_write(target) as handle:
        handle.write("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_prepared_data_and_scores_are_readable_by_others(tmp_path):
    """The CLIs end to end under umask 022: prepare's parquet, score's tables and plots are all 0644."""
    env = _env()

    def run(*argv: str) -> None:
        proc = subprocess.run(
            [sys.executable, "-m", *argv], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
            preexec_fn=lambda: os.umask(0o022),
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]

    run("sppo.data.prepare", "math500", "--source", str(REPO / "tests/fixtures/math500_sample.jsonl"), "--out", "d")
    prepared = tmp_path / "d" / "offline_eval" / "math__math_500.parquet"
    assert _mode(prepared) == 0o644
    import pandas as pd

    frame = pd.read_parquet(prepared).head(3)
    responses = pd.DataFrame(
        {
            "data_source": frame["data_source"],
            "benchmark": "math500",
            "problem_id": range(3),
            "sample_idx": 0,
            "response": [r["ground_truth"] for r in frame["reward_model"]],
            "ground_truth": [r["ground_truth"] for r in frame["reward_model"]],
        }
    )
    (tmp_path / "run").mkdir()
    responses.to_parquet(tmp_path / "run" / "responses.parquet")
    run("sppo.eval", "score", "run", "--workers", "1", "--out", "scores")
    written = sorted((tmp_path / "scores").iterdir())
    assert {p.name for p in written} >= {"metrics.json", "metrics.csv", "metrics.md", "scored.parquet"}
    assert {p.name: _mode(p) for p in written} == {p.name: 0o644 for p in written}
