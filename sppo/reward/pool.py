"""Time-limited symbolic checks in killable worker processes.

How the limit works: each check is sent over a socket to a worker process, and the caller waits for
the answer with ``poll()`` up to its deadline. A late worker is killed (SIGKILL) and replaced; the
check counts as "not equivalent". Nothing relies on signals or on the main thread, so this works
from any thread of any process (verl calls reward functions from executor threads inside Ray
actors). A worker that crashes (stack overflow, out of memory) is replaced the same way.

Workers are forked from a "zygote" process that imported math-verify once (:mod:`sppo.reward.worker`),
so a replacement is ready in milliseconds; only the zygote's own start (≈2 s of imports, once per
pool) is slow, and it happens before any request is sent, so it is not charged to a deadline.
Killing is done by the zygote, the workers' parent: a pid is never reused while it may be killed.

One pool per process (:func:`get_pool`), grown on demand up to its capacity; everything exits by
itself when the parent process dies (the zygote sees its control socket close).
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_STARTUP_TIMEOUT_S = 120.0
DEFAULT_MEMORY_MB = 4096
_CONTROL_TIMEOUT_S = 30.0
_SEQPACKET = getattr(socket, "SOCK_SEQPACKET", socket.SOCK_DGRAM)


class WorkerStartError(RuntimeError):
    """The verifier processes could not be started (a broken environment, not a bad answer)."""


@dataclass(frozen=True)
class Verdict:
    """Outcome of one symbolic check."""

    equal: bool
    timed_out: bool = False
    error: str | None = None


def _worker_env() -> dict[str, str]:
    """The parent's environment, with this checkout importable even when not pip-installed
    (an installed copy is found through site-packages as usual)."""
    env = dict(os.environ)
    root = Path(__file__).resolve().parents[2]
    if root.name not in ("site-packages", "dist-packages"):
        env["PYTHONPATH"] = str(root) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _wait_readable(fd: int, deadline: float) -> bool:
    """Block until ``fd`` is readable or closed (True) or ``deadline`` passes (False)."""
    poller = select.poll()  # poll, not select: Ray actors can hold more than 1024 fds
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    while True:
        if poller.poll(max(0, int((deadline - time.monotonic()) * 1000))):
            return True
        if time.monotonic() >= deadline:
            return False


class _Zygote:
    """The process that forks (and kills, and reaps) the workers; shared by a pool's threads."""

    def __init__(self, memory_mb: int, startup_timeout_s: float) -> None:
        self._memory_mb = memory_mb
        self._startup_timeout_s = startup_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._lock = threading.Lock()
        self.generation = 0

    def _start(self) -> None:
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, _SEQPACKET)
        try:
            self._proc = subprocess.Popen(  # noqa: S603 - our own module, no shell
                [
                    sys.executable,
                    "-m",
                    "sppo.reward.worker",
                    "--control-fd",
                    str(child_end.fileno()),
                    "--memory-mb",
                    str(self._memory_mb),
                ],
                stdin=subprocess.DEVNULL,
                pass_fds=(child_end.fileno(),),
                env=_worker_env(),
                start_new_session=True,  # a Ctrl-C in the terminal is the parent's business
            )
        except OSError as exc:
            parent_end.close()
            raise WorkerStartError(f"sppo.reward: cannot start the verifier process: {exc}") from None
        finally:
            child_end.close()
        self._control = parent_end
        self.generation += 1
        reply = self._receive(self._startup_timeout_s)
        if not reply.get("ready"):
            self._stop()
            raise WorkerStartError(
                "sppo.reward: verifier process failed to start "
                f"(`{sys.executable} -m sppo.reward.worker` must import math_verify): {reply.get('error')}"
            )

    def _receive(self, timeout_s: float) -> dict:
        assert self._control is not None
        if not _wait_readable(self._control.fileno(), time.monotonic() + timeout_s):
            return {"error": "no reply in time"}
        try:
            message = self._control.recv(4096)
            return json.loads(message) if message else {"error": "the process exited"}
        except (OSError, ValueError) as exc:
            return {"error": str(exc)}

    def _stop(self) -> None:
        control, self._control = self._control, None
        proc, self._proc = self._proc, None
        if control is not None:
            control.close()  # the zygote kills its workers and exits on its own
        if proc is not None:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def fork(self) -> tuple[int, socket.socket, int]:
        """A fresh worker: its pid, the socket to talk to it, and this zygote's generation."""
        with self._lock:
            for _ in range(2):
                if not self._alive():
                    self._stop()
                    self._start()
                assert self._control is not None
                ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    socket.send_fds(self._control, [json.dumps({"op": "fork"}).encode()], [theirs.fileno()])
                    reply = self._receive(_CONTROL_TIMEOUT_S)
                except OSError as exc:
                    reply = {"error": str(exc)}
                finally:
                    theirs.close()
                if "pid" in reply:
                    return int(reply["pid"]), ours, self.generation
                ours.close()
                self._stop()  # the zygote is broken: start a new one
            raise WorkerStartError(f"sppo.reward: cannot fork a verifier worker: {reply.get('error')}")

    def kill(self, pid: int, generation: int) -> None:
        """Kill and reap worker ``pid`` (only the zygote that forked it can do so safely)."""
        with self._lock:
            if generation != self.generation or not self._alive() or self._control is None:
                return  # its zygote is gone; the worker exits when its socket closes
            try:
                self._control.send(json.dumps({"op": "reap", "pid": pid}).encode())
                reply = self._receive(_CONTROL_TIMEOUT_S)
            except OSError as exc:
                reply = {"error": str(exc)}
            if reply.get("reaped") != pid:
                self._stop()  # out of step with the zygote: start a new one next time

    def close(self) -> None:
        with self._lock:
            self._stop()


