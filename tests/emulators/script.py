"""The provider-neutral scripted chat reply shared by every chat emulator.

A test scripts one reply (text, reasoning, tool calls, usage) with ``set_reply``; each
emulator renders it in its own wire format, streamed and not, so the same script must give the
same text, tool calls and usage through every provider's SDK and wrapper (the parity test).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .base import LoopbackServer

__all__ = ["DEFAULT_TEXT", "ChatScript", "ScriptedChatServer", "split_text"]

DEFAULT_TEXT = "Hello!"


def split_text(text: str, size: int = 3) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@dataclass
class ChatScript:
    """The scripted assistant reply; see :meth:`ScriptedChatServer.set_reply`."""

    text: str = DEFAULT_TEXT
    chunks: list[str] | None = None
    reasoning: str | list[str] | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    prompt_tokens: int = 5
    completion_tokens: int = 2
    finish_reason: str | None = None
    model: str | None = None

    @classmethod
    def build(
        cls,
        text: str | None = None,
        chunks: list[str] | None = None,
        reasoning: str | list[str] | None = None,
        tool_calls: list[dict[str, Any]] | None = None,
        prompt_tokens: int = 5,
        completion_tokens: int = 2,
        finish_reason: str | None = None,
        model: str | None = None,
    ) -> ChatScript:
        """Validate arguments: ``chunks`` defines the text when given."""
        if chunks is not None:
            joined = "".join(chunks)
            if text is not None and text != joined:
                raise ValueError("text and ''.join(chunks) disagree")
            text = joined
        calls = []
        for i, call in enumerate(tool_calls or []):
            args = call.get("arguments", {})
            if not isinstance(args, str):
                args = json.dumps(args, separators=(",", ":"))
            calls.append(
                {
                    "id": call.get("id") or f"call_{i}",
                    "name": call["name"],
                    # A str is passed through verbatim, e.g. to test broken arguments.
                    "arguments": args,
                }
            )
        return cls(
            text=DEFAULT_TEXT if text is None else text,
            chunks=chunks,
            reasoning=reasoning,
            tool_calls=calls,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            finish_reason=finish_reason,
            model=model,
        )

    @property
    def text_pieces(self) -> list[str]:
        return self.chunks if self.chunks is not None else split_text(self.text)

    @property
    def reasoning_pieces(self) -> list[str]:
        if self.reasoning is None:
            return []
        return (
            split_text(self.reasoning) if isinstance(self.reasoning, str) else list(self.reasoning)
        )

    @property
    def reasoning_text(self) -> str | None:
        return None if self.reasoning is None else "".join(self.reasoning_pieces)

    @property
    def final_finish_reason(self) -> str:
        return self.finish_reason or ("tool_calls" if self.tool_calls else "stop")

    @property
    def usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


class ScriptedChatServer(LoopbackServer):
    """A loopback server answering chat requests from a :class:`ChatScript`."""

    def __init__(self, *, tls: bool = False) -> None:
        super().__init__(tls=tls)
        self._script = ChatScript()
        self._reply_fn: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    # -- scripting -------------------------------------------------------

    def set_reply(
        self,
        text: str | None = None,
        chunks: list[str] | None = None,
        reasoning: str | list[str] | None = None,
        tool_calls: list[dict[str, Any]] | None = None,
        prompt_tokens: int = 5,
        completion_tokens: int = 2,
        finish_reason: str | None = None,
        model: str | None = None,
    ) -> None:
        """Script every following chat reply (and drop any reply function).

        ``chunks`` are the streamed text pieces (default: ``text`` in pieces of
        3 characters); ``tool_calls`` items are ``{"id", "name", "arguments"}``
        with ``arguments`` a dict (JSON-encoded on the wire) or a raw string;
        ``model`` defaults to the request's model.
        """
        self._script = ChatScript.build(
            text=text,
            chunks=chunks,
            reasoning=reasoning,
            tool_calls=tool_calls,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            finish_reason=finish_reason,
            model=model,
        )
        self._reply_fn = None

    def set_reply_fn(self, fn: Callable[[dict[str, Any]], dict[str, Any]] | None) -> None:
        """Compute the reply per request: ``fn(request_json)`` returns ``set_reply`` kwargs."""
        self._reply_fn = fn

    def clear(self) -> None:
        """Also restore the default reply (``"Hello!"``)."""
        super().clear()
        self._script = ChatScript()
        self._reply_fn = None

    def script_for(self, body: dict[str, Any]) -> ChatScript:
        """The script answering this request body."""
        return ChatScript.build(**self._reply_fn(body)) if self._reply_fn else self._script
