"""Prompt caching (pure): where a request gets Anthropic's ``cache_control`` breakpoints.

The API caches the prefix of a request up to a block marked ``cache_control`` (in the order
tools, system, messages), at most 4 marks per request. :class:`PromptCaching` says which
prefixes to mark: the tools, the system prompt and the last ``last_turns`` user turns (the
newest one writes the cache; the one before reads what the previous call wrote).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from ...errors import ConfigError

MAX_BREAKPOINTS = 4
TTLS = ("5m", "1h")


@dataclass(frozen=True)
class PromptCaching:
    """Which parts of a request get a ``cache_control`` mark.

    Args:
        system: mark the (last block of the) system prompt.
        tools: mark the last tool (so every tool definition is cached).
        last_turns: mark the last block of this many of the latest user turns.
        ttl: ``"5m"`` (the API's default, not sent) or ``"1h"``.
    """

    system: bool = True
    tools: bool = True
    last_turns: int = 2
    ttl: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.last_turns, bool) or not isinstance(self.last_turns, int):
            raise ConfigError(f"last_turns must be an integer, got {self.last_turns!r}")
        if self.last_turns < 0:
            raise ConfigError(f"last_turns must be 0 or more, got {self.last_turns}")
        if self.ttl is not None and self.ttl not in TTLS:
            raise ConfigError(f"ttl must be one of {TTLS} or None, got {self.ttl!r}")
        marks = int(self.system) + int(self.tools) + self.last_turns
        if marks > MAX_BREAKPOINTS:
            raise ConfigError(
                f"prompt caching would place {marks} cache_control marks; the API allows "
                f"{MAX_BREAKPOINTS} (system + tools + last_turns)"
            )

    @classmethod
    def of(cls, value: PromptCaching | bool | dict[str, Any] | None) -> PromptCaching | None:
        """A policy from a config value: True (the defaults), a dict of fields, or a policy."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(cls.__dataclass_fields__))
            if unknown:
                raise ConfigError(f"prompt_caching: unknown fields {unknown}")
            return cls(**value)
        raise ConfigError(
            f"prompt_caching must be a bool, a dict or a PromptCaching, not {value!r}"
        )

    @property
    def mark(self) -> dict[str, str]:
        return {"type": "ephemeral", **({"ttl": self.ttl} if self.ttl else {})}


def with_cache_control(request: dict[str, Any], policy: PromptCaching) -> dict[str, Any]:
    """A copy of a Messages request with ``policy``'s marks placed (the input is not changed).

    A block that already has ``cache_control`` keeps it; parts that are absent (no tools, no
    system prompt) are skipped, so a mark is never invented.
    """
    request = copy.deepcopy(request)
    if policy.tools and request.get("tools"):
        _mark(request["tools"][-1], policy)
    if policy.system and request.get("system"):
        system = request["system"]
        if isinstance(system, str):
            request["system"] = system = [{"type": "text", "text": system}]
        _mark(system[-1], policy)
    turns = [m for m in request.get("messages", []) if m.get("role") == "user"]
    for message in turns[len(turns) - policy.last_turns :] if policy.last_turns else []:
        content = message.get("content")
        if isinstance(content, str):
            message["content"] = content = [{"type": "text", "text": content}]
        if content:
            _mark(content[-1], policy)
    return request


def _mark(block: dict[str, Any], policy: PromptCaching) -> None:
    block.setdefault("cache_control", policy.mark)


__all__ = ["MAX_BREAKPOINTS", "PromptCaching", "with_cache_control"]
