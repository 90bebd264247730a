"""Anthropic prompt caching through the real ``anthropic`` SDK against the loopback emulator:
where the ``cache_control`` marks land on the wire, and the cache tokens in usage."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agentscope_legacy.errors import ConfigError
from agentscope_legacy.formatter import AnthropicChatFormatter
from agentscope_legacy.message import Msg
from agentscope_legacy.model import AnthropicChatModel
from agentscope_legacy.models.anthropic._caching import PromptCaching, with_cache_control
from tests import chat_kit as kit
from tests.chat_kit import WEATHER, load, sent
from tests.emulators import anthropic as emulator

anthropic_server = emulator.anthropic_server
EPHEMERAL = {"type": "ephemeral"}
HISTORY = [
    {"role": "system", "content": "You are a weather bot. " * 20},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "Sunny."},
    {"role": "user", "content": "And in Rome?"},
]


def chat_config(server: Any, **overrides: Any) -> dict[str, Any]:
    return kit.chat_config(server, "anthropic_chat", **overrides)


def marked(body: dict[str, Any]) -> list[str]:
    """Where the marks are: ``tools[i]``, ``system[i]``, ``messages[i][j]``."""
    where = [f"tools[{i}]" for i, t in enumerate(body.get("tools") or []) if "cache_control" in t]
    system = body.get("system")
    if isinstance(system, list):
        where += [f"system[{i}]" for i, b in enumerate(system) if "cache_control" in b]
    for i, message in enumerate(body["messages"]):
        if isinstance(message["content"], list):
            where += [
                f"messages[{i}][{j}]"
                for j, b in enumerate(message["content"])
                if "cache_control" in b
            ]
    return where


def test_no_caching_asked_sends_no_marks(anthropic_server):
    load(chat_config(anthropic_server))(HISTORY, tools=[WEATHER])
    body = sent(anthropic_server)
    assert marked(body) == []
    assert isinstance(body["system"], str)


@pytest.mark.parametrize("stream", [False, True])
def test_marks_on_system_tools_and_last_turns(anthropic_server, stream):
    model = load(chat_config(anthropic_server, prompt_caching=True, stream=stream))
    response = model(HISTORY, tools=[WEATHER])
    response.text  # noqa: B018 (drain)
    body = sent(anthropic_server)
    assert marked(body) == ["tools[0]", "system[0]", "messages[0][0]", "messages[2][0]"]
    assert body["system"][0]["cache_control"] == EPHEMERAL
    assert body["messages"][2]["content"] == [
        {"type": "text", "text": "And in Rome?", "cache_control": EPHEMERAL}
    ]
    assert body["messages"][1]["content"] == "Sunny."  # assistant turns are left alone
    # First call: the whole marked prefix is written to the cache.
    usage = response.usage
    assert usage.cache_read_tokens == 0
    assert usage.cache_creation_tokens > 0
    assert usage.prompt_tokens >= usage.cache_creation_tokens


@pytest.mark.parametrize("stream", [False, True])
def test_a_follow_up_call_reads_the_cache(anthropic_server, stream):
    model = load(chat_config(anthropic_server, prompt_caching=True, stream=stream))
    first_response = model(HISTORY, tools=[WEATHER])
    first_response.text  # noqa: B018 (drain)
    first = first_response.usage
    follow_up = [*HISTORY, {"role": "assistant", "content": "Rainy."}]
    follow_up.append({"role": "user", "content": "Thanks, and Oslo?"})
    response = model(follow_up, tools=[WEATHER])
    response.text  # noqa: B018 (drain)
    usage = response.usage
    # The earlier call's last turn is now the second-to-last mark: its prefix is read.
    assert usage.cache_read_tokens == first.cache_creation_tokens
    assert 0 < usage.cache_creation_tokens < first.cache_creation_tokens
    assert usage.to_dict()["cache_read_tokens"] == usage.cache_read_tokens


def test_policy_fields_from_a_config(anthropic_server):
    policy = {"system": True, "tools": False, "last_turns": 1, "ttl": "1h"}
    load(chat_config(anthropic_server, prompt_caching=policy))(HISTORY, tools=[WEATHER])
    body = sent(anthropic_server)
    assert marked(body) == ["system[0]", "messages[2][0]"]
    assert body["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}


@pytest.mark.parametrize(
    "value",
    [{"last_turns": 3}, {"ttl": "2h"}, {"last_turn": 1}, "yes"],
)
def test_bad_policies_are_config_errors(anthropic_server, value):
    with pytest.raises(ConfigError):
        load(chat_config(anthropic_server, prompt_caching=value))


def test_marks_already_given_are_kept_and_input_is_not_changed():
    request = {
        "system": [
            {"type": "text", "text": "s", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
        ],
        "messages": [{"role": "user", "content": "hi"}],
    }
    out = with_cache_control(request, PromptCaching(last_turns=1))
    assert out["system"][0]["cache_control"]["ttl"] == "1h"
    assert request["messages"][0]["content"] == "hi"
    assert out["messages"][0]["content"][0]["cache_control"] == EPHEMERAL


async def _reply(model: AnthropicChatModel, messages: list[dict[str, Any]]) -> Any:
    """The whole reply: the response, or a stream's last chunk."""
    result = await model(messages)
    if not hasattr(result, "__aiter__"):
        return result
    chunks = [chunk async for chunk in result]
    return chunks[-1]


@pytest.mark.parametrize("stream", [False, True])
def test_newer_layer_model_reports_cache_tokens(anthropic_server, stream):
    model = AnthropicChatModel(
        "claude-sonnet-4-6",
        api_key="sk-ant-test",
        stream=stream,
        client_args={"base_url": anthropic_server.base_url},
        prompt_caching=PromptCaching(tools=False, last_turns=1),
    )
    messages = asyncio.run(
        AnthropicChatFormatter().format(
            [Msg("system", "Be terse. " * 10, "system"), Msg("user", "Hi", "user")]
        )
    )
    first = asyncio.run(_reply(model, messages))
    assert marked(sent(anthropic_server)) == ["system[0]", "messages[0][0]"]
    assert first.usage.cache_creation_tokens > 0
    assert first.usage.cache_read_tokens == 0
    again = asyncio.run(_reply(model, messages))
    assert again.usage.cache_read_tokens == first.usage.cache_creation_tokens
    assert again.usage.cache_creation_tokens == 0
