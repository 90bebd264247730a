"""litellm_chat through the real ``litellm`` package against the loopback emulators.

litellm pins openai<3, so it lives in its own venv: run this module with
``/tmp/allvenv/bin/python -m pytest tests/test_litellm.py``; elsewhere it is skipped.
"""

from __future__ import annotations

import sys
import time
import uuid
from typing import Any

import pytest

pytest.importorskip("litellm")

from agentscope_legacy import errors  # noqa: E402
from agentscope_legacy.message import Msg  # noqa: E402
from agentscope_legacy.models import load_model_by_config_name, read_model_configs  # noqa: E402
from tests.emulators import STALL, Fault  # noqa: E402
from tests.emulators import anthropic as anthropic_emulator  # noqa: E402
from tests.emulators import ollama as ollama_emulator  # noqa: E402

anthropic_server = anthropic_emulator.anthropic_server
ollama_server = ollama_emulator.ollama_server

MESSAGES = [{"role": "user", "content": "hi"}]
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
CALL_A = {"id": "call_a", "name": "get_weather", "arguments": {"city": "Paris"}}
CALL_B = {"id": "call_b", "name": "get_time", "arguments": {"tz": "Europe/Paris"}}


def new_key() -> str:
    return f"sk-lite-{uuid.uuid4().hex}"


def config(server: Any, **overrides: Any) -> dict[str, Any]:
    data = {
        "config_name": "lite",
        "model_type": "litellm_chat",
        "model_name": "openai/gpt-4o-mini",
        "api_key": new_key(),
        "api_base": server.base_url + "/v1",
        "retry_interval": 0.01,
        "max_retries": 2,
    }
    data.update(overrides)
    return data


def load(data: dict[str, Any]) -> Any:
    read_model_configs([data], clear_existing=True)
    return load_model_by_config_name(data["config_name"])


def sent(server: Any, index: int = -1) -> dict[str, Any]:
    return server.requests[index].json


def expected_stream(chunks: list[str]) -> list[tuple[bool, str]]:
    if not chunks:
        return [(True, "")]
    items, text = [], ""
    for i, chunk in enumerate(chunks):
        text += chunk
        items.append((i == len(chunks) - 1, text))
    return items


def blocks(calls: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    found = [
        {"type": "tool_use", "id": c["id"], "name": c["name"], "input": c["arguments"]}
        for c in calls
    ]
    return found or None


def test_litellm_is_imported_once_without_fetching_the_cost_map():
    import os

    from agentscope_legacy.models.litellm import import_litellm

    assert import_litellm() is import_litellm() is sys.modules["litellm"]
    assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"


# -- parity -------------------------------------------------------------------------------------
PARITY_CASES = {
    "text": {
        "chunks": ["The quick", " brown", " fox."],
        "prompt_tokens": 9,
        "completion_tokens": 4,
    },
    "reasoning": {"chunks": ["The answer", " is 42."], "reasoning": ["Let me ", "think."]},
    "tools_only": {"chunks": [], "tool_calls": [CALL_A], "prompt_tokens": 20},
    "text_and_two_tools": {"chunks": ["Checking ", "both."], "tool_calls": [CALL_A, CALL_B]},
}


@pytest.mark.parametrize("script", PARITY_CASES.values(), ids=list(PARITY_CASES))
def test_stream_and_non_stream_agree(openai_server, script):
    openai_server.set_reply(**script)
    model = load(config(openai_server))
    calls = script.get("tool_calls", [])

    plain = model(MESSAGES)
    streamed = model(MESSAGES, stream=True)
    assert list(streamed.stream) == expected_stream(script["chunks"])
    for response in (plain, streamed):
        assert response.text == "".join(script["chunks"])
        assert response.reasoning == (
            "".join(script["reasoning"]) if "reasoning" in script else None
        )
        assert response.tool_calls == blocks(calls)
        assert response.finish_reason == ("tool_calls" if calls else "stop")
        usage = response.usage
        assert (usage.prompt_tokens, usage.completion_tokens) == (
            script.get("prompt_tokens", 5),
            script.get("completion_tokens", 2),
        )
    assert sent(openai_server, 0).get("stream", False) is False
    assert sent(openai_server, 1)["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    ("config_stream", "call_stream", "expect_stream"),
    [(True, None, True), (True, False, False), (False, True, True)],
)
def test_stream_setting_and_per_call_override(
    openai_server, config_stream, call_stream, expect_stream
):
    model = load(config(openai_server, stream=config_stream))
    response = model(MESSAGES, stream=call_stream)
    assert sent(openai_server).get("stream", False) is expect_stream
    assert (response.stream is not None) is expect_stream
    assert response.text == "Hello!"


def test_stream_usage_off_leaves_out_stream_options(openai_server):
    model = load(config(openai_server, stream_usage=False))
    assert model(MESSAGES, stream=True).text == "Hello!"
    assert "stream_options" not in sent(openai_server)


# -- request ------------------------------------------------------------------------------------
def test_key_base_and_kwargs_reach_the_server(openai_server):
    data = config(openai_server, generate_args={"temperature": 0.2, "max_tokens": 50})
    model = load(data)
    model(MESSAGES, temperature=0.9, seed=7)
    request = openai_server.requests[-1]
    assert request.headers["authorization"] == f"Bearer {data['api_key']}"
    assert request.path == "/v1/chat/completions"
    body = request.json
    assert (body["model"], body["temperature"], body["max_tokens"], body["seed"]) == (
        "gpt-4o-mini",
        0.9,
        50,
        7,
    )


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        ("get_weather", {"type": "function", "function": {"name": "get_weather"}}),
        ("auto", "auto"),
        ("none", "none"),
    ],
)
def test_tools_and_tool_choice_on_the_wire(openai_server, tool_choice, expected):
    load(config(openai_server))(MESSAGES, tools=[WEATHER], tool_choice=tool_choice)
    body = sent(openai_server)
    assert body["tools"] == [{"type": "function", "function": WEATHER}]
    assert body["tool_choice"] == expected


