"""Content blocks in ``agentscope_legacy.message`` and what ``Msg`` does with them."""

from __future__ import annotations

import json
import typing

import pytest

from agentscope_legacy.message import (
    BLOCK_CLASSES,
    AudioBlock,
    Base64Source,
    ContentBlock,
    ImageBlock,
    Msg,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    URLSource,
    VideoBlock,
    audio_block,
    base64_source,
    block_type_name,
    image_block,
    text_block,
    thinking_block,
    tool_result_block,
    tool_use_block,
    url_block,
    url_media_type,
    url_source,
    video_block,
)


def every_block() -> list[dict]:
    return [
        text_block("Hello"),
        thinking_block("Let me think.", signature="c2ln"),
        image_block("https://example.com/a.png"),
        audio_block(base64_source("UklGRg==", "audio/wav")),
        video_block(url_source("/data/clip.mp4")),
        tool_use_block("call_1", "get_weather", {"city": "Paris"}),
        tool_result_block("call_1", [text_block("Sunny"), image_block("sun.png")], "get_weather"),
    ]


def test_constructors_build_the_documented_dicts():
    assert text_block("hi") == {"type": "text", "text": "hi"}
    assert thinking_block("t") == {"type": "thinking", "thinking": "t"}
    assert thinking_block("t", "sig") == {"type": "thinking", "thinking": "t", "signature": "sig"}
    assert url_source("https://x/y.png") == {"type": "url", "url": "https://x/y.png"}
    assert base64_source("AAAA", "image/png") == {
        "type": "base64",
        "media_type": "image/png",
        "data": "AAAA",
    }
    assert image_block("a.png") == {"type": "image", "source": {"type": "url", "url": "a.png"}}
    source = base64_source("AAAA", "audio/mpeg")
    assert audio_block(source) == {"type": "audio", "source": source}
    assert video_block("v.mp4")["source"] == {"type": "url", "url": "v.mp4"}
    assert tool_use_block("c", "f", {"a": 1}) == {
        "type": "tool_use",
        "id": "c",
        "name": "f",
        "input": {"a": 1},
    }
    assert tool_use_block("c", "f")["input"] == {}
    assert tool_result_block("c", "out") == {"type": "tool_result", "id": "c", "output": "out"}
    assert tool_result_block("c", "out", "f")["name"] == "f"


def test_typeddicts_construct_the_same_dicts_and_know_their_keys():
    assert TextBlock(type="text", text="hi") == text_block("hi")
    assert ImageBlock(type="image", source=URLSource(type="url", url="a.png")) == image_block(
        "a.png"
    )
    assert Base64Source(type="base64", media_type="image/png", data="AA") == base64_source(
        "AA", "image/png"
    )
    assert ThinkingBlock.__required_keys__ == {"type", "thinking"}
    assert ThinkingBlock.__optional_keys__ == {"signature"}
    assert ToolUseBlock.__required_keys__ == {"type", "id", "name", "input"}
    assert ToolResultBlock.__required_keys__ == {"type", "id", "output"}
    assert ToolResultBlock.__optional_keys__ == {"name"}
    for cls in (ImageBlock, AudioBlock, VideoBlock):
        assert cls.__required_keys__ == {"type", "source"}


def test_every_block_class_is_a_type_named_by_its_type_field():
    assert set(BLOCK_CLASSES) == {
        "text",
        "thinking",
        "image",
        "audio",
        "video",
        "data",
        "tool_use",
        "tool_result",
    }
    for name, cls in BLOCK_CLASSES.items():
        assert isinstance(cls, type)
        assert typing.get_type_hints(cls)["type"] == typing.Literal[name]
        assert block_type_name(cls) == name
        assert block_type_name(name) == name
    assert set(typing.get_args(ContentBlock)) == set(BLOCK_CLASSES.values())
    with pytest.raises(TypeError, match="not a content block type"):
        block_type_name(dict)


