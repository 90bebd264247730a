"""Google Gemini formatters (``contents`` of ``generate_content``).

Shape: ``{"role": "user"|"model", "parts": [...]}`` with ``text``, ``inline_data`` (``mime_type``
and base64 ``data``: local files and base64 sources) or ``file_data`` (``mime_type``,
``file_uri``: web and cloud URIs), ``function_call`` (``name``, ``args``) and
``function_response`` (``name``, ``response``: ``{"output": text}``, or the output itself when
it is a dict) parts. Adjacent contents of the same role are merged: Gemini expects the turns to
alternate. Images, audio and video are sent when their extension (or MIME subtype) is in
``supported_extensions``. A ``DataBlock`` of a PDF or text (``application/pdf``, ``text/*``)
is sent as ``inline_data``/``file_data`` too (Gemini reads documents); of another type it is
dropped with a warning. Thinking blocks are not sent back.

Gemini's contents have only the ``user`` and ``model`` roles: a system message becomes user
text, so the leading system prompt opens the first user turn. To send it as Gemini's
``system_instruction`` instead, give the formatter the conversation without it and put the
prompt in the request config (``GeminiChatWrapper`` also lifts ``{"role": "system"}`` entries
into ``system_instruction``).
"""

from __future__ import annotations

import mimetypes
import os
from typing import TYPE_CHECKING, Any

from ..message import (
    AudioBlock,
    ImageBlock,
    Msg,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    VideoBlock,
)
from ..models._format import block_url
from ..models.gemini import function_call_part, function_response_part, image_part
from ._base import (
    DEFAULT_CONVERSATION_HISTORY_PROMPT,
    TruncatedFormatterBase,
    result_name,
    tool_names,
)

if TYPE_CHECKING:
    from ..token._base import TokenCounterBase

_SUPPORTED: list[type] = [
    TextBlock,
    ImageBlock,
    VideoBlock,
    AudioBlock,
    ToolUseBlock,
    ToolResultBlock,
]
_EXTENSIONS: dict[str, list[str]] = {
    "image": ["png", "jpeg", "webp", "heic", "heif"],
    "video": ["mp4", "mpeg", "mov", "avi", "x-flv", "mpg", "webm", "wmv", "3gpp"],
    "audio": ["mp3", "wav", "aiff", "aac", "ogg", "flac"],
}


def media_extensions(url: str) -> set[str]:
    """The names a media URL goes by: its file extension and its MIME subtype."""
    if url.startswith("data:"):
        return {url[5:].split(";", 1)[0].split(",", 1)[0].rsplit("/", 1)[-1].lower()}
    path = url.split("?", 1)[0].split("#", 1)[0]
    names = set()
    if "." in path.rsplit("/", 1)[-1]:
        names.add(path.rsplit(".", 1)[-1].lower())
    mime = mimetypes.guess_type(path)[0]
    if mime:
        names.add(mime.rsplit("/", 1)[-1].lower())
    return names


#: The ``DataBlock`` media types Gemini reads as documents.
DOCUMENT_TYPES = ("application/pdf", "text/")


