"""0.x model-layer compatibility (issue 12, items 4-6, 8-11, 13, 14): what 0.1.x code read from
the wrappers, their ``format()``, the token and formatter modules, usage, the chat log and
``serialize``; on the wire through the real SDKs against the loopback emulators."""

from __future__ import annotations

import importlib
import json
import re
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

import agentscope_legacy
from agentscope_legacy.errors import ConfigError
from agentscope_legacy.message import Msg
from agentscope_legacy.models import load_model_by_config_name, read_model_configs
from agentscope_legacy.models.openai_compatible import YiChatWrapper
from tests import chat_kit as kit
from tests.chat_kit import MESSAGES, load
from tests.emulators import embedding_vector, gemini_fixtures
from tests.emulators import ollama as ollama_emulator
from tests.emulators import zhipuai as zhipuai_emulator

zhipuai_server = zhipuai_emulator.zhipuai_server
ollama_server = ollama_emulator.ollama_server
gemini_server = gemini_fixtures.gemini_server


def _compat_module(name: str) -> Any:
    """A 0.x module of ``agentscope_legacy.compat``, without leaving the alias installed."""
    module = importlib.import_module(f"agentscope_legacy.compat.{name}")
    importlib.import_module("agentscope_legacy.compat").uninstall()
    return module


formatters = _compat_module("_formatters")
tokens_module = _compat_module("_tokens")
token_utils = _compat_module("_token_utils")
serialize = _compat_module("_serialize")


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


# -- item 8: agentscope.formatters, .tokens, .utils.token_utils -----------------------------------
def _png(path: Path, width: int, height: int) -> str:
    """A file with a PNG header of the given size (all a size reader looks at)."""
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    head = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr
    path.write_bytes(head + struct.pack(">I", zlib.crc32(ihdr)))
    return str(path)


def _image_message(url: str, detail: str = "auto") -> list[dict[str, Any]]:
    return [
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": url, "detail": detail}}],
        }
    ]


# OpenAI's published examples (vision guide, "Calculating costs"): 85 tokens base plus 170 per
# 512-px tile after fitting in 2048x2048 and scaling the short side to 768; low detail is 85.
@pytest.mark.parametrize(
    ("size", "detail", "tokens"),
    [((1024, 1024), "high", 765), ((2048, 4096), "high", 1105), ((4096, 8192), "low", 85),
     ((1024, 1024), "auto", 765), ((512, 512), "auto", 255), ((100, 100), "high", 255)],
)  # fmt: skip
def test_openai_image_tokens_follow_the_published_formula(tmp_path, size, detail, tokens):
    empty = [{"role": "user", "content": []}]
    url = _png(tmp_path / "i.png", *size)
    image_only = tokens_module.count("gpt-4o", _image_message(url, detail))
    assert image_only - tokens_module.count("gpt-4o", empty) == tokens


def test_a_web_image_at_auto_costs_765_where_0_1_6_counted_170():
    # The size of a web image is unknown here: OpenAI's rule for the assumed 1024x1024 gives
    # 765 (85 + 4 tiles); 0.1.6 added a flat 170, which the published formula never gives.
    text = {"type": "text", "text": "What is in this image?"}
    image = {"type": "image_url", "image_url": {"url": "https://x.org/a.png", "detail": "auto"}}
    with_image = [{"role": "user", "content": [text, image]}]
    without = [{"role": "user", "content": [text]}]
    assert tokens_module.count("gpt-4o", with_image) - tokens_module.count("gpt-4o", without) == 765


