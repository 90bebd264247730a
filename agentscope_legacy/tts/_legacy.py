"""The 0.x side of TTS: ``model_type`` configs and a synchronous wrapper over the async models.

::

    - config_name: local-voice
      model_type: local_tts
      format: wav            # or pcm16: what SpeechResult.content / save() give
      stream: false

    speech = load_model_by_config_name("local-voice")("Hello!")
    speech.audio, speech.sample_rate, speech.wav()      # PCM16 bytes, Hz, a WAV file
    for chunk in load_model_by_config_name("local-voice")("Hi.", stream=True).stream: ...

One line of ``TTS_MODEL_TYPES`` registers a type (see the package docstring); the wrapper class
of each is built here from its TTS class, and the registry imports this module by name.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from importlib import import_module
from pathlib import Path
from queue import Queue
from typing import Any, ClassVar

from ..audio import block_pcm, duration_seconds, pcm16_to_wav
from ..errors import ConfigError, ConfigIssue
from ..message import Msg
from ..models._base import COMMON_PROPERTIES, ModelWrapperBase
from ._base import TTSModelBase, TTSResponse, TTSUsage

#: model_type -> "<module of this package>:<TTS class>". One line registers a type (and its
#: name goes into BUILTIN_MODEL_TYPES in tests/test_registry.py).
TTS_MODEL_TYPES: dict[str, str] = {
    "local_tts": "._local:LocalTTSModel",
    "openai_tts": "._openai:OpenAITTSModel",
    "dashscope_tts": "._dashscope:DashScopeTTSModel",
    "dashscope_realtime_tts": "._dashscope_realtime:DashScopeRealtimeTTSModel",
    "gemini_tts": "._gemini:GeminiTTSModel",
}

FORMATS = ("wav", "pcm16")

#: The config fields every TTS type accepts (its class's ``config_schema`` adds its own).
TTS_COMMON_PROPERTIES: dict[str, Any] = {
    **{k: COMMON_PROPERTIES[k] for k in ("config_name", "model_type", "model_name", "replace")},
    "stream": {"type": "boolean"},
    "voice": {"type": "string", "minLength": 1},
    "format": {"enum": list(FORMATS)},
    "sample_rate": {"type": "integer", "minimum": 8000, "maximum": 192000},
    "timeout": {"type": "number", "exclusiveMinimum": 0},
    "generate_args": {"type": "object"},
}


class SpeechResult:
    """What a TTS wrapper call returns (synchronous).

    ``audio``: PCM16 mono bytes; ``sample_rate``; ``wav()``: a WAV file of it; ``content``:
    the bytes in the config's ``format``; ``save(path)``. A streamed call's ``stream`` yields
    the PCM chunks as they are synthesised (``audio`` waits for the rest).
    """

    def __init__(
        self,
        sample_rate: int,
        format: str = "wav",
        *,
        audio: bytes | None = None,
        chunks: Iterator[bytes] | None = None,
        text: str = "",
    ) -> None:
        self.sample_rate = sample_rate
        self.channels = 1
        self.format = format
        self.text = text
        self._parts: list[bytes] = [audio] if audio else []
        self._chunks = chunks
        self.usage: TTSUsage | None = None
        self.first_audio_at: float | None = None

    @property
    def stream(self) -> Iterator[bytes]:
        """The PCM chunks (of a streamed call, as they arrive; else the whole audio once)."""
        if self._chunks is None:
            yield from list(self._parts)
            return
        yield from self._parts
        for chunk in self._chunks:
            self._parts.append(chunk)
            yield chunk
        self._chunks = None

    @property
    def audio(self) -> bytes:
        if self._chunks is not None:
            for _ in self.stream:
                pass
        return b"".join(self._parts)

    @property
    def duration(self) -> float:
        return duration_seconds(self.audio, self.sample_rate)

    def wav(self) -> bytes:
        return pcm16_to_wav(self.audio, self.sample_rate)

    @property
    def content(self) -> bytes:
        return self.wav() if self.format == "wav" else self.audio

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_bytes(self.content)
        return path

    def __repr__(self) -> str:
        state = "streaming" if self._chunks is not None else f"{len(self.audio)} bytes"
        return f"SpeechResult({state}, sample_rate={self.sample_rate}, format={self.format!r})"


class _LoopThread:
    """One event loop on a daemon thread: the TTS model (and its connections) live there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="tts")
        self.thread.start()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()


