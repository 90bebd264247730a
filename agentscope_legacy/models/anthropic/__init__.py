"""Anthropic Claude through the official ``anthropic`` SDK (the Messages API).

``chat`` (the wrapper) over ``_client`` (the SDK import, client options, typed errors),
``_messages`` (pure message translation) and ``_parsing`` (pure response parsing).

One SDK client per wrapper, built with the SDK's retries off and the key passed explicitly (so
the SDK's credential discovery -- profiles, workload identity -- never runs). Messages are
given in the OpenAI-like shape that ``format()`` produces: leading system messages become the
top-level ``system`` string, a later system message is sent as a user turn, OpenAI-style
``tool_calls``/``tool`` messages are turned into ``tool_use``/``tool_result`` blocks.

Request kwargs that ``messages.create()`` does not name (in SDK 2.x that includes
``temperature``, ``top_p`` and ``top_k``) are sent as top-level JSON fields via ``extra_body``.
``max_tokens`` is required by the API: the config's ``max_tokens`` (default 4096) is used
unless generate_args or the call give one. Text blocks are joined with no separator, streamed
or not, and ``finish_reason`` is Anthropic's ``stop_reason`` (``end_turn``, ``tool_use``...).

``prompt_caching`` (True, a dict of :class:`PromptCaching` fields, or a policy) places
``cache_control`` marks on the tools, the system prompt and the last user turns
(``_caching``); the cache read/creation tokens are in ``Usage`` (and part of prompt_tokens).

``acall`` uses the SDK's ``AsyncAnthropic`` (one per event loop, built on first use) with the
same requests, and the same per-event parsing (:class:`EventParser`) as the sync stream.
"""

from __future__ import annotations

from ._caching import PromptCaching, with_cache_control
from ._client import (
    error_detail,
    import_anthropic,
    translate_error,
)
from ._messages import _image_block as _image_block  # the name before the formatter reused it
from ._messages import (
    anthropic_chat_messages,
    anthropic_multi_agent_messages,
    document_block,
    image_block,
    image_source,
    to_anthropic_messages,
    tool_choice_to_anthropic,
    tool_result_to_anthropic,
    tool_use_to_anthropic,
    tools_to_anthropic,
)
from ._parsing import (
    EventParser,
    deltas_from_events,
    response_from_message,
    response_from_reply,
)
from .chat import DEFAULT_MAX_TOKENS, AnthropicChatWrapper

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "AnthropicChatWrapper",
    "EventParser",
    "PromptCaching",
    "anthropic_chat_messages",
    "anthropic_multi_agent_messages",
    "deltas_from_events",
    "document_block",
    "error_detail",
    "image_block",
    "image_source",
    "import_anthropic",
    "response_from_message",
    "response_from_reply",
    "to_anthropic_messages",
    "tool_choice_to_anthropic",
    "tool_result_to_anthropic",
    "tool_use_to_anthropic",
    "tools_to_anthropic",
    "translate_error",
    "with_cache_control",
]