class _GeminiFormatting(TruncatedFormatterBase):
    """The conversions both Gemini formatters share."""

    supported_extensions: dict[str, list[str]] = _EXTENSIONS

    def _keep_block(self, block: dict[str, Any]) -> bool:
        # Documents go too, outside AgentScope's documented supported_blocks.
        return block.get("type") == "data"

    def _media(self, block: dict[str, Any], msg: Msg) -> dict[str, Any] | None:
        url = block_url(block)
        if block["type"] == "data":
            return self._document(block, url, msg)
        allowed = self.supported_extensions.get(block["type"], [])
        if not url or not media_extensions(url) & set(allowed):
            self._warn_dropped(
                block, msg, f"Gemini takes {block['type']} as {', '.join(allowed)} only"
            )
            return None
        return image_part(url)

    def _document(self, block: dict[str, Any], url: str, msg: Msg) -> dict[str, Any] | None:
        local = url[7:] if url.startswith("file://") else url
        if "://" not in local and not url.startswith("data:") and not os.path.isfile(local):
            self._warn_dropped(block, msg, "neither a web URL, an existing file nor data")
            return None
        part = image_part(url)
        media_type = (part.get("inline_data") or part["file_data"])["mime_type"]
        if not media_type.startswith(DOCUMENT_TYPES):
            self._warn_dropped(block, msg, f"Gemini reads PDF and text documents, not {media_type}")
            return None
        return part

    def _contents(self, msgs: list[Msg]) -> list[dict[str, Any]]:
        names = tool_names(msgs)
        contents: list[dict[str, Any]] = []
        for msg in msgs:
            parts: list[dict[str, Any]] = []
            responses: list[dict[str, Any]] = []
            for block in self._blocks(msg):
                kind = block.get("type")
                if kind == "text":
                    if block.get("text"):
                        parts.append({"text": block["text"]})
                elif kind in ("image", "audio", "video", "data"):
                    if (part := self._media(block, msg)) is not None:
                        parts.append(part)
                elif kind == "tool_use":
                    parts.append(function_call_part(block))
                elif kind == "tool_result":
                    name = result_name(block, names)
                    responses.append(function_response_part(name, block.get("output")))
            calls = any("function_call" in p for p in parts)
            _append(contents, "model" if msg.role == "assistant" or calls else "user", parts)
            _append(contents, "user", responses)
        return contents


def _append(contents: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    if not parts:
        return
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


class GeminiChatFormatter(_GeminiFormatting):
    """Formats ``Msg`` objects into Gemini contents."""

    support_tools_api: bool = True
    support_multiagent: bool = False
    support_vision: bool = True
    supported_blocks: list[type] = list(_SUPPORTED)
    supported_extensions: dict[str, list[str]] = _EXTENSIONS

    async def _format(self, msgs: list[Msg]) -> list[dict]:
        """One content per Msg (``assistant`` → ``model``, others → ``user``), merged by role."""
        return self._contents(msgs)


class GeminiMultiAgentFormatter(_GeminiFormatting):
    """Gemini formatter for conversations between more than one user and one agent.

    Earlier messages (but tool calls/results) are folded into a user turn holding a
    ``<history>`` section (the first one after ``conversation_history_prompt``); tool sequences
    stay separate turns with ``function_call``/``function_response`` parts.
    """

    support_tools_api: bool = True
    support_multiagent: bool = True
    support_vision: bool = True
    supported_blocks: list[type] = list(_SUPPORTED)
    supported_extensions: dict[str, list[str]] = _EXTENSIONS

    def __init__(
        self,
        conversation_history_prompt: str = DEFAULT_CONVERSATION_HISTORY_PROMPT,
        token_counter: TokenCounterBase | None = None,
        max_tokens: int | None = None,
    ) -> None:
        super().__init__(token_counter=token_counter, max_tokens=max_tokens)
        self.conversation_history_prompt = conversation_history_prompt

    async def _format(self, msgs: list[Msg]) -> list[dict[str, Any]]:
        merged: list[dict[str, Any]] = []
        for content in await super()._format(msgs):
            _append(merged, content["role"], list(content["parts"]))
        return merged

    async def _format_tool_sequence(self, msgs: list[Msg]) -> list[dict[str, Any]]:
        return self._contents(msgs)

    async def _format_agent_message(
        self, msgs: list[Msg], is_first: bool = True
    ) -> list[dict[str, Any]]:
        prompt = self.conversation_history_prompt if is_first else ""
        segments = self._history(msgs, prompt, self._media, ("image", "audio", "video", "data"))
        if not segments:
            return []
        parts = [{"text": s} if isinstance(s, str) else s for s in segments]
        return [{"role": "user", "parts": parts}]
