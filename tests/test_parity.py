"""Every registered chat type, one script, the same result.

Each chat wrapper runs against the loopback emulator of its provider's wire protocol, through
the provider's real SDK. The same scripted reply must come back with the same text, tool calls
and usage, streamed and not, and the same faults must surface as the same typed errors.
The checks shared with the provider files (tests/test_<provider>.py) live in tests/chat_kit.py.
"""

from __future__ import annotations

import importlib.util
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from agentscope_legacy.errors import (
    AuthenticationError,
    ProviderError,
    ServerError,
)
from agentscope_legacy.models.manager import builtin_wrappers
from tests import chat_kit as kit
from tests.emulators.anthropic import shared_anthropic_emulator
from tests.emulators.base import Fault
from tests.emulators.dashscope_fixtures import shared_dashscope_emulator
from tests.emulators.fixtures import shared_openai_emulator
from tests.emulators.gemini_fixtures import shared_gemini_emulator
from tests.emulators.ollama import shared_ollama_emulator
from tests.emulators.zhipuai import shared_zhipuai_emulator


def _openai(model: str = "gpt-4o-mini") -> Callable[[Any], dict[str, Any]]:
    return lambda s: {"model_name": model, "base_url": s.base_url + "/v1"}


# model_type -> (emulator, provider-specific config fields)
CHAT_TYPES: dict[str, tuple[Callable[[], Any], Callable[[Any], dict[str, Any]]]] = {
    "openai_chat": (shared_openai_emulator, _openai()),
    "deepseek_chat": (shared_openai_emulator, _openai("deepseek-chat")),
    "kimi_chat": (shared_openai_emulator, _openai("kimi-k2")),
    "xai_chat": (shared_openai_emulator, _openai("grok-4")),
    "vllm_chat": (shared_openai_emulator, _openai("Qwen/Qwen3-8B")),
    "yi_chat": (shared_openai_emulator, _openai("yi-large")),
    "post_api_chat": (
        shared_openai_emulator,
        lambda s: {
            "api_url": s.base_url + "/v1/chat/completions",
            "json_args": {"model": "m", "stream_options": {"include_usage": True}},
        },
    ),
    # The providers' own: the fields their tests use (tests/chat_kit.py).
    **{
        model_type: (emulator, kit.PROVIDERS[model_type].fields)
        for model_type, emulator in [
            ("litellm_chat", shared_openai_emulator),
            ("dashscope_chat", shared_dashscope_emulator),
            ("gemini_chat", shared_gemini_emulator),
            ("zhipuai_chat", shared_zhipuai_emulator),
            ("ollama_chat", shared_ollama_emulator),
            ("anthropic_chat", shared_anthropic_emulator),
        ]
    },
}
# Chat types that have no HTTP wire to emulate (tested in process in test_local_model.py).
NOT_ON_THE_WIRE = {"llamacpp_chat"}
KEYLESS = {"ollama_chat"}
HAS_LITELLM = importlib.util.find_spec("litellm") is not None


def chat_types() -> list[Any]:
    """CHAT_TYPES as test parameters, litellm_chat skipped where litellm is not installed."""
    no_litellm = pytest.mark.skipif(not HAS_LITELLM, reason="litellm is not installed")
    return [pytest.param(t, marks=[no_litellm] if t == "litellm_chat" else []) for t in CHAT_TYPES]


def test_every_registered_chat_type_is_covered():
    chat = {t for t in builtin_wrappers() if t.endswith("_chat")}
    assert chat - NOT_ON_THE_WIRE == set(CHAT_TYPES)


def parity_config(model_type: str, server: Any, **overrides: Any) -> dict[str, Any]:
    """A fresh config of the type for ``server`` (its own name and key), two fast retries."""
    config = {"config_name": f"{model_type}-{uuid.uuid4().hex[:6]}", "model_type": model_type}
    if model_type not in KEYLESS and model_type != "post_api_chat":
        config["api_key"] = f"sk-parity-{uuid.uuid4().hex}"
    config.update(CHAT_TYPES[model_type][1](server), max_retries=2, retry_interval=0.01)
    return {**config, **overrides}


@pytest.fixture
def chat(request):
    """(wrapper factory, emulator) for the parametrized chat type, emulator cleared."""
    server = CHAT_TYPES[request.param][0]()
    server.clear()
    yield (lambda **overrides: kit.load(parity_config(request.param, server, **overrides))), server
    server.clear()


MESSAGES = [{"role": "user", "content": "What is the weather in Paris?"}]
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = {"name": "get_weather", "description": "The weather in a city.", "parameters": CITY}
TOOLS = [{"type": "function", "function": WEATHER}]
CALL = {"id": "call_0", "name": "get_weather", "arguments": {"city": "Paris", "days": 2}}
SCRIPTS = {
    "text": {"text": "Hello, parity world! Sunny."},
    "tools": {"text": "", "tool_calls": [CALL]},
    "text+tools": {"text": "Let me check.", "tool_calls": [CALL]},
}


def outcome(response: Any) -> tuple[Any, ...]:
    calls = [(c["name"], c["input"]) for c in response.tool_calls or []]
    usage = response.usage
    return response.text, calls, (usage.prompt_tokens, usage.completion_tokens)


