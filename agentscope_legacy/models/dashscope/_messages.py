"""Messages in DashScope's shape (pure functions): chat and multi-agent history, local media
inlined as data URLs (the SDK would upload them), tool choice."""

from __future__ import annotations

import copy
import os
from typing import Any
from urllib.parse import unquote_plus, urlparse

from loguru import logger

from .._format import (
    HISTORY_HEADER,
    _block_url,
    _extension,
    _tool_output_text,
    openai_tool_call,
    to_data_url,
)

MEDIA_KINDS = ("image", "audio", "video")
_EXTENSIONS = {
    "image": ("png", "jpg", "jpeg", "gif", "webp", "bmp", "tif", "tiff", "heic"),
    "audio": ("mp3", "wav", "m4a", "aac", "flac", "ogg", "amr", "opus"),
    "video": ("mp4", "mov", "avi", "mkv", "webm", "flv"),
}
# Inputs of ImageSynthesis.call that the SDK uploads to OSS when they name a local file.


def media_kind(url: str) -> str | None:
    """``image``/``audio``/``video`` guessed from a data URL's type or the file extension."""
    if url.startswith("data:"):
        major = url[5:].split("/", 1)[0]
        return major if major in MEDIA_KINDS else None
    ext = _extension(url)
    return next((kind for kind, exts in _EXTENSIONS.items() if ext in exts), None)


def local_uri(url: str) -> str:
    """An existing local path as a ``file://`` URI (0.x DashScopeFormatter); others as is."""
    if "://" not in url and not url.startswith("data:") and os.path.isfile(url):
        return "file://" + os.path.abspath(url)
    return url


_local_uri = local_uri  # the name before the formatter package reused it


def media_item(block: dict[str, Any]) -> dict[str, Any]:
    """A media block as a DashScope content item: ``{"image"|"audio"|"video": url}``; a video
    given as frames (a list ``source``) as ``{"video": [frame urls]}``."""
    source = block.get("source")
    if isinstance(source, list):
        return {block["type"]: [local_uri(_block_url({"source": frame})) for frame in source]}
    return {block["type"]: local_uri(_block_url(block))}


def _tool_calls(msg: Any) -> list[dict[str, Any]]:
    return [openai_tool_call(b) for b in msg.get_content_blocks("tool_use")]


def dashscope_chat_messages(msgs: list[Any]) -> list[dict[str, Any]]:
    """One DashScope message per Msg: content items ``{"text"|"image"|"audio"|"video": ...}``."""
    messages: list[dict[str, Any]] = []
    for msg in msgs:
        parts: list[dict[str, Any]] = []
        for block in msg.get_content_blocks():
            kind = block.get("type")
            if kind == "text":
                parts.append({"text": block.get("text", "")})
            elif kind in MEDIA_KINDS:
                parts.append(media_item(block))
            elif kind == "tool_result":
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": block["id"],
                        "content": _tool_output_text(block.get("output")),
                        "name": block.get("name", ""),
                    }
                )
        for url in msg.urls:
            kind = media_kind(url)
            if kind:
                parts.append({kind: _local_uri(url)})
        calls = _tool_calls(msg)
        if not parts and not calls:
            continue
        message: dict[str, Any] = {"role": msg.role, "content": parts or ""}
        if calls:
            message["tool_calls"] = calls
        messages.append(message)
    return messages


def dashscope_multi_agent_messages(msgs: list[Any]) -> list[dict[str, Any]]:
    """System prompt, then one user message: the media, then the conversation as text."""
    if not msgs:
        raise ValueError("at least one message is needed to build a prompt")
    messages: list[dict[str, Any]] = []
    rest = msgs
    if msgs[0].role == "system":
        rest = msgs[1:]
        if text := msgs[0].get_text_content():
            messages.append({"role": "system", "content": [{"text": text}]})
    media: list[dict[str, Any]] = []
    lines = []
    for msg in rest:
        blocks = [b for b in msg.get_content_blocks() if b.get("type") in MEDIA_KINDS]
        media += [media_item(b) for b in blocks if isinstance(b.get("source"), list)]
        urls = [_block_url(b) for b in blocks if not isinstance(b.get("source"), list)]
        for url in urls + msg.urls:
            kind = media_kind(url)
            if kind is None:
                logger.warning("skipping {!r}: not a recognised image, audio or video URL", url)
                continue
            media.append({kind: _local_uri(url)})
        if text := msg.get_text_content():
            lines.append(f"{msg.name}: {text}")
    history = HISTORY_HEADER + "\n" + "\n".join(lines)
    messages.append({"role": "user", "content": [*media, {"text": history}]})
    return messages


def _local_path(value: str) -> str | None:
    """The local file the SDK would upload for this value (its own rules), else None."""
    if value.startswith("file://"):
        parsed = urlparse(value)
        path = unquote_plus(parsed.netloc + parsed.path)
        return os.path.expanduser(path)
    if value.startswith(("http", "oss://", "data:")):
        return None
    path = os.path.expanduser(value)
    return path if os.path.isfile(path) else None


def _inline(value: str) -> str:
    path = _local_path(value)
    if path is None:
        return value
    if not os.path.isfile(path):
        raise ValueError(f"local file not found: {value!r}")
    return to_data_url(path)


def inline_local_media(messages: list[dict[str, Any]], *, guard_text: bool) -> list[dict]:
    """A copy of ``messages`` with local image/audio/video files as base64 data URLs.

    With ``guard_text`` (MultiModalConversation), a user text item that names a local file is
    rejected: the SDK would upload that file to a remote OSS bucket.
    """
    messages = copy.deepcopy(messages)
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for item in content:
            if not isinstance(item, dict):
                continue
            for kind in MEDIA_KINDS:
                value = item.get(kind)
                if isinstance(value, str):
                    item[kind] = _inline(value)
                elif isinstance(value, list):
                    item[kind] = [_inline(v) if isinstance(v, str) else v for v in value]
            text = item.get("text")
            is_user = message.get("role") == "user"
            if guard_text and is_user and isinstance(text, str) and _local_path(text):
                raise ValueError(
                    f"the text item {text[:80]!r} names a local file, which the dashscope SDK "
                    "would upload to Alibaba Cloud OSS; rephrase it"
                )
    return messages


def tool_choice_to_dashscope(
    choice: str | dict[str, Any], tools: list[dict[str, Any]] | None
) -> str | dict[str, Any]:
    """DashScope knows "auto", "none" and a named function; "required" is emulated."""
    if not isinstance(choice, str) or choice in ("auto", "none"):
        return choice
    if choice == "required":
        names = [t["function"]["name"] for t in tools or []]
        if len(names) == 1:
            return {"type": "function", "function": {"name": names[0]}}
        logger.warning('DashScope cannot force one of several tools; tool_choice="auto" is sent')
        return "auto"
    return {"type": "function", "function": {"name": choice}}


# -- wrappers ---------------------------------------------------------------------------------
