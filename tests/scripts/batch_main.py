"""Run ``python -m sppo.main`` for many recorded command lines, paying verl's import once (a test helper).

    python tests/scripts/batch_main.py JOBS.json [--parallel 2]

JOBS.json: a list of ``{"argv": [...], "cwd": ..., "env": {...}, "stdout": path, "stderr": path, "rc": path}``,
where ``argv`` is what a run script passed after ``python`` (``-m sppo.main ...``), recorded by a stub
interpreter. The parent imports sppo.main and verl once, then forks one child per job: the child takes the
job's environment, working directory and output files, and runs ``sppo.main.main()`` with the recorded
arguments, as ``python -m sppo.main`` would. Each child's exit status is written to ``rc``.
"""

from __future__ import annotations

import json
import os
import sys


def _die_with_parent() -> None:
    """Linux: a child still running when the batch process is killed (e.g. a test timeout) is killed too."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _child(job: dict) -> int:
    _die_with_parent()
    out = os.open(job["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    err = os.open(job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.chdir(job["cwd"])
    os.environ.clear()
    os.environ.update(job["env"])
    argv = job["argv"]
    assert argv[:2] == ["-m", "sppo.main"], argv
    sys.argv = ["sppo.main", *argv[2:]]
    import sppo.main

    try:
        sppo.main.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - an uncaught error exits 1, like the interpreter
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def main() -> int:
    with open(sys.argv[1]) as fh:
        jobs = json.load(fh)
    parallel = int(sys.argv[sys.argv.index("--parallel") + 1]) if "--parallel" in sys.argv else 2
    # What every child needs, imported once here (children share it copy-on-write). Run with the jobs'
    # shared environment: some libraries read theirs at import (huggingface_hub: HF_HOME, HF_HUB_OFFLINE).
    import importlib

    for module in (
        "hydra",
        "verl",
        "verl.trainer.ppo.core_algos",
        "verl.trainer.ppo.utils",
        "verl.utils.config",
        "verl.workers.config",
        "transformers",
        "sppo.tools.dry_run",
        "sppo.main",
    ):
        importlib.import_module(module)

    running: dict[int, dict] = {}
    queue = list(jobs)
    while queue or running:
        while queue and len(running) < parallel:
            job = queue.pop(0)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    code = _child(job)
                finally:
                    os._exit(code)
            running[pid] = job
        pid, status = os.wait()
        job = running.pop(pid)
        with open(job["rc"], "w") as fh:
            fh.write(str(os.waitstatus_to_exitcode(status)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
