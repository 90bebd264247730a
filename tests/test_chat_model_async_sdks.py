"""The native async SDK paths of the provider wrappers, under the ChatModels.

``acall`` uses each SDK's async client (AsyncOpenAI, AsyncAnthropic, dashscope's
AioGeneration/AioMultiModalConversation, google-genai's ``client.aio``, ``ollama.AsyncClient``,
``litellm.acompletion``) with the sync path's request building and per-chunk parsing; zhipuai
has no async client and runs its sync calls in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from agentscope_legacy.errors import (
    BadRequestError,
    ProviderConnectionError,
    ProviderError,
    ResponseFormatError,
)
from agentscope_legacy.models import load_model_by_config_name, read_model_configs
from tests.emulators.base import Fault
from tests.emulators.fixtures import shared_openai_emulator

pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession:DeprecationWarning"
)
HAS = {name: importlib.util.find_spec(name) is not None for name in ("litellm", "dashscope")}
MESSAGES = [{"role": "user", "content": "hi"}]
KEY = "sk-async-sdk-0123456789"


def build(model_type: str, **fields: Any) -> Any:
    name = f"{model_type}-{uuid.uuid4().hex[:6]}"
    read_model_configs([{"config_name": name, "model_type": model_type, **fields}])
    return load_model_by_config_name(name)


def no_sync_hooks(wrapper: Any, monkeypatch: Any) -> None:
    def sync_hook(*args: Any) -> Any:
        raise AssertionError("the sync SDK path was used")

    for hook in ("_call", "_open_stream", "_iter_deltas"):
        monkeypatch.setattr(wrapper, hook, sync_hook)


async def both(wrapper: Any, **kwargs: Any) -> tuple[str, str]:
    plain = await wrapper.acall(MESSAGES, **kwargs)
    streamed = await wrapper.acall(MESSAGES, stream=True, **kwargs)
    return plain.text, await streamed.get_text()


@pytest.mark.skipif(not HAS["litellm"], reason="litellm is not installed (the [all] venv)")
def test_litellm_uses_acompletion(monkeypatch, retry_waits):
    server = shared_openai_emulator()
    server.clear()
    server.set_reply(text="Hello from litellm", reasoning="thought", prompt_tokens=3)
    wrapper = build(
        "litellm_chat",
        model_name="openai/gpt-4o-mini",
        api_key=KEY,
        api_base=server.base_url + "/v1",
        retry_interval=30,
    )
    no_sync_hooks(wrapper, monkeypatch)
    server.add_fault(Fault(status=429, headers={"Retry-After": "0.05"}))
    assert asyncio.run(both(wrapper)) == ("Hello from litellm", "Hello from litellm")
    assert len(server.requests) == 3
    assert retry_waits.seconds() == [0.05]  # the Retry-After, not the 30 s retry_interval


@pytest.mark.skipif(not HAS["dashscope"], reason="the test SDKs are not installed")
def test_zhipuai_runs_its_sync_calls_in_a_thread():
    from tests.emulators.zhipuai import shared_zhipuai_emulator

    server = shared_zhipuai_emulator()
    server.clear()
    wrapper = build(
        "zhipuai_chat",
        model_name="glm-4-flash",
        api_key=KEY,
        base_url=server.base_url + "/api/paas/v4",
    )
    assert type(wrapper)._acall.__qualname__ == "ModelWrapperBase._acall"
    assert asyncio.run(both(wrapper)) == ("Hello!", "Hello!")


# The rest needs the SDKs of the test extra (not in the litellm venv).
needs_sdks = pytest.mark.skipif(not HAS["dashscope"], reason="the test SDKs are not installed")


@needs_sdks
def test_dashscope_multimodal_uses_the_async_sdk(monkeypatch):
    from tests.emulators.dashscope_fixtures import shared_dashscope_emulator

    server = shared_dashscope_emulator()
    server.clear()
    server.set_reply(text="A cat.")
    wrapper = build(
        "dashscope_multimodal",
        model_name="qwen-vl-max",
        api_key=KEY,
        base_url=server.base_url + "/api/v1",
    )
    no_sync_hooks(wrapper, monkeypatch)
    assert asyncio.run(both(wrapper)) == ("A cat.", "A cat.")
    assert all(r.path.endswith("/multimodal-generation/generation") for r in server.requests)


@needs_sdks
def test_dashscope_async_errors_are_typed():
    from tests.emulators.dashscope_fixtures import shared_dashscope_emulator

    server = shared_dashscope_emulator()
    server.clear()
    server.set_reply(chunks=["one ", "two ", "three ", "four"])
    wrapper = build(
        "dashscope_chat",
        model_name="qwen-plus",
        api_key=KEY,
        base_url=server.base_url + "/api/v1",
        max_retries=0,
    )

    async def stream_text() -> str:
        return await (await wrapper.acall(MESSAGES, stream=True)).get_text()

    server.add_fault(Fault(stream_error={"code": "DataInspectionFailed", "message": "no"}))
    with pytest.raises(BadRequestError) as info:
        asyncio.run(stream_text())
    assert info.value.partial_text == "one "
    server.add_fault(Fault(drop_after=2))
    with pytest.raises(ProviderConnectionError):
        asyncio.run(stream_text())
    server.add_fault(Fault(malformed=True))
    with pytest.raises(ResponseFormatError):
        asyncio.run(wrapper.acall(MESSAGES))
    refused = build(
        "dashscope_chat",
        model_name="qwen-plus",
        api_key=KEY,
        base_url=f"http://127.0.0.1:{_free_port()}/api/v1",
        max_retries=0,
    )
    with pytest.raises(ProviderConnectionError):
        asyncio.run(refused.acall(MESSAGES))


@needs_sdks
def test_gemini_async_connection_refused_fails_at_once():
    """google-genai's aiohttp path would reconnect once after sleeping 1-10 s: turned off.
    Its reconnect follows a refused connection or a hang-up alike; a hang-up can be counted."""
    wrapper = build(
        "gemini_chat",
        model_name="gemini-2.5-flash",
        api_key=KEY,
        base_url=f"http://127.0.0.1:{_free_port()}",
        max_retries=0,
    )
    for stream in (False, True):
        with pytest.raises(ProviderConnectionError) as info:
            asyncio.run(wrapper.acall(MESSAGES, stream=stream))
        assert info.value.attempts == 1
    with _hanging_up_port() as (port, accepted):
        wrapper = build(
            "gemini_chat",
            model_name="gemini-2.5-flash",
            api_key=KEY,
            base_url=f"http://127.0.0.1:{port}",
            max_retries=0,
        )
        for calls, stream in enumerate((False, True), start=1):
            with pytest.raises(ProviderConnectionError) as info:
                asyncio.run(wrapper.acall(MESSAGES, stream=stream))
            assert info.value.attempts == 1
            assert accepted[0] == calls  # one connection per call: no hidden reconnect


@needs_sdks
def test_gemini_async_in_stream_error_keeps_the_partial_text():
    from tests.emulators.gemini_fixtures import shared_gemini_emulator

    server = shared_gemini_emulator()
    server.clear()
    server.set_reply(chunks=["one ", "two ", "three"])
    server.add_fault(Fault(stream_error={"code": 500, "message": "boom"}, drop_after=1))
    wrapper = build(
        "gemini_chat",
        model_name="gemini-2.5-flash",
        api_key=KEY,
        base_url=server.base_url,
        max_retries=0,
    )

    async def main() -> str:
        return await (await wrapper.acall(MESSAGES, stream=True)).get_text()

    with pytest.raises(ProviderError) as info:
        asyncio.run(main())
    assert info.value.status == 500 and info.value.partial_text == "one "


@needs_sdks
@pytest.mark.parametrize("stream", [False, True])
def test_ollama_async_retry_honours_retry_after(retry_waits, stream):
    from tests.emulators.ollama import shared_ollama_emulator

    server = shared_ollama_emulator()
    server.clear()
    server.add_fault(Fault(status=429, headers={"Retry-After": "0.05"}))
    wrapper = build("ollama_chat", model_name="llama3.2", host=server.base_url, retry_interval=30)
    started = time.perf_counter()

    async def main() -> str:
        return await (await wrapper.acall(MESSAGES, stream=stream)).get_text()

    assert asyncio.run(main()) == "Hello!"
    assert len(server.requests) == 2
    assert retry_waits.seconds() == [0.05]  # the Retry-After, not the 30 s retry_interval
    assert time.perf_counter() - started >= 0.05


@needs_sdks
@pytest.mark.parametrize("model_type", ["openai_chat", "anthropic_chat", "ollama_chat"])
def test_the_client_of_a_finished_event_loop_is_closed(model_type):
    """A new event loop gets a new client; the old loop's client is marked closed, so the SDK
    does not try to close it again (noisily) when it is garbage-collected."""
    from tests.emulators.anthropic import shared_anthropic_emulator
    from tests.emulators.ollama import shared_ollama_emulator

    if model_type == "openai_chat":
        server = shared_openai_emulator()
        fields = {"model_name": "gpt-4o-mini", "base_url": server.base_url + "/v1"}
    elif model_type == "anthropic_chat":
        server = shared_anthropic_emulator()
        fields = {"model_name": "claude-x", "base_url": server.base_url}
    else:
        server = shared_ollama_emulator()
        fields = {"model_name": "llama3.2", "host": server.base_url}
    server.clear()
    wrapper = build(model_type, api_key=KEY, **fields)

    async def call() -> Any:
        await wrapper.acall(MESSAGES)
        client = wrapper.aclient
        await asyncio.sleep(0)  # lets a retired client's close run
        return client

    first = asyncio.run(call())
    second = asyncio.run(call())
    assert first is not second
    inner = getattr(first, "_client", first)
    assert inner.is_closed
    assert len(wrapper._async_clients._items) == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _hanging_up_port() -> Iterator[tuple[int, list[int]]]:
    """A loopback port that accepts every connection and closes it at once: (the port, a
    one-item list counting the connections accepted so far)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.05)
    accepted, done = [0], threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:  # the accept timeout: look at `done` again
                continue
            accepted[0] += 1
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        done.set()
        thread.join(timeout=60)
        listener.close()


def test_kimi_async_stream_reads_the_usage_inside_the_last_choice():
    from tests.test_openai_compatible import _KimiStream

    with _KimiStream() as server:
        wrapper = build(
            "kimi_chat",
            model_name="kimi-k2",
            api_key=KEY,
            base_url=server.base_url + "/v1",
            stream_usage=False,
        )

        async def main() -> Any:
            response = await wrapper.acall(MESSAGES, stream=True)
            return await response.get_text(), response.usage

        text, usage = asyncio.run(main())
    assert text == "Hello"
    assert (usage.prompt_tokens, usage.completion_tokens, usage.estimated) == (19, 13, False)
