"""The async ChatModels (``agentscope_legacy.model``) against their loopback emulators.

Every model runs through its provider's real async SDK (AsyncOpenAI, AsyncAnthropic,
AioGeneration, ``client.aio`` of google-genai, ``ollama.AsyncClient``): replies as
ChatResponses with content blocks and usage, accumulative streaming with ``is_last`` exactly
once, thinking and tool_use blocks, the provider's forms of tools and tool_choice, typed
errors and retries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from agentscope_legacy.errors import (
    AuthenticationError,
    ProviderConnectionError,
    RateLimitError,
)
from agentscope_legacy.model import (
    AnthropicChatModel,
    ChatModelBase,
    ChatResponse,
    ChatUsage,
    DashScopeChatModel,
    GeminiChatModel,
    OllamaChatModel,
    OpenAIChatModel,
)
from tests.emulators.anthropic import shared_anthropic_emulator
from tests.emulators.base import Fault
from tests.emulators.dashscope_fixtures import shared_dashscope_emulator
from tests.emulators.fixtures import shared_openai_emulator
from tests.emulators.gemini_fixtures import shared_gemini_emulator
from tests.emulators.ollama import shared_ollama_emulator
from tests.test_parity import MESSAGES, TOOLS  # the parity script's question and tool

pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession:DeprecationWarning"
)
KEY = "sk-chatmodel-0123456789"
FAST = {"retry_interval": 0.01}


def _openai(server: Any, **kw: Any) -> ChatModelBase:
    args = {"base_url": server.base_url + "/v1"}
    return OpenAIChatModel("gpt-4o-mini", api_key=KEY, client_args=args, **FAST, **kw)


def _dashscope(server: Any, **kw: Any) -> ChatModelBase:
    url = server.base_url + "/api/v1"
    return DashScopeChatModel("qwen-max", api_key=KEY, base_http_api_url=url, **FAST, **kw)


def _anthropic(server: Any, **kw: Any) -> ChatModelBase:
    args = {"base_url": server.base_url}
    return AnthropicChatModel("claude-sonnet-4-6", api_key=KEY, client_args=args, **FAST, **kw)


def _gemini(server: Any, **kw: Any) -> ChatModelBase:
    args = {"http_options": {"base_url": server.base_url}}
    return GeminiChatModel("gemini-2.5-flash", api_key=KEY, client_args=args, **FAST, **kw)


def _ollama(server: Any, **kw: Any) -> ChatModelBase:
    return OllamaChatModel("qwen3:8b", host=server.base_url, **FAST, **kw)


# provider -> (emulator, model factory, constructor kwargs that turn thinking on)
PROVIDERS: dict[str, tuple[Callable[[], Any], Callable[..., ChatModelBase], dict[str, Any]]] = {
    "openai": (shared_openai_emulator, _openai, {"reasoning_effort": "low"}),
    "dashscope": (shared_dashscope_emulator, _dashscope, {"enable_thinking": True}),
    "anthropic": (
        shared_anthropic_emulator,
        _anthropic,
        {"thinking": {"type": "enabled", "budget_tokens": 1024}},
    ),
    "gemini": (shared_gemini_emulator, _gemini, {"thinking_config": {"include_thoughts": True}}),
    "ollama": (shared_ollama_emulator, _ollama, {"enable_thinking": True}),
}
CALL = {"id": "call_w1", "name": "get_weather", "arguments": {"city": "Paris"}}


@pytest.fixture(params=list(PROVIDERS))
def provider(request):
    """(name, emulator, factory(**kwargs) -> model, thinking kwargs), the emulator cleared."""
    emulator_factory, make, thinking = PROVIDERS[request.param]
    server = emulator_factory()
    server.clear()
    yield request.param, server, lambda **kw: make(server, **kw), thinking
    server.clear()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def collect(model: ChatModelBase, *args: Any, **kwargs: Any) -> list[ChatResponse]:
    generator = await model(*args, **kwargs)
    return [chunk async for chunk in generator]


def text_of(response: ChatResponse) -> str:
    return "".join(b["text"] for b in response.content if b["type"] == "text")


# -- request inspection, per wire protocol ---------------------------------------------------------
def sent_tool_names(name: str, body: dict[str, Any]) -> list[str]:
    if name == "dashscope":
        return [t["function"]["name"] for t in body["parameters"]["tools"]]
    if name == "anthropic":
        return [t["name"] for t in body["tools"]]
    if name == "gemini":
        return [d["name"] for t in body["tools"] for d in t.get("functionDeclarations", [])]
    return [t["function"]["name"] for t in body["tools"]]


def sent_tool_choice(name: str, body: dict[str, Any]) -> Any:
    if name == "dashscope":
        return body["parameters"].get("tool_choice")
    if name == "gemini":
        return (body.get("toolConfig") or {}).get("functionCallingConfig")
    return body.get("tool_choice")


FORCED = {
    "openai": {"type": "function", "function": {"name": "get_weather"}},
    "dashscope": {"type": "function", "function": {"name": "get_weather"}},
    "anthropic": {"type": "tool", "name": "get_weather"},
    "gemini": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
}
ANY = {
    "openai": "required",
    "dashscope": {"type": "function", "function": {"name": "get_weather"}},  # emulated
    "anthropic": {"type": "any"},
    "gemini": {"mode": "ANY"},
}


def thinking_requested(name: str, body: dict[str, Any]) -> bool:
    if name == "openai":
        return body.get("reasoning_effort") == "low"
    if name == "dashscope":
        return body["parameters"].get("enable_thinking") is True
    if name == "anthropic":
        return body.get("thinking") == {"type": "enabled", "budget_tokens": 1024}
    if name == "gemini":
        config = body["generationConfig"]
        thinking = config.get("thinkingConfig") or config.get("thinking_config") or {}
        return (thinking.get("includeThoughts") or thinking.get("include_thoughts")) is True
    return body.get("think") is True


# -- replies ---------------------------------------------------------------------------------------
def test_non_stream_reply_is_one_chat_response(provider):
    _, server, make, _ = provider
    server.set_reply(text="Sunny, 21 degrees.", prompt_tokens=11, completion_tokens=7)
    response = run(make(stream=False)(MESSAGES))
    assert isinstance(response, ChatResponse)
    assert response.content == [{"type": "text", "text": "Sunny, 21 degrees."}]
    assert response.is_last is True and response.metadata is None and response.type == "chat"
    assert isinstance(response.usage, ChatUsage)
    assert (response.usage.input_tokens, response.usage.output_tokens) == (11, 7)
    assert response.usage.time > 0
    assert response.id and response.created_at


def test_stream_is_accumulative_and_ends_once(provider):
    _, server, make, _ = provider
    server.set_reply(
        chunks=["Sun", "ny, ", "21 ", "degrees."], prompt_tokens=11, completion_tokens=7
    )
    chunks = run(collect(make(stream=True), MESSAGES))
    texts = [text_of(c) for c in chunks]
    assert texts[-1] == "Sunny, 21 degrees." and len(chunks) >= 4
    assert all(b.startswith(a) for a, b in zip(texts, texts[1:], strict=False))  # accumulative
    assert [c.is_last for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert len({c.id for c in chunks}) == 1 and len({c.created_at for c in chunks}) == 1
    final = chunks[-1].usage
    assert (final.input_tokens, final.output_tokens) == (11, 7) and final.time > 0
    times = [c.usage.time for c in chunks if c.usage is not None]
    assert times == sorted(times)


@pytest.mark.parametrize("stream", [False, True])
def test_thinking_gives_a_thinking_block_before_the_text(provider, stream):
    name, server, make, thinking = provider
    server.set_reply(text="17 * 23 = 391.", reasoning=["17*20=340, ", "17*3=51, ", "sum 391"])
    model = make(stream=stream, **thinking)
    if stream:
        chunks = run(collect(model, MESSAGES))
        final = chunks[-1]
        assert any(b["type"] == "thinking" for c in chunks[:-1] for b in c.content)
    else:
        final = run(model(MESSAGES))
    assert final.content == [
        {"type": "thinking", "thinking": "17*20=340, 17*3=51, sum 391"},
        {"type": "text", "text": "17 * 23 = 391."},
    ]
    assert thinking_requested(name, server.requests[-1].json)


@pytest.mark.parametrize("stream", [False, True])
def test_tool_calls_become_tool_use_blocks(provider, stream):
    name, server, make, _ = provider
    server.set_reply(text="Let me check.", tool_calls=[CALL])
    model = make(stream=stream)
    if stream:
        chunks = run(collect(model, MESSAGES, tools=TOOLS))
        final = chunks[-1]
    else:
        final = run(model(MESSAGES, tools=TOOLS))
    assert final.content[0] == {"type": "text", "text": "Let me check."}
    (block,) = [b for b in final.content if b["type"] == "tool_use"]
    assert block["name"] == "get_weather" and block["input"] == {"city": "Paris"}
    assert block["id"] and set(block) == {"type", "id", "name", "input"}
    assert sent_tool_names(name, server.requests[-1].json) == ["get_weather"]


def test_tool_choice_is_sent_in_the_provider_form(provider):
    name, server, make, _ = provider
    model = make(stream=False)
    if name == "ollama":  # Ollama has no tool_choice: forcing is refused before any request
        with pytest.raises(ValueError, match="cannot force"):
            run(model(MESSAGES, tools=TOOLS, tool_choice="get_weather"))
        run(model(MESSAGES, tools=TOOLS, tool_choice="auto"))
        assert "tool_choice" not in server.requests[-1].json
        return
    run(model(MESSAGES, tools=TOOLS, tool_choice="get_weather"))
    assert sent_tool_choice(name, server.requests[-1].json) == FORCED[name]
    run(model(MESSAGES, tools=TOOLS, tool_choice="any"))
    assert sent_tool_choice(name, server.requests[-1].json) == ANY[name]


def test_a_tool_choice_naming_no_tool_is_refused(provider):
    _, server, make, _ = provider
    with pytest.raises(ValueError, match="get_time"):
        run(make(stream=False)(MESSAGES, tools=TOOLS, tool_choice="get_time"))
    assert server.requests == []


# -- errors and retries ----------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True])
def test_auth_error_is_typed(provider, stream):
    _, server, make, _ = provider
    server.add_fault(Fault(status=401))
    with pytest.raises(AuthenticationError) as info:
        run(make(stream=stream)(MESSAGES))
    assert info.value.status == 401 and len(server.requests) == 1


@pytest.mark.parametrize("stream", [False, True])
def test_a_429_is_retried(provider, stream):
    _, server, make, _ = provider
    server.set_reply(text="Sunny.")
    server.add_fault(Fault(status=429, headers={"Retry-After": "0"}))
    model = make(stream=stream)
    reply = run(collect(model, MESSAGES))[-1] if stream else run(model(MESSAGES))
    assert text_of(reply) == "Sunny." and len(server.requests) == 2


def test_rate_limit_after_the_retries_is_typed(provider):
    _, server, make, _ = provider
    server.add_fault(Fault(status=429, headers={"Retry-After": "0"}, times=3))
    with pytest.raises(RateLimitError) as info:
        run(make(stream=False)(MESSAGES))
    assert info.value.attempts == 3 and len(server.requests) == 3


def test_a_dropped_stream_raises_a_connection_error(provider):
    _, server, make, _ = provider
    server.set_reply(chunks=["one ", "two ", "three ", "four ", "five ", "six"])
    server.add_fault(Fault(drop_after=3))
    with pytest.raises(ProviderConnectionError):
        run(collect(make(stream=True), MESSAGES))


def test_stopping_a_stream_early_cancels_the_reply(provider):
    _, server, make, _ = provider
    server.set_reply(chunks=["a", "b", "c", "d", "e", "f"])

    async def main():
        generator = await make(stream=True)(MESSAGES)
        async for chunk in generator:
            if text_of(chunk):
                break
        await generator.aclose()
        return chunk

    chunk = run(main())
    assert chunk.is_last is False and text_of(chunk)


# -- the async SDK paths ---------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True])
def test_calls_take_the_native_async_path(provider, stream, monkeypatch):
    """The sync SDK hooks are never used: no worker thread behind the async call."""
    _, server, make, _ = provider
    model = make(stream=stream)

    def sync_hook(*args: Any) -> Any:
        raise AssertionError("the sync SDK path was used")

    for hook in ("_call", "_open_stream", "_iter_deltas"):
        monkeypatch.setattr(model.wrapper, hook, sync_hook)
    reply = run(collect(model, MESSAGES))[-1] if stream else run(model(MESSAGES))
    assert text_of(reply) == "Hello!"


def test_one_model_serves_several_event_loops(provider):
    """Async SDK clients are bound to their event loop: each loop gets its own."""
    _, server, make, _ = provider
    model = make(stream=False)
    for _ in range(3):
        assert text_of(run(model(MESSAGES))) == "Hello!"
    streamed = make(stream=True)
    for _ in range(2):
        assert text_of(run(collect(streamed, MESSAGES))[-1]) == "Hello!"


def test_concurrent_calls_on_one_model_are_unmixed(provider):
    name, server, make, _ = provider

    def echo(body: dict[str, Any]) -> dict[str, Any]:
        if name == "dashscope":
            messages = body["input"]["messages"]
        elif name == "gemini":
            messages = [{"content": body["contents"][-1]["parts"][-1]["text"]}]
        else:
            messages = body["messages"]
        content = messages[-1]["content"]
        text = content if isinstance(content, str) else content[-1]["text"]
        return {"text": "echo:" + text}

    server.set_reply_fn(echo)
    model = make(stream=False)

    async def main():
        calls = [model([{"role": "user", "content": str(i)}]) for i in range(12)]
        return [text_of(r) for r in await asyncio.gather(*calls)]

    assert run(main()) == [f"echo:{i}" for i in range(12)]


def test_dashscope_async_calls_leave_no_shared_session_open():
    """Each AioGeneration call has its own aiohttp session, closed with the call."""
    from dashscope.api_entities import aio_session

    server = shared_dashscope_emulator()
    server.clear()

    async def main():
        await _dashscope(server, stream=False)(MESSAGES)
        await collect(_dashscope(server, stream=True), MESSAGES)
        return dict(aio_session._aio_sessions)

    assert run(main()) == {}


def test_anthropic_leading_system_message_becomes_the_system_parameter():
    server = shared_anthropic_emulator()
    server.clear()
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": [{"type": "text", "text": "Hi!"}]},
    ]
    run(_anthropic(server, stream=False)(messages))
    body = server.requests[-1].json
    assert body["system"] == "You are terse."
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi!"}]}]
    assert body["max_tokens"] == 2048


def test_generate_kwargs_and_call_kwargs_reach_the_request():
    server = shared_openai_emulator()
    server.clear()
    model = _openai(server, stream=False, generate_kwargs={"temperature": 0.2, "max_tokens": 9})
    run(model(MESSAGES, max_tokens=5))
    body = server.requests[-1].json
    assert (body["temperature"], body["max_tokens"]) == (0.2, 5)


def test_gemini_http_options_object_is_accepted():
    from google.genai import types

    server = shared_gemini_emulator()
    server.clear()
    args = {"http_options": types.HttpOptions(base_url=server.base_url)}
    model = GeminiChatModel("gemini-2.5-flash", api_key=KEY, stream=False, client_args=args)
    assert text_of(run(model(MESSAGES))) == "Hello!"


def test_dashscope_vision_models_use_multimodal_conversation():
    server = shared_dashscope_emulator()
    server.clear()
    url = server.base_url + "/api/v1"
    model = DashScopeChatModel("qwen-vl-max", api_key=KEY, stream=False, base_http_api_url=url)
    assert model.wrapper.model_type == "dashscope_multimodal"
    run(model([{"role": "user", "content": [{"text": "Hi!"}]}]))
    assert server.requests[-1].path.endswith("/multimodal-generation/generation")


def test_ollama_extra_kwargs_go_to_the_client_and_wrapper_args_to_the_wrapper():
    server = shared_ollama_emulator()
    server.clear()
    model = OllamaChatModel(
        "qwen3:8b", host=server.base_url, max_retries=0, headers={"x-tenant": "t1"}
    )
    assert model.wrapper.max_retries == 0
    run(model(MESSAGES))
    assert server.requests[-1].headers.get("x-tenant") == "t1"


def test_models_hold_one_wrapper_of_their_provider():
    server = shared_openai_emulator()
    model = _openai(server, stream=True)
    assert model.wrapper.model_type == "openai_chat" and model.wrapper.stream is True
    assert repr(model) == "OpenAIChatModel(model_name='gpt-4o-mini', stream=True)"
    assert KEY not in repr(model.wrapper)


def test_tool_choice_without_tools_is_not_sent():
    server = shared_openai_emulator()
    server.clear()
    run(_openai(server, stream=False)(MESSAGES, tool_choice="auto"))
    assert "tool_choice" not in server.requests[-1].json