class _Worker:
    """One forked worker; used by one thread at a time (the pool hands it out)."""

    def __init__(self, zygote: _Zygote) -> None:
        self._zygote = zygote
        self._sock: socket.socket | None = None
        self._pid = 0
        self._generation = 0
        self._buffer = b""
        self._ids = itertools.count()
        self.restarts = 0

    def kill(self) -> None:
        """Kill the process (if any) and forget it; the next check forks a new one."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        self._zygote.kill(self._pid, self._generation)
        sock.close()
        self._buffer = b""

    def _retire(self) -> None:
        self.kill()
        self.restarts += 1

    def _read_line(self, deadline: float) -> bytes | str:
        """One line from the worker, or ``"timeout"`` / ``"eof"``."""
        assert self._sock is not None
        while b"\n" not in self._buffer:
            if not _wait_readable(self._sock.fileno(), deadline):
                return "timeout"
            try:
                chunk = self._sock.recv(65536)
            except OSError:
                return "eof"
            if not chunk:
                return "eof"
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def check(self, gold: str, pred: str, timeout_s: float) -> Verdict:
        """Ask the worker whether ``pred`` is equivalent to ``gold``, waiting at most ``timeout_s``
        (forking the worker first if needed, which is not charged to the deadline)."""
        if self._sock is not None and _wait_readable(self._sock.fileno(), time.monotonic() + 0.001):
            self._retire()  # readable while idle: the worker died since its last answer
        if self._sock is None:
            self._pid, self._sock, self._generation = self._zygote.fork()
        request_id = next(self._ids)
        payload = json.dumps({"id": request_id, "gold": gold, "pred": pred}).encode("ascii") + b"\n"
        try:
            self._sock.sendall(payload)
        except OSError:
            self._retire()
            return Verdict(False, error="worker died before the request")
        line = self._read_line(time.monotonic() + timeout_s)
        if line == "timeout":
            self._retire()
            return Verdict(False, timed_out=True)
        if line == "eof":
            self._retire()
            return Verdict(False, error="worker crashed on this answer")
        try:
            reply = json.loads(line)
        except ValueError:
            self._retire()
            return Verdict(False, error="unreadable worker reply")
        if reply.get("id") != request_id:
            self._retire()
            return Verdict(False, error="out-of-order worker reply")
        return Verdict(bool(reply.get("equal")), error=reply.get("error"))


class VerifierPool:
    """Up to ``capacity`` worker processes (forked from one zygote) shared by any number of threads."""

    def __init__(
        self,
        capacity: int,
        memory_mb: int = DEFAULT_MEMORY_MB,
        startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._zygote = _Zygote(memory_mb, startup_timeout_s)
        self._idle: list[_Worker] = []
        self._all: list[_Worker] = []
        self._cond = threading.Condition()
        self._closed = False
        self.pid = os.getpid()
        self.checks = 0
        """How many symbolic checks were asked for (statistics)."""

    def grow(self, capacity: int) -> None:
        """Raise the capacity to ``capacity`` (never lowers it)."""
        with self._cond:
            if capacity > self.capacity:
                self.capacity = capacity
                self._cond.notify_all()

    def _acquire(self) -> _Worker:
        with self._cond:
            while True:
                if self._closed:
                    raise RuntimeError("VerifierPool is closed")
                if self._idle or len(self._all) < self.capacity:
                    self.checks += 1
                if self._idle:
                    return self._idle.pop()
                if len(self._all) < self.capacity:
                    worker = _Worker(self._zygote)
                    self._all.append(worker)
                    return worker
                self._cond.wait()

    def _release(self, worker: _Worker) -> None:
        with self._cond:
            if self._closed:
                worker.kill()
                return
            self._idle.append(worker)
            self._cond.notify()

    def check(self, gold: str, pred: str, timeout_s: float) -> Verdict:
        """Time-limited symbolic check on a free worker (blocks while all are busy)."""
        worker = self._acquire()
        try:
            return worker.check(gold, pred, timeout_s)
        except BaseException:
            worker.kill()  # e.g. WorkerStartError: the next call tries afresh
            raise
        finally:
            self._release(worker)

    @property
    def restarts(self) -> int:
        """How many workers were replaced after a timeout or crash."""
        return sum(w.restarts for w in self._all)

    def close(self) -> None:
        """Stop the zygote and with it every worker; later checks raise."""
        with self._cond:
            self._closed = True
            self._idle.clear()
            self._cond.notify_all()
        self._zygote.close()


_POOL: VerifierPool | None = None
_POOL_LOCK = threading.Lock()


def default_capacity() -> int:
    """``$SPPO_REWARD_WORKERS`` if set, else the number of CPUs (at most 8)."""
    value = os.environ.get("SPPO_REWARD_WORKERS")
    if value:
        return max(1, int(value))
    return max(1, min(8, os.cpu_count() or 1))


def get_pool(min_capacity: int | None = None) -> VerifierPool:
    """The process-wide pool, created on first use (again after a fork: a child never talks to its
    parent's workers) and grown to ``min_capacity`` if asked."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL.pid != os.getpid():
            _POOL = VerifierPool(max(default_capacity(), min_capacity or 1))
        elif min_capacity:
            _POOL.grow(min_capacity)
        return _POOL


@atexit.register
def _close_pool() -> None:
    if _POOL is not None and _POOL.pid == os.getpid():
        _POOL.close()
