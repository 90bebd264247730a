"""0.x model-layer compatibility (issue 12, items 4-6, 8-11, 13, 14): what 0.1.x code read from
the wrappers, their ``format()``, the token and formatter modules, usage, the chat log and
``serialize``; on the wire through the real SDKs against the loopback emulators."""

from __future__ import annotations

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
