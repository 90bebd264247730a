"""DashScope ``qwen3-tts-flash`` over HTTP, through the official ``dashscope`` SDK.

``dashscope.MultiModalConversation.call(model=, text=, voice=, language_type=)`` posts
``{base}/services/aigc/multimodal-generation/generation`` with ``api_key=`` and
``base_address=`` on every call (never the process-global ``dashscope.api_key`` or
``base_http_api_url``), through one ``requests.Session`` per model. What comes back (verified on
loopback against the SDK, see ``tests/emulators/tts.py``):

* not streamed: ``output.audio`` = ``{"url": <a WAV file>, "data": ""}``: the SDK does not
  download the URL, so the model does (with its own session, no credentials sent there) and
  reads the WAV; base64 ``data``, when a server sends it, is used instead;
* streamed (``stream=True``, DashScope SSE): ``output.audio.data`` = base64 PCM16 pieces at 24 kHz,
  the last event with ``finish_reason: "stop"``, the URL and no data.

The SDK does not raise for HTTP errors: a response with ``status_code != 200`` becomes the
typed error of ``models.dashscope`` (401 AuthenticationError, 429 RateLimitError with its
Retry-After, 5xx ServerError); the SDK's transport errors are translated by
``models.dashscope``'s ``translate_error``. Opening a call (up to its first audio) is retried for
retryable errors (``_common.with_retries``, shared with the other TTS providers); audio already
delivered is never replayed. Base64 that does not decode is a ResponseFormatError.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from ..errors import ProviderError, ResponseFormatError
from ._base import TTSModelBase
from ._common import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_INTERVAL,
    DEFAULT_RETRY_INTERVAL,
    RETRY_PROPERTIES,
    decode_b64,
    resolve_api_key,
    with_retries,
)


# -- DashScope --------------------------------------------------------------------------------
class DashScopeTTSModel(TTSModelBase):
    """``qwen3-tts-flash`` (and the other ``qwen*-tts`` models) through
    ``dashscope.MultiModalConversation``.

    Args:
        model_name: the DashScope model.
        api_key: the key (default: ``DASHSCOPE_API_KEY``).
        voice: e.g. ``"Cherry"``.
        language_type: e.g. ``"Chinese"``, ``"English"`` (the service's default: auto).
        stream: stream the audio (SSE, PCM pieces) instead of one WAV.
        sample_rate: of the audio returned (the service speaks 24 kHz; other rates are resampled).
        base_url: the API base (``base_address``), e.g. ``https://dashscope-intl.aliyuncs.com/api/v1``.
        generate_kwargs: more SDK call arguments (``parameters`` of the request).
        max_retries: retries of a call refused before any audio (429, 5xx, connection).
        retry_interval, max_retry_interval: the backoff between them without a Retry-After
            (``retry_interval * 2**attempt``, at most ``max_retry_interval``; seconds).
        timeout: seconds without audio (and of each HTTP read) before a call fails.
    """

    model_type: ClassVar[str | None] = "dashscope_tts"
    provider: ClassVar[str] = "dashscope"
    default_voice: ClassVar[str | None] = "Cherry"
    default_sample_rate: ClassVar[int] = 24000
    #: The rate of qwen-tts audio.
    wire_rate: ClassVar[int] = 24000
    config_schema: ClassVar[dict[str, Any]] = {
        "properties": {
            "api_key": {"type": ["string", "null"]},
            "base_url": {"type": ["string", "null"]},
            "language_type": {"type": ["string", "null"]},
            "generate_kwargs": {"type": "object"},
            **RETRY_PROPERTIES,
        }
    }

    def __init__(
        self,
        model_name: str = "qwen3-tts-flash",
        api_key: str | None = None,
        voice: str | None = None,
        language_type: str | None = None,
        stream: bool = False,
        sample_rate: int | None = None,
        *,
        base_url: str | None = None,
        generate_kwargs: dict[str, Any] | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_interval: float = DEFAULT_RETRY_INTERVAL,
        max_retry_interval: float = DEFAULT_MAX_RETRY_INTERVAL,
        timeout: float | None = 120.0,
    ) -> None:
        super().__init__(model_name, stream=stream, sample_rate=sample_rate, voice=voice,
                         timeout=timeout)  # fmt: skip
        from ..models._http import guarded_session
        from ..models.dashscope import import_dashscope
        from ..models.dashscope._client import error_from_response, translate_error

        self._sdk = import_dashscope()
        self._error_from_response = error_from_response
        self._translate = translate_error
        self._api_key = resolve_api_key(type(self).__name__, api_key, ("DASHSCOPE_API_KEY",))
        self.base_url = base_url
        self.language_type = language_type
        self.generate_kwargs = dict(generate_kwargs or {})
        self.max_retries = max_retries
        self.retry_interval = retry_interval
        self.max_retry_interval = max_retry_interval
        # One session per model: deadlines, and no credentials sent to another host.
        self._session = guarded_session()

    def _transport(self) -> dict[str, Any]:
        args: dict[str, Any] = {"api_key": self._api_key, "session": self._session}
        if self.base_url:
            args["base_address"] = self.base_url
        if self.timeout:
            args["request_timeout"] = (min(self.timeout, 5.0), self.timeout)
        return args

    def _translate_error(self, exc: Exception) -> ProviderError | None:
        return self._translate(exc)

    def _request(self, text: str, stream: bool, kwargs: dict[str, Any]) -> dict[str, Any]:
        request: dict[str, Any] = {"model": self.model_name, "text": text, "voice": self.voice}
        if self.language_type:
            request["language_type"] = self.language_type
        request.update(self.generate_kwargs)
        request.update(kwargs)
        if stream:
            request["stream"] = True
        return request

    def _checked(self, rsp: Any) -> Any:
        if rsp.get("status_code") != 200:
            raise self._error_from_response(rsp)
        return rsp

    async def _synthesize_pcm(
        self, text: str, *, stream: bool = False, **kwargs: Any
    ) -> AsyncIterator[Any]:
        # A streamed call streams on the wire too (SSE): its first audio comes sooner.
        request = self._request(text, stream, kwargs)
        call = self._sdk.MultiModalConversation.call
        if not stream:

            async def once() -> Any:
                return self._checked(await asyncio.to_thread(call, **request, **self._transport()))

            rsp = await with_retries(self, once)
            yield await asyncio.to_thread(self._audio_of, rsp)
            return

        end = object()

        async def first() -> tuple[Any, Any]:
            responses = await asyncio.to_thread(call, **request, **self._transport())
            return responses, self._checked(await asyncio.to_thread(next, responses, end))

        responses, rsp = await with_retries(self, first)
        try:
            while rsp is not end:
                self._checked(rsp)
                data = _audio_field(rsp, "data")
                if data:
                    yield (decode_b64(data, "a streamed audio chunk"), self.wire_rate)
                rsp = await asyncio.to_thread(next, responses, end)
        finally:
            await asyncio.to_thread(getattr(responses, "close", lambda: None))

    def _audio_of(self, rsp: Any) -> tuple[bytes, int]:
        """The PCM of a non-streamed reply: its base64 data, else the WAV at its URL."""
        from ..audio import wav_to_pcm16

        data, url = _audio_field(rsp, "data"), _audio_field(rsp, "url")
        if data:
            raw = decode_b64(data, "the audio")
        elif url:
            got = self._session.get(url, timeout=self._transport().get("request_timeout"))
            if got.status_code != 200:
                raise ResponseFormatError(
                    f"the audio URL answered HTTP {got.status_code}", status=got.status_code
                )
            raw = got.content
        else:
            raise ResponseFormatError("the reply has no audio (neither data nor url)")
        if raw[:4] == b"RIFF":
            try:
                pcm, rate, channels = wav_to_pcm16(raw)
            except Exception as exc:
                raise ResponseFormatError(f"the audio is not a readable WAV: {exc}") from None
            if channels != 1:
                raise ResponseFormatError(f"expected mono audio, got {channels} channels")
            return pcm, rate
        return raw, self.wire_rate  # bare PCM16


def _audio_field(rsp: Any, name: str) -> Any:
    output = rsp.get("output") or {}
    audio = output.get("audio") if hasattr(output, "get") else None
    return audio.get(name) if hasattr(audio, "get") else None


__all__ = ["DashScopeTTSModel"]