def test_two_keys_and_bases_side_by_side(openai_server):
    from tests.emulators import OpenAIEmulator

    with OpenAIEmulator() as other:
        first = config(openai_server, config_name="one")
        second = config(other, config_name="two", model_name="openai/gpt-4.1")
        read_model_configs([first, second])
        one, two = load_model_by_config_name("one"), load_model_by_config_name("two")
        for model in (one, two, two, one):
            model(MESSAGES)
        assert [r.headers["authorization"] for r in openai_server.requests] == [
            f"Bearer {first['api_key']}"
        ] * 2
        assert [r.headers["authorization"] for r in other.requests] == [
            f"Bearer {second['api_key']}"
        ] * 2
        assert [r.json["model"] for r in other.requests] == ["gpt-4.1", "gpt-4.1"]


def test_format_uses_the_common_strategies(openai_server):
    model = load(config(openai_server))
    system = Msg("system", "Be brief.", role="system")
    history = [Msg("alice", "hi", role="user"), Msg("bob", "hello", role="assistant")]
    assert model.format(system, history) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "## Conversation History\nalice: hi\nbob: hello"},
    ]
    assert model.format(system, history, multi_agent_mode=False) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]


# -- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True], ids=["call", "stream-open"])
def test_rate_limit_is_retried_honouring_retry_after(openai_server, retry_waits, stream):
    openai_server.set_reply(chunks=["all ", "good"])
    openai_server.add_fault(Fault(status=429, headers={"Retry-After": "0.3"}))
    started = time.perf_counter()
    response = load(config(openai_server))(MESSAGES, stream=stream)
    assert response.text == "all good"
    assert retry_waits.seconds() == [0.3]
    assert time.perf_counter() - started >= 0.3
    assert len(openai_server.requests) == 2


@pytest.mark.parametrize(
    ("fault", "error", "requests"),
    [
        (Fault(status=401), errors.AuthenticationError, 1),
        (Fault(status=404), errors.BadRequestError, 1),
        (Fault(status=500, times=5), errors.ServerError, 3),
        (Fault(status=429, headers={"Retry-After": "300"}), errors.RateLimitError, 1),
    ],
    ids=["401", "404", "500-persists", "429-retry-after-too-long"],
)
def test_failures_raise_typed_errors(openai_server, fault, error, requests):
    openai_server.add_fault(fault)
    with pytest.raises(error) as info:
        load(config(openai_server))(MESSAGES)
    err = info.value
    assert len(openai_server.requests) == requests and err.attempts == requests
    assert (err.status, err.provider, err.config_name) == (fault.status, "litellm", "lite")


