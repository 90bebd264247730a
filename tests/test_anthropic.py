"""anthropic_chat through the real ``anthropic`` SDK against the loopback Anthropic emulator.

Nothing in the SDK is mocked: the tests pin what goes over the wire (the emulator records it and
rejects what the real API rejects) and what the wrapper makes of the replies.
"""

from __future__ import annotations

import base64
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from agentscope_legacy import errors
from agentscope_legacy.message import Msg
from agentscope_legacy.models import read_model_configs
from agentscope_legacy.models.anthropic import deltas_from_events
from tests import chat_kit as kit
from tests.chat_kit import MESSAGES, WEATHER, load, sent
from tests.emulators import TINY_PNG, Fault
from tests.emulators import anthropic as emulator

anthropic_server = emulator.anthropic_server

CALL_A = {"id": "toolu_a", "name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}}
PNG_B64 = base64.b64encode(TINY_PNG).decode()


def chat_config(server: Any, **overrides: Any) -> dict[str, Any]:
    return kit.chat_config(server, "anthropic_chat", **overrides)


ANTHROPIC = {"finish": ("tool_use", "end_turn"), "request_id": "req_emu"}


@kit.parity_cases
def test_stream_and_non_stream_agree(anthropic_server, script):
    anthropic_server.set_reply(**script)
    # message_start already reports output_tokens=1: it must not be added to the total.
    kit.check_parity(load(chat_config(anthropic_server)), script, **ANTHROPIC)


def test_streamed_usage_is_the_last_running_total():
    def usage(**fields: int) -> SimpleNamespace:
        return SimpleNamespace(**fields)

    events = [
        SimpleNamespace(
            type="message_start",
            message=SimpleNamespace(
                usage=usage(input_tokens=10, cache_read_input_tokens=5, output_tokens=1)
            ),
        ),
        SimpleNamespace(
            type="message_delta",
            delta=SimpleNamespace(stop_reason=None),
            usage=usage(output_tokens=6),
        ),
        SimpleNamespace(
            type="message_delta",
            delta=SimpleNamespace(stop_reason="end_turn"),
            usage=usage(input_tokens=10, output_tokens=12),
        ),
    ]
    deltas = list(deltas_from_events(events))
    # (prompt, completion, cache_read, cache_creation): cached tokens count as prompt tokens.
    assert [d.usage for d in deltas] == [(15, 1, 5, 0), (15, 6, 5, 0), (15, 12, 5, 0)]
    assert deltas[-1].finish_reason == "end_turn"


# -- request building -------------------------------------------------------------------------
def test_request_shape(anthropic_server):
    config = chat_config(
        anthropic_server,
        generate_args={"temperature": 0.3},
        thinking={"type": "enabled", "budget_tokens": 1024},
    )
    model = load(config)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": [{"type": "text", "text": "Answer in French."}]},
        {"role": "user", "name": "alice", "content": "hi"},
        {"role": "assistant", "name": "bot", "content": "salut"},
        {"role": "system", "content": "A late note."},
    ]
    model(messages, top_k=5, metadata={"user_id": "u1"})
    body = sent(anthropic_server)
    assert body == {
        "model": "claude-sonnet-4-6",
        "max_tokens": 4096,
        "system": "Be brief.\n\nAnswer in French.",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "salut"},
            {"role": "user", "content": "A late note."},
        ],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "temperature": 0.3,  # not a create() parameter in SDK 2.x: sent through extra_body
        "top_k": 5,
        "metadata": {"user_id": "u1"},
    }
    model(MESSAGES, max_tokens=100, thinking={"type": "disabled"})
    assert sent(anthropic_server)["max_tokens"] == 100
    assert sent(anthropic_server)["thinking"] == {"type": "disabled"}


def test_config_max_tokens_and_generate_args(anthropic_server):
    model = load(chat_config(anthropic_server, max_tokens=512))
    model(MESSAGES)
    assert sent(anthropic_server)["max_tokens"] == 512
    model = load(chat_config(anthropic_server, config_name="c2", generate_args={"max_tokens": 64}))
    model(MESSAGES)
    assert sent(anthropic_server)["max_tokens"] == 64


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("required", {"type": "any"}),
        ("none", {"type": "none"}),
        ("get_weather", {"type": "tool", "name": "get_weather"}),
    ],
)
def test_tools_and_tool_choice_on_the_wire(anthropic_server, tool_choice, expected):
    wrapped = {"type": "function", "function": {**WEATHER, "name": "get_time"}}
    load(chat_config(anthropic_server))(MESSAGES, tools=[WEATHER, wrapped], tool_choice=tool_choice)
    body = sent(anthropic_server)
    assert body["tools"] == [
        {"name": name, "description": WEATHER["description"], "input_schema": WEATHER["parameters"]}
        for name in ("get_weather", "get_time")
    ]
    assert body["tool_choice"] == expected


