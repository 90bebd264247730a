"""Formatters: the documented classes and attributes, and what each does with unusual input."""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import os
import tempfile
from typing import Any

import pytest
from loguru import logger

from agentscope_legacy import formatter as formatter_module
from agentscope_legacy.formatter import (
    DEFAULT_CONVERSATION_HISTORY_PROMPT,
    AnthropicChatFormatter,
    AnthropicMultiAgentFormatter,
    DashScopeChatFormatter,
    DashScopeMultiAgentFormatter,
    DeepSeekChatFormatter,
    DeepSeekMultiAgentFormatter,
    FormatterBase,
    GeminiChatFormatter,
    GeminiMultiAgentFormatter,
    OllamaChatFormatter,
    OllamaMultiAgentFormatter,
    OpenAIChatFormatter,
    OpenAIMultiAgentFormatter,
    TruncatedFormatterBase,
)
from agentscope_legacy.formatter._base import split_runs, truncation_groups
from agentscope_legacy.message import (
    AudioBlock,
    ImageBlock,
    Msg,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    VideoBlock,
    audio_block,
    base64_source,
    data_block,
    image_block,
    text_block,
    thinking_block,
    tool_result_block,
    tool_use_block,
    video_block,
)
from agentscope_legacy.models import _format
from tests.test_formatter_golden import DATA, FORMATTERS, PIXEL, PIXEL_B64, WAV_B64

PROMPT = (
    "# Conversation History\n"
    "The content between <history></history> tags contains your conversation history\n"
)
FULL = [TextBlock, ImageBlock, AudioBlock, ToolUseBlock, ToolResultBlock]
NO_AUDIO = [TextBlock, ImageBlock, ToolUseBlock, ToolResultBlock]
TEXT_ONLY = [TextBlock, ToolUseBlock, ToolResultBlock]
GEMINI = [TextBlock, ImageBlock, VideoBlock, AudioBlock, ToolUseBlock, ToolResultBlock]

# class -> (support_tools_api, support_multiagent, support_vision, supported_blocks), as documented
DOCUMENTED = {
    DashScopeChatFormatter: (True, False, True, FULL),
    DashScopeMultiAgentFormatter: (True, True, True, FULL),
    OpenAIChatFormatter: (True, True, True, FULL),
    OpenAIMultiAgentFormatter: (True, True, True, FULL),
    AnthropicChatFormatter: (True, False, True, NO_AUDIO),
    AnthropicMultiAgentFormatter: (True, True, True, NO_AUDIO),
    GeminiChatFormatter: (True, False, True, GEMINI),
    GeminiMultiAgentFormatter: (True, True, True, GEMINI),
    OllamaChatFormatter: (True, False, True, NO_AUDIO),
    OllamaMultiAgentFormatter: (True, True, True, NO_AUDIO),
    DeepSeekChatFormatter: (True, False, False, TEXT_ONLY),
    DeepSeekMultiAgentFormatter: (True, True, False, TEXT_ONLY),
}
MULTI_AGENT = [cls for cls in DOCUMENTED if "MultiAgent" in cls.__name__]


def run(formatter: Any, msgs: list[Msg], **kwargs: Any) -> list[dict[str, Any]]:
    return asyncio.run(formatter.format(msgs, **kwargs))


@pytest.fixture
def log():
    """Loguru records emitted during the test."""
    records: list[Any] = []
    sink = logger.add(lambda message: records.append(message.record), level="DEBUG")
    yield records
    logger.remove(sink)


def warnings(records: list[Any]) -> list[str]:
    return [r["message"] for r in records if r["level"].name == "WARNING"]


# -- the documented API -----------------------------------------------------------------------
def test_the_package_exports_every_documented_formatter():
    for cls in DOCUMENTED:
        assert getattr(formatter_module, cls.__name__) is cls
        assert issubclass(cls, TruncatedFormatterBase)
    assert issubclass(TruncatedFormatterBase, FormatterBase)
    assert set(FORMATTERS) == set(DOCUMENTED)


