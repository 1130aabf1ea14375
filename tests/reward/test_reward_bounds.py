"""Pathological answers return 0.0 within the time limit and never break the scorer."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from sppo.reward import compute_score
from sppo.reward.pool import get_pool

LIMIT_S = 1.0
MARGIN_S = 1.5  # waking up, killing and reaping a late worker on a loaded 2-core machine

ADVERSARIAL = {
    "power tower": "The answer is \\boxed{9^{9^{9^{9}}}}",
    "1 MB of text": "blah " * 200_000 + "\\boxed{" + "1+" * 250_000 + "1}",
    "1 MB without answer": "x" * 1_000_000,
    "10k nested braces": "\\boxed{" + "{" * 10_000 + "1" + "}" * 10_000 + "}",
    "10k unclosed boxes": "\\boxed{" * 10_000,
    "invalid surrogates": "\\boxed{\ud800\udfff\ud83d}",
    "empty box": "\\boxed{}",
}


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_adversarial_answer_is_bounded(name: str, warm_pool: None) -> None:
    start = time.monotonic()
    result = compute_score("math__math", ADVERSARIAL[name], "2", timeout_s=LIMIT_S)
    elapsed = time.monotonic() - start
    assert result["score"] == 0.0
    assert elapsed < LIMIT_S + MARGIN_S


def test_timeout_is_reported_and_scorer_recovers(warm_pool: None) -> None:
    result = compute_score("math__math", ADVERSARIAL["power tower"], "2", timeout_s=LIMIT_S)
    assert (result["score"], result["timed_out"], result["has_answer"]) == (0.0, True, True)
    # the replaced worker answers the next question correctly
    assert compute_score("math__math", "\\boxed{0.25}", "\\frac{1}{4}")["score"] == 1.0


def test_timeout_inside_a_thread(warm_pool: None) -> None:
    out: list[tuple[dict, float]] = []

    def work() -> None:
        start = time.monotonic()
        result = compute_score("math__math", ADVERSARIAL["power tower"], "2", timeout_s=LIMIT_S)
        out.append((result, time.monotonic() - start))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=60)
    assert len(out) == 1
    result, elapsed = out[0]
    assert (result["score"], result["timed_out"]) == (0.0, True)
    assert elapsed < LIMIT_S + MARGIN_S


def test_worker_killed_mid_request_gives_zero_then_recovers(warm_pool: None) -> None:
    pool = get_pool()
    out: list[dict] = []
    thread = threading.Thread(
        target=lambda: out.append(compute_score("math__math", ADVERSARIAL["power tower"], "2", timeout_s=30))
    )
    thread.start()
    time.sleep(0.5)
    busy = [w for w in pool._all if w not in pool._idle and w._sock is not None]
    assert len(busy) == 1
    os.kill(busy[0]._pid, signal.SIGKILL)  # a crash of the worker process (e.g. out of memory)
    thread.join(timeout=30)
    assert len(out) == 1 and out[0]["score"] == 0.0 and out[0]["timed_out"] is False
    assert compute_score("math__math", "\\boxed{0.25}", "\\frac{1}{4}")["score"] == 1.0


def test_worker_that_died_while_idle_is_replaced_silently(warm_pool: None) -> None:
    pool = get_pool()
    idle = [w for w in pool._idle if w._sock is not None]
    assert idle
    for worker in idle:
        os.kill(worker._pid, signal.SIGKILL)
    time.sleep(0.2)
    assert compute_score("math__math", "\\boxed{-q + p}", "p - q")["score"] == 1.0