def test_openai_style_tool_history_is_converted(anthropic_server):
    messages = [
        {"role": "user", "content": "Weather and time in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "t1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {
                    "id": "t2",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": "{}"},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "t1", "name": "get_weather", "content": "sunny"},
        {"role": "tool", "tool_call_id": "t2", "name": "get_time", "content": "12:00"},
    ]
    assert load(chat_config(anthropic_server))(messages).text == "Hello!"
    assert sent(anthropic_server)["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "t2", "name": "get_time", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "sunny"},
                {"type": "tool_result", "tool_use_id": "t2", "content": "12:00"},
            ],
        },
    ]


# -- format() ---------------------------------------------------------------------------------
def test_format_chat_mode(anthropic_server, tmp_path):
    image = kit.png_file(tmp_path)
    model = load(chat_config(anthropic_server))
    msgs = [
        Msg("system", "You are helpful.", role="system"),
        Msg("alice", "What are these?", role="user", url=[str(image), "https://x.test/dog.jpg"]),
        Msg(
            "bot",
            [
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "t1", "name": "lookup", "input": {"q": "dog"}},
            ],
            role="assistant",
        ),
        Msg(
            "tool",
            [{"type": "tool_result", "id": "t1", "name": "lookup", "output": "a dog"}],
            "system",
        ),
        Msg(
            "alice",
            [
                # 0.x put the data-URL prefix inside `data`: fixed on the way out.
                {
                    "type": "image",
                    "source": {
                        "type": "base64",
                        "media_type": "image/png",
                        "data": f"data:image/png;base64,{PNG_B64}",
                    },
                },
                {"type": "image", "url": f"data:image/png;base64,{PNG_B64}"},
            ],
            role="user",
        ),
    ]
    messages = model.format(msgs, multi_agent_mode=False)
    png = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
    }
    assert messages == [
        {"role": "system", "content": "You are helpful."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What are these?"},
                png,
                {"type": "image", "source": {"type": "url", "url": "https://x.test/dog.jpg"}},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "t1", "name": "lookup", "input": {"q": "dog"}},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "a dog"}],
        },
        {"role": "user", "content": [png, png]},
    ]
    assert model(messages).text == "Hello!"  # the emulator accepts it as the API would
    assert sent(anthropic_server)["system"] == "You are helpful."


def test_format_multi_agent_mode(anthropic_server):
    model = load(chat_config(anthropic_server))
    msgs = [
        Msg("system", "You moderate.", role="system"),
        Msg("alice", "hi", role="user", url="https://x.test/a.png"),
        Msg(
            "bob",
            [
                {"type": "text", "text": "hello"},
                {"type": "tool_use", "id": "t1", "name": "wave", "input": {}},
            ],
        ),
    ]
    messages = model.format(msgs)
    assert messages == [
        {"role": "system", "content": "You moderate."},
        {
            "role": "user",
            "content": [
                {
                    "type": "text",
                    "text": "## Conversation History\nalice: hi\nbob: hello\n"
                    '<tool_use>{"id": "t1", "name": "wave", "input": {}}</tool_use>',
                },
                {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
            ],
        },
    ]
    assert model(messages).text == "Hello!"
    body = sent(anthropic_server)
    assert body["system"] == "You moderate." and len(body["messages"]) == 1


# -- errors and retries -----------------------------------------------------------------------
def test_401_is_not_retried_and_hides_the_key(anthropic_server):
    config = chat_config(anthropic_server)
    headers = {"request-id": "req_401"}
    err = kit.check_echoed_key(anthropic_server, config, "invalid x-api-key ", headers=headers)
    assert (err.status, err.request_id, err.provider) == (401, "req_401", "anthropic")
    assert "authentication_error" in str(err)


@kit.transient_faults(
    "500",
    extra={
        "429-retry-after": (Fault(status=429, headers={"retry-after": "0.1"}, times=2), 3, 0.1),
        "529-overloaded": (Fault(status=529, message="Overloaded"), 2, None),
    },
)
def test_transient_failures_are_retried(
    anthropic_server, retry_waits, fault, requests, retry_after, stream
):
    model = load(chat_config(anthropic_server))
    kit.check_retried(anthropic_server, model, retry_waits, fault, requests, retry_after, stream)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault(status=429, headers={"retry-after": "0"}, times=3), errors.RateLimitError),
        (Fault(status=529, message="Overloaded", times=3), errors.ServerError),
    ],
    ids=["429", "529"],
)
def test_persistent_failures_raise_typed_errors(anthropic_server, fault, error):
    kit.check_failure(anthropic_server, load(chat_config(anthropic_server)), fault, error, 3)


