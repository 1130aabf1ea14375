"""One real training launch, ``python -m sppo.main <overrides>`` in a subprocess with its own Ray cluster, and the
reader of the metrics it logs: shared by the quickstart, the benchmarks, the critic-pays harness and the tests.

verl's file logger writes one JSON row per step to ``VERL_FILE_LOGGER_PATH``; the launch's stdout and stderr go to a
log file. Ray gives a starting node a fixed 30 s to register with its GCS; on two busy cores it can miss that before
anything of verl ran: only that failure (no step logged) is relaunched, at most ``attempts`` times.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

RAY_START_TIMEOUT = "The current node timed out during startup"
STEP_KEY = "critic/score/mean"  # a training step's row (validation rows lack it)


def read_metrics(path: Path) -> list[dict]:
    """Rows of verl's file logger, including earlier (interrupted) attempts kept as ``<name>.partN``.

    verl's file logger truncates its file when a run starts, so the quickstart moves an earlier file aside first;
    for a step logged by several attempts (a resumed run repeats steps after the last checkpoint), the latest
    attempt wins.
    """
    parts = sorted(path.parent.glob(path.name + ".part*"), key=lambda p: int(p.suffix[len(".part") :]))
    by_step: dict[tuple[int, bool], dict] = {}
    for part in [*parts, path]:
        if not part.exists():
            continue
        for line in part.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line being written
            by_step[(row["step"], STEP_KEY in row["data"])] = row
    return [by_step[k] for k in sorted(by_step)]


def training_env(metrics: Path, drop: tuple[str, ...] = ()) -> dict[str, str]:
    """This process's environment plus verl's file-logger path, unbuffered output and quiet tokenizers."""
    env = dict(os.environ, VERL_FILE_LOGGER_PATH=str(metrics), PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    for name in drop:
        env.pop(name, None)
    return env


def share_niceness(pid: int) -> bool:
    """Give the session ``pid`` leads this process's niceness; False where that is not possible or not needed.

    Linux with autogroup scheduling (``/proc/sys/kernel/sched_autogroup_enabled`` = 1) weighs each session as one
    group, at the group's own nice value, which starts at 0: a run in its own session would otherwise take an equal
    share of the machine whatever ``nice`` its caller runs under.
    """
    nice = os.getpriority(os.PRIO_PROCESS, 0)
    if nice == 0:
        return False
    try:
        Path(f"/proc/{pid}/autogroup").write_text(f"{nice}\n")
    except OSError:  # no autogroup support, or a raised priority (< 0) without the right to it
        return False
    return True


def _steps_logged(metrics: Path) -> bool:
    return metrics.exists() and STEP_KEY in metrics.read_text(errors="replace")


def launch_training(
    overrides: list[str],
    metrics: Path,
    log_path: Path,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    own_session: bool = True,
    on_start: Callable[[subprocess.Popen], None] | None = None,
    on_poll: Callable[[], None] | None = None,
    poll_s: float = 5.0,
    timeout_s: float | None = None,
    attempts: int = 3,
    who: str = "[launch]",
) -> int:
    """Run ``python -m sppo.main <overrides>`` until it exits; its exit code. Output is appended to ``log_path``.

    ``own_session``: the run gets its own process group, which a Ctrl-C here (or ``timeout_s``) ends with SIGTERM;
    without it the run stays in the terminal's group (a Ctrl-C at the terminal reaches it directly) and a Ctrl-C
    here is passed on to it as SIGINT, so it reports and exits as it does when run alone. ``on_poll`` is called
    every ``poll_s`` seconds while the run trains (progress lines), ``on_start`` with each attempt's process.
    """
    cmd = [sys.executable, "-m", "sppo.main", *overrides]
    env = env if env is not None else training_env(metrics)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    code = 1
    for attempt in range(attempts):
        start = log_path.stat().st_size if log_path.exists() else 0
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                    start_new_session=own_session)  # fmt: skip
            if own_session:
                share_niceness(proc.pid)
            if on_start is not None:
                on_start(proc)
            deadline = None if timeout_s is None else time.monotonic() + timeout_s
            try:
                while proc.poll() is None:
                    try:
                        proc.wait(timeout=poll_s)
                    except subprocess.TimeoutExpired:
                        pass
                    if on_poll is not None:
                        on_poll()
                    if deadline is not None and time.monotonic() > deadline and proc.poll() is None:
                        _end(proc, own_session, signal.SIGTERM)
                        raise TimeoutError(f"{who} the run did not finish within {timeout_s:.0f} s; log {log_path}")
            except KeyboardInterrupt:
                _end(proc, own_session, signal.SIGTERM if own_session else signal.SIGINT)
                raise
        code = proc.returncode
        with open(log_path, "rb") as log:
            log.seek(start)
            attempt_log = log.read().decode(errors="replace")
        if code == 0 or RAY_START_TIMEOUT not in attempt_log or _steps_logged(metrics):
            break
        print(f"{who} Ray's node did not start in time (attempt {attempt + 1}); retrying", flush=True)
    return code


def _end(proc: subprocess.Popen, own_session: bool, sig: signal.Signals) -> None:
    """``sig`` to the run (its process group, Ray's processes included, when it has its own), a minute to exit,
    then SIGKILL."""
    _signal(proc, own_session, sig)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        _signal(proc, own_session, signal.SIGKILL)
        proc.wait()


def _signal(proc: subprocess.Popen, own_session: bool, sig: signal.Signals) -> None:
    try:
        if own_session:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    except ProcessLookupError:
        pass  # already gone
