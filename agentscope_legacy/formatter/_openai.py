"""OpenAI Chat Completions formatters (also for OpenAI-compatible servers: vLLM, Azure...).

Shape: ``{"role", "name", "content": [parts]}`` with ``text``, ``image_url`` (web URLs as they
are; local files and base64 data as data URLs) and ``input_audio`` (wav/mp3 data) parts;
images and audio only in user messages, as the API takes them. Tool calls are the assistant's
``tool_calls`` (arguments as a JSON string), tool results ``{"role": "tool", "tool_call_id",
"content": text}`` messages right after. ``name`` is sent with the characters the API refuses
(whitespace and ``<|\\/>``) replaced by ``_``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..message import AudioBlock, ImageBlock, Msg, TextBlock, ToolResultBlock, ToolUseBlock
from ..models._format import block_url, image_part, openai_tool_call, to_data_url
from ._base import DEFAULT_CONVERSATION_HISTORY_PROMPT, TruncatedFormatterBase

if TYPE_CHECKING:
    from ..token._base import TokenCounterBase

_NAME_FORBIDDEN = re.compile(r"[\s<|\\/>]+")
_AUDIO_FORMATS = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/vnd.wave": "wav",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
}


def openai_name(name: str | None) -> str | None:
    """``name`` as the API takes it (no whitespace or ``<|\\/>``), or None when empty."""
    cleaned = _NAME_FORBIDDEN.sub("_", name or "")
    return cleaned or None


def openai_image_part(block: dict[str, Any]) -> dict[str, Any] | None:
    """An image block as an ``image_url`` part, or None for a local file that is missing."""
    part = image_part(block_url(block))
    if not part["image_url"]["url"].startswith(("http://", "https://", "data:")):
        return None
    return part


def input_audio_part(block: dict[str, Any]) -> dict[str, Any] | None:
    """An audio block as an ``input_audio`` part (wav or mp3 data), or None.

    The API takes the audio data, not a URL: base64 sources and local files are used, a web
    URL is not downloaded.
    """
    url = to_data_url(block_url(block))
    header, sep, data = url.partition(",")
    if not (url.startswith("data:") and sep and header.endswith(";base64")):
        return None
    audio_format = _AUDIO_FORMATS.get(header[5:].split(";", 1)[0])
    if audio_format is None:
        return None
    return {"type": "input_audio", "input_audio": {"data": data, "format": audio_format}}


def to_openai_messages(
    formatter: TruncatedFormatterBase, msgs: list[Msg], *, text_content: bool = False
) -> list[dict[str, Any]]:
    """One OpenAI message per Msg, then one ``tool`` message per tool result.

    ``text_content``: content as one string (DeepSeek and text-only servers) instead of parts.
    """
    messages: list[dict[str, Any]] = []
    for msg in msgs:
        parts: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        for block in formatter._blocks(msg):
            kind = block.get("type")
            if kind == "text":
                if block.get("text"):
                    parts.append({"type": "text", "text": block["text"]})
            elif kind in ("image", "audio"):
                if msg.role != "user":
                    formatter._warn_dropped(block, msg, "OpenAI takes media in user messages only")
                    continue
                part = _media_part(block)
                if part is None:
                    formatter._warn_dropped(block, msg, _why_not(block))
                else:
                    parts.append(part)
            elif kind == "tool_use":
                calls.append(openai_tool_call(block))
            elif kind == "tool_result":
                output = formatter.convert_tool_result_to_string(block.get("output"))
                results.append({"role": "tool", "tool_call_id": block["id"], "content": output})
        if parts or calls:
            message: dict[str, Any] = {"role": "assistant" if calls else msg.role}
            if name := openai_name(msg.name):
                message["name"] = name
            if text_content:
                message["content"] = "\n".join(p["text"] for p in parts) if parts else None
            else:
                message["content"] = parts or None
            if calls:
                message["tool_calls"] = calls
            messages.append(message)
        messages += results
    return messages


def _media_part(block: dict[str, Any]) -> dict[str, Any] | None:
    return openai_image_part(block) if block["type"] == "image" else input_audio_part(block)


def _why_not(block: dict[str, Any]) -> str:
    if block["type"] == "image":
        return f"{block_url(block)[:80]!r} is neither a web URL nor an existing local file"
    return "OpenAI takes wav or mp3 audio data (a base64 source or a local file), not a URL"


class OpenAIChatFormatter(TruncatedFormatterBase):
    """Formats ``Msg`` objects into OpenAI Chat Completions messages."""

    support_tools_api: bool = True
    support_multiagent: bool = True
    support_vision: bool = True
    supported_blocks: list[type] = [
        TextBlock,
        ImageBlock,
        AudioBlock,
        ToolUseBlock,
        ToolResultBlock,
    ]

    async def _format(self, msgs: list[Msg]) -> list[dict[str, Any]]:
        """One message per Msg (``name`` kept), tool results as ``tool`` messages."""
        return to_openai_messages(self, msgs)


class OpenAIMultiAgentFormatter(TruncatedFormatterBase):
    """OpenAI formatter for conversations between more than one user and one agent.

    Earlier messages (but tool calls/results) are folded into a user message holding a
    ``<history>`` section (the first one after ``conversation_history_prompt``); tool sequences
    stay separate messages in the tools API's shape.
    """

    support_tools_api: bool = True
    support_multiagent: bool = True
    support_vision: bool = True
    supported_blocks: list[type] = [
        TextBlock,
        ImageBlock,
        AudioBlock,
        ToolUseBlock,
        ToolResultBlock,
    ]

    def __init__(
        self,
        conversation_history_prompt: str = DEFAULT_CONVERSATION_HISTORY_PROMPT,
        token_counter: TokenCounterBase | None = None,
        max_tokens: int | None = None,
    ) -> None:
        super().__init__(token_counter=token_counter, max_tokens=max_tokens)
        self.conversation_history_prompt = conversation_history_prompt

    async def _format_tool_sequence(self, msgs: list[Msg]) -> list[dict[str, Any]]:
        return to_openai_messages(self, msgs)

    async def _format_agent_message(
        self, msgs: list[Msg], is_first: bool = True
    ) -> list[dict[str, Any]]:
        prompt = self.conversation_history_prompt if is_first else ""
        segments = self._history(msgs, prompt, self._history_media)
        if not segments:
            return []
        content = [{"type": "text", "text": s} if isinstance(s, str) else s for s in segments]
        return [{"role": "user", "content": content}]

    def _history_media(self, block: dict[str, Any], msg: Msg) -> dict[str, Any] | None:
        part = _media_part(block)
        if part is None:
            self._warn_dropped(block, msg, _why_not(block))
        return part