def test_400_is_a_bad_request(anthropic_server):
    anthropic_server.add_fault(Fault(status=400, message="messages: roles must alternate"))
    with pytest.raises(errors.BadRequestError) as info:
        load(chat_config(anthropic_server))(MESSAGES)
    assert "invalid_request_error: messages: roles must alternate" in str(info.value)
    assert len(anthropic_server.requests) == 1


# Events: message_start, ping, content_block_start, then one per chunk: 5 let "ab", "cd" through.
@kit.mid_stream_faults(5, {"type": "overloaded_error", "message": "Overloaded"})
def test_mid_stream_failure_keeps_partial_text(anthropic_server, fault, error):
    err, _, _ = kit.check_partial(
        anthropic_server, load(chat_config(anthropic_server)), fault, error
    )
    assert err.config_name == "claude" and err.provider == "anthropic"
    if fault.stream_error:
        assert "overloaded_error: Overloaded" in str(err)
        assert not isinstance(err, errors.ProviderConnectionError)
        assert err.status is None


def test_huge_non_streamed_max_tokens_is_refused_before_sending(anthropic_server):
    model = load(chat_config(anthropic_server))
    with pytest.raises(errors.BadRequestError) as info:
        model(MESSAGES, max_tokens=64000)
    assert "stream" in str(info.value)
    assert anthropic_server.requests == []
    assert model(MESSAGES, max_tokens=64000, stream=True).text == "Hello!"


# -- keys and clients -------------------------------------------------------------------------
def test_two_configs_with_their_own_keys_and_servers(anthropic_server):
    with emulator.AnthropicEmulator() as other:
        kit.check_two_configs(chat_config, anthropic_server, other, "claude-haiku-4-5")


def test_missing_key_is_a_config_error(monkeypatch):
    kit.check_missing_key(monkeypatch, "anthropic_chat", "ANTHROPIC_API_KEY", model_name="c")


def test_key_from_the_environment(anthropic_server, monkeypatch):
    config = chat_config(anthropic_server)
    kit.check_key_from_env(anthropic_server, monkeypatch, "ANTHROPIC_API_KEY", "sk-ant-env", config)


def test_unknown_config_field_is_rejected(anthropic_server):
    with pytest.raises(errors.ConfigError):
        read_model_configs([chat_config(anthropic_server, max_token=10)])


# -- the emulator itself ----------------------------------------------------------------------
def test_emulator_accepts_x_api_key_and_requires_auth(anthropic_server):
    url = anthropic_server.base_url + "/v1/messages"
    body = {"model": "m", "max_tokens": 10, "messages": MESSAGES}
    version = {"anthropic-version": "2023-06-01"}
    ok = httpx.post(url, json=body, headers={**version, "x-api-key": "k"})
    assert ok.status_code == 200 and ok.json()["content"] == [{"type": "text", "text": "Hello!"}]
    denied = httpx.post(url, json=body, headers=version)
    assert denied.status_code == 401
    assert denied.json()["error"]["type"] == "authentication_error"
    stream = httpx.post(url, json={**body, "stream": True}, headers={**version, "x-api-key": "k"})
    assert stream.text.startswith("event: message_start\ndata: ")


def test_calls_are_recorded_without_the_key(anthropic_server, tmp_path):
    records = kit.recorded_calls(anthropic_server, chat_config(anthropic_server), tmp_path, CALL_A)
    assert records[0]["response"]["content"][0]["type"] == "thinking"