def test_tokens_dispatch_register_and_errors():
    messages = [{"role": "user", "content": "hi"}]
    assert tokens_module.count("gpt-4o", messages) == 3 + 3 + 1 + 1  # priming, message, 2 words
    tokens_module.register_model(["my-model"], lambda name, msgs: 42)
    assert tokens_module.count("my-model", messages) == 42
    assert tokens_module.supported_models()[-1] == "my-model"
    assert {"gpt-.*", "gemini-.*"} <= set(tokens_module.supported_models())
    with pytest.raises(ValueError, match="register_model"):
        tokens_module.count("qwen-max", messages)
    with pytest.raises(TypeError):
        tokens_module.count("gpt-4o", "hi")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        tokens_module.count("gpt-4o", ["hi"])  # type: ignore[list-item]


def test_token_utils_as_0x():
    assert token_utils.get_openai_max_length("gpt-4") == 8192
    with pytest.raises(KeyError, match="OPENAI_MAX_LENGTH"):
        token_utils.get_openai_max_length("gpt-4o")
    assert token_utils.count_openai_token([{"role": "user", "content": "hi"}], "gpt-4") == 8
    assert token_utils.count_openai_token("hello world", "davinci") == 2
    with pytest.raises(NotImplementedError):
        token_utils.count_openai_token("hi", "llama3")


def _conversation() -> list[Msg]:
    return [
        Msg("system", "Be terse.", "system"),
        Msg("Alice", "Hi", "user"),
        Msg("Bob", "Hey", "assistant"),
        Msg("Carol", "Yo", "assistant"),
    ]


@pytest.mark.parametrize(
    ("formatter", "config"),
    [
        ("OpenAIFormatter", {"model_type": "openai_chat", "model_name": "gpt-4o"}),
        ("CommonFormatter", {"model_type": "zhipuai_chat", "model_name": "glm-4"}),
        ("DashScopeFormatter", {"model_type": "dashscope_chat", "model_name": "qwen-max"}),
        ("GeminiFormatter", {"model_type": "gemini_chat", "model_name": "gemini-pro"}),
        ("AnthropicFormatter", {"model_type": "anthropic_chat", "model_name": "claude-3-5-x"}),
    ],
)
def test_formatters_give_what_their_wrappers_format(formatter, config):
    cls = getattr(formatters, formatter)
    model = load({"config_name": "f", "api_key": "k", **config})
    msgs = _conversation()
    assert cls.format_multi_agent(*msgs) == model.format(*msgs)
    assert cls.format_chat(msgs[:2]) == model.format(msgs[:2], multi_agent_mode=False)
    assert cls.format_auto(msgs[:2]) == cls.format_chat(msgs[:2])  # two user/assistant messages
    assert cls.format_auto(msgs) == cls.format_multi_agent(msgs)


def test_formatter_base_rules():
    assert formatters.OpenAIFormatter.is_supported_model("gpt-4o")
    assert not formatters.OpenAIFormatter.is_supported_model("llama3")
    assert formatters.DashScopeFormatter.is_supported_model("qwen-max")
    with pytest.raises(TypeError, match="Msg object or a list"):
        formatters.CommonFormatter.format_chat("hi")
    with pytest.raises(ValueError, match="At least one message"):
        formatters.CommonFormatter.format_multi_agent()
    # Not alternating, or not ending with the user: the multi-agent fallback.
    msgs = [Msg("a", "x", "user"), Msg("b", "y", "user")]
    assert formatters.CommonFormatter.format_chat(msgs, require_alternative=True) == [
        {"role": "user", "content": "## Conversation History\na: x\nb: y"}
    ]
    schema = {"type": "function", "function": {"name": "w", "description": "d",
                                               "parameters": {"type": "object"}}}  # fmt: skip
    assert formatters.OpenAIFormatter.format_tools_json_schemas({"w": schema}) == [schema]
    assert formatters.AnthropicFormatter.format_tools_json_schemas({"w": schema}) == [
        {"name": "w", "description": "d", "input_schema": {"type": "object"}}
    ]
    with pytest.raises(ValueError, match="Invalid schema"):
        formatters.OpenAIFormatter.format_tools_json_schemas({"w": {"name": "w"}})


