"""Message translation (pure): ``format()``'s Msgs to Ollama messages with ``images``, and
OpenAI-shaped tool calls in a history to Ollama's."""

from __future__ import annotations

import json
import os
from typing import Any

from loguru import logger

from .._format import block_url, common_chat_messages, common_multi_agent_messages

IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "gif", "webp", "bmp")


def _to_ollama_message(message: dict[str, Any]) -> dict[str, Any]:
    """Accept OpenAI-shaped tool calls (JSON-string arguments) in the history."""
    if not message.get("tool_calls"):
        return message
    calls = []
    for call in message["tool_calls"]:
        function = dict(call.get("function") or {})
        if isinstance(function.get("arguments"), str):
            function["arguments"] = json.loads(function["arguments"] or "{}")
        calls.append({"function": function})
    return {**message, "tool_calls": calls}


def ollama_messages(msgs: list[Any], multi_agent: bool = True) -> list[dict[str, Any]]:
    """0.1.x common format plus ``images`` (local files and base64 data; web URLs skipped).

    Multi-agent: the system prompt, then one user message with the conversation and every
    image. Otherwise one ``{"role", "content"[, "images"]}`` per Msg.
    """
    if not multi_agent:
        messages = common_chat_messages(msgs)
        for message, msg in zip(messages, msgs, strict=True):
            images = msg_images(msg)
            if images:
                message["images"] = images
        return messages
    messages = common_multi_agent_messages(msgs)
    images = [image for msg in msgs for image in msg_images(msg)]
    if images:
        if not messages or messages[-1]["role"] != "user":
            messages.append({"role": "user", "content": ""})
        messages[-1]["images"] = images
    return messages


def msg_images(msg: Any) -> list[str]:
    """A Msg's images as the SDK takes them: absolute file paths or base64 strings.

    Ollama needs the image bytes: local files and ``data:`` URLs are used, web URLs and
    non-image files are skipped with a warning.
    """
    images: list[str | None] = [image_from_url(url) for url in msg.urls]
    images += [block_image(block) for block in msg.get_content_blocks("image")]
    return [image for image in images if image]


def block_image(block: dict[str, Any]) -> str | None:
    """An image block as the SDK takes it: base64 data or a local file's absolute path."""
    source = block.get("source")
    if isinstance(source, dict) and source.get("type") == "base64":
        data = source.get("data") or None
        return image_from_url(data) if data and data.startswith("data:") else data
    return image_from_url(block_url(block))


def image_from_url(url: str) -> str | None:
    """Base64 data from a data URL, a local image file's absolute path, else None (warned)."""
    if url.startswith("data:image/"):
        header, _, data = url.partition(",")
        if header.endswith(";base64") and data:
            return data
    path = url[7:] if url.startswith("file://") else url
    if "://" not in path and os.path.isfile(path):
        if path.rsplit(".", 1)[-1].lower() in IMAGE_EXTENSIONS:
            return os.path.abspath(path)
    if url:
        logger.warning("Ollama takes local image files only; skipped {!r:.80}", url)
    return None


_image_from_url = image_from_url  # the name before the formatter package reused it
