"""DashScope ``qwen3-tts-flash-realtime`` over its websocket, through the official SDK's
``dashscope.audio.qwen_tts_realtime.QwenTtsRealtime``.

On the wire (verified on loopback, ``tests/emulators/tts.py``): the SDK connects to
``{url}?model=<model>`` (default ``wss://dashscope.aliyuncs.com/api-ws/v1/realtime``) with
``Authorization: Bearer <key>``; the server says ``session.created``; the client sends
``session.update`` (voice, ``mode: server_commit``, ``response_format: pcm``, sample rate),
``input_text_buffer.append`` per text delta and, at the end, ``session.finish``; the server
answers ``response.audio.delta`` events (base64 PCM16), ``response.done``, ``session.finished``
and closes the connection. An ``error`` event carries a ``code`` (``InvalidApiKey``...).

One session per ``msg.id`` (:class:`RealtimeTTSModelBase`), one websocket per session: the
server closes the connection after ``session.finished``, which is the only reliable end of a
session's audio in ``server_commit`` mode (that mode may send several ``response.done``), so the
next session connects again. ``connect()`` (``async with``) opens the first connection and waits
for ``session.created``, so a refused key fails there.

**Keys per model.** The SDK takes no ``api_key``: ``QwenTtsRealtime.__init__`` copies the
process-global ``dashscope.api_key`` into the instance attribute ``apikey``, and ``connect()``
builds the ``Authorization`` header from that attribute (dashscope 2.0.2, read in its source and
tested). Each model sets its own key on its own SDK object right after constructing it, so two
models with two keys each send their own, and ``dashscope.api_key`` is never read or written.
If a future SDK drops the attribute, the model refuses to connect rather than send another key.

Failures reach the waiting call as typed errors, never a hang: an ``error`` event
(AuthenticationError, RateLimitError, ServerError, ProviderError by its code), a connection
closed or dropped before ``session.finished`` (ProviderConnectionError), base64 that does not
decode (ResponseFormatError), no audio for ``timeout`` seconds (ProviderTimeoutError). The SDK's
``connect()`` polls up to 5 s for the socket; a failed handshake is noticed through its close
callback at once instead.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, ClassVar

from ..errors import (
    AuthenticationError,
    ConfigError,
    ConfigIssue,
    ProviderConnectionError,
    ProviderError,
    RateLimitError,
    ServerError,
)
from ..model._endpoint import dashscope_realtime_url
from ._common import decode_b64, resolve_api_key
from ._realtime import RealtimeTTSModelBase

#: The sample rates the service produces (``session.update``); others are resampled here.
SERVICE_RATES = (8000, 16000, 22050, 24000, 44100, 48000)


def _import_realtime() -> Any:
    from ..models.dashscope import import_dashscope

    import_dashscope()  # MissingDependencyError naming the extra when absent
    from dashscope.audio import qwen_tts_realtime

    return qwen_tts_realtime


def _event_error(event: dict[str, Any]) -> ProviderError:
    error = event.get("error") if isinstance(event.get("error"), dict) else {}
    code = str(error.get("code") or error.get("type") or "")
    message = str(error.get("message") or "error event")
    if code in ("InvalidApiKey", "AccessDenied") or "401" in code:
        cls: type[ProviderError] = AuthenticationError
    elif code.startswith("Throttling"):
        cls = RateLimitError
    elif code.startswith(("InternalError", "ServiceUnavailable")):
        cls = ServerError
    else:
        cls = ProviderError
    status = {AuthenticationError: 401, RateLimitError: 429, ServerError: 500}.get(cls)
    return cls(f"{code}: {message}" if code else message, status=status, body=error or None)


class _Link:
    """One websocket: the SDK object, and what its callback thread saw."""

    def __init__(self, model: DashScopeRealtimeTTSModel, loop: asyncio.AbstractEventLoop) -> None:
        self.model = model
        self.loop = loop
        #: Done at session.created, or when the connection failed first (see ``failure``).
        self.created: asyncio.Future[None] = loop.create_future()
        self.closed = threading.Event()
        self.finished = False  # session.finished: the close that follows is expected
        self.failure: BaseException | None = None  # the first thing that went wrong
        self.active = False  # feeding a session
        self.used = False  # a session ran on it (the server ends the connection after one)
        self.sdk: Any = None

    def _created(self) -> None:
        _threadsafe_set(self.loop, self.created, None)

    # -- the SDK's callback interface (run in its websocket thread) ---------------------------
    def on_event(self, event: Any) -> None:
        if not isinstance(event, dict):
            return
        kind = event.get("type")
        if kind == "session.created":
            self._created()
        elif kind == "response.audio.delta":
            if self.active:
                try:
                    pcm = decode_b64(event.get("delta"), "a response.audio.delta event")
                except Exception as exc:
                    self._fail(exc)
                    return
                self.model.feed_audio((pcm, self.model.wire_rate))
        elif kind == "session.finished":
            self.finished = True
            if self.active:
                self.active = False
                self.model.feed_end()
        elif kind == "error":
            self._fail(_event_error(event))

    def on_close(self, code: Any, reason: Any) -> None:
        if not self.finished:
            detail = (f"code {code}" + (f", {reason}" if reason else "")) if code else "dropped"
            self._fail(ProviderConnectionError(f"the websocket closed ({detail})"))
        self.closed.set()
        self._created()

    def _fail(self, exc: BaseException) -> None:
        if self.failure is None:
            self.failure = exc
        self._created()
        if self.active:
            self.active = False
            self.model.feed_error(exc)

    @property
    def usable(self) -> bool:
        """Connected, session.created seen, no session run on it yet, nothing failed."""
        return (
            self.created.done() and not self.used and self.failure is None
            and not self.closed.is_set()
        )  # fmt: skip


def _set(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _threadsafe_set(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], value: Any
) -> None:
    """Resolve ``future`` from another thread; nothing once its loop has closed."""
    try:
        loop.call_soon_threadsafe(_set, future, value)
    except RuntimeError:  # the loop closed meanwhile (the caller gave up long ago)
        pass


class DashScopeRealtimeTTSModel(RealtimeTTSModelBase):
    """``qwen3-tts-flash-realtime``: ``push()`` text as it arrives, ``synthesize()`` to finish.

    Args:
        model_name: the DashScope realtime TTS model.
        api_key: the key (default: ``DASHSCOPE_API_KEY``); this model's own, see the module doc.
        voice: e.g. ``"Cherry"``.
        stream: ``synthesize`` returns an async generator of PCM chunks.
        sample_rate: of the audio (asked of the service when it offers it, else resampled).
        base_url: the endpoint: the websocket's, or DashScope's HTTP base
            (``https://dashscope-intl.aliyuncs.com/api/v1``, as the other DashScope models
            take), whose host's realtime websocket is then used.
        url: the SDK's spelling: the websocket endpoint without ``?model=`` (default:
            DashScope's, Beijing; ``wss://dashscope-intl.aliyuncs.com/api-ws/v1/realtime`` for
            Singapore).
        mode: ``"server_commit"`` (the server decides when to speak) or ``"commit"``.
        language_type: e.g. ``"Chinese"``, ``"English"``.
        generate_kwargs: more ``session.update`` fields (``speech_rate``, ``volume``...).
        connect_timeout: seconds to wait for ``session.created``.
        timeout: seconds without audio before a call fails.
    """

    model_type: ClassVar[str | None] = "dashscope_realtime_tts"
    provider: ClassVar[str] = "dashscope"
    default_voice: ClassVar[str | None] = "Cherry"
    default_sample_rate: ClassVar[int] = 24000
    config_schema: ClassVar[dict[str, Any]] = {
        "properties": {
            "api_key": {"type": ["string", "null"]},
            "base_url": {"type": ["string", "null"]},
            "url": {"type": ["string", "null"]},
            "mode": {"enum": ["server_commit", "commit"]},
            "language_type": {"type": ["string", "null"]},
            "generate_kwargs": {"type": "object"},
            "connect_timeout": {"type": "number", "exclusiveMinimum": 0},
        }
    }

    def __init__(
        self,
        model_name: str = "qwen3-tts-flash-realtime",
        api_key: str | None = None,
        voice: str | None = None,
        stream: bool = False,
        sample_rate: int | None = None,
        *,
        base_url: str | None = None,
        url: str | None = None,
        mode: str = "server_commit",
        language_type: str | None = None,
        generate_kwargs: dict[str, Any] | None = None,
        connect_timeout: float = 10.0,
        timeout: float | None = 120.0,
    ) -> None:
        super().__init__(model_name, stream=stream, sample_rate=sample_rate, voice=voice,
                         timeout=timeout)  # fmt: skip
        if mode not in ("server_commit", "commit"):
            raise ConfigError(ConfigIssue(f"unknown mode {mode!r}", field="mode"))
        self._sdk_module = _import_realtime()
        self._api_key = resolve_api_key(type(self).__name__, api_key, ("DASHSCOPE_API_KEY",))
        #: The websocket endpoint (None: the SDK's default).
        self.url = dashscope_realtime_url(type(self).__name__, base_url, url)
        self.mode = mode
        self.language_type = language_type
        self.generate_kwargs = dict(generate_kwargs or {})
        self.connect_timeout = connect_timeout
        #: The rate asked of the service (the audio is resampled from it when it differs).
        self.wire_rate = self.sample_rate if self.sample_rate in SERVICE_RATES else 24000
        self._link: _Link | None = None

    # -- the connection ----------------------------------------------------------------------
    def _new_sdk(self, link: _Link) -> Any:
        module = self._sdk_module
        callback = type(
            "_Callback",
            (module.QwenTtsRealtimeCallback,),
            {
                "on_event": lambda _self, event: link.on_event(event),
                "on_close": lambda _self, code, reason: link.on_close(code, reason),
            },
        )()
        sdk = module.QwenTtsRealtime(model=self.model_name, callback=callback, url=self.url)
        if not hasattr(sdk, "apikey"):
            raise ConfigError(
                "this dashscope version's QwenTtsRealtime has no `apikey` attribute: a key "
                "per model cannot be set (see agentscope_legacy.tts._dashscope_realtime)"
            )
        sdk.apikey = self._api_key  # this model's key, never dashscope.api_key
        return sdk

    async def _open_link(self) -> _Link:
        loop = asyncio.get_running_loop()
        link = _Link(self, loop)
        link.sdk = self._new_sdk(link)
        connected: asyncio.Future[BaseException | None] = loop.create_future()

        def connect() -> None:  # a daemon thread: a refused handshake leaves the SDK's connect()
            try:  # polling for 5 s, which must not hold up the event loop's shutdown
                link.sdk.connect()
                error: BaseException | None = None
            except BaseException as exc:  # noqa: BLE001 (handed to the event loop)
                error = exc
            _threadsafe_set(loop, connected, error)

        threading.Thread(target=connect, name="qwen-tts-connect", daemon=True).start()
        try:
            # Whichever comes first: session.created (or the link failing), or connect() ending.
            await asyncio.wait(
                {connected, link.created}, timeout=self.connect_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )  # fmt: skip
            if link.created.done():
                if link.failure is None and not connected.done():  # connect() returns next
                    await asyncio.wait_for(asyncio.shield(connected), self.connect_timeout)
            elif connected.done() and connected.result() is not None:
                if link.failure is None:  # the SDK gave up (no socket within its 5 s)
                    error = connected.result()
                    link.failure = ProviderConnectionError(
                        f"could not connect: {type(error).__name__}: {error}"
                    )
            elif connected.done():  # connected: session.created comes next
                await asyncio.wait({link.created}, timeout=self.connect_timeout)
        except BaseException:
            self._close_link(link)
            raise
        if link.failure is None and not link.created.done():
            link.failure = ProviderConnectionError(
                f"no session.created within {self.connect_timeout} s of connecting"
            )
        if link.failure is not None:
            self._close_link(link)
            raise link.failure
        return link

    @staticmethod
    def _close_link(link: _Link) -> None:
        link.active = False
        ws = getattr(link.sdk, "ws", None)
        if ws is not None:
            try:
                ws.close()
            except Exception:
                pass

    async def _connect(self) -> None:
        self._link = await self._open_link()

    async def _disconnect(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            await asyncio.to_thread(self._close_link, link)

    def _translate_error(self, exc: Exception) -> ProviderError | None:
        # The SDK's send() refuses a closed socket with the builtin ConnectionError; a send
        # racing the drop gets the socket's OSError (EBADF); websocket-client raises its own.
        if isinstance(exc, OSError) or type(exc).__module__.startswith("websocket"):
            return ProviderConnectionError(f"websocket error: {type(exc).__name__}: {exc}")
        return None

    # -- sessions ----------------------------------------------------------------------------
    async def _open_session(self, session_id: str) -> None:
        link = self._link
        if link is None or not link.usable:
            if link is not None:
                await asyncio.to_thread(self._close_link, link)
            self._link = link = None
            self._link = link = await self._open_link()
        link.active = link.used = True
        config: dict[str, Any] = {
            "voice": self.voice,
            "mode": self.mode,
            "sample_rate": self.wire_rate,
            "audio_format": "pcm",
        }
        if self.language_type:
            config["language_type"] = self.language_type
        config.update(self.generate_kwargs)
        await asyncio.to_thread(link.sdk.update_session, **config)

    def _active_link(self) -> _Link:
        link = self._link
        if link is None or link.closed.is_set():
            failure = link.failure if link is not None else None
            raise failure or ProviderConnectionError("the websocket is closed")
        return link

    async def _send_text(self, delta: str) -> None:
        link = self._active_link()
        await asyncio.to_thread(link.sdk.append_text, delta)

    async def _finish(self) -> None:
        link = self._active_link()
        if self.mode == "commit":
            await asyncio.to_thread(link.sdk.commit)
        await asyncio.to_thread(link.sdk.finish)


__all__ = ["DashScopeRealtimeTTSModel", "SERVICE_RATES"]
