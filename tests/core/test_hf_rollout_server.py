"""The CPU rollout server's generation control, as verl's asynchronous trainers drive it (no Ray: the class itself).

abort_all_requests must stop in-flight generation with its tokens so far ("aborted"), hold new requests until
resume_generation (or refuse them with reject_request=True), and a resumed request (prompt + partial tokens, the
remaining budget) must continue where it stopped, as verl's FullyAsyncLLMServerClient resumes partial rollouts.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
import torch

from sppo.cpu.hf_rollout import HFRolloutServer
from sppo_lab.tiny import build_char_tokenizer, build_policy, save

GREEDY = {"temperature": 0.0, "logprobs": True}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> HFRolloutServer:
    tok = build_char_tokenizer()
    model = build_policy(tok, seed=3)
    model.generation_config.eos_token_id = None  # never stops early: lengths are set by the budget alone
    model.config.eos_token_id = None
    path = save(model, tok, tmp_path_factory.mktemp("hf_server") / "policy")
    return HFRolloutServer(path, trust_remote_code=False, prompt_length=16, response_length=400)


PROMPT = [5, 6, 7, 8]


def _run(coro):
    return asyncio.run(coro)


def test_uninterrupted_generation_completes_with_the_whole_budget(server):
    out = _run(server.generate(PROMPT, dict(GREEDY, max_tokens=12), "r0"))
    assert out.stop_reason == "completed"
    assert len(out.token_ids) == 12 and len(out.log_probs) == 12
    assert out.extra_fields["global_steps"] == 0


def test_abort_returns_partial_tokens_and_the_resumed_request_continues_them(server):
    full = _run(server.generate(PROMPT, dict(GREEDY, max_tokens=300), "full")).token_ids

    async def interrupted():
        started = threading.Event()
        original = server.model.forward

        def forward(*args, **kwargs):
            started.set()
            return original(*args, **kwargs)

        server.model.forward = forward
        try:
            task = asyncio.create_task(server.generate(PROMPT, dict(GREEDY, max_tokens=300), "r1"))
            await asyncio.to_thread(started.wait)
            await asyncio.sleep(0.05)
            await server.abort_all_requests()
            partial = await task
            # while paused, a new request waits for resume_generation
            waiting = asyncio.create_task(server.generate(PROMPT, dict(GREEDY, max_tokens=4), "r2"))
            await asyncio.sleep(0.2)
            assert not waiting.done()
            await server.resume_generation()
            await waiting
            # verl's client resumes: prompt + partial tokens, the remaining budget
            rest = await server.generate(
                PROMPT + partial.token_ids, dict(GREEDY, max_tokens=300 - len(partial.token_ids)), "r1"
            )
            return partial, rest
        finally:
            server.model.forward = original

    partial, rest = _run(interrupted())
    assert partial.stop_reason == "aborted"
    assert 0 < len(partial.token_ids) < 300
    assert len(partial.log_probs) == len(partial.token_ids)
    assert rest.stop_reason == "completed"
    # greedy decoding: the interrupted and resumed halves are the uninterrupted answer
    assert partial.token_ids + rest.token_ids == full


def test_reject_request_refuses_new_requests_until_resume(server):
    async def scenario():
        await server.abort_all_requests(reject_request=True)
        refused = await server.generate(PROMPT, dict(GREEDY, max_tokens=4), "r3")
        await server.resume_generation()
        served = await server.generate(PROMPT, dict(GREEDY, max_tokens=4), "r4")
        return refused, served

    refused, served = _run(scenario())
    assert (refused.stop_reason, refused.token_ids) == ("aborted", [])
    assert served.stop_reason == "completed" and len(served.token_ids) == 4


def test_loaded_weights_carry_their_version(server):
    state = {k: v.clone() for k, v in server.model.state_dict().items()}
    assert server.load_weights(state, global_steps=7) == len(state)
    out = _run(server.generate(PROMPT, dict(GREEDY, max_tokens=2), "r5"))
    assert out.extra_fields["global_steps"] == 7
    server.load_weights(state, global_steps=0)
    assert torch.equal(next(iter(server.model.state_dict().values())), next(iter(state.values())))


def test_weight_streams_sync_and_async_give_the_same_cpu_copies_and_only_the_sender_keeps_them():
    from sppo.cpu.hf_rollout import collect_full_weights

    pairs = [("a", torch.arange(3.0)), ("b", torch.ones(2, 2))]

    async def stream():
        for pair in pairs:
            yield pair

    from_sync = _run(collect_full_weights(iter(pairs), keep=True))
    from_async = _run(collect_full_weights(stream(), keep=True))
    for got in (from_sync, from_async):
        assert list(got) == ["a", "b"]
        assert torch.equal(got["a"], pairs[0][1]) and got["a"].data_ptr() != pairs[0][1].data_ptr()  # a copy
    assert _run(collect_full_weights(iter(pairs), keep=False)) == {}


def _counting(server):
    """Wraps the model's generate to record each call's batch size."""
    calls: list[int] = []
    original = server.model.generate

    def generate(input_ids, **kwargs):
        calls.append(len(input_ids))
        return original(input_ids, **kwargs)

    server.model.generate = generate
    return calls, original


def test_concurrent_requests_are_generated_in_one_left_padded_batch(server):
    prompts = [PROMPT, [9, 10], [11, 12, 13, 14, 15, 16], PROMPT]
    alone = [_run(server.generate(p, dict(GREEDY, max_tokens=8), f"a{i}")) for i, p in enumerate(prompts)]
    calls, original = _counting(server)
    try:

        async def together():
            return await asyncio.gather(
                *(server.generate(p, dict(GREEDY, max_tokens=8), f"b{i}") for i, p in enumerate(prompts))
            )

        batched = _run(together())
    finally:
        server.model.generate = original
    assert calls == [4]  # one generate call for the four requests
    for one, many in zip(alone, batched, strict=True):
        # greedy: each row of the left-padded batch decodes as the request did alone
        assert many.token_ids == one.token_ids and many.stop_reason == "completed"
        assert many.log_probs == pytest.approx(one.log_probs, abs=1e-4)


def test_requests_with_different_settings_are_batched_apart_and_errors_reach_every_caller(server):
    calls, original = _counting(server)
    try:

        async def mixed():
            return await asyncio.gather(
                server.generate(PROMPT, dict(GREEDY, max_tokens=3), "c0"),
                server.generate(PROMPT, dict(GREEDY, max_tokens=5), "c1"),
                server.generate(PROMPT, dict(GREEDY, max_tokens=3), "c2"),
            )

        short, long, short2 = _run(mixed())
    finally:
        server.model.generate = original
    assert sorted(calls) == [1, 2]  # the two 3-token requests together, the 5-token one alone
    assert (len(short.token_ids), len(long.token_ids), len(short2.token_ids)) == (3, 5, 3)

    def broken(*args, **kwargs):
        raise RuntimeError("model failed")

    server.model.generate = broken
    try:

        async def failing():
            return await asyncio.gather(
                *(server.generate(PROMPT, dict(GREEDY, max_tokens=2), f"d{i}") for i in range(2)),
                return_exceptions=True,
            )

        errors = _run(failing())
    finally:
        server.model.generate = original
    assert [str(e) for e in errors] == ["model failed", "model failed"]
    assert server._pending == [] and server._drainer is None
