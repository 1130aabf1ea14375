"""Shared checks of the table-driven bad-input tests (issue 14): run a CLI as a subprocess and assert
exit code 2, exactly one non-empty stderr line with the CLI's prefix, no traceback, and no file created,
changed or removed under the test's folder (so no partial output)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: Not writable even by root (sysfs refuses new files).
UNWRITABLE = "/sys/sppo_bad_input_out"


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    env.pop("PYTHONWARNINGS", None)
    return env


def run_cli(module: str, argv: list[str], cwd: Path | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    """``python -m module *argv`` in a subprocess (text output captured)."""
    return subprocess.run(
        [sys.executable, "-m", module, *argv], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=_env()
    )


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``root``: relative path -> (size, mtime in ns) (folders: (-1, 0))."""
    out: dict[str, tuple[int, int]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            out[os.path.relpath(os.path.join(folder, name), root)] = (-1, 0)
        for name in files:
            st = os.stat(os.path.join(folder, name))
            out[os.path.relpath(os.path.join(folder, name), root)] = (st.st_size, st.st_mtime_ns)
    return out


def assert_one_line_error(proc: subprocess.CompletedProcess, prefix: str, needle: str = "") -> str:
    """Exit code 2, one non-empty stderr line starting with ``prefix: error: `` and containing ``needle``."""
    err = proc.stderr
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert proc.returncode == 2, (proc.returncode, err)
    assert len(lines) == 1 and err.count("\n") == 1, err
    assert lines[0].startswith(f"{prefix}: error: "), err
    assert needle in lines[0], (needle, err)
    return lines[0]


def check_case(module: str, prefix: str, argv: list[str], root: Path, needle: str = "", cwd: Path | None = None) -> str:
    """Run one bad-input case and check everything (also that nothing under ``root`` changed)."""
    before = snapshot(root)
    proc = run_cli(module, argv, cwd=cwd or root)
    line = assert_one_line_error(proc, prefix, needle)
    after = snapshot(root)
    assert after == before, f"files changed: {sorted(set(after.items()) ^ set(before.items()))}"
    return line


def _default_sigint() -> None:
    # A shell starts a background job (`bash .ci/run &`, nohup) with SIGINT ignored, children inherit that, and Python
    # then keeps it ignored: the CLI would never see the test's Ctrl-C. A terminal's Ctrl-C reaches a foreground job.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt_after(
    module: str, argv: list[str], ready: str, cwd: Path, timeout: float = 240, presses: int = 1
) -> tuple[int, str, str]:
    """Start the CLI, wait for a stdout line containing ``ready``, send SIGINT ``presses`` times (10 ms apart, an
    impatient double Ctrl-C); (exit code, stdout, stderr)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
        env=_env(), preexec_fn=_default_sigint,
    )  # fmt: skip
    out_lines = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    for line in proc.stdout:
        out_lines.append(line)
        if ready in line:
            break
        assert time.monotonic() < deadline, "the CLI never became ready"
    time.sleep(0.5)
    for press in range(presses):
        if press:
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=120)
    return proc.returncode, "".join(out_lines) + rest, err
