"""The TTS base classes: what every text-to-speech model shares, written once.

A plain provider implements one hook::

    async def _synthesize_pcm(self, text: str, *, stream: bool, **kwargs) -> AsyncIterator[bytes]:
        ...yield PCM16 mono chunks at self.sample_rate (or (pcm, rate) tuples: resampled here)

``stream`` says whether this call's result is streamed (the model's ``stream``, or the call's
``stream=`` keyword), for a provider that asks its service differently then; it is passed only
to a hook that declares a parameter of that name (``**kwargs`` alone never receives it), so
``kwargs`` hold only the call's provider keywords. And, optionally,
``_translate_error(exc) -> ProviderError | None``.

The base extracts the text of the message (typed error when there is none), assembles a stream
(``pcm_block`` chunks, the last, with ``is_last=True``, has no samples and the usage) or one
response (the whole audio as a ``wav_block``), re-aligns chunks cut mid-sample (audio that
ends on half a sample is malformed: ResponseFormatError), measures timing and usage, and
translates SDK errors once. Keys and retries shared by the providers are in ``_common``.

A realtime provider subclasses :class:`RealtimeTTSModelBase` and implements ``_connect``,
``_disconnect``, ``_open_session(session_id)``, ``_send_text(delta)`` and ``_finish()``; its
receiver hands audio to the base with ``feed_audio(pcm)``, then ``feed_end()`` (or
``feed_error(exc)``), from the event loop or from an SDK callback thread alike.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from .._secrets import scrub_exception
from ..audio import block_pcm, pcm16_to_wav, pcm_block, resample_pcm16, wav_block
from ..errors import AgentScopeError, ProviderError, ProviderTimeoutError, ResponseFormatError
from ..message import AudioBlock, Msg


class TTSInputError(AgentScopeError, ValueError):
    """The text to speak is unusable: empty, too long, or not what a push expects."""


class TTSSessionError(AgentScopeError, RuntimeError):
    """A realtime session misused: push after synthesize, two sessions at once, closed model."""


@dataclass
class TTSUsage:
    """What one synthesis cost: characters in, seconds of audio out, wall time."""

    input_characters: int = 0
    output_seconds: float = 0.0
    time: float = 0.0
    type: str = "tts"


def _now() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


@dataclass
class TTSResponse:
    """One synthesis result, or one chunk of a stream.

    ``content`` is an AudioBlock with a base64 source (``audio/wav`` for a whole non-streamed
    result, ``audio/pcm;rate=<hz>`` for stream chunks and realtime pushes), or None when no
    audio has arrived yet. ``first_audio_at`` is the seconds from the call's start to its first
    audio; ``usage`` is set on the last response of a call.
    """

    content: AudioBlock | None
    is_last: bool = True
    usage: TTSUsage | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: str = field(default_factory=_now)
    first_audio_at: float | None = None
    metadata: dict[str, Any] | None = None
    type: str = "tts"

    def pcm(self) -> tuple[bytes, int]:
        """``(pcm16, sample_rate)`` of the content (``(b"", 0)`` when there is none)."""
        if self.content is None:
            return b"", 0
        return block_pcm(self.content)


def text_of(msg: Msg | str | None) -> str:
    """The text to speak of ``msg``: its str content or its text blocks joined (stripped)."""
    if msg is None:
        return ""
    if isinstance(msg, str):
        return msg.strip()
    if not isinstance(msg, Msg):
        raise TypeError(f"expected a Msg (or a str), got {type(msg).__name__}")
    return (msg.get_text_content() or "").strip()


class TTSModelBase:
    """A text-to-speech model: ``await synthesize(msg)``.

    Args:
        model_name: the provider's model.
        stream: ``synthesize`` returns an async generator of chunks instead of one response.
        sample_rate: of the audio returned (default: the class's ``default_sample_rate``).
        voice: the provider's voice name (default: the class's ``default_voice``).
        timeout: seconds without audio after which a call fails (ProviderTimeoutError).
    """

    #: The legacy ``model_type`` of this class, and the JSON Schema of its own config fields
    #: (``{"properties": {...}, "required": [...]}``: provider args such as ``api_key``).
    model_type: ClassVar[str | None] = None
    config_schema: ClassVar[dict[str, Any]] = {"properties": {}}
    #: Carried by errors.
    provider: ClassVar[str] = "custom"
    supports_streaming_input: ClassVar[bool] = False
    default_sample_rate: ClassVar[int] = 24000
    default_voice: ClassVar[str | None] = None
    #: Longer texts are refused with TTSInputError (None: no limit here).
    max_text_chars: ClassVar[int | None] = None
    #: Whether the class's ``_synthesize_pcm`` declares ``stream`` (set on first use).
    _hook_stream_param: ClassVar[bool | None] = None

    def __init__(
        self,
        model_name: str,
        stream: bool = False,
        sample_rate: int | None = None,
        voice: str | None = None,
        *,
        timeout: float | None = 120.0,
    ) -> None:
        self.model_name = model_name
        self.stream = stream
        self.sample_rate = int(sample_rate or self.default_sample_rate)
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate!r}")
        self.voice = voice if voice is not None else self.default_voice
        self.timeout = timeout

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(model_name={self.model_name!r}, voice={self.voice!r}, "
            f"stream={self.stream}, sample_rate={self.sample_rate})"
        )

    # -- the hooks ---------------------------------------------------------------------------
    def _synthesize_pcm(self, text: str, *, stream: bool, **kwargs: Any) -> AsyncIterator[bytes]:
        """PCM16 mono chunks of ``text`` at ``self.sample_rate`` (an async generator).

        ``stream``: whether the caller gets a stream of chunks (True) or one response (False);
        given only when the hook declares it (see the module docstring). ``kwargs``: the
        call's other keywords, for the provider.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement _synthesize_pcm")

    @classmethod
    def _hook_takes_stream(cls) -> bool:
        """Whether this class's ``_synthesize_pcm`` declares a ``stream`` parameter."""
        cached = cls.__dict__.get("_hook_stream_param")
        if cached is None:
            try:
                params = inspect.signature(cls._synthesize_pcm).parameters
            except (TypeError, ValueError):
                params = {}
            param = params.get("stream")
            cached = param is not None and param.kind in (
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                inspect.Parameter.KEYWORD_ONLY,
            )
            cls._hook_stream_param = cached
        return bool(cached)

    def _translate_error(self, exc: Exception) -> ProviderError | None:
        """A typed error for an SDK exception (None: not known)."""
        return None

    # -- shared helpers ----------------------------------------------------------------------
    def _text(self, msg: Msg | str | None) -> str:
        """The text of ``msg``, checked: TTSInputError when empty or too long."""
        text = text_of(msg)
        if not text:
            raise TTSInputError(f"{type(self).__name__}: no text to speak in the message")
        if self.max_text_chars is not None and len(text) > self.max_text_chars:
            raise TTSInputError(
                f"{type(self).__name__}: text of {len(text):,} characters is longer than "
                f"max_text_chars={self.max_text_chars:,}; split it into several messages"
            )
        return text

    def _typed(self, exc: BaseException) -> BaseException:
        """``exc`` as the typed error to raise (with this model's context), scrubbed."""
        if isinstance(exc, AgentScopeError):
            err = exc
        elif isinstance(exc, asyncio.TimeoutError):
            err = ProviderTimeoutError(f"no audio for {self.timeout} s")
        elif isinstance(exc, Exception):
            translated = self._translate_error(exc)
            if translated is None:
                from ..models._base import transport_error

                translated = transport_error(exc)
            if translated is None:
                return exc
            err = translated
            err.__cause__ = exc
            scrub_exception(exc)
        else:
            return exc
        if isinstance(err, ProviderError):
            err.provider = err.provider or self.provider
            err.model = err.model or self.model_name
        scrub_exception(err)
        return err

    def _chunk(self, item: Any, carry: bytearray) -> bytes:
        """Whole PCM16 samples at self.sample_rate from one hook item (bytes or (pcm, rate));
        an odd trailing byte is kept in ``carry`` for the next chunk (see :meth:`_check_end`)."""
        rate = self.sample_rate
        if isinstance(item, tuple):
            item, rate = item
        if not isinstance(item, (bytes, bytearray, memoryview)):
            raise ResponseFormatError(
                f"{type(self).__name__} produced audio of type {type(item).__name__}, not bytes"
            )
        data = bytes(carry) + bytes(item)
        cut = len(data) - len(data) % 2
        carry[:] = data[cut:]
        pcm = data[:cut]
        if rate != self.sample_rate and pcm:
            pcm = resample_pcm16(pcm, int(rate), self.sample_rate)
        return pcm

    def _check_end(self, carry: bytearray) -> None:
        """At the end of the audio: a byte still carried is half a sample, ResponseFormatError
        (PCM16 comes in whole samples; truncated or not PCM16 audio is not dropped silently)."""
        if carry:
            raise self._typed(
                ResponseFormatError(
                    f"{type(self).__name__}: the audio ended on half a sample ({len(carry)} "
                    "byte left over): truncated, or not PCM16"
                )
            )

    async def _pcm_chunks(
        self, text: str, stream: bool, kwargs: dict[str, Any]
    ) -> AsyncIterator[bytes]:
        """The hook's chunks, aligned, each waited for at most ``timeout``, errors typed."""
        if self._hook_takes_stream():
            source = self._synthesize_pcm(text, stream=stream, **kwargs)
        else:
            source = self._synthesize_pcm(text, **kwargs)  # type: ignore[call-arg]
        carry = bytearray()
        try:
            while True:
                try:
                    step = source.__anext__()
                    item = await (asyncio.wait_for(step, self.timeout) if self.timeout else step)
                except StopAsyncIteration:
                    break
                pcm = self._chunk(item, carry)
                if pcm:
                    yield pcm
            self._check_end(carry)
        except BaseException as exc:
            typed = self._typed(exc)
            if typed is exc:
                raise
            raise typed from exc
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except Exception:
                    pass

    # -- the API -----------------------------------------------------------------------------
    async def synthesize(
        self, msg: Msg | None = None, **kwargs: Any
    ) -> TTSResponse | AsyncGenerator[TTSResponse, None]:
        """Speak the text of ``msg``.

        Returns one TTSResponse (content: the whole audio as a WAV block) or, with
        ``stream=True`` (the model's or a ``stream=`` keyword), an async generator of
        TTSResponses with PCM blocks, each yielded as soon as it is synthesised; the last one,
        ``is_last=True``, has an empty PCM block and the usage.
        Other keywords go to the provider (``_synthesize_pcm``'s ``kwargs``; whether the call
        streams is its ``stream`` argument).
        """
        stream = kwargs.pop("stream", None)
        stream = self.stream if stream is None else bool(stream)
        text = self._text(msg)
        if stream:
            return self._stream(text, kwargs)
        started = time.perf_counter()
        first: float | None = None
        parts = []
        async for pcm in self._pcm_chunks(text, False, kwargs):
            if first is None:
                first = time.perf_counter() - started
            parts.append(pcm)
        audio = b"".join(parts)
        return TTSResponse(
            content=wav_block(pcm16_to_wav(audio, self.sample_rate)),
            is_last=True,
            usage=self._usage(text, audio, started),
            first_audio_at=first,
            metadata={"sample_rate": self.sample_rate, "voice": self.voice},
        )

    def _usage(self, text: str, audio_bytes: bytes | int, started: float) -> TTSUsage:
        n = audio_bytes if isinstance(audio_bytes, int) else len(audio_bytes)
        return TTSUsage(
            input_characters=len(text),
            output_seconds=n / (2 * self.sample_rate),
            time=time.perf_counter() - started,
        )

    async def _stream(self, text: str, kwargs: dict[str, Any]) -> AsyncGenerator[TTSResponse, None]:
        started = time.perf_counter()
        first: float | None = None
        total = 0
        call_id = uuid.uuid4().hex
        # Each chunk goes out as it comes (none is held back to learn whether it is the last):
        # the end is a last response with no samples, carrying the usage.
        async for pcm in self._pcm_chunks(text, True, kwargs):
            if first is None:
                first = time.perf_counter() - started
            total += len(pcm)
            yield self._piece(pcm, call_id, first, last=False)
        final = self._piece(b"", call_id, first, last=True)
        final.usage = self._usage(text, total, started)
        yield final

    def _piece(self, pcm: bytes, call_id: str, first: float | None, last: bool) -> TTSResponse:
        return TTSResponse(
            content=pcm_block(pcm, self.sample_rate) if pcm or last else None,
            is_last=last,
            id=call_id,
            first_audio_at=first,
            metadata={"sample_rate": self.sample_rate},
        )

    async def close(self) -> None:
        """Release what the model holds (nothing, for a plain model)."""

    async def __aenter__(self) -> TTSModelBase:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


