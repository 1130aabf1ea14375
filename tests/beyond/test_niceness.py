"""The caller's niceness for the runs' own sessions: /proc parsing and the autogroup write, on a fake /proc."""

from __future__ import annotations

import os

from sppo_lab.beyond_the_paper import niceness


def _proc(tmp_path, procs: dict[int, tuple[str, int, int]]):
    for pid, (comm, ppid, session) in procs.items():
        d = tmp_path / str(pid)
        d.mkdir()
        (d / "stat").write_text(f"{pid} ({comm}) S {ppid} {session} {session} 0 -1 4194560 ...\n")
        (d / "autogroup").write_text(f"/autogroup-{pid} nice 0\n")
    (tmp_path / "sys" / "kernel").mkdir(parents=True)
    (tmp_path / "sys" / "kernel" / "sched_autogroup_enabled").write_text("1\n")
    return tmp_path


def test_parse_stat_with_spaces_and_parentheses_in_the_name():
    assert niceness.parse_stat("4242 (ray::Worker (x) y) S 17 4242 4242 0 -1 4194560 0") == (4242, 17, 4242)


def test_child_sessions_are_children_that_lead_their_own_session(tmp_path):
    proc = _proc(
        tmp_path,
        {
            100: ("python", 1, 100),  # the driver
            101: ("python -m sppo.main", 100, 101),  # a run in its own session
            102: ("helper", 100, 100),  # a child in the driver's session
            103: ("raylet", 101, 101),  # a grandchild
        },
    )
    (proc / "self").mkdir()  # not a process folder
    assert niceness.child_sessions(100, proc) == [101]
    assert niceness.autogroup_enabled(proc)
    assert niceness.set_autogroup_nice(101, 10, proc) and (proc / "101" / "autogroup").read_text() == "10"
    assert not niceness.set_autogroup_nice(999, 10, proc)


def _run_block(proc, monkeypatch, nice: int, wait_s: float) -> str:
    """keep_runs_nice over a fake child session of this process at niceness ``nice``, until the child's autogroup
    changes or ``wait_s`` (30 polls and more) has passed."""
    import time

    monkeypatch.setattr(niceness.os, "getpriority", lambda which, who: nice)
    with niceness.keep_runs_nice(interval_s=0.01, proc=proc):
        deadline = time.monotonic() + wait_s
        while (proc / "7001" / "autogroup").read_text().startswith("/") and time.monotonic() < deadline:
            time.sleep(0.01)
    return (proc / "7001" / "autogroup").read_text()


def test_each_child_session_gets_the_callers_niceness(tmp_path, monkeypatch):
    proc = _proc(tmp_path, {7001: ("python -m sppo.main", os.getpid(), 7001)})
    assert _run_block(proc, monkeypatch, 10, 5.0) == "10"


def test_nothing_changes_at_niceness_zero_or_without_autogroup(tmp_path, monkeypatch):
    proc = _proc(tmp_path, {7001: ("python -m sppo.main", os.getpid(), 7001)})
    assert _run_block(proc, monkeypatch, 0, 0.3) == "/autogroup-7001 nice 0\n"
    (proc / "sys" / "kernel" / "sched_autogroup_enabled").write_text("0\n")
    assert _run_block(proc, monkeypatch, 10, 0.3) == "/autogroup-7001 nice 0\n"
