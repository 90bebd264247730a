"""The model examples of the reference documentation (000), run against the emulators.

Each example keeps its shape: build Msg objects, format them with the provider's formatter,
``await model(formatted_messages)``, then read ``res.content`` / ``res.usage`` or iterate the
async generator of accumulative chunks. Only the endpoint (the loopback emulator) and the key
differ; the scripted replies stand in for the model.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agentscope_legacy.formatter import (
    AnthropicChatFormatter,
    DashScopeChatFormatter,
    GeminiChatFormatter,
    OllamaChatFormatter,
    OpenAIChatFormatter,
)
from agentscope_legacy.message import Msg
from agentscope_legacy.model import ChatResponse, DashScopeChatModel
from tests.emulators import dashscope_fixtures
from tests.test_chat_model import PROVIDERS, TOOLS

pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession:DeprecationWarning"
)
dashscope_server = dashscope_fixtures.dashscope_server
API_KEY = "sk-reference-0123456789"  # stands for os.environ["DASHSCOPE_API_KEY"]


def dashscope_model(server: Any, **kwargs: Any) -> DashScopeChatModel:
    return DashScopeChatModel(
        api_key=API_KEY, base_http_api_url=server.base_url + "/api/v1", **kwargs
    )


def test_example_model_call(dashscope_server, capsys):
    dashscope_server.set_reply(text="Hello! How can I help you?", prompt_tokens=9)

    async def example_model_call():
        # Step 1: Create model and formatter
        model = dashscope_model(dashscope_server, model_name="qwen-max", stream=False)
        formatter = DashScopeChatFormatter()
        # Step 2: Build Msg objects
        user_msg = Msg(name="user", content="Hi!", role="user")
        # Step 3: Format messages (convert to provider-specific format)
        formatted_messages = await formatter.format([user_msg])
        # Step 4: Call model with formatted messages and get ChatResponse
        res = await model(formatted_messages)
        print("Response:", res.content)
        print("Usage:", res.usage)
        return formatted_messages, res

    formatted, res = asyncio.run(example_model_call())
    assert isinstance(res, ChatResponse)
    assert res.content == [{"type": "text", "text": "Hello! How can I help you?"}]
    assert (res.usage.input_tokens, res.usage.output_tokens) == (9, 2)
    body = dashscope_server.requests[-1].json
    assert body["model"] == "qwen-max" and body["input"]["messages"] == formatted
    assert "Response: [{'type': 'text'" in capsys.readouterr().out


def test_example_streaming(dashscope_server, capsys):
    dashscope_server.set_reply(chunks=["1", ", 2", ", 3", ", 4", ", 5"])

    async def example_streaming():
        model = dashscope_model(dashscope_server, model_name="qwen-max", stream=True)
        formatter = DashScopeChatFormatter()
        user_msg = Msg(name="user", content="Count from 1 to 5.", role="user")
        formatted_messages = await formatter.format([user_msg])
        # Get async generator
        generator = await model(formatted_messages)
        # Iterate through chunks (each contains accumulated content)
        chunks = []
        async for chunk in generator:
            print(chunk.content)  # Accumulated content up to this point
            chunks.append(chunk)
        return chunks

    chunks = asyncio.run(example_streaming())
    texts = [c.content[0]["text"] for c in chunks]
    assert texts == ["1", "1, 2", "1, 2, 3", "1, 2, 3, 4", "1, 2, 3, 4, 5"]
    assert [c.is_last for c in chunks] == [False, False, False, False, True]
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1] == "[{'type': 'text', 'text': '1, 2, 3, 4, 5'}]"


def test_example_reasoning(dashscope_server, capsys):
    dashscope_server.set_reply(
        reasoning=["17 * 23: ", "17 * 20 = 340, ", "17 * 3 = 51, ", "340 + 51 = 391."],
        chunks=["17 * 23 ", "= 391."],
    )

    async def example_reasoning():
        model = dashscope_model(
            dashscope_server,
            model_name="qwen-turbo",
            enable_thinking=True,  # Enable reasoning
            stream=True,
        )
        formatter = DashScopeChatFormatter()
        user_msg = Msg(name="user", content="What is 17 * 23?", role="user")
        formatted_messages = await formatter.format([user_msg])
        res = await model(formatted_messages)
        # Collect final chunk
        last_chunk = None
        async for chunk in res:
            last_chunk = chunk
        # Response contains both ThinkingBlock and TextBlock
        for block in last_chunk.content:
            block_type = block["type"]
            content = block.get("thinking") or block.get("text")
            print(f"[{block_type}] {content[:80]}...")
        return last_chunk

    last_chunk = asyncio.run(example_reasoning())
    assert last_chunk.is_last
    assert capsys.readouterr().out.splitlines() == [
        "[thinking] 17 * 23: 17 * 20 = 340, 17 * 3 = 51, 340 + 51 = 391....",
        "[text] 17 * 23 = 391....",
    ]
    assert dashscope_server.requests[-1].json["parameters"]["enable_thinking"] is True


FORMATTERS = {
    "openai": OpenAIChatFormatter,
    "dashscope": DashScopeChatFormatter,
    "anthropic": AnthropicChatFormatter,
    "gemini": GeminiChatFormatter,
    "ollama": OllamaChatFormatter,
}


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_example_tools_with_every_provider(provider):
    """One tool schema, every provider: the call comes back as a ToolUseBlock, and the tool
    result, formatted with the provider's formatter, goes back to the model."""
    emulator_factory, make, _ = PROVIDERS[provider]
    server = emulator_factory()
    server.clear()
    call = {"id": "call_ref1", "name": "get_weather", "arguments": {"city": "Paris"}}
    answers = iter([{"text": "", "tool_calls": [call]}, {"text": "It is sunny in Paris."}])
    server.set_reply_fn(lambda body: next(answers))
    model = make(server, stream=False)
    formatter = FORMATTERS[provider]()

    async def main():
        history = [
            Msg("system", "You answer weather questions.", "system"),
            Msg("user", "What is the weather in Paris?", "user"),
        ]
        res = await model(await formatter.format(history), tools=TOOLS)
        (tool_use,) = [b for b in res.content if b["type"] == "tool_use"]
        history.append(Msg("assistant", res.content, "assistant"))
        result = {"type": "tool_result", "id": tool_use["id"], "name": tool_use["name"]}
        history.append(Msg("system", [{**result, "output": "Sunny, 21 C"}], "system"))
        final = await model(await formatter.format(history), tools=TOOLS)
        return tool_use, final

    tool_use, final = asyncio.run(main())
    assert tool_use["name"] == "get_weather" and tool_use["input"] == {"city": "Paris"}
    assert final.content == [{"type": "text", "text": "It is sunny in Paris."}]
    assert "Sunny, 21 C" in str(server.requests[-1].json)
    server.clear()