# -- item 9: print_llm_usage() and the monitor as in 0.1.x -----------------------------------------
def test_print_llm_usage_has_0_1_x_shape(openai_server, tmp_path):
    agentscope_legacy.init(save_dir=str(tmp_path), save_code=False)
    openai_server.set_reply(text="Hello!", prompt_tokens=5, completion_tokens=2)
    chat = load(kit.chat_config(openai_server, "openai_chat", model_name="gpt-4o-mini"))
    chat(MESSAGES)
    chat(MESSAGES)
    image = load(kit.chat_config(openai_server, "openai_chat", config_name="img",
                                 model_type="openai_dall_e", model_name="dall-e-3"))  # fmt: skip
    image("a red pixel", n=2, size="512x512")
    monitor = agentscope_legacy.get_runtime().monitor
    monitor.update_text_and_embedding_tokens("custom", 3, 4, total_tokens=7)  # a 0.x wrapper
    with pytest.raises(ValueError):
        monitor.update_text_and_embedding_tokens("custom", 3, 4, total_tokens=8)
    usage = agentscope_legacy.print_llm_usage()
    assert usage == {
        "text_and_embedding": [
            {"model_name": "custom", "times": 1, "prompt_tokens": 3, "completion_tokens": 4,
             "total_tokens": 7},
            {"model_name": "gpt-4o-mini", "times": 2, "prompt_tokens": 10,
             "completion_tokens": 4, "total_tokens": 14},
        ],
        "image": [
            {"model_name": "dall-e-3", "resolution": "standard-512x512", "times": 1,
             "image_count": 2},
        ],
    }  # fmt: skip
    assert monitor.path_db == str(agentscope_legacy.get_runtime().run_dir / "agentscope.db")
    manager = _compat_module("_manager").MonitorManager.get_instance()  # 0.1.x's access
    assert manager is monitor and manager.print_llm_usage() == usage


# -- item 13: agentscope.serialize --------------------------------------------------------------
def test_serialize_writes_0_1_6s_msg_format_and_reads_it_back():
    msg = Msg("Alice", "Hi", "user", metadata={"k": 1})
    data = json.loads(serialize.serialize(msg))
    assert data == {
        "__module__": "agentscope.message.msg", "__name__": "Msg", "id": msg.id,
        "name": "Alice", "role": "user", "content": "Hi", "metadata": {"k": 1},
        "timestamp": msg.timestamp,
    }  # fmt: skip
    back = serialize.deserialize(serialize.serialize({"history": [msg, msg], "n": 2}))
    assert back == {"history": [msg, msg], "n": 2}
    assert back["history"][0].id == msg.id and back["history"][0].timestamp == msg.timestamp


def test_serialize_turns_urls_into_blocks_and_reads_0_1_0s_url_field():
    msg = Msg("bot", "look", "assistant", url=["https://x.org/a.png", "/tmp/b.wav"])
    data = json.loads(serialize.serialize(msg))
    assert data["content"] == [
        {"type": "text", "text": "look"},
        {"type": "image", "url": "https://x.org/a.png"},
        {"type": "audio", "url": "/tmp/b.wav"},
    ]
    again = serialize.deserialize(serialize.serialize(msg))
    assert again.get_text_content() == "look" and len(again.get_content_blocks("image")) == 1
    old = {"__module__": "agentscope.message", "__name__": "Msg", "id": "i1", "name": "a",
           "content": "x", "role": "user", "url": "https://x.org/c.jpg", "metadata": None,
           "timestamp": "2024-09-06 10:00:00"}  # fmt: skip
    restored = serialize.deserialize(json.dumps(old))
    assert (restored.id, restored.urls, restored.timestamp) == (
        "i1", ["https://x.org/c.jpg"], "2024-09-06 10:00:00"
    )  # fmt: skip


def test_deserialize_never_imports_what_the_data_names():
    data = {"__module__": "os", "__name__": "system", "x": 1}
    assert serialize.deserialize(json.dumps(data)) == data
    assert not serialize.is_serializable(object())
    assert serialize.is_serializable([Msg("a", "b", "user")])