class TTSWrapper(ModelWrapperBase):
    """A legacy wrapper over one TTS model: ``wrapper("text")`` -> :class:`SpeechResult`."""

    model_type: ClassVar[str] = "tts"
    tts_class: ClassVar[type[TTSModelBase]] = TTSModelBase
    can_stream: ClassVar[bool] = True

    def __init__(
        self,
        config_name: str,
        model_name: str | None = None,
        *,
        stream: bool = False,
        voice: str | None = None,
        format: str = "wav",
        sample_rate: int | None = None,
        timeout: float | None = None,
        generate_args: dict[str, Any] | None = None,
        **provider_args: Any,
    ) -> None:
        super().__init__(config_name, model_name, stream=stream, generate_args=generate_args)
        if format not in FORMATS:
            raise ConfigError(
                ConfigIssue(
                    f"expected one of {', '.join(FORMATS)}, got {format!r}",
                    config_name=config_name,
                    field="format",
                )
            )
        self.format = format
        kwargs: dict[str, Any] = dict(provider_args)
        if model_name is not None:
            kwargs["model_name"] = model_name
        if voice is not None:
            kwargs["voice"] = voice
        if sample_rate is not None:
            kwargs["sample_rate"] = sample_rate
        if timeout is not None:
            kwargs["timeout"] = timeout
        try:
            #: The async TTS model this wrapper drives.
            self.model: TTSModelBase = self.tts_class(stream=False, **kwargs)
        except TypeError as exc:
            raise ConfigError(
                ConfigIssue(f"invalid fields for {self.model_type}: {exc}", config_name=config_name)
            ) from exc
        self.model_name = self.model.model_name
        self._runner: _LoopThread | None = None
        self._runner_lock = threading.Lock()

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        own = cls.config_schema or {}
        return {
            "type": "object",
            "properties": {**TTS_COMMON_PROPERTIES, **own.get("properties", {})},
            "required": ["config_name", "model_type", *own.get("required", [])],
            "additionalProperties": own.get("additionalProperties", False),
        }

    def _loop(self) -> _LoopThread:
        with self._runner_lock:
            if self._runner is None:
                self._runner = _LoopThread()
            return self._runner

    def _msg(self, text: str | Msg) -> Msg:
        return text if isinstance(text, Msg) else Msg("assistant", text, "assistant")

    def __call__(self, text: str | Msg, *, stream: bool | None = None, **kwargs: Any) -> Any:  # type: ignore[override]
        """Speak ``text`` (a str or a Msg); a :class:`SpeechResult`."""
        use_stream = self.stream if stream is None else stream
        msg = self._msg(text)
        args = {**self.generate_args, **kwargs}
        runner = self._loop()
        if not use_stream:
            response = runner.run(self.model.synthesize(msg, stream=False, **args))
            return self._result(msg, response)
        result = SpeechResult(
            self.model.sample_rate, self.format, text=msg.get_text_content() or ""
        )
        result._chunks = self._chunks(runner, msg, args, result)
        return result

    async def acall(self, text: str | Msg, *, stream: bool | None = None, **kwargs: Any) -> Any:  # type: ignore[override]
        """``__call__`` for async code (the whole audio; the model runs on its own loop)."""
        msg = self._msg(text)
        args = {**self.generate_args, **kwargs}
        runner = self._loop()
        future = asyncio.run_coroutine_threadsafe(
            self.model.synthesize(msg, stream=False, **args), runner.loop
        )
        return self._result(msg, await asyncio.wrap_future(future))

    def _result(self, msg: Msg, response: TTSResponse) -> SpeechResult:
        pcm, rate = response.pcm()
        result = SpeechResult(rate or self.model.sample_rate, self.format, audio=pcm)
        result.text = msg.get_text_content() or ""
        result.usage, result.first_audio_at = response.usage, response.first_audio_at
        return result

    def _chunks(
        self, runner: _LoopThread, msg: Msg, args: dict[str, Any], result: SpeechResult
    ) -> Iterator[bytes]:
        queue: Queue[Any] = Queue()
        done = object()

        async def produce() -> None:
            try:
                gen = await self.model.synthesize(msg, stream=True, **args)
                async for piece in gen:
                    if piece.usage is not None:
                        result.usage = piece.usage
                    if result.first_audio_at is None:
                        result.first_audio_at = piece.first_audio_at
                    if piece.content is not None:
                        queue.put(block_pcm(piece.content)[0])
            except BaseException as exc:  # handed to the consumer's thread
                queue.put(exc)
            finally:
                queue.put(done)

        future = asyncio.run_coroutine_threadsafe(produce(), runner.loop)
        try:
            while True:
                item = queue.get()
                if item is done:
                    return
                if isinstance(item, BaseException):
                    raise item
                if item:
                    yield item
        finally:
            future.cancel()

    def speech_stream(self, msg_id: str | None = None, name: str = "assistant") -> SyncSpeechStream:
        """A :class:`SyncSpeechStream`: speak a reply while it is being written."""
        from ._speak import SpeechStream

        runner = self._loop()
        stream = runner.run(_make_stream(SpeechStream, self.model, msg_id, name))
        return SyncSpeechStream(stream, runner, self.format)

    def close(self) -> None:
        """Close the model (a realtime connection) and stop its loop thread."""
        runner, self._runner = self._runner, None
        if runner is not None:
            try:
                runner.run(self.model.close())
            finally:
                runner.loop.call_soon_threadsafe(runner.loop.stop)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(config_name={self.config_name!r}, "
            f"model_name={self.model_name!r}, voice={self.model.voice!r})"
        )


