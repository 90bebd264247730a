"""``model.stream``: a chat model's streaming flag that is also its ``stream()`` method.

The Python API has always had ``stream=`` (a bool, read back as ``model.stream``); the
reference's Java API has ``stream(messages, tools, options)``. Both keep working through one
descriptor: reading ``model.stream`` gives a :class:`StreamSwitch`, which behaves as the flag
(``if model.stream``, ``model.stream == True``, ``bool(...)``, its repr) and, called, streams.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any


class StreamSwitch:
    """The flag of one model, callable as ``model.stream(messages, tools=None, options=None)``."""

    __slots__ = ("_model", "_on")

    def __init__(self, model: Any, on: bool) -> None:
        self._model = model
        self._on = on

    def __call__(
        self,
        messages: Any,
        tools: list[dict[str, Any]] | None = None,
        options: Any = None,
        **kwargs: Any,
    ) -> AsyncGenerator[Any, None]:
        """The async generator of accumulative ChatResponses, whatever the flag says."""
        return self._model._stream_reply(messages, tools, options, kwargs)

    def __bool__(self) -> bool:
        return self._on

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (StreamSwitch, bool, int)):
            return self._on == bool(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._on)

    def __repr__(self) -> str:
        return repr(self._on)


class StreamAttribute:
    """The descriptor behind ``model.stream``; assigning sets the flag (as a bool)."""

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return StreamSwitch(obj, bool(obj.__dict__.get("_stream_flag", False)))

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__["_stream_flag"] = bool(value)
