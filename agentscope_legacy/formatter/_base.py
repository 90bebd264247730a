"""``FormatterBase`` and ``TruncatedFormatterBase``: ``Msg`` lists to provider message lists.

A formatter turns the messages agents exchange into the message list one provider's API takes
(``await formatter.format(msgs)``). The per-block conversions (an image to an OpenAI
``image_url`` part, a tool call to Anthropic's ``tool_use``...) are the ones the provider
modules under :mod:`agentscope_legacy.models` use for their 0.x ``format()``: one copy each.

``TruncatedFormatterBase`` adds a token budget: with a ``token_counter`` and ``max_tokens`` the
oldest messages are dropped until the formatted prompt fits. A leading system prompt is never
dropped, and a tool call is dropped together with its results.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from loguru import logger

from ..message import MEDIA_TYPES, Msg, block_type_name, url_block
from ..models._format import tool_output_text

if TYPE_CHECKING:
    from ..token._base import TokenCounterBase

#: The documented default ``conversation_history_prompt`` of the multi-agent formatters.
DEFAULT_CONVERSATION_HISTORY_PROMPT = (
    "# Conversation History\n"
    "The content between <history></history> tags contains your conversation history\n"
)
_TOOL_TYPES = ("tool_use", "tool_result")


class FormatterBase(ABC):
    """The base class of formatters."""

    @abstractmethod
    async def format(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        """Format ``Msg`` objects into the list of dicts the provider's API takes."""

    @staticmethod
    def assert_list_of_msgs(msgs: list[Msg]) -> None:
        """Raise TypeError unless ``msgs`` is a list of ``Msg`` objects."""
        if not isinstance(msgs, list):
            raise TypeError(f"expected a list of Msg objects, got {type(msgs).__name__}")
        for i, msg in enumerate(msgs):
            if not isinstance(msg, Msg):
                raise TypeError(f"expected Msg objects, msgs[{i}] is a {type(msg).__name__}")

    @staticmethod
    def convert_tool_result_to_string(output: Any) -> str:
        """A tool result as text, for APIs that take only text in tool results.

        Text blocks are joined by newlines; an image, audio or video block becomes ``The
        returned <type> can be found at: <url or path>`` (base64 data is saved to a file).
        """
        return tool_output_text(output)


