"""Golden tests: every formatter on the same two conversations, against literal expected JSON.

The expected provider messages are written out in ``tests/data/formatter_golden/<Formatter>.json``
(``{DATA}`` stands for that folder). Every output is also checked against the provider's
documented message shape: strictly (no unknown keys, required keys present, literal values)
against the SDK's own request types for OpenAI and Anthropic (TypedDicts), Gemini (pydantic
models that forbid extra fields) and Ollama, and against the documented DashScope shape.

After a deliberate change of output, ``FORMATTER_GOLDEN_UPDATE=1 pytest
tests/test_formatter_golden.py`` rewrites the files; review the diff like code.
"""

from __future__ import annotations

import asyncio
import base64
import collections.abc
import json
import os
import types
import typing
from pathlib import Path
from typing import Any

import pytest
import typing_extensions as te

from agentscope_legacy import formatter as fm
from agentscope_legacy import message as blocks
from agentscope_legacy.message import Msg

DATA = Path(__file__).parent / "data" / "formatter_golden"
PIXEL = str(DATA / "pixel.png")
PIXEL_B64 = base64.b64encode((DATA / "pixel.png").read_bytes()).decode()
WAV_B64 = base64.b64encode(b"RIFF$\x00\x00\x00WAVEfmt ").decode()


def chat_conversation() -> list[Msg]:
    """A user and an assistant: images (web, local file), thinking, parallel tools, media."""
    return [
        Msg("system", "You are Friday, a helpful assistant.", "system"),
        Msg(
            "user",
            [
                blocks.text_block("What is in these pictures?"),
                blocks.image_block("https://example.com/cat.png"),
                blocks.image_block(PIXEL),
            ],
            "user",
        ),
        Msg(
            "Friday",
            [
                blocks.thinking_block("The user wants the weather too.", signature="c2lnLTE="),
                blocks.text_block("A cat and a pixel. Let me check the weather."),
                blocks.tool_use_block("call_1", "get_weather", {"city": "Paris"}),
                blocks.tool_use_block("call_2", "get_time", {"tz": "Europe/Paris"}),
            ],
            "assistant",
        ),
        Msg("system", [blocks.tool_result_block("call_1", "Sunny, 21°C", "get_weather")], "system"),
        Msg(
            "system",
            [
                blocks.tool_result_block(
                    "call_2",
                    [
                        blocks.text_block("14:05"),
                        blocks.image_block("https://example.com/clock.png"),
                    ],
                    "get_time",
                )
            ],
            "system",
        ),
        Msg(
            "Friday",
            [
                blocks.thinking_block("No signature on this one."),
                blocks.text_block("Sunny, 14:05 in Paris."),
            ],
            "assistant",
        ),
        Msg(
            "user",
            [
                blocks.text_block("Listen to this and watch that."),
                blocks.audio_block(blocks.base64_source(WAV_B64, "audio/wav")),
                blocks.video_block("https://example.com/clip.mp4"),
            ],
            "user",
        ),
    ]


def multi_agent_conversation() -> list[Msg]:
    """Three speakers, a 0.x ``url`` attachment, an image, and a tool call in the middle."""
    return [
        Msg("system", "You are Bob, playing a game with Alice and Carol.", "system"),
        Msg("Alice", "Hi Bob, look at my dog.", "user", url="https://example.com/dog.jpg"),
        Msg(
            "Bob",
            [
                blocks.text_block("Nice dog! Here is my cat."),
                blocks.image_block(blocks.base64_source(PIXEL_B64, "image/png")),
            ],
            "assistant",
        ),
        Msg("Alice", "What is the weather in Paris?", "user"),
        Msg(
            "Bob", [blocks.tool_use_block("call_1", "get_weather", {"city": "Paris"})], "assistant"
        ),
        Msg("system", [blocks.tool_result_block("call_1", "Sunny", "get_weather")], "system"),
        Msg("Bob", "It is sunny in Paris.", "assistant"),
        Msg("Carol", "Great, let's go outside!", "user"),
    ]