# -- item 11: yi_chat and the older model types -----------------------------------------------
def test_yi_chat_is_an_openai_compatible_preset_with_0_1_x_defaults(openai_server, monkeypatch):
    assert YiChatWrapper.default_base_url == "https://api.lingyiwanwu.com/v1"
    monkeypatch.setenv("YI_API_KEY", "yi-secret")
    config = {"config_name": "yi", "model_type": "yi_chat", "model_name": "yi-large",
              "base_url": openai_server.base_url + "/v1", "max_tokens": 64}  # fmt: skip
    model = load(config)
    openai_server.set_reply(text="Yo")
    assert model(MESSAGES).text == "Yo"
    request = openai_server.requests[-1]
    assert request.headers["authorization"] == "Bearer yi-secret"
    body = request.json
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.3, 0.9, 64)
    model(MESSAGES, temperature=1.0)  # call kwargs win, as generate_args do
    assert openai_server.requests[-1].json["temperature"] == 1.0
    with pytest.raises(ConfigError, match="top_p"):
        load({**config, "config_name": "yi2", "top_p": 1.5})


@pytest.mark.parametrize(
    ("old", "replacement"),
    [("openai", "openai_chat"), ("tongyi_chat", "dashscope_chat"), ("post_api", "post_api_chat"),
     ("post_api_dall_e", "openai_dall_e"), ("post_api_dalle", "openai_dall_e")],
)  # fmt: skip
def test_older_model_types_are_config_errors_naming_their_replacement(old, replacement):
    with pytest.raises(ConfigError, match=f"replaced by '{replacement}'"):
        read_model_configs([{"config_name": "old", "model_type": old, "model_name": "m"}])
        load_model_by_config_name("old")


# -- item 10: logger.chat and the logging.chat lines ------------------------------------------
def test_logger_chat_prints_and_saves_0_1_x_lines(tmp_path, capsys):
    from loguru import logger

    agentscope_legacy.init(save_dir=str(tmp_path), save_code=False)
    msg = Msg("Ivy", "see", "assistant", url=["https://x.org/a.png", "b.mp3"], metadata={"k": 1})
    logger.chat(msg)
    logger.chat(Msg("Bob", "plain", "user"))
    assert "Ivy: see" in capsys.readouterr().out
    run_dir = agentscope_legacy.get_runtime().run_dir
    first, second = (json.loads(line) for line in (run_dir / "logging.chat").open())
    assert first == {
        "__module__": "agentscope.message.msg", "__name__": "Msg", "id": msg.id,
        "name": "Ivy", "role": "assistant", "metadata": {"k": 1}, "timestamp": msg.timestamp,
        "content": [{"type": "text", "text": "see"},
                    {"type": "image", "url": "https://x.org/a.png"},
                    {"type": "audio", "url": "b.mp3"}],
    }  # fmt: skip
    assert second["content"] == "plain" and "url" not in second
    assert serialize.deserialize(json.dumps(first)).get_content_blocks("audio")
    with pytest.raises(TypeError):
        logger.chat("not a Msg")


# -- item 5: 0.x's keyword names of the input ---------------------------------------------------
def test_ollama_embedding_takes_prompt(ollama_server):
    fields = {"model_type": "ollama_embedding", "model_name": "nomic-embed-text"}
    model = load(kit.chat_config(ollama_server, "ollama_chat", config_name="emb", **fields))
    response = model(prompt="hello world")
    assert response.embedding == [pytest.approx(embedding_vector("hello world"))]
    assert ollama_server.requests[-1].json["input"] == "hello world"
    with pytest.raises(TypeError, match="once"):
        model("a", prompt="b")