class TruncatedFormatterBase(FormatterBase, ABC):
    """A formatter that keeps the formatted prompt under ``max_tokens``.

    Subclasses implement :meth:`_format`, or the two hooks the default :meth:`_format` uses:
    :meth:`_format_agent_message` for runs of ordinary messages and :meth:`_format_tool_sequence`
    for runs of tool-call/tool-result messages (and :meth:`_format_system_message`).
    """

    #: The content block classes this formatter sends; other blocks are dropped with a warning.
    supported_blocks: list[type] = []

    def __init__(
        self, token_counter: TokenCounterBase | None = None, max_tokens: int | None = None
    ) -> None:
        if max_tokens is not None and (
            isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
        ):
            raise ValueError(f"max_tokens must be a positive integer or None, got {max_tokens!r}")
        self.token_counter = token_counter
        self.max_tokens = max_tokens

    # -- format with truncation -------------------------------------------------------------
    async def format(self, msgs: list[Msg], **kwargs: Any) -> list[dict[str, Any]]:
        """Format ``msgs``; with a counter and ``max_tokens``, drop the oldest until it fits.

        ``tools=`` (the tool schemas the call will send), if given, is passed to the counter so
        that the budget covers them too. An input that fits is formatted as it is.
        """
        self.assert_list_of_msgs(msgs)
        formatted = await self._format(msgs)
        if self.token_counter is None or self.max_tokens is None:
            return formatted
        tools = kwargs.get("tools")
        count = await self.token_counter.count(formatted, tools=tools)
        if count <= self.max_tokens:
            return formatted
        head, groups = truncation_groups(msgs)
        removed, first_count = 0, count
        while count > self.max_tokens:
            if not groups or (len(groups) == 1 and not head):
                what = (
                    "the system prompt alone"
                    if not groups and head
                    else "the tool schemas alone"
                    if not groups
                    else "the newest message (with its tool calls/results) alone"
                )
                raise ValueError(
                    f"cannot truncate the prompt to max_tokens={self.max_tokens}: {what} "
                    f"takes {count} tokens"
                )
            dropped = groups.pop(0)
            removed += len(dropped)
            kept = [msgs[i] for i in head + sorted(i for group in groups for i in group)]
            formatted = await self._format(kept)
            count = await self.token_counter.count(formatted, tools=tools)
        # One line per truncation, not per step: a long conversation is cut on every call.
        logger.info(
            "{}: the prompt took {} tokens, more than max_tokens={}; removed the oldest {} "
            "message(s), {} kept, now {} tokens",
            type(self).__name__,
            first_count,
            self.max_tokens,
            removed,
            len(kept),
            count,
        )
        return formatted

    # -- hooks ------------------------------------------------------------------------------
    async def _format(self, msgs: list[Msg]) -> list[dict[str, Any]]:
        """The leading system message, then agent-message runs and tool sequences in turn."""
        formatted: list[dict[str, Any]] = []
        start = 0
        if msgs and is_system_prompt(msgs[0]):
            formatted += await self._format_system_message(msgs[0])
            start = 1
        is_first = True
        for is_tool, run in split_runs(msgs[start:]):
            if is_tool:
                formatted += await self._format_tool_sequence(run)
            else:
                part = await self._format_agent_message(run, is_first)
                is_first = is_first and not part
                formatted += part
        return formatted

    async def _format_system_message(self, msg: Msg) -> list[dict[str, Any]]:
        """The leading system message (by default, as a tool sequence's messages are)."""
        return await self._format_tool_sequence([msg])

    async def _format_tool_sequence(self, msgs: list[Msg]) -> list[dict[str, Any]]:
        """Tool-call and tool-result messages, in the provider's native tool shape."""
        raise NotImplementedError(f"{type(self).__name__} does not format tool sequences")

    async def _format_agent_message(
        self, msgs: list[Msg], is_first: bool = True
    ) -> list[dict[str, Any]]:
        """Messages without tool calls or results."""
        raise NotImplementedError(f"{type(self).__name__} does not format agent messages")

    # -- helpers for subclasses -------------------------------------------------------------
    def _blocks(self, msg: Msg) -> list[dict[str, Any]]:
        """The blocks of ``msg`` this formatter sends (``url`` attachments as media blocks).

        Blocks of a type not in :attr:`supported_blocks` are dropped with a warning (thinking
        blocks quietly: a model's past reasoning is not sent back unless :meth:`_keep_block`
        says so).
        """
        blocks = msg.get_content_blocks()
        for url in msg.urls:
            block = url_block(url)
            if block is None:
                logger.warning(
                    "{}: {!r:.80} in {}'s url is not an image, audio or video; not sent",
                    type(self).__name__,
                    url,
                    msg.name,
                )
            else:
                blocks.append(block)
        supported = {block_type_name(cls) for cls in self.supported_blocks}
        kept = []
        for block in blocks:
            kind = block.get("type")
            if kind in supported or self._keep_block(block):
                kept.append(block)
            elif kind == "thinking":
                logger.debug("{}: a thinking block is not sent back", type(self).__name__)
            else:
                logger.warning(
                    "{} does not support {} blocks: dropped one from {}'s message",
                    type(self).__name__,
                    kind,
                    msg.name,
                )
        return kept

    def _keep_block(self, block: dict[str, Any]) -> bool:
        """Whether to send a block whose type is not in :attr:`supported_blocks`."""
        return False

    def _warn_dropped(self, block: dict[str, Any], msg: Msg, why: str) -> None:
        logger.warning(
            "{}: dropped a {} block from {}'s message: {}",
            type(self).__name__,
            block.get("type"),
            msg.name,
            why,
        )

    def _history(
        self,
        msgs: list[Msg],
        prompt: str,
        media: Callable[[dict[str, Any], Msg], Any],
        media_types: tuple[str, ...] = MEDIA_TYPES,
    ) -> list[Any]:
        """``msgs`` as ``<history>`` text with media parts in place, or [] if nothing to show.

        Returns text segments (str) and whatever ``media(block, msg)`` returns for each block
        of ``media_types`` (None: dropped). Each message with text is a ``name: text`` line.
        """
        segments: list[Any] = []
        text = ""
        shown = False
        for msg in msgs:
            blocks = self._blocks(msg)
            texts = [b["text"] for b in blocks if b.get("type") == "text" and b.get("text")]
            if texts:
                text += f"{msg.name}: " + "\n".join(texts) + "\n"
                shown = True
            for block in blocks:
                if block.get("type") in media_types:
                    part = media(block, msg)
                    if part is not None:
                        segments += [text, part] if text else [part]
                        text = ""
                        shown = True
        if not shown:
            return []
        segments.append(text + "</history>")
        if isinstance(segments[0], str):
            segments[0] = prompt + "<history>\n" + segments[0]
        else:
            segments.insert(0, prompt + "<history>\n")
        return segments


