"""0.x model-layer compatibility (issue 12, items 4-6, 8-11, 13, 14): what 0.1.x code read from
the wrappers, their ``format()``, the token and formatter modules, usage, the chat log and
``serialize``; on the wire through the real SDKs against the loopback emulators."""

from __future__ import annotations

import pytest

from agentscope_legacy.message import Msg
from tests import chat_kit as kit
from tests.chat_kit import MESSAGES, load
from tests.emulators import zhipuai as zhipuai_emulator

zhipuai_server = zhipuai_emulator.zhipuai_server


# -- item 4: ModelResponse.raw is the reply as a dict ------------------------------------------
def test_openai_chat_raw_is_the_json_dict(openai_server):
    openai_server.set_reply(text="Hello!")
    response = load(kit.chat_config(openai_server, "openai_chat"))(MESSAGES)
    assert response.raw["choices"][0]["message"]["content"] == "Hello!"


def test_openai_embedding_raw_is_a_dict_and_keeps_the_sdk_object(openai_server):
    config = kit.chat_config(
        openai_server, "openai_chat", config_name="emb", model_type="openai_embedding",
        model_name="text-embedding-3-small",
    )  # fmt: skip
    response = load(config)(["a", "b"])
    assert [item["index"] for item in response.raw["data"]] == [0, 1]
    assert response.raw["data"][0]["embedding"] == response.embedding[0]
    assert response.sdk_response.data[0].embedding == response.embedding[0]


def test_zhipuai_chat_and_embedding_raw_are_dicts(zhipuai_server):
    zhipuai_server.set_reply(text="Hi there")
    response = load(kit.chat_config(zhipuai_server, "zhipuai_chat"))(MESSAGES)
    assert response.raw["choices"][0]["message"]["content"] == "Hi there"
    assert response.sdk_response.choices[0].message.content == "Hi there"
    config = kit.chat_config(
        zhipuai_server, "zhipuai_chat", config_name="emb", model_type="zhipuai_embedding",
        model_name="embedding-3",
    )  # fmt: skip
    embedded = load(config)("abc")
    assert embedded.raw["data"][0]["embedding"] == embedded.embedding[0]


# -- item 6: format() as 0.1.6 produced it (spec §7) ---------------------------------------------
def _text(text: str) -> list[dict[str, str]]:
    return [{"type": "text", "text": text}]


@pytest.mark.parametrize("multi_agent_mode", [True, False])
def test_openai_format_gives_text_parts_and_sends_them(openai_server, multi_agent_mode):
    model = load(kit.chat_config(openai_server, "openai_chat", model_name="gpt-4o"))
    tool_use = {"type": "tool_use", "id": "c1", "name": "w", "input": {"city": "P"}}
    tool_result = {"type": "tool_result", "id": "c1", "name": "w", "output": "sunny"}
    prompt = model.format(
        Msg("system", "Be terse.", "system"),
        [Msg("Alice", "Hi", "user"), Msg("Bob", [tool_use], "assistant")],
        Msg("system", [tool_result], "system"),
        None,
        multi_agent_mode=multi_agent_mode,
    )
    assert prompt == [
        {"role": "system", "name": "system", "content": _text("Be terse.")},
        {"role": "user", "name": "Alice", "content": _text("Hi")},
        {
            "role": "assistant", "name": "Bob", "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "w", "arguments": '{"city": "P"}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny", "name": "w"},
    ]  # fmt: skip
    model(prompt)
    assert openai_server.requests[-1].json["messages"] == prompt


def test_openai_compatible_and_post_api_formats_follow_the_model_name(openai_server):
    other = load(kit.chat_config(openai_server, "openai_chat", model_name="llama3"))
    assert other.format(Msg("system", "S", "system"), Msg("u", "x", "user")) == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "## Conversation History\nu: x"},
    ]
    post = load(
        {"config_name": "pa", "model_type": "post_api_chat", "api_url": openai_server.base_url,
         "json_args": {"model": "gpt-4"}}
    )  # fmt: skip
    assert post.format(Msg("u", "x", "user")) == [
        {"role": "user", "name": "u", "content": _text("x")}
    ]