def test_gemini_takes_contents_and_content(gemini_server):
    chat = load(kit.chat_config(gemini_server, "gemini_chat"))
    gemini_server.set_reply(text="Hi!")
    assert chat(contents=[{"role": "user", "parts": [{"text": "hello"}]}]).text == "Hi!"
    fields = {"model_type": "gemini_embedding", "model_name": "gemini-embedding-001"}
    config = kit.chat_config(gemini_server, "gemini_chat", config_name="emb", **fields)
    response = load(config)(content="hello world", task_type="retrieval_query")
    assert response.embedding[0] == pytest.approx(embedding_vector("hello world"), rel=1e-6)
    (item,) = gemini_server.requests[-1].json["requests"]
    assert (item["content"]["parts"][0]["text"], item["taskType"]) == (
        "hello world", "RETRIEVAL_QUERY"
    )  # fmt: skip


def test_post_api_takes_input_(openai_server):
    base = {"api_url": openai_server.base_url + "/v1/chat/completions", "max_retries": 0}
    chat = load({"config_name": "pc", "model_type": "post_api_chat", **base,
                 "json_args": {"model": "m"}})  # fmt: skip
    openai_server.set_reply(text="ok")
    assert chat(input_=[{"role": "user", "content": "hi"}]).text == "ok"
    assert openai_server.requests[-1].json["messages"] == [{"role": "user", "content": "hi"}]
    embed = load({"config_name": "pe", "model_type": "post_api_embedding", **base,
                  "api_url": openai_server.base_url + "/v1/embeddings",
                  "json_args": {"model": "e", "encoding_format": "float"}})  # fmt: skip
    assert len(embed(input_=["a", "b"]).embedding) == 2


# -- item 14: 0.1.x's invocation files, when asked ------------------------------------------------
def test_save_api_invoke_0x_writes_one_file_per_call(openai_server, tmp_path):
    agentscope_legacy.init(save_dir=str(tmp_path), save_code=False, save_api_invoke="0.x")
    config = kit.chat_config(openai_server, "openai_chat", model_name="gpt-4o-mini")
    openai_server.set_reply(text="Hello!", prompt_tokens=5, completion_tokens=2)
    model = load(config)
    model(MESSAGES)
    model(MESSAGES, stream=True).text  # noqa: B018  (drains the stream)
    run_dir = agentscope_legacy.get_runtime().run_dir
    files = sorted((run_dir / "invoke").iterdir())
    assert len(files) == 2
    assert all(re.fullmatch(r"model_OpenAIChatWrapper_\d{8}-\d{6}_[0-9a-f]{6}\.json", f.name)
               for f in files)  # fmt: skip
    records = [json.loads(f.read_text()) for f in files]
    assert {r["model_class"] for r in records} == {"OpenAIChatWrapper"}
    assert all(r["arguments"]["messages"] == MESSAGES for r in records)
    assert all(r["usage"] == {"type": "chat", "usage": {"prompt_tokens": 5,
               "completion_tokens": 2, "total_tokens": 7}} for r in records)  # fmt: skip
    plain = next(r for r in records if "choices" in r["response"])
    assert plain["response"]["choices"][0]["message"]["content"] == "Hello!"
    assert all(config["api_key"] not in f.read_text() for f in files)
    assert (run_dir / "invocations.jsonl").is_file()  # the project's own record stays


def test_save_api_invoke_true_keeps_the_single_jsonl_file(openai_server, tmp_path):
    agentscope_legacy.init(save_dir=str(tmp_path), save_code=False, save_api_invoke=True)
    load(kit.chat_config(openai_server, "openai_chat"))(MESSAGES)
    run_dir = agentscope_legacy.get_runtime().run_dir
    assert not (run_dir / "invoke").exists()
    assert len((run_dir / "invocations.jsonl").read_text().splitlines()) == 1
    with pytest.raises(ConfigError, match="save_api_invoke"):
        agentscope_legacy.init(save_dir=str(tmp_path), save_code=False, save_api_invoke="yes")