@pytest.mark.parametrize("cls", list(DOCUMENTED), ids=lambda c: c.__name__)
def test_documented_class_attributes(cls):
    tools, multiagent, vision, blocks = DOCUMENTED[cls]
    assert cls.support_tools_api is tools
    assert cls.support_multiagent is multiagent
    assert cls.support_vision is vision
    assert cls.supported_blocks == blocks


def test_gemini_supported_extensions():
    expected = {
        "audio": ["mp3", "wav", "aiff", "aac", "ogg", "flac"],
        "image": ["png", "jpeg", "webp", "heic", "heif"],
        "video": ["mp4", "mpeg", "mov", "avi", "x-flv", "mpg", "webm", "wmv", "3gpp"],
    }
    assert GeminiChatFormatter.supported_extensions == expected
    assert GeminiMultiAgentFormatter.supported_extensions == expected


@pytest.mark.parametrize("cls", MULTI_AGENT, ids=lambda c: c.__name__)
def test_multi_agent_constructor_and_default_prompt(cls):
    assert DEFAULT_CONVERSATION_HISTORY_PROMPT == PROMPT
    parameters = inspect.signature(cls.__init__).parameters
    assert list(parameters)[1:] == ["conversation_history_prompt", "token_counter", "max_tokens"]
    assert parameters["conversation_history_prompt"].default == PROMPT
    formatter = cls()
    assert formatter.conversation_history_prompt == PROMPT
    assert formatter.token_counter is None and formatter.max_tokens is None


