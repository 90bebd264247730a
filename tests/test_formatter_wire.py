"""Formatter output through each provider's wrapper and real SDK, to its loopback emulator.

For every provider, the chat and multi-agent formatters' output for the golden conversations
(tools, images, audio, thinking) is passed to the provider's wrapper as is. The real SDK must
accept it, the emulator (which validates requests like the real API where the emulator does)
must answer, and the request body must carry exactly the formatted messages (after the
wrapper's documented steps: Anthropic's leading system message lifted into ``system``,
DashScope's local files inlined, the Gemini SDK's camelCase wire names).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import uuid
from typing import Any

import pytest

from agentscope_legacy import formatter as fm
from agentscope_legacy.message import Msg
from agentscope_legacy.models import load_model_by_config_name, read_model_configs
from tests.emulators import anthropic as anthropic_emulator
from tests.emulators import dashscope_fixtures, gemini_fixtures
from tests.emulators import ollama as ollama_emulator
from tests.test_formatter_golden import CONVERSATIONS, PIXEL, PIXEL_B64

anthropic_server = anthropic_emulator.anthropic_server
dashscope_server = dashscope_fixtures.dashscope_server
gemini_server = gemini_fixtures.gemini_server
ollama_server = ollama_emulator.ollama_server

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": f"The {name[4:]} in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    for name in ("get_weather", "get_time")
]


def formatted(cls: type, conversation: str) -> list[dict[str, Any]]:
    msgs: list[Msg] = CONVERSATIONS[conversation]()
    return asyncio.run(cls().format(msgs))


def load(model_type: str, **fields: Any) -> Any:
    name = f"{model_type}-{uuid.uuid4().hex[:6]}"
    config = {"config_name": name, "model_type": model_type, "max_retries": 0, **fields}
    read_model_configs([config])
    return load_model_by_config_name(name)


def key() -> str:
    return f"sk-fmt-{uuid.uuid4().hex}"


BOTH = pytest.mark.parametrize("conversation", list(CONVERSATIONS))


# -- OpenAI and DeepSeek (the OpenAI wire) ----------------------------------------------------
@BOTH
@pytest.mark.parametrize(
    "cls, model_type, model_name",
    [
        (fm.OpenAIChatFormatter, "openai_chat", "gpt-4o-mini"),
        (fm.OpenAIMultiAgentFormatter, "openai_chat", "gpt-4o-mini"),
        (fm.DeepSeekChatFormatter, "deepseek_chat", "deepseek-chat"),
        (fm.DeepSeekMultiAgentFormatter, "deepseek_chat", "deepseek-chat"),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else None,
)
def test_openai_wire(openai_server, cls, model_type, model_name, conversation):
    messages = formatted(cls, conversation)
    openai_server.set_reply(text="Sunny.")
    model = load(
        model_type,
        model_name=model_name,
        api_key=key(),
        base_url=openai_server.base_url + "/v1",
    )
    response = model(messages, tools=TOOLS)
    assert response.text == "Sunny."
    body = openai_server.requests[-1].json
    assert body["messages"] == messages
    assert [t["function"]["name"] for t in body["tools"]] == ["get_weather", "get_time"]


def test_openai_wire_async(openai_server):
    messages = formatted(fm.OpenAIChatFormatter, "chat")
    openai_server.set_reply(text="Sunny.")
    model = load(
        "openai_chat",
        model_name="gpt-4o-mini",
        api_key=key(),
        base_url=openai_server.base_url + "/v1",
    )
    response = asyncio.run(model.acall(messages))
    assert response.text == "Sunny."
    assert openai_server.requests[-1].json["messages"] == messages


# -- DashScope -------------------------------------------------------------------------------
@BOTH
@pytest.mark.parametrize(
    "cls", [fm.DashScopeChatFormatter, fm.DashScopeMultiAgentFormatter], ids=lambda c: c.__name__
)
def test_dashscope_wire(dashscope_server, cls, conversation):
    messages = formatted(cls, conversation)
    dashscope_server.set_reply(text="Sunny.")
    model = load(
        "dashscope_multimodal",
        model_name="qwen-vl-max",
        api_key=key(),
        base_url=dashscope_server.api_base,
    )
    response = model(messages, tools=TOOLS)
    assert response.text == "Sunny."
    body = dashscope_server.requests[-1].json
    # The wrapper inlines local files (file:// URIs) as data URLs, so the SDK uploads nothing.
    expected = copy.deepcopy(messages)
    for message in expected:
        for item in message["content"] if isinstance(message["content"], list) else []:
            if item.get("image") == "file://" + PIXEL:
                item["image"] = "data:image/png;base64," + PIXEL_B64
    assert body["input"]["messages"] == expected
    assert "file://" not in str(body)


def test_dashscope_text_wire(dashscope_server):
    """Text-only output goes through ``Generation`` (dashscope_chat) too."""
    msgs = [Msg("system", "Be brief.", "system"), Msg("Alice", "Hi!", "user")]
    messages = asyncio.run(fm.DashScopeChatFormatter().format(msgs))
    dashscope_server.set_reply(text="Hello.")
    model = load(
        "dashscope_chat", model_name="qwen-plus", api_key=key(), base_url=dashscope_server.api_base
    )
    assert model(messages).text == "Hello."
    assert dashscope_server.requests[-1].json["input"]["messages"] == messages


# -- Anthropic -------------------------------------------------------------------------------
@BOTH
@pytest.mark.parametrize(
    "cls", [fm.AnthropicChatFormatter, fm.AnthropicMultiAgentFormatter], ids=lambda c: c.__name__
)
def test_anthropic_wire(anthropic_server, cls, conversation):
    messages = formatted(cls, conversation)
    anthropic_server.set_reply(text="Sunny.")
    model = load(
        "anthropic_chat",
        model_name="claude-sonnet-4-6",
        api_key=key(),
        base_url=anthropic_server.base_url,
    )
    response = model(messages, tools=TOOLS)
    assert response.text == "Sunny."  # the emulator validated the body like the API
    body = anthropic_server.requests[-1].json
    # The leading system message is lifted into the top-level `system` parameter.
    assert messages[0]["role"] == "system"
    assert body["system"] == messages[0]["content"][0]["text"]
    assert body["messages"] == messages[1:]
    assert [t["name"] for t in body["tools"]] == ["get_weather", "get_time"]


# -- Gemini ----------------------------------------------------------------------------------
def from_wire(part: dict[str, Any]) -> dict[str, Any]:
    """A part of the SDK's request body back in the snake_case shape the formatter gives."""
    if "inlineData" in part:
        blob = part["inlineData"]
        data = base64.urlsafe_b64decode(blob["data"])  # the SDK re-encodes it URL-safe
        mime = blob.get("mime_type") or blob.get("mimeType")
        return {"inline_data": {"mime_type": mime, "data": base64.b64encode(data).decode()}}
    if "fileData" in part:
        file = part["fileData"]
        return {
            "file_data": {
                "mime_type": file.get("mime_type") or file.get("mimeType"),
                "file_uri": file.get("file_uri") or file.get("fileUri"),
            }
        }
    if "functionCall" in part:
        return {"function_call": part["functionCall"]}
    if "functionResponse" in part:
        return {"function_response": part["functionResponse"]}
    return part


