"""``TokenCounterBase``: how many tokens a formatted prompt costs, before sending it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class TokenCounterBase(ABC):
    """Counts the tokens of provider-formatted messages (the output of a formatter).

    Formatters use a counter to truncate a conversation to a token budget; counters that need a
    provider API call are async, so every counter is.
    """

    @abstractmethod
    async def count(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
    ) -> int:
        """The number of tokens ``messages`` (and ``tools``) take in the model's prompt."""