@pytest.mark.parametrize("cls", list(DOCUMENTED), ids=lambda c: c.__name__)
def test_format_is_async_and_checks_its_input(cls):
    formatter = cls()
    assert inspect.iscoroutinefunction(formatter.format)
    assert inspect.iscoroutinefunction(formatter._format)
    assert run(formatter, []) == []
    with pytest.raises(TypeError, match="list of Msg"):
        run(formatter, Msg("a", "b", "user"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"msgs\[1\] is a dict"):
        run(formatter, [Msg("a", "b", "user"), {"role": "user", "content": "x"}])


def test_assert_list_of_msgs_is_static():
    FormatterBase.assert_list_of_msgs([Msg("a", "b", "user")])
    with pytest.raises(TypeError):
        FormatterBase.assert_list_of_msgs(("not", "a list"))  # type: ignore[arg-type]


@pytest.mark.parametrize("max_tokens", [0, -3, 2.5, True, "100"])
def test_max_tokens_must_be_a_positive_integer(max_tokens):
    with pytest.raises(ValueError, match="max_tokens"):
        OpenAIChatFormatter(max_tokens=max_tokens)


def test_a_subclass_must_implement_the_hooks():
    class Bare(TruncatedFormatterBase):
        pass

    with pytest.raises(NotImplementedError):
        run(Bare(), [Msg("a", "hi", "user")])


# -- convert_tool_result_to_string ------------------------------------------------------------
def test_convert_tool_result_to_string():
    convert = FormatterBase.convert_tool_result_to_string
    assert convert("plain") == "plain"
    assert convert([text_block("a"), text_block("b")]) == "a\nb"
    assert (
        convert([text_block("chart:"), image_block("https://example.com/c.png")])
        == "chart:\nThe returned image can be found at: https://example.com/c.png"
    )
    assert (
        convert([audio_block("/data/a.wav")]) == "The returned audio can be found at: /data/a.wav"
    )
    assert convert({"temp": 21}) == '{"temp": 21}'
    assert convert(None) == ""


def test_convert_tool_result_saves_base64_data_to_a_file():
    text = FormatterBase.convert_tool_result_to_string(
        [image_block(base64_source(PIXEL_B64, "image/png"))]
    )
    prefix = "The returned image can be found at: "
    assert text.startswith(prefix)
    path = text[len(prefix) :]
    assert path.startswith(tempfile.gettempdir()) and path.endswith(".png")
    with open(path, "rb") as fh:
        assert fh.read() == base64.b64decode(PIXEL_B64)
    again = FormatterBase.convert_tool_result_to_string(
        [image_block(base64_source(PIXEL_B64, "image/png"))]
    )
    assert again == text  # the same data, the same file


def test_the_legacy_format_uses_the_same_conversions():
    output = [text_block("14:05"), image_block("https://example.com/clock.png")]
    msgs = [
        Msg("Bob", [tool_use_block("c1", "get_time", {"tz": "UTC"})], "assistant"),
        Msg("system", [tool_result_block("c1", output, "get_time")], "system"),
    ]
    legacy = _format.openai_messages(msgs)
    new = run(OpenAIChatFormatter(), msgs)
    assert legacy[0]["tool_calls"] == new[0]["tool_calls"]
    assert legacy[1]["content"] == new[1]["content"]
    assert new[1]["content"] == FormatterBase.convert_tool_result_to_string(output)
    assert _format._tool_output_text is _format.tool_output_text


# -- conversation structure -------------------------------------------------------------------
def call(i: int, *ids: str) -> Msg:
    return Msg("Bob", [tool_use_block(c, "f") for c in ids] or [text_block(f"m{i}")], "assistant")


def result(*ids: str) -> Msg:
    return Msg("system", [tool_result_block(c, "ok") for c in ids], "system")


def test_split_runs_alternates_agent_messages_and_tool_sequences():
    msgs = [Msg("A", "a", "user"), call(1, "c1"), result("c1"), Msg("B", "b", "user")]
    assert [(tool, len(run)) for tool, run in split_runs(msgs)] == [
        (False, 1),
        (True, 2),
        (False, 1),
    ]


def test_truncation_groups_keep_calls_with_their_results():
    msgs = [
        Msg("system", "prompt", "system"),
        Msg("A", "a", "user"),  # 1
        call(2, "c1", "c2"),  # 2
        result("c1"),  # 3
        result("c2"),  # 4
        Msg("A", "b", "user"),  # 5
        call(6, "c3"),  # 6
        Msg("A", "meanwhile", "user"),  # 7
        result("c3"),  # 8
        result("orphan"),  # 9
    ]
    assert truncation_groups(msgs) == ([0], [[1], [2, 3, 4], [5], [6, 8], [7], [9]])
    # A result for calls of two groups merges them.
    msgs = [call(0, "a"), call(1, "b"), Msg("A", "x", "user"), result("a", "b")]
    assert truncation_groups(msgs) == ([], [[0, 1, 3], [2]])
    # A tool result sent as a system message is not the system prompt.
    assert truncation_groups([result("z"), Msg("A", "x", "user")]) == ([], [[0], [1]])


# -- multi-agent history ----------------------------------------------------------------------
def test_only_the_first_history_section_has_the_prompt():
    msgs = [
        Msg("system", "You are Bob.", "system"),
        Msg("Alice", "one", "user"),
        call(2, "c1"),
        result("c1"),
        Msg("Bob", "two", "assistant"),
        call(5, "c2"),
        result("c2"),
        Msg("Carol", "three", "user"),
    ]
    out = run(DeepSeekMultiAgentFormatter(conversation_history_prompt="PROMPT\n"), msgs)
    histories = [m["content"] for m in out if m["role"] == "user"]
    assert histories == [
        "PROMPT\n<history>\nAlice: one\n</history>",
        "<history>\nBob: two\n</history>",
        "<history>\nCarol: three\n</history>",
    ]
    assert [m["role"] for m in out] == [
        "system",
        "user",
        "assistant",
        "tool",
        "user",
        "assistant",
        "tool",
        "user",
    ]


def test_a_conversation_may_start_with_tools_and_have_no_system_prompt():
    msgs = [call(0, "c1"), result("c1"), Msg("Alice", "hi", "user")]
    out = run(OpenAIMultiAgentFormatter(), msgs)
    assert [m["role"] for m in out] == ["assistant", "tool", "user"]
    assert out[2]["content"] == [
        {"type": "text", "text": PROMPT + "<history>\nAlice: hi\n</history>"}
    ]


def test_a_history_run_with_nothing_to_show_does_not_use_up_the_prompt():
    msgs = [Msg("Bob", [thinking_block("hmm")], "assistant"), call(1, "c"), result("c")]
    msgs.append(Msg("Alice", "hi", "user"))
    out = run(DashScopeMultiAgentFormatter(), msgs)
    assert out[-1]["content"] == [{"text": PROMPT + "<history>\nAlice: hi\n</history>"}]


# -- dropped blocks ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cls, block, kind",
    [
        (OpenAIChatFormatter, video_block("https://example.com/v.mp4"), "video"),
        (DashScopeChatFormatter, data_block("https://example.com/a.pdf"), "data"),
        (AnthropicChatFormatter, audio_block("https://example.com/a.wav"), "audio"),
        (OllamaChatFormatter, audio_block("https://example.com/a.wav"), "audio"),
        (DeepSeekChatFormatter, image_block("https://example.com/a.png"), "image"),
        (DeepSeekMultiAgentFormatter, image_block("https://example.com/a.png"), "image"),
    ],
)
def test_unsupported_blocks_are_dropped_with_a_warning(cls, block, kind, log):
    out = run(cls(), [Msg("Alice", [text_block("see"), block], "user")])
    assert kind not in json.dumps(out).replace('"type": "text"', "")
    assert any(f"does not support {kind} blocks" in w and "Alice" in w for w in warnings(log))


