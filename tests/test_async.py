"""The async path: ``await wrapper.acall(...)`` with the same request, retries and records."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

import agentscope_legacy
from agentscope_legacy.errors import AuthenticationError, ProviderConnectionError
from agentscope_legacy.models import load_model_by_config_name, read_model_configs
from tests.emulators.base import Fault

MESSAGES = [{"role": "user", "content": "hi"}]


def build(server, model_type="openai_chat", **overrides):
    name = f"{model_type}-{uuid.uuid4().hex[:6]}"
    config = {"config_name": name, "model_type": model_type, "retry_interval": 0.01}
    if model_type == "post_api_chat":
        config.update(api_url=server.base_url + "/v1/chat/completions", json_args={"model": "m"})
    else:
        config.update(model_name="gpt-4o-mini", api_key="sk-async-1234567",
                      base_url=server.base_url + "/v1")  # fmt: skip
    config.update(overrides)
    read_model_configs([config])
    return load_model_by_config_name(name)


def run(coro):
    return asyncio.run(coro)


@pytest.mark.parametrize("model_type", ["openai_chat", "post_api_chat"])
def test_async_non_stream_and_stream_agree(openai_server, model_type):
    """openai_chat uses the SDK's async client; post_api_chat the thread-backed default."""
    openai_server.set_reply(text="Hello async world", prompt_tokens=4, completion_tokens=3)
    model = build(openai_server, model_type)

    async def main():
        plain = await model.acall(MESSAGES)
        streamed = await model.acall(MESSAGES, stream=True, stream_options={"include_usage": True})
        items = [item async for item in streamed.astream]
        return plain, streamed, items

    plain, streamed, items = run(main())
    assert plain.text == streamed.text == "Hello async world"
    assert items[-1] == (True, "Hello async world") and not any(last for last, _ in items[:-1])
    assert (plain.usage.prompt_tokens, plain.usage.completion_tokens) == (4, 3)
    assert (streamed.usage.prompt_tokens, streamed.usage.completion_tokens) == (4, 3)


def test_async_stream_replays_and_drains(openai_server):
    model = build(openai_server)

    async def main():
        response = await model.acall(MESSAGES, stream=True)
        text = await response.get_text()
        first = [item async for item in response.astream]
        second = [item async for item in response.astream]
        pieces = [piece async for piece in response.adeltas]
        return text, first, second, pieces, response

    text, first, second, pieces, response = run(main())
    assert text == "Hello!" and first == second == [(False, "Hel"), (True, "Hello!")]
    assert pieces == ["Hel", "lo!"]
    assert response.text == "Hello!"  # finished: the sync view works too


def test_sync_views_of_a_pending_async_stream_say_how_to_read_it(openai_server):
    model = build(openai_server)

    async def main():
        response = await model.acall(MESSAGES, stream=True)
        with pytest.raises(RuntimeError, match="astream"):
            list(response.stream)
        with pytest.raises(RuntimeError, match="get_text"):
            _ = response.text
        await response.aclose()

    run(main())


def test_async_updates_snapshot_reasoning_and_tool_calls(openai_server):
    openai_server.set_reply(
        text="ok",
        reasoning="thinking",
        tool_calls=[{"id": "c1", "name": "f", "arguments": {"a": 1}}],
    )
    model = build(openai_server)

    async def main():
        response = await model.acall(MESSAGES, stream=True)
        return [item async for item in response.aupdates()]

    updates = run(main())
    assert updates[-1] == (
        True,
        ("ok", "thinking", [{"type": "tool_use", "id": "c1", "name": "f", "input": {"a": 1}}]),
    )
    assert all(last is False for last, _ in updates[:-1])
    texts = [snapshot[1] for _, snapshot in updates]
    assert texts == sorted(texts, key=len)  # accumulative
    assert len({repr(s) for _, s in updates}) == len(updates)  # no snapshot twice


