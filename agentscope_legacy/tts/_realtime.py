"""The realtime TTS base: text fed incrementally over one connection, one session per msg id.

See :mod:`._base` for the hooks a realtime provider implements.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from typing import Any, ClassVar

from ..audio import block_pcm, pcm16_to_wav, pcm_block, wav_block
from ..message import Msg
from ._base import TTSInputError, TTSModelBase, TTSResponse, TTSSessionError, TTSUsage, text_of

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
