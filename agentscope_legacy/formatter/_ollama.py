"""Ollama (``/api/chat``) formatters.

Shape: ``{"role", "content": text, "images": [base64, ...]}`` (images only when there are any:
local files and base64 data; Ollama cannot fetch web URLs, so those are dropped with a
warning), assistant ``tool_calls`` as ``[{"function": {"name", "arguments": {...}}}]``
(arguments as an object), tool results ``{"role": "tool", "content": text, "tool_name"}``.
Thinking blocks are not sent back.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..message import ImageBlock, Msg, TextBlock, ToolResultBlock, ToolUseBlock
from ..models._format import to_data_url
from ..models.ollama import block_image
from ._base import (
    DEFAULT_CONVERSATION_HISTORY_PROMPT,
    TruncatedFormatterBase,
    result_name,
    tool_names,
)

if TYPE_CHECKING:
    from ..token._base import TokenCounterBase

_SUPPORTED: list[type] = [TextBlock, ImageBlock, ToolUseBlock, ToolResultBlock]


def ollama_image(block: dict[str, Any]) -> str | None:
    """An image block as base64 data (local files read), or None when it has no data."""
    image = block_image(block)
    if image and os.path.isfile(image):
        return to_data_url(image).partition(",")[2]
    return image


def to_ollama_messages(formatter: TruncatedFormatterBase, msgs: list[Msg]) -> list[dict[str, Any]]:
    """One Ollama message per Msg, then one ``tool`` message per tool result."""
    names = tool_names(msgs)
    messages: list[dict[str, Any]] = []
    for msg in msgs:
        texts: list[str] = []
        images: list[str] = []
        calls: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        for block in formatter._blocks(msg):
            kind = block.get("type")
            if kind == "text":
                if block.get("text"):
                    texts.append(block["text"])
            elif kind == "image":
                if image := ollama_image(block):
                    images.append(image)
            elif kind == "tool_use":
                call = {"name": block["name"], "arguments": block.get("input") or {}}
                calls.append({"function": call})
            elif kind == "tool_result":
                results.append(
                    {
                        "role": "tool",
                        "content": formatter.convert_tool_result_to_string(block.get("output")),
                        "tool_name": result_name(block, names),
                    }
                )
        if texts or images or calls:
            message: dict[str, Any] = {
                "role": "assistant" if calls else msg.role,
                "content": "\n".join(texts),
            }
            if images:
                message["images"] = images
            if calls:
                message["tool_calls"] = calls
            messages.append(message)
        messages += results
    return messages


def _image_segment(block: dict[str, Any], msg: Msg) -> dict[str, str] | None:
    image = ollama_image(block)
    return {"image": image} if image else None


class OllamaChatFormatter(TruncatedFormatterBase):
    """Formats ``Msg`` objects into Ollama chat messages."""

    support_tools_api: bool = True
    support_multiagent: bool = False
    support_vision: bool = True
    supported_blocks: list[type] = list(_SUPPORTED)

    async def _format(self, msgs: list[Msg]) -> list[dict[str, Any]]:
        """One message per Msg, tool results as ``tool`` messages."""
        return to_ollama_messages(self, msgs)


class OllamaMultiAgentFormatter(TruncatedFormatterBase):
    """Ollama formatter for conversations between more than one user and one agent.

    Earlier messages (but tool calls/results) are folded into a user message holding a
    ``<history>`` section (the first one after ``conversation_history_prompt``) with the images
    of those messages; tool sequences stay separate messages in the tools API's shape.
    """

    support_tools_api: bool = True
    support_multiagent: bool = True
    support_vision: bool = True
    supported_blocks: list[type] = list(_SUPPORTED)

    def __init__(
        self,
        conversation_history_prompt: str = DEFAULT_CONVERSATION_HISTORY_PROMPT,
        token_counter: TokenCounterBase | None = None,
        max_tokens: int | None = None,
    ) -> None:
        super().__init__(token_counter=token_counter, max_tokens=max_tokens)
        self.conversation_history_prompt = conversation_history_prompt

    async def _format_tool_sequence(self, msgs: list[Msg]) -> list[dict[str, Any]]:
        return to_ollama_messages(self, msgs)

    async def _format_agent_message(
        self, msgs: list[Msg], is_first: bool = True
    ) -> list[dict[str, Any]]:
        prompt = self.conversation_history_prompt if is_first else ""
        segments = self._history(msgs, prompt, _image_segment)
        if not segments:
            return []
        message: dict[str, Any] = {
            "role": "user",
            "content": "".join(s for s in segments if isinstance(s, str)),
        }
        images = [s["image"] for s in segments if not isinstance(s, str)]
        if images:
            message["images"] = images
        return [message]