# -- conversation structure -------------------------------------------------------------------
def is_tool_msg(msg: Msg) -> bool:
    """Whether the message carries a tool call or a tool result."""
    return any(b.get("type") in _TOOL_TYPES for b in msg.get_content_blocks())


def is_system_prompt(msg: Msg) -> bool:
    """A system message that is not a tool result (AgentScope may send those as system)."""
    return msg.role == "system" and not is_tool_msg(msg)


def split_runs(msgs: list[Msg]) -> list[tuple[bool, list[Msg]]]:
    """Consecutive messages grouped as ``(is_tool_sequence, run)``."""
    runs: list[tuple[bool, list[Msg]]] = []
    for msg in msgs:
        tool = is_tool_msg(msg)
        if runs and runs[-1][0] == tool:
            runs[-1][1].append(msg)
        else:
            runs.append((tool, [msg]))
    return runs


def tool_names(msgs: list[Msg]) -> dict[str, str]:
    """Tool call id -> tool name, from the ``tool_use`` blocks of ``msgs``."""
    return {
        b.get("id", ""): b.get("name", "") for m in msgs for b in m.get_content_blocks("tool_use")
    }


def result_name(block: dict[str, Any], names: dict[str, str]) -> str:
    """The tool name of a ``tool_result`` block (from its call when the block has none)."""
    return block.get("name") or names.get(block.get("id", ""), "")


def truncation_groups(msgs: list[Msg]) -> tuple[list[int], list[list[int]]]:
    """``(kept_always, groups)``: indices of the leading system prompt, and droppable groups.

    A group is one message, or a message with tool calls together with every message holding a
    result of those calls (results for calls in several groups merge them). Groups are ordered
    by their first message, each group's indices ascending.
    """
    head = [0] if msgs and is_system_prompt(msgs[0]) else []
    parent: dict[int, int] = {}

    def find(g: int) -> int:
        while parent[g] != g:
            g = parent[g]
        return g

    members: dict[int, list[int]] = {}
    owner: dict[str, int] = {}
    for i in range(len(head), len(msgs)):
        blocks = msgs[i].get_content_blocks()
        results = [b.get("id") for b in blocks if b.get("type") == "tool_result"]
        owners = sorted({find(owner[r]) for r in results if r in owner})
        if owners:
            group = owners[0]
            for other in owners[1:]:
                parent[other] = group
                members[group] += members.pop(other)
        else:
            group = i
            parent[group] = group
            members[group] = []
        members[group].append(i)
        for b in blocks:
            if b.get("type") == "tool_use":
                owner[b.get("id")] = group
    groups = sorted((sorted(m) for m in members.values()), key=lambda m: m[0])
    return head, groups
