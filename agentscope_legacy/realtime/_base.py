"""``RealtimeModelBase``: one live connection to a realtime model, its events on a queue.

The base does the shared work once: the connection's life cycle, one receive task that turns
the provider's raw messages into :class:`ModelEvents` on the caller's ``outgoing_queue``,
input audio resampled to the rate the provider takes, a watchdog for a provider that stops
answering while a response is due, and failures as events (``ModelErrorEvent`` then
``ModelSessionEndedEvent``), never as an exception in a task nobody awaits.

A provider implements only its calls and its parsing::

    async def _open(self, instructions, tools)   # connect, configure the session
    async def _close(self)
    def _receive(self) -> AsyncIterator[Any]      # the raw messages, until the socket closes
    def _parse(self, raw) -> list[ModelEvent]     # one raw message -> unified events
    async def _send_audio(self, pcm)              # PCM16 at ``input_sample_rate``
    async def _send_text(self, text)
    async def _send_image(self, data_b64, media_type)      # optional
    async def _send_tool_result(self, call_id, name, output)  # optional
    async def _create_response(self) / _cancel_response(self) / _commit_audio(self)
    def _translate(self, exc) -> ProviderError    # an SDK exception -> a typed error
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from .._secrets import register_secret
from ..audio import block_pcm, resample_pcm16
from ..errors import (
    AgentScopeError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
)
from ._events import ModelEvents

__all__ = ["RealtimeModelBase", "RealtimeSessionError"]

_END = object()


class RealtimeSessionError(AgentScopeError, RuntimeError):
    """The realtime model was used out of order: send before connect, connect twice..."""


class RealtimeModelBase:
    """A realtime model: ``connect(outgoing_queue, instructions, tools)``, ``send(block)``,
    ``disconnect()``; events arrive on ``outgoing_queue``.

    ``send`` takes a content block: ``audio`` (base64 PCM16 or WAV at any rate: resampled to
    ``input_sample_rate``), ``text``, ``image`` (providers with image input) or
    ``tool_result`` (providers with tools). ``create_response()``, ``cancel_response()``
    (barge-in) and ``commit_audio()`` drive the turn where server VAD does not.

    ``response_timeout``: seconds a due response may go without any event from the provider
    before the session fails with ProviderTimeoutError (a stalled socket).
    """

    model_type: ClassVar[str] = ""
    provider: ClassVar[str] = ""
    support_tools: ClassVar[bool] = False
    support_image: ClassVar[bool] = False
    #: The PCM16 rate the provider takes and the rate it answers in.
    input_sample_rate: ClassVar[int] = 16000
    output_sample_rate: ClassVar[int] = 24000
    #: JSON Schema properties of this class's own config fields (``realtime._config``).
    config_schema: ClassVar[dict[str, Any]] = {}

    def __init__(
        self,
        model_name: str = "",
        *,
        api_key: str | None = None,
        voice: str | None = None,
        connect_timeout: float = 10.0,
        response_timeout: float = 30.0,
    ) -> None:
        self.model_name = model_name
        self.voice = voice
        self.connect_timeout = connect_timeout
        self.response_timeout = response_timeout
        self._api_key = api_key
        register_secret(api_key)
        self._queue: asyncio.Queue[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._receiver: asyncio.Task[None] | None = None
        self._due_since: float | None = None  # a response is due since (monotonic)
        self._closing = False
        self._ended = False  # the session failed or the provider closed it
        self._stalled = False  # the watchdog ended the receive loop
        self.session_id = ""

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}(model_name={self.model_name!r})"

    @property
    def connected(self) -> bool:
        return self._receiver is not None and not self._ended

    # -- the public life cycle -------------------------------------------------------------------
    async def connect(
        self,
        outgoing_queue: asyncio.Queue[Any],
        instructions: str = "",
        tools: list[dict[str, Any]] | None = None,
    ) -> None:
        """Open the connection and configure the session; events go to ``outgoing_queue``.

        Raises the provider's typed error (AuthenticationError, ProviderConnectionError...)
        when the connection or the session setup fails, within ``connect_timeout``.
        """
        if self._receiver is not None:
            raise RealtimeSessionError(f"{type(self).__name__} is already connected")
        if tools and not self.support_tools:
            raise RealtimeSessionError(f"{type(self).__name__} does not support tools")
        self._queue, self._loop = outgoing_queue, asyncio.get_running_loop()
        self._closing = self._ended = False
        self.session_id = self.session_id or uuid.uuid4().hex
        try:
            await asyncio.wait_for(self._open(instructions, list(tools or [])),
                                   self.connect_timeout)
        except asyncio.TimeoutError:
            await self._close_quietly()
            raise self._error(ProviderTimeoutError,
                              f"no session within {self.connect_timeout:g} s") from None
        except ProviderError:
            await self._close_quietly()
            raise
        except Exception as exc:
            await self._close_quietly()
            raise self._translate(exc) from exc
        self._receiver = asyncio.create_task(self._receive_loop(), name=f"{self.provider}-recv")

    async def disconnect(self) -> None:
        """Close the connection; the receive task ends (no event after this returns)."""
        self._closing = True
        receiver, self._receiver = self._receiver, None
        await self._close_quietly()
        if receiver is not None and not receiver.done():
            receiver.cancel()
            try:
                await receiver
            except (asyncio.CancelledError, Exception):
                pass

    async def send(self, data: dict[str, Any]) -> None:
        """Send one content block (audio, text, image or tool_result) to the model."""
        self._require_connected()
        kind = data.get("type") if isinstance(data, dict) else None
        try:
            if kind == "audio":
                pcm, rate = block_pcm(data)
                if rate != self.input_sample_rate:
                    pcm = resample_pcm16(pcm, rate, self.input_sample_rate)
                await self._send_audio(pcm)
            elif kind == "text":
                await self._send_text(str(data.get("text", "")))
                self._due()
            elif kind == "image":
                source = data.get("source") or {}
                if not self.support_image:
                    raise RealtimeSessionError(f"{type(self).__name__} takes no image input")
                if source.get("type") != "base64":
                    raise RealtimeSessionError("an image block sent live must be base64")
                await self._send_image(source.get("data", ""), source.get("media_type", ""))
            elif kind == "tool_result":
                if not self.support_tools:
                    raise RealtimeSessionError(f"{type(self).__name__} does not support tools")
                output = data.get("output", "")
                await self._send_tool_result(str(data.get("id", "")), str(data.get("name", "")),
                                             output if isinstance(output, str)
                                             else json.dumps(output, ensure_ascii=False))
                self._due()
            else:
                raise RealtimeSessionError(f"cannot send a block of type {kind!r}")
        except (AgentScopeError, ValueError):
            raise
        except Exception as exc:
            raise self._translate(exc) from exc

    async def create_response(self) -> None:
        """Ask for a response now (without waiting for server VAD)."""
        await self._call(self._create_response)
        self._due()

    async def cancel_response(self) -> None:
        """Stop the response being generated (barge-in); its ``ModelResponseDoneEvent``
        follows with ``metadata["status"] == "cancelled"`` where the provider says so."""
        await self._call(self._cancel_response)

    async def commit_audio(self) -> None:
        """Say the user's audio input is complete (a turn without server VAD)."""
        await self._call(self._commit_audio)
        self._due()

    # -- provider hooks ----------------------------------------------------------------------------
    async def _open(self, instructions: str, tools: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError

    def _receive(self) -> AsyncIterator[Any]:
        raise NotImplementedError

    def _parse(self, raw: Any) -> list[Any]:
        raise NotImplementedError

    async def _send_audio(self, pcm: bytes) -> None:
        raise NotImplementedError

    async def _send_text(self, text: str) -> None:
        raise NotImplementedError

    async def _send_image(self, data_b64: str, media_type: str) -> None:
        raise RealtimeSessionError(f"{type(self).__name__} takes no image input")

    async def _send_tool_result(self, call_id: str, name: str, output: str) -> None:
        raise RealtimeSessionError(f"{type(self).__name__} does not support tools")

    async def _create_response(self) -> None:
        raise NotImplementedError

    async def _cancel_response(self) -> None:
        raise NotImplementedError

    async def _commit_audio(self) -> None:
        raise NotImplementedError

    def _translate(self, exc: BaseException) -> ProviderError:
        """An SDK or socket exception as a typed error (providers refine this)."""
        if isinstance(exc, ProviderError):
            return exc
        if isinstance(exc, (ConnectionError, OSError, EOFError)):
            return self._error(ProviderConnectionError, f"connection lost: {exc}")
        return self._error(ProviderError, f"{type(exc).__name__}: {exc}")

    # -- what providers call -------------------------------------------------------------------
    def _error(self, cls: type[ProviderError], message: str, **kw: Any) -> ProviderError:
        return cls(message, provider=self.provider, model=self.model_name, **kw)

    def _emit(self, event: Any) -> None:
        """Put ``event`` on the outgoing queue (from the event loop)."""
        if self._queue is not None and not self._closing:
            self._queue.put_nowait(event)

    def _emit_threadsafe(self, event: Any) -> None:
        """Put ``event`` on the outgoing queue from another thread (an SDK callback)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._emit, event)
            except RuntimeError:  # the loop closed meanwhile
                pass

    @staticmethod
    def _thread_feed() -> tuple[Any, Any]:
        """``(put, receive)`` for a provider whose SDK calls back in a thread: ``put(raw)``
        from the callback thread (``put(None)`` at the end), ``receive()`` as ``_receive``."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        lock = threading.Lock()

        def put(raw: Any) -> None:
            with lock:
                if not loop.is_closed():
                    loop.call_soon_threadsafe(queue.put_nowait, _END if raw is None else raw)

        async def receive() -> AsyncIterator[Any]:
            while (raw := await queue.get()) is not _END:
                yield raw

        return put, receive

    # -- internals -------------------------------------------------------------------------------
    def _require_connected(self) -> None:
        if not self.connected:
            raise RealtimeSessionError(
                f"{type(self).__name__} is not connected: call `await connect(queue, ...)` first"
                if self._receiver is None else f"{type(self).__name__}'s session has ended"
            )

    async def _call(self, hook: Any) -> None:
        self._require_connected()
        try:
            await hook()
        except (AgentScopeError, ValueError):
            raise
        except Exception as exc:
            raise self._translate(exc) from exc

    def _due(self) -> None:
        if self._due_since is None:
            self._due_since = time.monotonic()

    async def _close_quietly(self) -> None:
        try:
            await asyncio.wait_for(self._close(), 5)
        except (asyncio.CancelledError, Exception):
            pass

    async def _watch(self, receiver: asyncio.Task[Any]) -> None:
        """Fail the session when a due response goes ``response_timeout`` without an event.

        A task beside the receive loop, so that loop awaits each message directly: no timer
        per message (this is on the path of every audio delta).
        """
        tick = min(0.25, self.response_timeout / 4)
        while True:
            await asyncio.sleep(tick)
            due = self._due_since
            if due is not None and time.monotonic() - due >= self.response_timeout:
                self._stalled = True
                receiver.cancel()
                return

    async def _receive_loop(self) -> None:
        reason = "closed by the provider"
        self._stalled = False
        task = asyncio.current_task()
        assert task is not None
        watchdog = asyncio.create_task(self._watch(task))
        try:
            try:
                async for raw in self._receive():
                    if self._due_since is not None:  # alive: the clock restarts until the answer
                        self._due_since = time.monotonic()
                    for event in self._parse(raw):
                        if isinstance(event, ModelEvents.ModelInputDoneEvent):
                            self._due()
                        elif isinstance(event, (ModelEvents.ModelResponseDoneEvent,
                                                ModelEvents.ModelErrorEvent)):  # fmt: skip
                            self._due_since = None
                        self._emit(event)
            except asyncio.CancelledError:
                if not self._stalled:
                    raise
                if hasattr(task, "uncancel"):  # 3.11+: this cancel was ours, and is handled
                    task.uncancel()
                raise self._error(ProviderTimeoutError,
                                  f"no event for {self.response_timeout:g} s "
                                  "while a response was due") from None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            err = self._translate(exc)
            reason = f"{type(err).__name__}: {err}"
            self._emit(ModelEvents.ModelErrorEvent(
                error_type=type(err).__name__,
                code=str(err.status or getattr(err, "code", "") or type(err).__name__),
                message=str(err),
            ))
        finally:
            watchdog.cancel()
        self._ended = True
        if not self._closing:
            self._emit(ModelEvents.ModelSessionEndedEvent(session_id=self.session_id,
                                                          reason=reason))
            await self._close_quietly()
