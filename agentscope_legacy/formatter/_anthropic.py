"""Anthropic (Claude Messages API) formatters.

Shape: ``{"role": "user"|"assistant", "content": [blocks]}`` with ``text``, ``image`` (``source``
``{"type": "url", "url"}`` for web URLs, ``{"type": "base64", "media_type", "data"}`` for local
files and base64 data), ``tool_use`` and ``tool_result`` blocks (results in a user message right
after the call; parallel results share one message; text results as a string, images kept as
image blocks), and ``document`` blocks for ``DataBlock``s of PDFs (base64, a web URL or a local
file) and text (``text/*``, sent as a text document); a ``DataBlock`` of another type is dropped
with a warning (as every formatter drops the blocks it does not support). Thinking blocks are
sent back (as Anthropic asks) only when they carry their ``signature``.

The Messages API has no system role: a leading system message is returned as
``{"role": "system", "content": [text blocks]}``, and ``AnthropicChatWrapper`` (and any model
built on its request code) lifts leading system messages into the top-level ``system``
parameter. Calling the SDK yourself, pass ``system=formatted[0]["content"]`` and
``messages=formatted[1:]``. A later system message is sent as a user turn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..message import ImageBlock, Msg, TextBlock, ToolResultBlock, ToolUseBlock
from ..models.anthropic import (
    document_block,
    image_block,
    tool_result_to_anthropic,
    tool_use_to_anthropic,
)
from ._base import (
    DEFAULT_CONVERSATION_HISTORY_PROMPT,
    TruncatedFormatterBase,
    is_system_prompt,
)

if TYPE_CHECKING:
    from ..token._base import TokenCounterBase

_SUPPORTED: list[type] = [TextBlock, ImageBlock, ToolUseBlock, ToolResultBlock]


def anthropic_image(block: dict[str, Any]) -> dict[str, Any] | None:
    """An image block in Anthropic's shape, or None when its source cannot be sent."""
    image = image_block(block)
    if image is None:
        return None
    source = image["source"]
    if source["type"] == "url" and not source["url"].startswith(("http://", "https://")):
        return None  # a local file that does not exist
    if source["type"] == "base64" and not str(source.get("media_type", "")).startswith("image/"):
        return None
    return image


class _AnthropicFormatting(TruncatedFormatterBase):
    """The conversions both Anthropic formatters share."""

    def _keep_block(self, block: dict[str, Any]) -> bool:
        # Anthropic wants earlier thinking back, but only sealed with its signature. Data
        # blocks go as documents, outside the documented ``supported_blocks`` of AgentScope.
        if block.get("type") == "data":
            return True
        return block.get("type") == "thinking" and bool(block.get("signature"))

    def _image(self, block: dict[str, Any], msg: Msg) -> dict[str, Any] | None:
        image = anthropic_image(block)
        if image is None:
            self._warn_dropped(block, msg, "neither a web URL, an existing file nor image data")
        return image

    def _media(self, block: dict[str, Any], msg: Msg) -> dict[str, Any] | None:
        """An image or a document (a ``data`` block), or None (dropped with a warning)."""
        if block.get("type") != "data":
            return self._image(block, msg) if block.get("type") == "image" else None
        document = document_block(block)
        if document is None:
            media_type = (block.get("source") or {}).get("media_type") or "its type"
            self._warn_dropped(
                block, msg, f"Anthropic documents are PDFs or text, not {media_type}"
            )
        return document

    def _messages(self, msgs: list[Msg], *, system_first: bool) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        leading = system_first
        for msg in msgs:
            if leading and is_system_prompt(msg):
                texts = [b["text"] for b in self._blocks(msg) if b["type"] == "text"]
                if text := "\n".join(t for t in texts if t):
                    messages.append({"role": "system", "content": [{"type": "text", "text": text}]})
                continue
            leading = False
            content: list[dict[str, Any]] = []
            results: list[dict[str, Any]] = []
            for block in self._blocks(msg):
                kind = block.get("type")
                if kind == "text":
                    if block.get("text"):
                        content.append({"type": "text", "text": block["text"]})
                elif kind in ("image", "data"):
                    if (part := self._media(block, msg)) is not None:
                        content.append(part)
                elif kind == "thinking":
                    if msg.role == "assistant":
                        content.append(
                            {
                                "type": "thinking",
                                "thinking": block.get("thinking", ""),
                                "signature": block["signature"],
                            }
                        )
                elif kind == "tool_use":
                    content.append(tool_use_to_anthropic(block))
                elif kind == "tool_result":
                    results.append(tool_result_to_anthropic(block))
            calls = any(b["type"] == "tool_use" for b in content)
            if content:
                role = "assistant" if msg.role == "assistant" or calls else "user"
                messages.append({"role": role, "content": content})
            if results:
                last = messages[-1] if messages else None
                if last and last["role"] == "user" and _only_results(last["content"]):
                    last["content"].extend(results)
                else:
                    messages.append({"role": "user", "content": results})
        return messages


def _only_results(content: Any) -> bool:
    return isinstance(content, list) and all(b.get("type") == "tool_result" for b in content)


class AnthropicChatFormatter(_AnthropicFormatting):
    """Formats ``Msg`` objects into Anthropic messages.

    Anthropic suggests passing earlier thinking blocks back to keep the reasoning going: those
    with a signature are sent.
    """

    support_tools_api: bool = True
    support_multiagent: bool = False
    support_vision: bool = True
    supported_blocks: list[type] = list(_SUPPORTED)

    async def _format(self, msgs: list[Msg]) -> list[dict[str, Any]]:
        """A leading ``system`` message, then one message per Msg (results in user turns)."""
        return self._messages(msgs, system_first=True)


class AnthropicMultiAgentFormatter(_AnthropicFormatting):
    """Anthropic formatter for conversations between more than one user and one agent.

    Earlier messages (but tool calls/results) are folded into a user message holding a
    ``<history>`` section (the first one after ``conversation_history_prompt``); tool sequences
    stay separate messages in the tools API's shape.
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

    async def _format_system_message(self, msg: Msg) -> list[dict[str, Any]]:
        return self._messages([msg], system_first=True)

    async def _format_tool_sequence(self, msgs: list[Msg]) -> list[dict[str, Any]]:
        return self._messages(msgs, system_first=False)

    async def _format_agent_message(
        self, msgs: list[Msg], is_first: bool = True
    ) -> list[dict[str, Any]]:
        prompt = self.conversation_history_prompt if is_first else ""
        segments = self._history(msgs, prompt, self._media, ("image", "audio", "video", "data"))
        if not segments:
            return []
        content = [{"type": "text", "text": s} if isinstance(s, str) else s for s in segments]
        return [{"role": "user", "content": content}]
