"""The verifier processes: one "zygote" that imports math-verify once, and workers forked from it.

Started by :class:`sppo.reward.pool.VerifierPool`, never by hand:

    python -m sppo.reward.worker --control-fd FD --memory-mb 4096

The zygote imports SymPy/math-verify (≈2 s), warms them up, then waits on its control socket
(``AF_UNIX``/``SOCK_SEQPACKET``, one JSON message per packet):
  -> {"ready": true}                                     once, after the imports
  <- {"op": "fork"}  + one socket passed with SCM_RIGHTS  -> {"pid": 1234}
  <- {"op": "reap", "pid": 1234}                          -> {"reaped": 1234}
A forked worker is ready at once (milliseconds, caches already warm) and serves JSON lines on the
socket it was given:
  <- {"id": 7, "gold": "\\frac{1}{2}", "pred": "0.5"}
  -> {"id": 7, "equal": true}              (or {"id": 7, "equal": false, "error": "..."})
A worker has no time limit of its own: the parent kills it (SIGKILL) when an answer is late and asks
the zygote to reap it. When the control socket closes (the parent is gone) the zygote kills its
workers and exits; an idle worker also exits when its socket closes.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
from collections.abc import Callable


def _limit_memory(megabytes: int) -> None:
    """Cap the address space so a runaway SymPy computation raises MemoryError instead of
    swapping a shared machine (inherited by the forked workers)."""
    if megabytes <= 0:
        return
    try:
        import resource

        limit = megabytes * 1024 * 1024
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError):
        pass


def answer(request: dict, equal_fn: Callable[[str, str], bool]) -> dict:
    """The reply to one request; any error (MemoryError, RecursionError...) means "not equal"."""
    try:
        return {"id": request.get("id"), "equal": bool(equal_fn(str(request["gold"]), str(request["pred"])))}
    except Exception as exc:  # noqa: BLE001
        return {"id": request.get("id"), "equal": False, "error": f"{type(exc).__name__}: {exc}"[:300]}


def serve(sock: socket.socket, equal_fn: Callable[[str, str], bool]) -> None:
    """Answer JSON-line requests on ``sock`` until it closes."""
    reader = sock.makefile("rb")
    for line in reader:
        try:
            request = json.loads(line)
            reply = answer(request, equal_fn)
        except ValueError as exc:
            reply = {"id": None, "equal": False, "error": f"bad request: {exc}"}
        sock.sendall(json.dumps(reply).encode("ascii") + b"\n")


def _die_with_parent() -> Callable[[], None]:
    """A function that makes the calling process get SIGKILL when its parent dies (Linux
    ``prctl(PR_SET_PDEATHSIG)``; a no-op elsewhere). Loaded before forking."""
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return lambda: None
    return lambda: prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def _fork_worker(
    control: socket.socket, fd: int, equal_fn: Callable[[str, str], bool], on_start: Callable[[], None]
) -> int:
    pid = os.fork()
    if pid == 0:  # the worker
        code = 0
        try:
            on_start()  # if the zygote is killed, its busy workers must not run on
            control.close()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            serve(socket.socket(fileno=fd), equal_fn)
        except BaseException:  # noqa: BLE001 - a worker never returns into the zygote's loop
            code = 1
        finally:
            os._exit(code)
    os.close(fd)
    return pid


def zygote(control: socket.socket, memory_mb: int) -> None:
    """Import, warm up, declare ready, then fork and reap workers on request."""
    from sppo.reward.equivalence import symbolic_equal

    _limit_memory(memory_mb)
    on_start = _die_with_parent()
    symbolic_equal("1", "1")
    symbolic_equal("\\frac{1}{2}", "(x+1)/2")
    control.send(json.dumps({"ready": True}).encode())
    children: set[int] = set()
    try:
        while True:
            try:
                message, fds, _, _ = socket.recv_fds(control, 4096, 1)
            except OSError:
                break
            if not message:
                break  # the parent closed the control socket
            command = json.loads(message)
            if command.get("op") == "fork" and len(fds) == 1:
                pid = _fork_worker(control, fds[0], symbolic_equal, on_start)
                children.add(pid)
                control.send(json.dumps({"pid": pid}).encode())
            elif command.get("op") == "reap":
                pid = int(command["pid"])
                if pid in children:
                    try:
                        os.kill(pid, signal.SIGKILL)
                        os.waitpid(pid, 0)
                    except (ProcessLookupError, ChildProcessError):
                        pass
                    children.discard(pid)
                control.send(json.dumps({"reaped": pid}).encode())
            else:
                for fd in fds:
                    os.close(fd)
                control.send(json.dumps({"error": "unknown command"}).encode())
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sppo.reward.worker")
    parser.add_argument("--control-fd", type=int, required=True, help="inherited control socket")
    parser.add_argument("--memory-mb", type=int, default=0, help="address-space cap; 0 = none")
    args = parser.parse_args(argv)
    # Anything a library prints goes to stderr; stdout is not used.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    zygote(socket.socket(fileno=args.control_fd), args.memory_mb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