@pytest.mark.parametrize("chat", chat_types(), indirect=True)
@pytest.mark.parametrize("script", list(SCRIPTS))
def test_same_script_same_result_streamed_or_not(chat, script):
    build, server = chat
    server.set_reply(**SCRIPTS[script], prompt_tokens=11, completion_tokens=7)
    model = build()
    kwargs = {"tools": TOOLS} if "tools" in script else {}
    plain = model(MESSAGES, stream=False, **kwargs)
    streamed = model(MESSAGES, stream=True, **kwargs)
    items = list(streamed.stream)
    expected_calls = [("get_weather", {"city": "Paris", "days": 2})] if "tools" in script else []
    expected = (SCRIPTS[script]["text"], expected_calls, (11, 7))
    assert outcome(plain) == expected
    assert outcome(streamed) == expected
    assert items[-1] == (True, SCRIPTS[script]["text"])
    assert all(last is False for last, _ in items[:-1])
    # Ids are the provider's or invented, but the same streamed or not.
    assert [c["id"] for c in plain.tool_calls or []] == [c["id"] for c in streamed.tool_calls or []]
    assert not streamed.usage.estimated


# How each wire marks a streamed request (the default: ``"stream": true`` in the body).
STREAMED: dict[str, Callable[[Any], bool]] = {
    "zhipuai_chat": lambda request: bool(request.json.get("stream")),
    "ollama_chat": lambda request: request.json["stream"],  # always sent, true or false
    "gemini_chat": lambda request: ":streamGenerateContent?alt=sse" in request.path,
    "dashscope_chat": lambda request: request.headers.get("x-dashscope-sse") == "enable",
}


@pytest.mark.parametrize("chat", chat_types(), indirect=True)
@kit.stream_settings
def test_stream_setting_and_per_call_override(chat, config_stream, call_stream, expect_stream):
    build, server = chat
    model = build(stream=config_stream)
    streamed = STREAMED.get(model.model_type, lambda request: request.json.get("stream", False))
    kit.check_stream_setting(server, model, call_stream, expect_stream, streamed)


@pytest.mark.parametrize("chat", chat_types(), indirect=True)
def test_401_is_an_authentication_error_without_retry(chat):
    build, server = chat
    server.add_fault(Fault(status=401, times=5))
    with pytest.raises(AuthenticationError) as info:
        build()(MESSAGES)
    assert info.value.status == 401 and info.value.attempts == 1
    assert len(server.requests) == 1


@pytest.mark.parametrize("chat", chat_types(), indirect=True)
@pytest.mark.parametrize("stream", [False, True])
def test_429_with_retry_after_is_retried(chat, retry_waits, stream):
    build, server = chat
    server.set_reply(text="after the wait")
    server.add_fault(Fault(status=429, headers={"Retry-After": "0.2"}))
    started = time.perf_counter()
    response = build()(MESSAGES, stream=stream)
    assert response.text == "after the wait"
    assert len(server.requests) == 2
    assert retry_waits.seconds() == [0.2]
    assert time.perf_counter() - started >= 0.2


@pytest.mark.parametrize("chat", chat_types(), indirect=True)
def test_500_is_retried_then_raised(chat):
    build, server = chat
    server.add_fault(Fault(status=500, times=3))
    with pytest.raises(ServerError) as info:
        build(max_retries=2)(MESSAGES)
    assert info.value.status == 500 and info.value.attempts == 3
    assert len(server.requests) == 3


@pytest.mark.parametrize("chat", chat_types(), indirect=True)
@pytest.mark.parametrize("stream", [False, True], ids=["call", "stream"])
@kit.malformed_faults
def test_malformed_body_is_a_response_format_error(chat, fault, stream):
    build, server = chat
    model = build()
    err = kit.check_malformed(server, model, fault, stream)  # never retried: once is enough
    assert err.config_name == model.config_name


@pytest.mark.parametrize("chat", chat_types(), indirect=True)
def test_stream_dropped_midway_keeps_the_partial_text(chat):
    build, server = chat
    text = "one two three four five six seven eight nine ten"
    server.set_reply(text=text)
    server.add_fault(Fault(drop_after=6))
    response = build()(MESSAGES, stream=True)
    with pytest.raises(ProviderError) as info:
        list(response.stream)
    partial = info.value.partial_text
    assert partial and text.startswith(partial) and partial != text
    assert len(server.requests) == 1  # never retried once text was delivered


@pytest.mark.parametrize("model_type", chat_types())
@pytest.mark.parametrize("stream", [False, True], ids=["call", "stream"])
def test_connection_refused_is_a_connection_error(model_type, stream):
    config = parity_config(model_type, kit.refused_server(), max_retries=1)
    kit.check_refused(config, attempts=2, stream=stream)


@pytest.mark.parametrize("chat", chat_types(), indirect=True)
@kit.timeouts
def test_timeout_is_a_timeout_error(chat, timeout):
    build, server = chat
    model = build(timeout=timeout, max_retries=0)
    err = kit.check_timeout(server, model)  # an ignored timeout would be a 30 s wait
    assert err.attempts == 1
