"""DeepSeek formatters: OpenAI's shape, text only.

DeepSeek's chat API takes no images or audio (they are dropped with a warning) and content as
one string. Thinking blocks are never sent: the API rejects ``reasoning_content`` in input
messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..message import Msg, TextBlock, ToolResultBlock, ToolUseBlock
from ._base import DEFAULT_CONVERSATION_HISTORY_PROMPT, TruncatedFormatterBase
from ._openai import to_openai_messages

if TYPE_CHECKING:
    from ..token._base import TokenCounterBase


class DeepSeekChatFormatter(TruncatedFormatterBase):
    """Formats ``Msg`` objects into DeepSeek chat messages."""

    support_tools_api: bool = True
    support_multiagent: bool = False
    support_vision: bool = False
    supported_blocks: list[type] = [TextBlock, ToolUseBlock, ToolResultBlock]

    async def _format(self, msgs: list[Msg]) -> list[dict[str, Any]]:
        return to_openai_messages(self, msgs, text_content=True)


class DeepSeekMultiAgentFormatter(TruncatedFormatterBase):
    """DeepSeek formatter for conversations between more than one user and one agent."""

    support_tools_api: bool = True
    support_multiagent: bool = True
    support_vision: bool = False
    supported_blocks: list[type] = [TextBlock, ToolUseBlock, ToolResultBlock]

    def __init__(
        self,
        conversation_history_prompt: str = DEFAULT_CONVERSATION_HISTORY_PROMPT,
        token_counter: TokenCounterBase | None = None,
        max_tokens: int | None = None,
    ) -> None:
        super().__init__(token_counter=token_counter, max_tokens=max_tokens)
        self.conversation_history_prompt = conversation_history_prompt

    async def _format_tool_sequence(self, msgs: list[Msg]) -> list[dict[str, Any]]:
        return to_openai_messages(self, msgs, text_content=True)

    async def _format_agent_message(
        self, msgs: list[Msg], is_first: bool = True
    ) -> list[dict[str, Any]]:
        prompt = self.conversation_history_prompt if is_first else ""
        segments = self._history(msgs, prompt, lambda block, msg: None)
        if not segments:
            return []
        return [{"role": "user", "content": "".join(segments)}]