async def _make_stream(cls: Any, model: TTSModelBase, msg_id: str | None, name: str) -> Any:
    return cls(model, msg_id=msg_id, name=name)  # built on the model's loop


class SyncSpeechStream:
    """``SpeechStream`` for synchronous code: ``feed(text_so_far)`` as a reply streams (returns
    at once; synthesis runs on the wrapper's loop thread), then ``finish(text)`` -> SpeechResult
    of the whole message (``first_audio_at``: seconds from the first feed to the first audio)."""

    def __init__(self, stream: Any, runner: _LoopThread, format: str) -> None:
        self._stream, self._runner, self._format = stream, runner, format

    @property
    def msg_id(self) -> str:
        return self._stream.msg_id

    def feed(self, text_so_far: str) -> None:
        self._runner.run(self._stream.feed(text_so_far))

    def finish(self, final_text: str | None = None) -> SpeechResult:
        audio = self._runner.run(self._stream.finish(final_text))
        result = SpeechResult(audio.sample_rate, self._format, audio=audio.pcm)
        result.text = final_text or ""
        result.first_audio_at = audio.first_audio_at
        return result

    def close(self) -> None:
        self._runner.run(self._stream.aclose())


_WRAPPERS: dict[str, type[TTSWrapper]] = {}
_WRAPPERS_LOCK = threading.Lock()


def _tts_class(path: str) -> type[TTSModelBase]:
    module_name, _, class_name = path.partition(":")
    full = f"{__package__}{module_name}" if module_name.startswith(".") else module_name
    return getattr(import_module(full), class_name)


def wrapper_for(model_type: str, tts_class: type[TTSModelBase]) -> type[TTSWrapper]:
    """The legacy wrapper class of ``tts_class`` under ``model_type``."""
    own = tts_class.config_schema or {}
    return type(
        f"{tts_class.__name__}Wrapper",
        (TTSWrapper,),
        {
            "model_type": model_type,
            "tts_class": tts_class,
            "provider": tts_class.provider,
            "config_schema": {
                "properties": dict(own.get("properties", {})),
                "required": list(own.get("required", [])),
                "additionalProperties": own.get("additionalProperties", False),
            },
            "__module__": __name__,
            "__doc__": f"The ``{model_type}`` wrapper over :class:`{tts_class.__name__}`.",
        },
    )


def wrapper_classes() -> list[type[ModelWrapperBase]]:
    """A wrapper class per registered TTS type (what the registry adds; built once)."""
    with _WRAPPERS_LOCK:
        for model_type, path in TTS_MODEL_TYPES.items():
            if model_type in _WRAPPERS:
                continue
            _WRAPPERS[model_type] = wrapper_for(model_type, _tts_class(path))
        return list(_WRAPPERS.values())


def tts_model_from_config(config_name: str) -> TTSModelBase:
    """The async TTS model of a loaded TTS config (e.g. for an agent that speaks)."""
    from ..models.manager import ModelManager

    wrapper = ModelManager.get_instance().get_model_by_config_name(config_name)
    if not isinstance(wrapper, TTSWrapper):
        raise ConfigError(
            ConfigIssue(
                f"config '{config_name}' is a {wrapper.model_type} config, not a TTS one "
                f"(TTS types: {', '.join(TTS_MODEL_TYPES)})",
                config_name=config_name,
                field="model_type",
            )
        )
    return wrapper.model


__all__ = [
    "SpeechResult",
    "SyncSpeechStream",
    "TTSWrapper",
    "TTS_MODEL_TYPES",
    "tts_model_from_config",
    "wrapper_classes",
    "wrapper_for",
]


class ModelVoice:
    """``speech_stream()`` for an async TTS model given in Python (a config's wrapper has its
    own): the model runs on one event loop thread, as a wrapper's does."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self._runner: Any = None

    def speech_stream(self, msg_id: str | None = None, name: str = "assistant") -> Any:
        from ._speak import SpeechStream

        if self._runner is None:
            self._runner = _LoopThread()
        stream = self._runner.run(_make_stream(SpeechStream, self.model, msg_id, name))
        return SyncSpeechStream(stream, self._runner, "wav")