CONVERSATIONS = {"chat": chat_conversation, "multi_agent": multi_agent_conversation}
FORMATTERS = [
    fm.OpenAIChatFormatter,
    fm.OpenAIMultiAgentFormatter,
    fm.DeepSeekChatFormatter,
    fm.DeepSeekMultiAgentFormatter,
    fm.DashScopeChatFormatter,
    fm.DashScopeMultiAgentFormatter,
    fm.AnthropicChatFormatter,
    fm.AnthropicMultiAgentFormatter,
    fm.GeminiChatFormatter,
    fm.GeminiMultiAgentFormatter,
    fm.OllamaChatFormatter,
    fm.OllamaMultiAgentFormatter,
]


def format_sync(formatter: Any, msgs: list[Msg], **kwargs: Any) -> list[dict[str, Any]]:
    return asyncio.run(formatter.format(msgs, **kwargs))


def golden(cls: type) -> dict[str, Any]:
    text = (DATA / f"{cls.__name__}.json").read_text(encoding="utf-8")
    return json.loads(text.replace("{DATA}", str(DATA)))


# -- the provider's documented shape ----------------------------------------------------------
_REQUIRED = {typing.Required, te.Required}
_NOT_REQUIRED = {typing.NotRequired, te.NotRequired}
_SEQUENCES = {list, collections.abc.Iterable, collections.abc.Sequence, typing.Iterable}