@pytest.mark.parametrize("cls", list(DOCUMENTED), ids=lambda c: c.__name__)
def test_unsigned_thinking_is_never_sent_nor_warned(cls, log):
    msgs = [Msg("Bob", [thinking_block("secret plan"), text_block("hello")], "assistant")]
    assert "secret plan" not in json.dumps(run(cls(), msgs))
    assert warnings(log) == []


def test_anthropic_sends_signed_thinking_back_in_assistant_turns_only():
    signed = thinking_block("plan", signature="sig")
    msgs = [
        Msg("Bob", [signed, text_block("hi")], "assistant"),
        Msg("Alice", [signed, text_block("hello")], "user"),
    ]
    out = run(AnthropicChatFormatter(), msgs)
    assert out[0]["content"][0] == {"type": "thinking", "thinking": "plan", "signature": "sig"}
    assert out[1]["content"] == [{"type": "text", "text": "hello"}]
    assert "plan" not in json.dumps(run(OpenAIChatFormatter(), msgs))


def test_openai_takes_media_in_user_messages_only(log):
    msgs = [Msg("Bob", [text_block("my cat"), image_block("https://x.org/c.png")], "assistant")]
    assert run(OpenAIChatFormatter(), msgs) == [
        {"role": "assistant", "name": "Bob", "content": [{"type": "text", "text": "my cat"}]}
    ]
    assert any("user messages only" in w for w in warnings(log))


def test_openai_audio_needs_wav_or_mp3_data(tmp_path, log):
    mp3 = tmp_path / "a.mp3"
    mp3.write_bytes(b"ID3fake")
    msgs = [
        Msg(
            "user",
            [
                audio_block(str(mp3)),
                audio_block("https://example.com/a.wav"),
                audio_block(base64_source("T2dnUw==", "audio/ogg")),
                audio_block(base64_source(WAV_B64, "audio/x-wav")),
            ],
            "user",
        )
    ]
    content = run(OpenAIChatFormatter(), msgs)[0]["content"]
    assert content == [
        {
            "type": "input_audio",
            "input_audio": {"data": base64.b64encode(b"ID3fake").decode(), "format": "mp3"},
        },
        {"type": "input_audio", "input_audio": {"data": WAV_B64, "format": "wav"}},
    ]
    assert len([w for w in warnings(log) if "wav or mp3" in w]) == 2


def test_openai_names_lose_the_characters_the_api_refuses():
    out = run(OpenAIChatFormatter(), [Msg("Ann Lee <admin>/x", "hi", "user"), Msg("", "x", "user")])
    assert out[0]["name"] == "Ann_Lee_admin_x"
    assert "name" not in out[1]