def test_unauthorized_hides_the_key(openai_server):
    data = config(openai_server)
    key = data["api_key"]
    openai_server.add_fault(Fault(status=401, message=f"Incorrect API key provided: {key}"))
    model = load(data)
    with pytest.raises(errors.AuthenticationError) as info:
        model(MESSAGES)
    assert openai_server.requests[0].headers["authorization"] == f"Bearer {key}"
    assert key not in str(info.value) and key not in repr(info.value) and key not in repr(model)
    assert "Incorrect API key provided: ***" in str(info.value)


@pytest.mark.parametrize("fault", [Fault(malformed=True), Fault(empty_body=True)])
def test_malformed_body_is_a_response_format_error(openai_server, fault):
    openai_server.add_fault(fault)
    with pytest.raises(errors.ResponseFormatError):
        load(config(openai_server))(MESSAGES)
    assert len(openai_server.requests) == 1  # litellm says 500, but retrying cannot help


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault(drop_after=3), errors.ProviderConnectionError),
        (
            Fault(drop_after=3, stream_error={"message": "overloaded", "type": "x"}),
            errors.ProviderError,
        ),
    ],
    ids=["dropped", "error-event"],
)
def test_mid_stream_failure_keeps_partial_text(openai_server, fault, error):
    openai_server.set_reply(chunks=["ab", "cd", "ef", "gh"])
    openai_server.add_fault(fault)
    response = load(config(openai_server))(MESSAGES, stream=True)
    with pytest.raises(error) as info:
        list(response.stream)
    err = info.value
    assert err.partial_text == "abcd"
    assert len(openai_server.requests) == 1
    if fault.stream_error:
        assert "overloaded" in str(err) and not isinstance(err, errors.ProviderConnectionError)


def test_connection_refused_is_a_connection_error():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = {
        "config_name": "down",
        "model_type": "litellm_chat",
        "model_name": "openai/gpt-4o-mini",
        "api_key": "sk-down-123456",
        "api_base": f"http://127.0.0.1:{port}/v1",
        "max_retries": 0,
    }
    with pytest.raises(errors.ProviderConnectionError):
        load(data)(MESSAGES)


# -- other providers through litellm ------------------------------------------------------------
def test_anthropic_through_litellm(anthropic_server):
    anthropic_server.set_reply(
        chunks=["Bonjour", " !"], tool_calls=[CALL_A], prompt_tokens=11, completion_tokens=6
    )
    data = config(
        anthropic_server,
        model_name="anthropic/claude-sonnet-4-5",
        api_base=anthropic_server.base_url,
        generate_args={"max_tokens": 100},
    )
    model = load(data)
    plain = model(MESSAGES, tools=[WEATHER])
    streamed = model(MESSAGES, tools=[WEATHER], stream=True)
    assert list(streamed.stream)[-1] == (True, "Bonjour !")
    for response in (plain, streamed):
        assert response.text == "Bonjour !"
        assert [(c["name"], c["input"]) for c in response.tool_calls] == [
            ("get_weather", {"city": "Paris"})
        ]
        assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (11, 6)
    request = anthropic_server.requests[-1]
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == data["api_key"]


def test_ollama_through_litellm(ollama_server):
    ollama_server.set_reply(chunks=["Hi", " there"], prompt_tokens=4, completion_tokens=2)
    data = config(ollama_server, model_name="ollama_chat/llama3.2", api_base=ollama_server.base_url)
    model = load(data)
    assert model(MESSAGES).text == "Hi there"
    assert model(MESSAGES, stream=True).text == "Hi there"
    chats = [r for r in ollama_server.requests if r.path == "/api/chat"]
    assert [r.json["stream"] for r in chats] == [False, True]


def test_timeout_is_a_timeout_error(openai_server):
    from agentscope_legacy.errors import ProviderTimeoutError

    openai_server.add_fault(Fault(delay=STALL))  # an ignored timeout would be a 30 s wait
    model = load(config(openai_server, timeout=0.3, max_retries=0))
    started = time.perf_counter()
    with pytest.raises(ProviderTimeoutError):
        model(MESSAGES)
    assert time.perf_counter() - started >= 0.25
    assert len(openai_server.requests) == 1
