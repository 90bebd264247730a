"""OpenAI text-to-speech (``audio.speech``) through the official ``openai`` SDK.

Every call is streamed on the wire: ``client.audio.speech.with_streaming_response.create(model=,
voice=, input=, response_format="pcm")`` posts ``{base_url}/audio/speech`` and the reply body is
raw PCM16 mono at 24 kHz (no header), handed on chunk by chunk as it arrives (verified on
loopback, ``tests/emulators/tts.py``). ``stream=False`` only changes what ``synthesize`` returns
(one WAV).

One ``AsyncOpenAI`` client per model and event loop (``models._aio.PerLoop``), built with the
SDK's retries off: opening a call is retried here (``_common.with_retries``: 429 honouring
Retry-After, 5xx, connection errors), never once audio has flowed. SDK errors become the typed
errors of ``models.openai``'s ``translate_error``; a dropped body is a ProviderConnectionError.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

from ..errors import ProviderError
from ._base import TTSModelBase
from ._common import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_INTERVAL,
    DEFAULT_RETRY_INTERVAL,
    RETRY_PROPERTIES,
    resolve_api_key,
    with_retries,
)


class OpenAITTSModel(TTSModelBase):
    """OpenAI ``gpt-4o-mini-tts`` / ``tts-1`` / ``tts-1-hd``.

    Args:
        model_name: the OpenAI model.
        api_key: the key (default: ``OPENAI_API_KEY``; none needed with a custom ``base_url``).
        voice: e.g. ``"alloy"``.
        stream: ``synthesize`` returns an async generator of PCM chunks.
        sample_rate: of the audio returned (OpenAI sends 24 kHz; other rates are resampled).
        base_url: an OpenAI-compatible server (default: ``OPENAI_BASE_URL``, else OpenAI's).
        instructions: how to speak (``gpt-4o-mini-tts``).
        client_kwargs: more ``AsyncOpenAI`` arguments (``organization``, ``default_headers``...).
        generate_kwargs: more ``speech.create`` arguments (``speed``...).
        max_retries: retries of a call refused before any audio.
        retry_interval, max_retry_interval: the backoff between them without a Retry-After
            (``retry_interval * 2**attempt``, at most ``max_retry_interval``; seconds).
        timeout: seconds without audio before a call fails.
    """

    model_type: ClassVar[str | None] = "openai_tts"
    provider: ClassVar[str] = "openai"
    default_voice: ClassVar[str | None] = "alloy"
    default_sample_rate: ClassVar[int] = 24000
    #: OpenAI's limit on ``input``.
    max_text_chars: ClassVar[int | None] = 4096
    #: The rate of ``response_format="pcm"``.
    wire_rate: ClassVar[int] = 24000
    config_schema: ClassVar[dict[str, Any]] = {
        "properties": {
            "api_key": {"type": ["string", "null"]},
            "base_url": {"type": ["string", "null"]},
            "instructions": {"type": ["string", "null"]},
            "client_kwargs": {"type": "object"},
            "generate_kwargs": {"type": "object"},
            **RETRY_PROPERTIES,
        }
    }

    def __init__(
        self,
        model_name: str = "gpt-4o-mini-tts",
        api_key: str | None = None,
        voice: str | None = None,
        stream: bool = False,
        sample_rate: int | None = None,
        *,
        base_url: str | None = None,
        instructions: str | None = None,
        client_kwargs: dict[str, Any] | None = None,
        generate_kwargs: dict[str, Any] | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_interval: float = DEFAULT_RETRY_INTERVAL,
        max_retry_interval: float = DEFAULT_MAX_RETRY_INTERVAL,
        timeout: float | None = 120.0,
    ) -> None:
        super().__init__(model_name, stream=stream, sample_rate=sample_rate, voice=voice,
                         timeout=timeout)  # fmt: skip
        import os

        from ..models._aio import PerLoop
        from ..models.openai import import_openai

        import_openai()  # a missing SDK fails here, not at the first call
        client_kwargs = dict(client_kwargs or {})
        base_url = (
            base_url or client_kwargs.pop("base_url", None) or os.environ.get("OPENAI_BASE_URL")
        )
        key = resolve_api_key(
            type(self).__name__,
            api_key or client_kwargs.pop("api_key", None),
            ("OPENAI_API_KEY",),
            required=not base_url,
        )
        client_kwargs.pop("max_retries", None)  # retries are done here
        self.base_url = base_url
        self.instructions = instructions
        self.generate_kwargs = dict(generate_kwargs or {})
        self.max_retries = max_retries
        self.retry_interval = retry_interval
        self.max_retry_interval = max_retry_interval
        self._client_kwargs = {
            "api_key": key or "EMPTY", "base_url": base_url, "max_retries": 0, **client_kwargs,
        }  # fmt: skip
        self._clients = PerLoop(self._new_client, lambda c: c.close())

    def _new_client(self) -> Any:
        from ..models._http import guard_httpx_client
        from ..models.openai import import_openai

        client = import_openai().AsyncOpenAI(**self._client_kwargs)
        guard_httpx_client(client._client, client.base_url)  # no key sent across a redirect
        return client

    @property
    def client(self) -> Any:
        """The SDK's async client for the running event loop."""
        return self._clients.get()

    def _translate_error(self, exc: Exception) -> ProviderError | None:
        from ..models.openai._client import translate_error

        return translate_error(exc)

    def _request(self, text: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model_name,
            "voice": self.voice,
            "input": text,
            "response_format": "pcm",
        }
        if self.instructions:
            request["instructions"] = self.instructions
        request.update(self.generate_kwargs)
        request.update(kwargs)
        request["response_format"] = "pcm"  # what the audio is decoded as
        return request

    async def _synthesize_pcm(self, text: str, **kwargs: Any) -> AsyncIterator[Any]:
        request = self._request(text, kwargs)
        speech = self.client.audio.speech.with_streaming_response

        async def open_reply() -> tuple[Any, Any]:
            manager = speech.create(**request)
            return manager, await manager.__aenter__()

        manager, reply = await with_retries(self, open_reply)
        try:
            async for chunk in reply.iter_bytes():
                if chunk:
                    yield (chunk, self.wire_rate) if self.sample_rate != self.wire_rate else chunk
        finally:
            await manager.__aexit__(None, None, None)


__all__ = ["OpenAITTSModel"]