@pytest.mark.parametrize(
    "cls", [OpenAIChatFormatter, AnthropicChatFormatter], ids=lambda c: c.__name__
)
def test_a_missing_local_image_is_dropped_with_a_warning(cls, log):
    msgs = [Msg("user", [text_block("see"), image_block("/no/such/file.png")], "user")]
    out = run(cls(), msgs)
    assert "file.png" not in json.dumps(out)
    assert any("/no/such/file.png" in w or "existing file" in w for w in warnings(log))


def test_gemini_sends_only_the_documented_extensions(log):
    msgs = [
        Msg(
            "user",
            [
                image_block("https://example.com/a.jpg"),  # image/jpeg: a listed subtype
                image_block("https://example.com/b.gif"),
                audio_block("https://example.com/c.mp3"),
                video_block("https://example.com/d.mkv"),
                image_block(base64_source(PIXEL_B64, "image/png")),
            ],
            "user",
        )
    ]
    parts = run(GeminiChatFormatter(), msgs)[0]["parts"]
    assert parts == [
        {"file_data": {"mime_type": "image/jpeg", "file_uri": "https://example.com/a.jpg"}},
        {"file_data": {"mime_type": "audio/mpeg", "file_uri": "https://example.com/c.mp3"}},
        {"inline_data": {"mime_type": "image/png", "data": PIXEL_B64}},
    ]
    dropped = [w for w in warnings(log) if "Gemini takes" in w]
    assert len(dropped) == 2


def test_ollama_needs_image_bytes(log):
    msgs = [Msg("user", [image_block("https://example.com/a.png"), image_block(PIXEL)], "user")]
    out = run(OllamaChatFormatter(), msgs)
    assert out == [{"role": "user", "content": "", "images": [PIXEL_B64]}]
    assert any("local image files only" in w for w in warnings(log))


def test_url_attachments_are_sent_as_media_blocks(log):
    msg = Msg("user", "see", "user", url=[PIXEL, "https://example.com/notes.txt"])
    out = run(AnthropicChatFormatter(), [msg])
    assert out[0]["content"][1]["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "data": PIXEL_B64,
    }
    assert any("notes.txt" in w and "not an image" in w for w in warnings(log))


@pytest.mark.parametrize(
    "cls, key",
    [
        (DashScopeChatFormatter, "name"),
        (OllamaChatFormatter, "tool_name"),
    ],
)
def test_a_result_without_a_name_takes_its_calls(cls, key):
    msgs = [call(0, "c1"), Msg("system", [{"type": "tool_result", "id": "c1", "output": "ok"}])]
    assert run(cls(), msgs)[-1][key] == "f"


def test_gemini_result_without_a_name_takes_its_calls():
    msgs = [call(0, "c1"), Msg("system", [{"type": "tool_result", "id": "c1", "output": "ok"}])]
    response = run(GeminiChatFormatter(), msgs)[-1]["parts"][0]["function_response"]
    assert response == {"name": "f", "response": {"output": "ok"}}


def test_gemini_sends_a_dict_output_as_the_response():
    msgs = [call(0, "c1"), result("c1")]
    msgs[1].content[0]["output"] = {"temp": 21}
    response = run(GeminiChatFormatter(), msgs)[-1]["parts"][0]["function_response"]
    assert response["response"] == {"temp": 21}


def test_anthropic_merges_parallel_results_and_lifts_nothing_else():
    msgs = [
        Msg("system", "sys", "system"),
        Msg("user", "q", "user"),
        call(2, "a", "b"),
        result("a"),
        result("b"),
        Msg("system", "a later system message", "system"),
    ]
    out = run(AnthropicChatFormatter(), msgs)
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user", "user"]
    assert [b["tool_use_id"] for b in out[3]["content"]] == ["a", "b"]
    assert out[4]["content"] == [{"type": "text", "text": "a later system message"}]


def test_dashscope_keeps_local_files_as_file_uris_for_the_wrapper_to_inline():
    out = run(DashScopeChatFormatter(), [Msg("user", [image_block(PIXEL)], "user")])
    assert out[0]["content"] == [{"image": "file://" + os.path.join(str(DATA), "pixel.png")}]
