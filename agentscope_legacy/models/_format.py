"""Pure functions turning ``Msg`` objects into chat-completion message lists (0.1.x rules).

* :func:`openai_messages` — one OpenAI message per Msg, with ``name``, its content a list of
  ``text`` and ``image_url`` parts (local files inlined as data URLs), tool calls and tool results;
* :func:`common_chat_messages` — ``{"role", "content": text}`` per Msg;
* :func:`common_multi_agent_messages` — the system prompt, then one user message holding the
  conversation as ``name: text`` lines under ``## Conversation History``.
* :func:`plain_chat_turns` — whether a conversation has two speakers only (then chat turns).
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import os
import tempfile
from typing import Any

from ..message import Msg

HISTORY_HEADER = "## Conversation History"
IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "gif", "webp", "bmp")


def flatten_msgs(*args: Any) -> list[Msg]:
    """Msgs from arguments that are Msg, None (skipped) or lists of Msg (flattened once)."""
    msgs: list[Msg] = []
    for arg in args:
        if arg is None:
            continue
        if isinstance(arg, Msg):
            msgs.append(arg)
        elif isinstance(arg, (list, tuple)):
            for item in arg:
                if not isinstance(item, Msg):
                    raise TypeError(f"expected Msg objects in the list, got {type(item).__name__}")
                msgs.append(item)
        else:
            raise TypeError(f"expected a Msg or a list of Msg, got {type(arg).__name__}")
    return msgs


def common_chat_messages(msgs: list[Msg]) -> list[dict[str, Any]]:
    return [{"role": m.role, "content": m.get_text_content() or ""} for m in msgs]


def plain_chat_turns(msgs: list[Msg], assistant: str) -> bool:
    """Whether ``msgs``, as the prompt of the speaker named ``assistant``, is a two-speaker
    chat: every message is that speaker's own (role ``assistant``) or comes from one other
    speaker in another role. Then it goes to the model as plain chat turns; the multi-agent
    history block is for more speakers. System messages (the prompt, instructions, tool
    results) are not speakers. The prompted speaker must be known: every agent's reply has
    the role ``assistant``, so the roles alone cannot tell whose turns are the model's own.
    """
    other: str | None = None
    for msg in msgs:
        if msg.role in ("system", "tool"):
            continue
        if msg.name == assistant and msg.role == "assistant":
            continue
        if msg.role == "assistant" or msg.name == assistant:
            return False  # another agent's reply, or this speaker in a user turn
        if other is None:
            other = msg.name
        elif msg.name != other:
            return False
    return True


def common_multi_agent_messages(msgs: list[Msg]) -> list[dict[str, Any]]:
    if not msgs:
        raise ValueError("at least one message is needed to build a prompt")
    messages: list[dict[str, Any]] = []
    rest = msgs
    if msgs[0].role == "system":
        messages.append({"role": "system", "content": msgs[0].get_text_content() or ""})
        rest = msgs[1:]
    lines = [f"{m.name}: {text}" for m in rest if (text := m.get_text_content())]
    if lines:
        messages.append({"role": "user", "content": HISTORY_HEADER + "\n" + "\n".join(lines)})
    return messages


def openai_messages(msgs: list[Msg]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for msg in msgs:
        parts: list[dict[str, Any]] = []
        tool_calls: list[dict[str, Any]] = []
        for block in msg.get_content_blocks():
            kind = block.get("type")
            if kind == "text":
                parts.append({"type": "text", "text": block.get("text", "")})
            elif kind == "image":
                parts.append(image_part(block_url(block)))
            elif kind == "tool_use":
                tool_calls.append(openai_tool_call(block))
            elif kind == "tool_result":
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": block["id"],
                        "content": tool_output_text(block.get("output")),
                        "name": block.get("name", ""),
                    }
                )
        for url in msg.urls:
            if _extension(url) in IMAGE_EXTENSIONS:
                parts.append(image_part(url))
        if not parts and not tool_calls:
            continue
        # Text-only content stays a list of text parts, as 0.1.x gave it (old code reads it).
        message: dict[str, Any] = {"role": msg.role, "name": msg.name, "content": parts or None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        messages.append(message)
    return messages


def image_part(url: str) -> dict[str, Any]:
    """An OpenAI ``image_url`` part; a local file becomes a base64 data URL."""
    return {"type": "image_url", "image_url": {"url": to_data_url(url)}}


def to_data_url(url: str) -> str:
    path = url[7:] if url.startswith("file://") else url
    if "://" in path or url.startswith("data:") or not os.path.isfile(path):
        return url
    mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
    with open(path, "rb") as fh:
        data = base64.b64encode(fh.read()).decode("ascii")
    return f"data:{mime};base64,{data}"


def block_url(block: dict[str, Any]) -> str:
    """A media block's location: its URL (or local path), or a data URL for base64 data.

    Takes the newer ``source`` form (:class:`~agentscope_legacy.message.URLSource` or
    ``Base64Source``) and 0.1.x's bare ``url``.
    """
    source = block.get("source")
    if isinstance(source, dict):
        if source.get("type") == "base64":
            data = str(source.get("data", ""))
            if data.startswith("data:"):  # 0.x sent the data-URL prefix inside `data`
                return data
            return f"data:{source.get('media_type', 'image/png')};base64,{data}"
        return source.get("url", "")
    if isinstance(source, str):
        return source
    return block.get("url", "")


_block_url = block_url  # the name before the formatter package reused it


def media_location(block: dict[str, Any]) -> str:
    """Where a media block can be found: its URL or path; base64 data is saved to a file.

    The file is named by a hash of the data in a temporary folder, so the same data gives the
    same path and is written once.
    """
    url = block_url(block)
    header, sep, data = url.partition(",")
    if not (url.startswith("data:") and sep and header.endswith(";base64")):
        return url
    media_type = header[5:].split(";", 1)[0]
    extension = mimetypes.guess_extension(media_type) or ".bin"
    folder = os.path.join(tempfile.gettempdir(), "agentscope_legacy_media")
    digest = hashlib.sha256(data.encode("ascii", "replace")).hexdigest()[:32]
    path = os.path.join(folder, digest + extension)
    if not os.path.exists(path):
        try:
            raw = base64.b64decode(data)
        except ValueError:  # not base64 after all: show it as it was given
            return url
        os.makedirs(folder, exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(raw)
    return path


def tool_output_text(output: Any) -> str:
    """A tool result as text: text blocks joined by newlines, media by their location."""
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        texts = []
        for block in output:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text":
                texts.append(block.get("text", ""))
            elif kind in ("image", "audio", "video"):
                texts.append(f"The returned {kind} can be found at: {media_location(block)}")
            else:
                texts.append(json.dumps(block, ensure_ascii=False, default=str))
        return "\n".join(texts)
    return json.dumps(output, ensure_ascii=False, default=str) if output is not None else ""


_tool_output_text = tool_output_text


def openai_tool_call(block: dict[str, Any]) -> dict[str, Any]:
    """A ``tool_use`` block as an OpenAI ``tool_calls`` entry (arguments as a JSON string)."""
    return {
        "id": block["id"],
        "type": "function",
        "function": {
            "name": block["name"],
            "arguments": json.dumps(block.get("input") or {}, ensure_ascii=False),
        },
    }


def _extension(url: str) -> str:
    return url.split("?", 1)[0].rsplit(".", 1)[-1].lower() if "." in url else ""


# -- request shaping shared by chat wrappers ---------------------------------------------
def check_messages(messages: Any) -> None:
    if not isinstance(messages, list):
        raise ValueError(
            "messages must be a list of dicts (use model.format(...)), "
            f"got {type(messages).__name__}"
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message:
            raise ValueError(f"messages[{i}] must be a dict with a 'role', got {message!r:.80}")


def normalize_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Accept ``{"type": "function", "function": {...}}`` or bare function schemas."""
    return [
        t if t.get("type") == "function" else {"type": "function", "function": t} for t in tools
    ]


def tool_choice_to_openai(choice: str | dict[str, Any]) -> str | dict[str, Any]:
    if isinstance(choice, str) and choice not in ("auto", "none", "required"):
        return {"type": "function", "function": {"name": choice}}
    return choice