def test_msg_takes_a_string_or_a_list_of_blocks():
    assert Msg("a", "hi", "user").content == "hi"
    blocks = every_block()
    assert Msg("a", blocks, "assistant").content == blocks
    assert Msg("a", None, "user").content is None
    with pytest.raises(TypeError, match="a str or a list of content blocks"):
        Msg("a", 42, "user")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"content\[1\] must be a content block"):
        Msg("a", [text_block("ok"), "not a block"], "user")  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"content\[0\]"):
        Msg("a", [{"text": "no type"}], "user")


def test_get_text_content():
    assert Msg("a", "plain", "user").get_text_content() == "plain"
    msg = Msg("a", [text_block("one"), image_block("x.png"), text_block("two")], "user")
    assert msg.get_text_content() == "one\ntwo"
    assert Msg("a", [image_block("x.png")], "user").get_text_content() is None
    assert Msg("a", None, "user").get_text_content() is None
    assert Msg("a", [], "user").get_text_content() is None


def test_get_content_blocks_by_name_class_block_type_or_type():
    msg = Msg("a", every_block(), "assistant")
    images = [image_block("https://example.com/a.png")]
    assert msg.get_content_blocks("image") == images
    assert msg.get_content_blocks(ImageBlock) == images
    assert msg.get_content_blocks(block_type="image") == images
    assert msg.get_content_blocks(type="image") == images  # 0.1.x's parameter name
    assert msg.get_content_blocks(type=ImageBlock) == images
    assert msg.get_content_blocks() == every_block()
    assert msg.get_content_blocks("video")[0]["source"]["url"] == "/data/clip.mp4"
    assert msg.get_content_blocks(ToolResultBlock)[0]["name"] == "get_weather"
    assert msg.get_content_blocks("file") == []
    with pytest.raises(TypeError, match="once"):
        msg.get_content_blocks("image", type="image")
    plain = Msg("a", "hi", "user")
    assert plain.get_content_blocks() == [{"type": "text", "text": "hi"}]
    assert plain.get_content_blocks(TextBlock) == [{"type": "text", "text": "hi"}]
    assert plain.get_content_blocks("image") == []
    assert Msg("a", None, "user").get_content_blocks() == []
    assert msg.has_content_blocks("tool_use") and not plain.has_content_blocks(ToolUseBlock)
    assert plain.has_content_blocks()


def test_get_content_blocks_returns_a_new_list():
    msg = Msg("a", [text_block("x")], "user")
    msg.get_content_blocks().append(text_block("y"))
    assert msg.content == [text_block("x")]


def test_json_round_trip_keeps_every_block():
    msg = Msg("Friday", every_block(), "assistant", metadata={"k": [1, 2]})
    data = json.loads(msg.to_json())
    assert data["content"] == every_block()
    again = Msg.from_json(msg.to_json())
    assert again == msg
    assert again.content == every_block() and again.id == msg.id
    assert Msg.from_dict(msg.to_dict()).get_content_blocks(AudioBlock) == [every_block()[3]]


def test_backward_compatible_fields_and_url():
    msg = Msg("user", "look", "user", url=["https://example.com/a.png", "notes.txt"])
    assert msg.urls == ["https://example.com/a.png", "notes.txt"]
    again = Msg.from_dict(msg.to_dict())
    assert again.url == msg.url and again.content == "look"
    assert Msg("u", "x", "user", url="one.png").urls == ["one.png"]


@pytest.mark.parametrize(
    "url, kind",
    [
        ("https://example.com/a.PNG", "image"),
        ("https://example.com/a.jpg?size=2", "image"),
        ("/tmp/b.webp", "image"),
        ("file:///tmp/c.wav", "audio"),
        ("song.mp3", "audio"),
        ("clip.mp4", "video"),
        ("https://example.com/movie.mov#t=3", "video"),
        ("data:image/png;base64,AAAA", "image"),
        ("data:audio/wav;base64,AAAA", "audio"),
        ("notes.txt", None),
        ("https://example.com/page", None),
        ("data:text/plain,hi", None),
    ],
)
def test_url_attachments_become_media_blocks(url, kind):
    assert url_media_type(url) == kind
    block = url_block(url)
    if kind is None:
        assert block is None
    else:
        assert block == {"type": kind, "source": {"type": "url", "url": url}}