def test_async_retries_honour_retry_after(openai_server):
    openai_server.add_fault(Fault(status=429, headers={"Retry-After": "0.1"}))
    model = build(openai_server)
    response = run(model.acall(MESSAGES))
    assert response.text == "Hello!" and len(openai_server.requests) == 2


def test_async_auth_error_is_typed_and_recorded(openai_server, tmp_path):
    agentscope_legacy.init(save_dir=str(tmp_path), save_api_invoke=True)
    openai_server.add_fault(Fault(status=401))
    model = build(openai_server)
    with pytest.raises(AuthenticationError):
        run(model.acall(MESSAGES, stream=True))
    run_dir = agentscope_legacy.get_runtime().run_dir
    (record,) = [json.loads(x) for x in (run_dir / "invocations.jsonl").read_text().splitlines()]
    assert record["status"] == "error" and record["stream"] is True


def test_async_stream_drop_keeps_partial_text(openai_server):
    openai_server.set_reply(text="one two three four five six")
    openai_server.add_fault(Fault(drop_after=4))
    model = build(openai_server)

    async def main():
        response = await model.acall(MESSAGES, stream=True)
        return [item async for item in response.astream]

    with pytest.raises(ProviderConnectionError) as info:
        run(main())
    assert info.value.partial_text and "one two three four five six".startswith(
        info.value.partial_text
    )


def test_async_break_cancels_and_records_once(openai_server, tmp_path):
    agentscope_legacy.init(save_dir=str(tmp_path), save_api_invoke=True)
    openai_server.set_reply(chunks=["a", "b", "c", "d", "e", "f"])
    model = build(openai_server)

    async def main():
        response = await model.acall(MESSAGES, stream=True)
        stream = response.astream
        async for _, text in stream:
            if text == "ab":
                break
        await stream.aclose()
        return response

    response = run(main())
    assert response.finish_reason == "cancelled"
    run_dir = agentscope_legacy.get_runtime().run_dir
    records = [json.loads(x) for x in (run_dir / "invocations.jsonl").read_text().splitlines()]
    assert [r["status"] for r in records] == ["cancelled"]


def test_many_concurrent_async_calls_are_unmixed(openai_server):
    openai_server.set_reply_fn(lambda body: {"text": "echo:" + body["messages"][-1]["content"]})
    model = build(openai_server)

    async def one(i, stream):
        response = await model.acall([{"role": "user", "content": str(i)}], stream=stream)
        return await response.get_text()

    async def main():
        return await asyncio.gather(*[one(i, i % 2 == 0) for i in range(40)])

    assert run(main()) == [f"echo:{i}" for i in range(40)]


def test_cancelling_a_thread_backed_stream_midway_closes_it_after_the_thread_leaves():
    # A sync SDK's stream read in a worker thread: cancelling the reader while the thread is
    # inside next() must neither close the generator under it ("generator already executing",
    # which surfaced as a BadRequestError and lost the cancellation) nor leave it open.
    import threading
    import time

    from agentscope_legacy.models._base import ModelWrapperBase

    closed, errors = threading.Event(), []

    def slow_deltas():
        try:
            for i in range(50):
                time.sleep(0.05)
                yield i
        except BaseException as exc:  # GeneratorExit is the clean close
            if not isinstance(exc, GeneratorExit):
                errors.append(exc)
            raise
        finally:
            closed.set()

    class SyncSDK:
        _iter_deltas = staticmethod(lambda sdk_stream: slow_deltas())

    async def main():
        deltas = ModelWrapperBase._aiter_deltas(SyncSDK(), None)
        seen = []

        async def read():
            async for delta in deltas:
                seen.append(delta)

        reader = asyncio.create_task(read())
        await asyncio.sleep(0.18)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        await deltas.aclose()
        assert await asyncio.to_thread(closed.wait, 2)
        return seen

    seen = asyncio.run(main())
    assert 1 <= len(seen) < 50 and not errors
