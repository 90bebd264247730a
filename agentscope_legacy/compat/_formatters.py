"""``agentscope.formatters`` of 0.1.3-0.1.6: classmethod-only formatter classes.

Each class is a thin front over the pure functions the 0.x wrappers' ``format()`` uses, so a
formatter gives exactly what the matching wrapper gives (spec §7; where this project's
wrappers deliberately differ from 0.1.6, e.g. Gemini's system instruction, so do these).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from ..message import Msg
from ..models._format import (
    common_chat_messages,
    common_multi_agent_messages,
    normalize_tools,
    openai_messages,
)
from ..models.anthropic._messages import (
    anthropic_chat_messages,
    anthropic_multi_agent_messages,
    tools_to_anthropic,
)
from ..models.dashscope._messages import dashscope_chat_messages, dashscope_multi_agent_messages
from ..models.gemini._messages import gemini_chat_contents, gemini_multi_agent_contents

__all__ = [
    "AnthropicFormatter",
    "CommonFormatter",
    "DashScopeFormatter",
    "FormatterBase",
    "GeminiFormatter",
    "OpenAIFormatter",
]


class FormatterBase:
    """0.1.x's formatter base: model-name regexes and the chat/multi-agent choice."""

    supported_model_regexes: list[str] = []

    @classmethod
    def is_supported_model(cls, model_name: str) -> bool:
        return any(re.match(regex, model_name) for regex in cls.supported_model_regexes)

    @classmethod
    def format_auto(cls, msgs: Msg | list[Msg]) -> list[dict[str, Any]]:
        """Chat format when the user and assistant messages number two at most, else
        multi-agent (0.1.x counted messages, not speakers)."""
        msgs = cls.check_and_flat_messages(msgs)
        roles = Counter(msg.role for msg in msgs)
        if roles["user"] + roles["assistant"] <= 2:
            return cls.format_chat(msgs)
        return cls.format_multi_agent(msgs)

    @classmethod
    def format_chat(cls, *msgs: Any, **kwargs: Any) -> list[dict[str, Any]]:
        raise NotImplementedError(f"{cls.__name__} does not implement format_chat")

    @classmethod
    def format_multi_agent(cls, *msgs: Any, **kwargs: Any) -> list[dict[str, Any]]:
        raise NotImplementedError(f"{cls.__name__} does not implement format_multi_agent")

    @staticmethod
    def check_and_flat_messages(*msgs: Msg | list[Msg] | None) -> list[Msg]:
        """Msgs from Msg, None (skipped) or list-of-Msg arguments; anything else TypeError."""
        flat: list[Msg] = []
        for arg in msgs:
            if arg is None:
                continue
            if isinstance(arg, Msg):
                flat.append(arg)
            elif isinstance(arg, list) and all(isinstance(item, Msg) for item in arg):
                flat.extend(arg)
            else:
                raise TypeError(
                    f"The input should be a Msg object or a list of Msg objects, got {type(arg)}."
                )
        return flat

    @classmethod
    def format_tools_json_schemas(cls, schemas: dict[str, dict]) -> list[dict]:
        raise NotImplementedError(
            f"The method `format_tools_json_schemas` is not implemented yet in {cls.__name__}."
        )


def _openai_tool_schemas(schemas: dict[str, dict]) -> list[dict]:
    """``{name: {"type": "function", "function": {...}}}`` checked and listed (0.1.x)."""
    if not isinstance(schemas, dict):
        raise TypeError(f"Expect dict of schemas, got {type(schemas)}.")
    for schema in schemas.values():
        function = schema.get("function") if isinstance(schema, dict) else None
        if not isinstance(function, dict) or schema.get("type") != "function":
            raise ValueError(f"Invalid schema: {schema}, expect a function tool schema")
        if "name" not in function:
            raise ValueError(f"Invalid schema: {schema}, expect a 'name' in 'function'")
    return list(schemas.values())


