"""The caller's niceness for the runs' own sessions.

The harness starts each run in a new session (its own process group, so that a Ctrl-C ends Ray's processes with it).
Where the kernel schedules by autogroup (``/proc/sys/kernel/sched_autogroup_enabled`` = 1), each session is its own
scheduling group, weighted by the group's nice value, which starts at 0 whatever the caller's niceness: under
``nice -n 10`` the runs would still take an equal share of the machine from every other session. While runs go on,
:func:`keep_runs_nice` gives each child session of this process this process's niceness (``/proc/<pid>/autogroup``),
so the driver's ``NICE`` means what it says.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

PROC = Path("/proc")


def parse_stat(text: str) -> tuple[int, int, int]:
    """(pid, ppid, session) of a ``/proc/<pid>/stat`` line; the command name may hold spaces and parentheses."""
    pid = int(text.split(" ", 1)[0])
    fields = text.rsplit(")", 1)[1].split()  # state ppid pgrp session ...
    return pid, int(fields[1]), int(fields[3])


def child_sessions(parent: int, proc: Path = PROC) -> list[int]:
    """Children of ``parent`` that lead a session of their own."""
    out = []
    for stat in proc.glob("[0-9]*/stat"):
        try:
            pid, ppid, session = parse_stat(stat.read_text())
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not a process
        if ppid == parent and session == pid:
            out.append(pid)
    return sorted(out)


def autogroup_enabled(proc: Path = PROC) -> bool:
    try:
        return (proc / "sys" / "kernel" / "sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return False


def set_autogroup_nice(pid: int, nice: int, proc: Path = PROC) -> bool:
    """Give ``pid``'s session (its autogroup) the nice value ``nice``; False when that is not possible."""
    try:
        (proc / str(pid) / "autogroup").write_text(str(nice))
        return True
    except OSError:
        return False


@contextlib.contextmanager
def keep_runs_nice(interval_s: float = 2.0, proc: Path = PROC) -> Iterator[None]:
    """While the block runs, every ``interval_s`` seconds: each new child session gets this process's niceness.
    Nothing happens at niceness 0 or without autogroup scheduling."""
    nice = os.getpriority(os.PRIO_PROCESS, 0)
    if nice <= 0 or not autogroup_enabled(proc):
        yield
        return
    stop, done = threading.Event(), set()

    def follow() -> None:
        while not stop.wait(interval_s):
            for pid in child_sessions(os.getpid(), proc):
                if pid not in done and set_autogroup_nice(pid, nice, proc):
                    done.add(pid)

    thread = threading.Thread(target=follow, name="keep-runs-nice", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
