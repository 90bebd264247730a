"""Async SDK clients, one per running event loop.

An async HTTP client keeps pooled connections bound to the event loop that opened them: reused
from another loop (a second ``asyncio.run`` on the same wrapper) it fails with "Event loop is
closed". :class:`PerLoop` builds the client lazily, once per loop, and retires the clients of
loops that have been closed.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from ..errors import ProviderConnectionError, ProviderError, ProviderTimeoutError

T = TypeVar("T")


class PerLoop(Generic[T]):
    """``factory()``'s result for the running event loop, built on first use in that loop.

    ``aclose(item)`` closes a retired item (one whose loop was closed). Its connections died
    with their loop, so the close cannot complete; it is still awaited, with its errors
    ignored, so the SDK marks the client closed instead of trying again, noisily, when the
    client is garbage-collected.
    """

    def __init__(
        self, factory: Callable[[], T], aclose: Callable[[T], Awaitable[Any]] | None = None
    ) -> None:
        self._factory = factory
        self._aclose = aclose
        self._items: dict[Any, T] = {}
        self._lock = threading.Lock()
        self._closing: set[asyncio.Task[None]] = set()

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        with self._lock:
            retired = [self._items.pop(k) for k in list(self._items) if k.is_closed()]
            item = self._items.get(loop)
            if item is None:
                item = self._items[loop] = self._factory()
        for old in retired:
            self._retire(old, loop)
        return item

    def _retire(self, item: T, loop: asyncio.AbstractEventLoop) -> None:
        if self._aclose is None:
            return
        task = loop.create_task(self._quietly(item))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _quietly(self, item: T) -> None:
        try:
            await self._aclose(item)  # type: ignore[misc]
        except Exception:
            pass


def aiohttp_error(exc: BaseException) -> ProviderError | None:
    """A typed error for an aiohttp transport exception (the async transport of the dashscope
    and google-genai SDKs), else None. aiohttp is not imported here: an SDK that uses it has."""
    aiohttp = sys.modules.get("aiohttp")
    if isinstance(exc, TimeoutError):  # aiohttp's timeouts subclass it
        return ProviderTimeoutError(f"request timed out: {type(exc).__name__}: {exc}")
    if aiohttp is not None and isinstance(
        exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)
    ):
        return ProviderConnectionError(f"connection error: {type(exc).__name__}: {exc}")
    return None
