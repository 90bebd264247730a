"""A chat model's own formatter: ``Msg`` lists in, the provider's messages out.

A chat model takes either the formatted messages of its provider (dicts, as always) or ``Msg``
objects, which its ``formatter`` turns into those dicts first. The default formatter is the
provider's Chat formatter; passing a MultiAgent one switches the model to multi-agent prompts
without changing the code that calls it (reference 001).
"""

from __future__ import annotations

import inspect
from typing import Any

from ..message import Msg

#: model_type prefix -> its provider's Chat formatter; the rest speak OpenAI's shape.
_CHAT_FORMATTERS = {
    "anthropic": "AnthropicChatFormatter",
    "dashscope": "DashScopeChatFormatter",
    "deepseek": "DeepSeekChatFormatter",
    "gemini": "GeminiChatFormatter",
    "ollama": "OllamaChatFormatter",
}


def default_formatter(model_type: str) -> Any:
    """A new Chat formatter of the provider of a wrapper's ``model_type`` (tool calls in the
    provider's native shape, where the 0.x wrappers' own ``format()`` folds them into text)."""
    from .. import formatter  # a sibling of this layer: imported when first needed

    name = next((f for p, f in _CHAT_FORMATTERS.items() if model_type.startswith(p)), None)
    return getattr(formatter, name or "OpenAIChatFormatter")()


def check_formatter(formatter: Any) -> Any:
    """``formatter`` itself, or TypeError unless it is an object with an async ``format``."""
    if formatter is None:
        return None
    if isinstance(formatter, type):
        raise TypeError(f"formatter must be an instance, got the class {formatter.__name__}: "
                        f"pass {formatter.__name__}()")  # fmt: skip
    if not inspect.iscoroutinefunction(getattr(formatter, "format", None)):
        raise TypeError(
            f"formatter must be a formatter (agentscope_legacy.formatter) with an async "
            f"format(msgs) method, got {type(formatter).__name__}"
        )
    return formatter


def msgs_of(messages: Any) -> list[Msg] | None:
    """``messages`` as a list of Msg objects, or None when they are already formatted.

    A single Msg counts as a list of one; a list mixing Msg objects and dicts is a TypeError
    (which item is which is then ambiguous for the formatter).
    """
    if isinstance(messages, Msg):
        return [messages]
    if not isinstance(messages, (list, tuple)) or not messages:
        return None
    kinds = [isinstance(m, Msg) for m in messages]
    if all(kinds):
        return list(messages)
    if any(kinds):
        first = kinds.index(not kinds[0])
        raise TypeError(
            f"messages mixes Msg objects and formatted messages (messages[0] is a "
            f"{type(messages[0]).__name__}, messages[{first}] a {type(messages[first]).__name__}):"
            " pass Msg objects only (the model's formatter formats them) or formatted dicts only"
        )
    return None