class CommonFormatter(FormatterBase):
    """Any chat API: ``{"role", "content": text}`` turns, or the system prompt plus one
    user message holding ``## Conversation History``."""

    @classmethod
    def format_chat(
        cls,
        *msgs: Msg | list[Msg] | None,
        require_alternative: bool = False,
        require_user_last: bool = False,
    ) -> list[dict[str, Any]]:
        flat = cls.check_and_flat_messages(*msgs)
        alternating = all(a.role != b.role for a, b in zip(flat, flat[1:], strict=False))
        if (require_alternative and not alternating) or (
            require_user_last and flat and flat[-1].role != "user"
        ):
            return cls.format_multi_agent(flat)
        return common_chat_messages(flat)

    @classmethod
    def format_multi_agent(cls, *msgs: Msg | list[Msg] | None) -> list[dict[str, Any]]:
        if not msgs:
            raise ValueError(
                "At least one message should be provided. An empty message list is not allowed."
            )
        return common_multi_agent_messages(cls.check_and_flat_messages(*msgs))

    @classmethod
    def is_supported_model(cls, model_name: str) -> bool:
        raise NotImplementedError(
            "The CommonFormatter is a fallback for any chat model: it has no supported models."
        )


class OpenAIFormatter(FormatterBase):
    """One message per Msg with ``name``; content as text and ``image_url`` parts."""

    supported_model_regexes = ["gpt-.*", "o1", "o1-mini", "o3-mini"]

    @classmethod
    def format_chat(cls, *msgs: Msg | list[Msg] | None) -> list[dict[str, Any]]:
        return cls.format_multi_agent(*msgs)  # the `name` field tells the speakers apart

    @classmethod
    def format_multi_agent(cls, *msgs: Msg | list[Msg] | None) -> list[dict[str, Any]]:
        return openai_messages(cls.check_and_flat_messages(*msgs))

    @classmethod
    def format_tools_json_schemas(cls, schemas: dict[str, dict]) -> list[dict]:
        return _openai_tool_schemas(schemas)


class DashScopeFormatter(FormatterBase):
    """DashScope's ``{"text"|"image"|"audio": ...}`` content items."""

    supported_model_regexes = ["qwen-.*"]

    @classmethod
    def format_chat(cls, *msgs: Msg | list[Msg] | None) -> list[dict[str, Any]]:
        return dashscope_chat_messages(cls.check_and_flat_messages(*msgs))

    @classmethod
    def format_multi_agent(cls, *msgs: Msg | list[Msg] | None) -> list[dict[str, Any]]:
        return dashscope_multi_agent_messages(cls.check_and_flat_messages(*msgs))

    @classmethod
    def format_tools_json_schemas(cls, schemas: dict[str, dict]) -> list[dict]:
        return _openai_tool_schemas(schemas)


class GeminiFormatter(FormatterBase):
    """Gemini ``contents`` (``parts`` as ``[{"text": ...}]``, as 0.1.7 with google-genai)."""

    supported_model_regexes = ["gemini-.*"]

    @classmethod
    def format_chat(cls, *msgs: Msg | list[Msg] | None) -> list[dict[str, Any]]:
        return gemini_chat_contents(cls.check_and_flat_messages(*msgs))

    @classmethod
    def format_multi_agent(cls, *msgs: Msg | list[Msg] | None) -> list[dict[str, Any]]:
        return gemini_multi_agent_contents(cls.check_and_flat_messages(*msgs))


class AnthropicFormatter(FormatterBase):
    """Anthropic Messages: content blocks, a leading system prompt as text."""

    supported_model_regexes = ["claude-3-5.*", "claude-3-7.*"]

    @classmethod
    def format_chat(cls, *msgs: Msg | list[Msg] | None) -> list[dict[str, Any]]:
        return anthropic_chat_messages(cls.check_and_flat_messages(*msgs))

    @classmethod
    def format_multi_agent(cls, *msgs: Msg | list[Msg] | None) -> list[dict[str, Any]]:
        return anthropic_multi_agent_messages(cls.check_and_flat_messages(*msgs))

    @classmethod
    def format_tools_json_schemas(cls, schemas: dict[str, dict]) -> list[dict]:
        return tools_to_anthropic(normalize_tools(_openai_tool_schemas(schemas)))
