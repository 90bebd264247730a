"""litellm_chat through the real ``litellm`` package against the loopback emulators.

litellm pins openai<3, so it lives in its own venv: run this module with
``/tmp/allvenv/bin/python -m pytest tests/test_litellm.py``; elsewhere it is skipped.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import pytest

pytest.importorskip("litellm")

from agentscope_legacy import errors  # noqa: E402
from agentscope_legacy.models import load_model_by_config_name  # noqa: E402
from tests import chat_kit as kit  # noqa: E402
from tests.chat_kit import MESSAGES, WEATHER, sent  # noqa: E402
from tests.emulators import Fault  # noqa: E402
from tests.emulators import anthropic as anthropic_emulator  # noqa: E402
from tests.emulators import ollama as ollama_emulator  # noqa: E402

anthropic_server = anthropic_emulator.anthropic_server
ollama_server = ollama_emulator.ollama_server

CALL_A = {"id": "call_a", "name": "get_weather", "arguments": {"city": "Paris"}}


def config(server: Any, **overrides: Any) -> dict[str, Any]:
    return kit.chat_config(server, "litellm_chat", **overrides)


def load(data: dict[str, Any]) -> Any:
    return kit.load(data, clear=True)


def test_litellm_is_imported_once_without_fetching_the_cost_map():
    import os

    from agentscope_legacy.models.litellm import import_litellm

    assert import_litellm() is import_litellm() is sys.modules["litellm"]
    assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"


# -- parity -------------------------------------------------------------------------------------
@kit.parity_cases
def test_stream_and_non_stream_agree(openai_server, script):
    openai_server.set_reply(**script)
    kit.check_parity(load(config(openai_server)), script)
    assert sent(openai_server, 0).get("stream", False) is False
    assert sent(openai_server, 1)["stream_options"] == {"include_usage": True}


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


FORCED = {"type": "function", "function": {"name": "get_weather"}}


@pytest.mark.parametrize(
    ("tool_choice", "expected"), [("get_weather", FORCED), ("auto", "auto"), ("none", "none")]
)
def test_tools_and_tool_choice_on_the_wire(openai_server, tool_choice, expected):
    load(config(openai_server))(MESSAGES, tools=[WEATHER], tool_choice=tool_choice)
    body = sent(openai_server)
    assert body["tools"] == [{"type": "function", "function": WEATHER}]
    assert body["tool_choice"] == expected


def test_two_keys_and_bases_side_by_side(openai_server):
    from tests.emulators import OpenAIEmulator

    with OpenAIEmulator() as other:
        first, second, one, two = kit.load_two(config, openai_server, other, "openai/gpt-4.1")
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
    kit.check_merged_format(model, "Be brief.")


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


@kit.typed_failures("401", "404", "500-persists", "429-retry-after-too-long")
def test_failures_raise_typed_errors(openai_server, fault, error, requests):
    err = kit.check_failure(openai_server, load(config(openai_server)), fault, error, requests)
    assert (err.status, err.provider, err.config_name) == (fault.status, "litellm", "lite")


def test_unauthorized_hides_the_key(openai_server):
    data = config(openai_server)
    err = kit.check_echoed_key(openai_server, data, "Incorrect API key provided: ")
    assert data["api_key"] not in repr(load_model_by_config_name("lite"))
    assert "Incorrect API key provided: ***" in str(err)


@kit.mid_stream_faults(3, {"message": "overloaded", "type": "x"})
def test_mid_stream_failure_keeps_partial_text(openai_server, fault, error):
    err, _, _ = kit.check_partial(openai_server, load(config(openai_server)), fault, error)
    if fault.stream_error:
        assert "overloaded" in str(err) and not isinstance(err, errors.ProviderConnectionError)


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
