"""Gemini text-to-speech through the official ``google-genai`` SDK.

``client.aio.models.generate_content(model=, contents=text, config={"response_modalities":
["AUDIO"], "speech_config": {"voice_config": {"prebuilt_voice_config": {"voice_name": voice}}}})``
posts ``/v1/models/<model>:generateContent``; with ``stream=True``,
``generate_content_stream`` posts ``:streamGenerateContent?alt=sse``. The audio is in the
reply's ``inline_data`` parts: PCM16 mono, ``mimeType`` ``audio/L16;codec=pcm;rate=24000``
(the rate is read from it; a WAV part is read as one). Verified on loopback, see
``tests/emulators/tts.py``.

One ``genai.Client`` per model, kept on the model (a dropped client closes its HTTP client), with
an explicit key and ``HttpOptions`` (nothing process-global) and the SDK's retries off:
opening a call is retried here (``_common.with_retries``), never once audio has flowed.
Errors are those of ``models.gemini``'s ``translate_error`` (``ClientError`` 401/429 →
AuthenticationError / RateLimitError, ``ServerError`` → ServerError); audio whose base64 the
SDK rejects (a pydantic ValidationError) is a ResponseFormatError.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from ..errors import ProviderError, ResponseFormatError
from ._base import TTSModelBase
from ._common import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_INTERVAL,
    DEFAULT_RETRY_INTERVAL,
    RETRY_PROPERTIES,
    resolve_api_key,
    with_retries,
)

_RATE = re.compile(r"rate\s*=\s*(\d+)", re.IGNORECASE)


class GeminiTTSModel(TTSModelBase):
    """Gemini ``gemini-2.5-flash-preview-tts`` (and the other TTS models).

    Args:
        model_name: the Gemini model.
        api_key: the key (default: ``GEMINI_API_KEY`` or ``GOOGLE_API_KEY``).
        voice: a prebuilt voice, e.g. ``"Kore"``.
        stream: stream the audio (``streamGenerateContent``) and return PCM chunks.
        sample_rate: of the audio returned (Gemini sends 24 kHz; other rates are resampled).
        base_url: the API's base URL (``HttpOptions.base_url``).
        api_version: e.g. ``"v1beta"`` (the SDK's default otherwise).
        client_kwargs: more ``HttpOptions`` fields.
        generate_kwargs: more ``GenerateContentConfig`` fields.
        max_retries: retries of a call refused before any audio.
        retry_interval, max_retry_interval: the backoff between them without a Retry-After
            (``retry_interval * 2**attempt``, at most ``max_retry_interval``; seconds).
        timeout: seconds without audio (and of each HTTP request) before a call fails.
    """

    model_type: ClassVar[str | None] = "gemini_tts"
    provider: ClassVar[str] = "gemini"
    default_voice: ClassVar[str | None] = "Kore"
    default_sample_rate: ClassVar[int] = 24000
    config_schema: ClassVar[dict[str, Any]] = {
        "properties": {
            "api_key": {"type": ["string", "null"]},
            "base_url": {"type": ["string", "null"]},
            "api_version": {"type": ["string", "null"]},
            "client_kwargs": {"type": "object"},
            "generate_kwargs": {"type": "object"},
            **RETRY_PROPERTIES,
        }
    }

    def __init__(
        self,
        model_name: str = "gemini-2.5-flash-preview-tts",
        api_key: str | None = None,
        voice: str | None = None,
        stream: bool = False,
        sample_rate: int | None = None,
        *,
        base_url: str | None = None,
        api_version: str | None = None,
        client_kwargs: dict[str, Any] | None = None,
        generate_kwargs: dict[str, Any] | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_interval: float = DEFAULT_RETRY_INTERVAL,
        max_retry_interval: float = DEFAULT_MAX_RETRY_INTERVAL,
        timeout: float | None = 120.0,
    ) -> None:
        super().__init__(model_name, stream=stream, sample_rate=sample_rate, voice=voice,
                         timeout=timeout)  # fmt: skip
        from ..models.gemini import import_genai

        genai = import_genai()
        options = dict(client_kwargs or {})
        options["retry_options"] = genai.types.HttpRetryOptions(attempts=1)  # retried here
        if base_url:
            options["base_url"] = base_url
        if api_version:
            options["api_version"] = api_version
        if timeout:
            options["timeout"] = max(1, round(float(timeout) * 1000))  # milliseconds
        key = resolve_api_key(
            type(self).__name__, api_key, ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
            required=not base_url,
        )  # fmt: skip
        self.base_url = base_url
        self.generate_kwargs = dict(generate_kwargs or {})
        self.max_retries = max_retries
        self.retry_interval = retry_interval
        self.max_retry_interval = max_retry_interval
        self.client = genai.Client(
            api_key=key or "no-key",
            http_options=genai.types.HttpOptions(**options),
            vertexai=False,  # never switched on by GOOGLE_GENAI_USE_VERTEXAI
        )

    def __repr__(self) -> str:  # the client holds the key: never show it
        return super().__repr__()

    def _translate_error(self, exc: Exception) -> ProviderError | None:
        from ..models.gemini._client import translate_error

        if type(exc).__name__ == "ValidationError" and isinstance(exc, ValueError):
            # pydantic refused the reply, e.g. inline audio data that is not base64
            return ResponseFormatError(f"malformed reply: {str(exc).splitlines()[0]}")
        return translate_error(exc)

    def _config(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        config: dict[str, Any] = {
            "response_modalities": ["AUDIO"],
            "speech_config": {
                "voice_config": {"prebuilt_voice_config": {"voice_name": self.voice}}
            },
            "automatic_function_calling": {"disable": True},
        }
        config.update(self.generate_kwargs)
        config.update(kwargs)
        return config

    async def _synthesize_pcm(
        self, text: str, *, stream: bool = False, **kwargs: Any
    ) -> AsyncIterator[Any]:
        # A streamed call streams on the wire too (streamGenerateContent).
        request = {"model": self.model_name, "contents": text, "config": self._config(kwargs)}
        models = self.client.aio.models
        if not stream:

            async def once() -> Any:
                return await models.generate_content(**request)

            for audio in _audio_parts(await with_retries(self, once)):
                yield audio
            return

        async def first() -> tuple[Any, Any]:
            chunks = await models.generate_content_stream(**request)
            return chunks, await chunks.__anext__()

        try:
            chunks, chunk = await with_retries(self, first)
        except StopAsyncIteration:
            return
        try:
            while True:
                for audio in _audio_parts(chunk):
                    yield audio
                try:
                    chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    break
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()


def _audio_parts(response: Any) -> list[tuple[bytes, int]]:
    """``(pcm, rate)`` of every audio ``inline_data`` part of a reply (or chunk)."""
    from ..audio import wav_to_pcm16

    out: list[tuple[bytes, int]] = []
    for candidate in getattr(response, "candidates", None) or []:
        content = getattr(candidate, "content", None)
        for part in getattr(content, "parts", None) or []:
            blob = getattr(part, "inline_data", None)
            if blob is None or not blob.data:
                continue
            mime = (blob.mime_type or "").lower()
            if mime.startswith(("audio/wav", "audio/x-wav", "audio/wave")):
                try:
                    pcm, rate, _ = wav_to_pcm16(blob.data)
                except Exception as exc:
                    raise ResponseFormatError(f"the audio is not a readable WAV: {exc}") from None
                out.append((pcm, rate))
            elif mime.startswith(("audio/l16", "audio/pcm")):
                match = _RATE.search(mime)
                out.append((blob.data, int(match.group(1)) if match else 24000))
            else:
                raise ResponseFormatError(f"unexpected audio type {blob.mime_type!r} in the reply")
    return out


__all__ = ["GeminiTTSModel"]