_END = object()


class RealtimeTTSModelBase(TTSModelBase):
    """A TTS model fed text incrementally over one connection.

    ``async with model:`` connects and closes (``push`` and ``synthesize`` connect on first use
    too). ``push(msg)`` sends the new part of the accumulative text of ``msg`` and returns the
    audio received so far, without waiting; ``synthesize(msg)`` sends the rest, finishes the
    session and returns the remaining audio (one WAV response, or with ``stream=True`` an async
    generator of PCM chunks, which must be consumed before the next session starts).

    A session's audio is re-aligned across its pushes and rest (a chunk may end mid-sample);
    a session whose audio ends on half a sample raises ResponseFormatError.

    One session at a time, identified by ``msg.id``: a push or synthesize for another id while
    one is open, for an id already synthesised, or before a streamed rest was consumed, raises
    TTSSessionError at once; waiting for audio is bounded by ``timeout``.
    """

    supports_streaming_input: ClassVar[bool] = True
    #: How many finished msg ids are remembered (to refuse a push after synthesize).
    finished_ids_kept: ClassVar[int] = 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connected = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._audio: asyncio.Queue[Any] | None = None  # the current session's
        self._session_id: str | None = None  # open for pushes
        self._tail_of: str | None = None  # finished, its rest not yet received
        self._sent = ""
        self._started = 0.0
        self._first_audio: float | None = None
        self._bytes = 0
        self._carry = bytearray()  # half a sample, across the session's pushes and rest
        self._finished: dict[str, None] = {}

    # -- hooks for providers -----------------------------------------------------------------
    async def _connect(self) -> None:
        """Open the connection (e.g. the websocket)."""

    async def _disconnect(self) -> None:
        """Close the connection."""

    async def _open_session(self, session_id: str) -> None:
        """Start a synthesis session (e.g. send the session config)."""

    async def _send_text(self, delta: str) -> None:
        """Send a new piece of text."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _send_text")

    async def _finish(self) -> None:
        """Say the text is complete; the receiver then feeds the rest and ``feed_end()``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _finish")

    # -- what the receiver calls (from the event loop or any other thread) --------------------
    def _put(self, item: Any) -> None:
        queue, loop = self._audio, self._loop
        if queue is None or loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            queue.put_nowait(item)
        else:
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def feed_audio(self, pcm: bytes | tuple[bytes, int]) -> None:
        """Audio received for the session (bytes at ``self.sample_rate``, or ``(pcm, rate)``)."""
        self._put(pcm)

    def feed_end(self) -> None:
        """The session's audio is complete."""
        self._put(_END)

    def feed_error(self, exc: BaseException) -> None:
        """The connection failed (dropped, an error event): the waiting call raises it."""
        self._put(exc)

    # -- connection --------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def session_id(self) -> str | None:
        """The msg id of the open session, if any."""
        return self._session_id

    async def connect(self) -> None:
        if self._connected:
            return
        self._loop = asyncio.get_running_loop()
        self._audio = asyncio.Queue()
        await self._guard(self._connect())
        self._connected = True

    async def close(self) -> None:
        """Close the connection; an open session is abandoned (its id counts as finished)."""
        if not self._connected:
            return
        self._connected = False
        self._end_session()
        self._tail_of = None
        await self._guard(self._disconnect())

    async def __aenter__(self) -> RealtimeTTSModelBase:
        await self.connect()
        return self

    async def _guard(self, step: Any) -> Any:
        try:
            return await step
        except BaseException as exc:
            typed = self._typed(exc)
            if typed is exc:
                raise
            raise typed from exc

    # -- sessions ----------------------------------------------------------------------------
    async def _begin(self, msg: Msg | None, what: str) -> str:
        """Check the session rules for ``msg`` and open its session if needed; its text."""
        if not isinstance(msg, Msg):
            raise TypeError(f"{what} expects a Msg (its id names the session)")
        if msg.id in self._finished:
            raise TTSSessionError(
                f"{what} for message {msg.id}, whose session was already finished by "
                "synthesize(); speak new text with a new Msg"
            )
        if self._tail_of is not None:
            raise TTSSessionError(
                f"{what} for message {msg.id} before the streamed audio of message "
                f"{self._tail_of} was consumed; iterate that generator to its end first"
            )
        if self._session_id is not None and self._session_id != msg.id:
            raise TTSSessionError(
                f"{what} for message {msg.id} while the session of message {self._session_id} "
                "is open; call synthesize() on that one first (one session at a time)"
            )
        text = text_of(msg)
        if self.max_text_chars is not None and len(text) > self.max_text_chars:
            raise TTSInputError(
                f"{type(self).__name__}: text of {len(text):,} characters is longer than "
                f"max_text_chars={self.max_text_chars:,}"
            )
        if not self._connected:
            await self.connect()
        if self._session_id is None:
            self._audio = asyncio.Queue()  # a fresh queue: nothing of an earlier session
            self._started = time.perf_counter()
            self._first_audio, self._bytes, self._sent = None, 0, ""
            self._carry = bytearray()
            self._session_id = msg.id
            try:
                await self._guard(self._open_session(msg.id))
            except BaseException:
                self._end_session()
                raise
        return text

    def _end_session(self) -> None:
        if self._session_id is not None:
            self._finished[self._session_id] = None
            while len(self._finished) > self.finished_ids_kept:
                self._finished.pop(next(iter(self._finished)))
        self._session_id = None

    async def _send_new(self, text: str) -> None:
        if text.startswith(self._sent):
            delta = text[len(self._sent) :]
        elif self._sent.startswith(text):
            delta = ""  # an older, shorter snapshot of the same text: nothing new
        else:
            raise TTSInputError(
                "push() expects accumulative text (each message's text extends the one "
                f"before); this one does not start with the {len(self._sent)} characters "
                "already sent"
            )
        if delta:
            self._sent = text
            await self._guard(self._send_text(delta))

    def _drain(self) -> list[Any]:
        """Audio already received, without waiting; raises an error the receiver fed."""
        parts: list[Any] = []
        queue = self._audio
        while queue is not None and not queue.empty():
            item = queue.get_nowait()
            if item is _END:
                continue
            if isinstance(item, BaseException):
                raise self._typed(item)
            parts.append(item)
        return parts

    def _account(self, parts: list[Any], carry: bytearray) -> bytes:
        pcm = b"".join(self._chunk(p, carry) for p in parts)
        if pcm and self._first_audio is None:
            self._first_audio = time.perf_counter() - self._started
        self._bytes += len(pcm)
        return pcm

    async def push(self, msg: Msg, **kwargs: Any) -> TTSResponse:
        """Send the new part of ``msg``'s accumulative text; return the audio received so far
        (content None when none has arrived). Does not wait for audio."""
        text = await self._begin(msg, "push()")
        try:
            await self._send_new(text)
            await asyncio.sleep(0)  # a receiver on this loop delivers what has arrived
            pcm = self._account(self._drain(), self._carry)
        except BaseException:
            self._end_session()
            raise
        return TTSResponse(
            content=pcm_block(pcm, self.sample_rate) if pcm else None,
            is_last=False,
            id=msg.id,
            first_audio_at=self._first_audio,
            metadata={"sample_rate": self.sample_rate},
        )

    async def synthesize(
        self, msg: Msg | None = None, **kwargs: Any
    ) -> TTSResponse | AsyncGenerator[TTSResponse, None]:
        """Finish the session of ``msg`` (opened by pushes, or now) and return the rest of its
        audio: one response (a WAV block), or with ``stream=True`` an async generator of PCM
        chunks, the last with ``is_last=True`` and the session's usage."""
        stream = kwargs.pop("stream", None)
        stream = self.stream if stream is None else bool(stream)
        if isinstance(msg, Msg) and self._session_id != msg.id and not text_of(msg):
            if msg.id not in self._finished:
                raise TTSInputError(f"{type(self).__name__}: no text to speak in the message")
        text = await self._begin(msg, "synthesize()")
        assert isinstance(msg, Msg)
        try:
            await self._send_new(text)
            await self._guard(self._finish())
        finally:
            self._end_session()
        self._tail_of = msg.id
        gen = self._rest(msg.id, text)
        if stream:
            return gen
        parts = []
        last: TTSResponse | None = None
        async for piece in gen:
            if piece.content is not None:
                parts.append(block_pcm(piece.content)[0])
            last = piece
        assert last is not None
        return TTSResponse(
            content=wav_block(pcm16_to_wav(b"".join(parts), self.sample_rate)),
            is_last=True,
            usage=last.usage,
            id=msg.id,
            first_audio_at=last.first_audio_at,
            metadata={"sample_rate": self.sample_rate},
        )

    async def _rest(self, session_id: str, text: str) -> AsyncGenerator[TTSResponse, None]:
        """The session's remaining audio, chunk by chunk, until the receiver's end."""
        carry = self._carry
        queue = self._audio
        try:
            while queue is not None:
                get = queue.get()
                item = await self._guard(
                    asyncio.wait_for(get, self.timeout) if self.timeout else get
                )
                if item is _END:
                    self._check_end(carry)
                    break
                if isinstance(item, BaseException):
                    raise self._typed(item)
                pcm = self._account([item], carry)
                if pcm:
                    yield self._piece(pcm, session_id, self._first_audio, last=False)
            final = self._piece(b"", session_id, self._first_audio, last=True)
            final.usage = TTSUsage(
                input_characters=len(text),
                output_seconds=self._bytes / (2 * self.sample_rate),
                time=time.perf_counter() - self._started,
            )
            yield final
        finally:
            if self._tail_of == session_id:
                self._tail_of = None


__all__ = [
    "RealtimeTTSModelBase",
    "TTSInputError",
    "TTSModelBase",
    "TTSResponse",
    "TTSSessionError",
    "TTSUsage",
    "text_of",
]
