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

A realtime provider subclasses :class:`RealtimeTTSModelBase` (in ``_realtime``) and implements
``_connect``, ``_disconnect``, ``_open_session(session_id)``, ``_send_text(delta)`` and
``_finish()``; its receiver hands audio to the base with ``feed_audio(pcm)``, then
``feed_end()`` (or ``feed_error(exc)``), from the event loop or from an SDK callback thread alike.
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