def shape_errors(value: Any, tp: Any, path: str = "$") -> list[str]:
    """Where ``value`` does not conform to the type ``tp`` of an SDK's request types."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is object:
        return []
    if origin is typing.Annotated or origin in _REQUIRED | _NOT_REQUIRED:
        return shape_errors(value, args[0], path)
    if origin is typing.Union or origin is types.UnionType:
        found = [shape_errors(value, alternative, path) for alternative in args]
        return [] if any(not e for e in found) else min(found, key=len)
    if origin is typing.Literal:
        return [] if value in args else [f"{path}: {value!r} is not one of {args}"]
    if tp is type(None):
        return [] if value is None else [f"{path}: expected null"]
    if te.is_typeddict(tp):
        if not isinstance(value, dict):
            return [f"{path}: expected an object for {tp.__name__}"]
        hints = te.get_type_hints(tp, include_extras=True)
        errors = [f"{path}.{k}: not a field of {tp.__name__}" for k in set(value) - set(hints)]
        for key, hint in hints.items():
            wrapper = typing.get_origin(hint)
            required = wrapper in _REQUIRED or (tp.__total__ and wrapper not in _NOT_REQUIRED)
            if required and key not in value:
                errors.append(f"{path}.{key}: required by {tp.__name__}")
            if key in value:
                errors += shape_errors(value[key], hint, f"{path}.{key}")
        return errors
    if origin in _SEQUENCES:
        if not isinstance(value, list):
            return [f"{path}: expected an array"]
        return [
            e for i, item in enumerate(value) for e in shape_errors(item, args[0], f"{path}[{i}]")
        ]
    if origin in (dict, collections.abc.Mapping) or tp is dict:
        return [] if isinstance(value, dict) else [f"{path}: expected an object"]
    if isinstance(tp, type):
        if hasattr(tp, "model_fields"):  # a response model class: not a request shape
            return [f"{path}: a {tp.__name__} model, not a request dict"]
        return [] if isinstance(value, tp) else [f"{path}: expected {tp.__name__}"]
    return []


def check_openai(messages: list[dict[str, Any]], *, text_only: bool = False) -> None:
    from openai.types.chat import ChatCompletionMessageParam

    assert shape_errors(messages, list[ChatCompletionMessageParam]) == []
    for message in messages:
        for call in message.get("tool_calls") or []:
            assert isinstance(json.loads(call["function"]["arguments"]), dict)
        if text_only:
            assert message["content"] is None or isinstance(message["content"], str)


def check_anthropic(messages: list[dict[str, Any]]) -> None:
    from anthropic.types import MessageParam

    # The system prompt leads (the wrapper lifts it to `system`); the API takes user/assistant.
    rest = messages[1:] if messages and messages[0]["role"] == "system" else messages
    assert shape_errors(messages[: len(messages) - len(rest)], list[MessageParam]) == []
    assert all(m["role"] in ("user", "assistant") for m in rest)
    assert shape_errors(rest, list[MessageParam]) == []
    for previous, message in zip(rest, rest[1:], strict=False):  # results right after their calls
        if any(b["type"] == "tool_result" for b in message["content"]):
            assert previous["role"] == "assistant"
            calls = {b["id"] for b in previous["content"] if b["type"] == "tool_use"}
            assert {b["tool_use_id"] for b in message["content"]} <= calls


def check_gemini(contents: list[dict[str, Any]]) -> None:
    from google.genai import types as genai

    for content in contents:
        assert content["role"] in ("user", "model")
        genai.Content.model_validate(content)  # extra fields are forbidden
    assert all(
        a["role"] != b["role"] for a, b in zip(contents, contents[1:], strict=False)
    )  # alternating


def check_ollama(messages: list[dict[str, Any]]) -> None:
    import ollama

    for message in messages:
        assert set(message) <= set(ollama.Message.model_fields)
        images = [ollama.Image(value=image) for image in message.get("images", [])]
        ollama.Message.model_validate({**message, "images": images or None})  # as chat() does
        assert message["role"] in ("system", "user", "assistant", "tool")
        for image in message.get("images", []):
            base64.b64decode(image, validate=True)
        for call in message.get("tool_calls", []):
            assert set(call) == {"function"} and set(call["function"]) == {"name", "arguments"}
            assert isinstance(call["function"]["arguments"], dict)


def check_dashscope(messages: list[dict[str, Any]]) -> None:
    """DashScope's documented shape: OpenAI roles and tool calls, content items by kind."""
    keys = {
        "system": {"role", "content"},
        "user": {"role", "content"},
        "assistant": {"role", "content", "tool_calls"},
        "tool": {"role", "content", "tool_call_id", "name"},
    }
    for message in messages:
        assert set(message) <= keys[message["role"]], message
        content = message["content"]
        if message["role"] == "tool":
            assert isinstance(content, str) and message["tool_call_id"]
        elif isinstance(content, list):
            for item in content:
                (kind, value), *rest = item.items()
                assert not rest and kind in ("text", "image", "audio", "video")
                assert isinstance(value, str)
        else:
            assert content == "" and message.get("tool_calls")
        for call in message.get("tool_calls", []):
            assert set(call) == {"id", "type", "function"} and call["type"] == "function"
            assert isinstance(json.loads(call["function"]["arguments"]), dict)


CHECKS = {
    "OpenAI": check_openai,
    "DeepSeek": lambda messages: check_openai(messages, text_only=True),
    "DashScope": check_dashscope,
    "Anthropic": check_anthropic,
    "Gemini": check_gemini,
    "Ollama": check_ollama,
}


def provider_of(cls: type) -> str:
    return next(p for p in CHECKS if cls.__name__.startswith(p))


# -- the tests --------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", FORMATTERS, ids=lambda c: c.__name__)
def test_golden(cls):
    actual = {name: format_sync(cls(), build()) for name, build in CONVERSATIONS.items()}
    path = DATA / f"{cls.__name__}.json"
    if os.environ.get("FORMATTER_GOLDEN_UPDATE"):
        text = json.dumps(actual, indent=2, ensure_ascii=False).replace(str(DATA), "{DATA}")
        path.write_text(text + "\n", encoding="utf-8")
    assert actual == golden(cls)


@pytest.mark.parametrize("cls", FORMATTERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("conversation", list(CONVERSATIONS))
def test_golden_output_has_the_providers_documented_shape(cls, conversation):
    CHECKS[provider_of(cls)](golden(cls)[conversation])