@BOTH
@pytest.mark.parametrize(
    "cls", [fm.GeminiChatFormatter, fm.GeminiMultiAgentFormatter], ids=lambda c: c.__name__
)
def test_gemini_wire(gemini_server, cls, conversation):
    contents = formatted(cls, conversation)
    gemini_server.set_reply(text="Sunny.")
    model = load(
        "gemini_chat", model_name="gemini-2.5-flash", api_key=key(), base_url=gemini_server.base_url
    )
    response = model(contents, tools=TOOLS)
    assert response.text == "Sunny."
    body = gemini_server.requests[-1].json
    assert "systemInstruction" not in body  # the system prompt is the first user text
    sent = [
        {"role": c["role"], "parts": [from_wire(p) for p in c["parts"]]} for c in body["contents"]
    ]
    assert sent == contents
    declarations = body["tools"][0]["functionDeclarations"]
    assert [d["name"] for d in declarations] == ["get_weather", "get_time"]


# -- Ollama ----------------------------------------------------------------------------------
@BOTH
@pytest.mark.parametrize(
    "cls", [fm.OllamaChatFormatter, fm.OllamaMultiAgentFormatter], ids=lambda c: c.__name__
)
def test_ollama_wire(ollama_server, cls, conversation):
    messages = formatted(cls, conversation)
    ollama_server.set_reply(text="Sunny.")
    model = load("ollama_chat", model_name="llama3.2", host=ollama_server.base_url)
    response = model(messages, tools=TOOLS)
    assert response.text == "Sunny."  # the emulator checked that the images are base64
    body = ollama_server.requests[-1].json
    # The SDK leaves empty fields out (an assistant tool call's "content": "").
    assert body["messages"] == [{k: v for k, v in m.items() if v != ""} for m in messages]
    assert [t["function"]["name"] for t in body["tools"]] == ["get_weather", "get_time"]
