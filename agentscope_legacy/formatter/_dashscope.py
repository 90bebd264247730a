"""DashScope (Qwen) formatters.

Shape: ``{"role", "content": [{"text": ...}, {"image": url}, {"audio": url}, {"video": url}]}``,
images, audio and video as web URLs, ``file://`` URIs of local files or base64 data URLs (the
DashScope wrapper inlines local files as data URLs before the call, so the SDK never uploads
them). Tool calls are
OpenAI-shaped ``tool_calls`` on the assistant message, results ``{"role": "tool",
"tool_call_id", "content": text, "name"}`` messages. Thinking blocks are not sent back.

Video blocks are sent (``{"video": url}``, or ``{"video": [frame urls]}`` for a video given as
frames) although AgentScope's documented ``supported_blocks`` leave them out: qwen-vl and
qwen-omni models read them through ``MultiModalConversation`` (``dashscope_multimodal``, or
``DashScopeChatModel`` with a vision model). A text-only model sent one answers with its own
400 error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..message import AudioBlock, ImageBlock, Msg, TextBlock, ToolResultBlock, ToolUseBlock
from ..models._format import openai_tool_call
from ..models.dashscope import media_item
from ._base import (
    DEFAULT_CONVERSATION_HISTORY_PROMPT,
    TruncatedFormatterBase,
    result_name,
    tool_names,
)

if TYPE_CHECKING:
    from ..token._base import TokenCounterBase

_SUPPORTED: list[type] = [TextBlock, ImageBlock, AudioBlock, ToolUseBlock, ToolResultBlock]


def dashscope_media_item(block: dict[str, Any], msg: Msg | None = None) -> dict[str, Any]:
    """An image, audio or video block as a DashScope content item (``{"image": url}``...)."""
    return media_item(block)


def to_dashscope_messages(
    formatter: TruncatedFormatterBase, msgs: list[Msg]
) -> list[dict[str, Any]]:
    """One DashScope message per Msg, then one ``tool`` message per tool result."""
    names = tool_names(msgs)
    messages: list[dict[str, Any]] = []
    for msg in msgs:
        items: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        for block in formatter._blocks(msg):
            kind = block.get("type")
            if kind == "text":
                if block.get("text"):
                    items.append({"text": block["text"]})
            elif kind in ("image", "audio", "video"):
                items.append(dashscope_media_item(block))
            elif kind == "tool_use":
                calls.append(openai_tool_call(block))
            elif kind == "tool_result":
                results.append(
                    {
                        "role": "tool",
                        "tool_call_id": block["id"],
                        "content": formatter.convert_tool_result_to_string(block.get("output")),
                        "name": result_name(block, names),
                    }
                )
        if items or calls:
            message: dict[str, Any] = {"role": "assistant" if calls else msg.role}
            message["content"] = items or ""
            if calls:
                message["tool_calls"] = calls
            messages.append(message)
        messages += results
    return messages


class _DashScopeFormatting(TruncatedFormatterBase):
    def _keep_block(self, block: dict[str, Any]) -> bool:
        # Video goes to the vision models, outside AgentScope's documented supported_blocks.
        return block.get("type") == "video"


class DashScopeChatFormatter(_DashScopeFormatting):
    """Formats ``Msg`` objects into DashScope messages."""

    support_tools_api: bool = True
    support_multiagent: bool = False
    support_vision: bool = True
    supported_blocks: list[type] = list(_SUPPORTED)

    async def _format(self, msgs: list[Msg]) -> list[dict[str, Any]]:
        """One message per Msg, tool results as ``tool`` messages."""
        return to_dashscope_messages(self, msgs)


class DashScopeMultiAgentFormatter(_DashScopeFormatting):
    """DashScope formatter for conversations between more than one user and one agent.

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

    async def _format_tool_sequence(self, msgs: list[Msg]) -> list[dict[str, Any]]:
        return to_dashscope_messages(self, msgs)

    async def _format_agent_message(
        self, msgs: list[Msg], is_first: bool = True
    ) -> list[dict[str, Any]]:
        prompt = self.conversation_history_prompt if is_first else ""
        segments = self._history(msgs, prompt, dashscope_media_item)
        if not segments:
            return []
        content = [{"text": s} if isinstance(s, str) else s for s in segments]
        return [{"role": "user", "content": content}]
