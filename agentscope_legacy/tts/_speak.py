"""Speaking a reply while it is still being written: ``SpeechStream``.

An agent (or the CLI) that streams a chat reply feeds each accumulative text to a
``SpeechStream``; audio starts before the text ends::

    speech = SpeechStream(tts, on_audio=play)
    async for text_so_far in reply:
        await speech.feed(text_so_far)       # returns at once
    audio = await speech.finish(final_text)  # the rest; audio.pcm, audio.first_audio_at

* A plain model gets the text sentence by sentence: each complete sentence is synthesised
  (streamed) in a background task, in order, while the reply goes on.
* A realtime model (``supports_streaming_input``) gets every new text with ``push`` and
  ``synthesize`` at the end, in one session named by the message id.

The audio of the whole message is kept (``SpeechAudio``), for saving as one WAV.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from ..audio import block_pcm, pcm16_to_wav
from ..message import Msg
from ._base import TTSModelBase, TTSResponse

# The end of a sentence: . ! ? (and their CJK forms) with closing quotes/brackets, then space;
# or a line break. A text without one is spoken when it ends.
_SENTENCE_END = re.compile(r"(?:[.!?…。！？]+[\"'”’)\]]*)(?=\s)|\n+")


def split_sentences(text: str, final: bool = False) -> tuple[list[str], int]:
    """The complete sentences of ``text`` and where the incomplete rest starts.

    With ``final=True`` the rest counts as a sentence too.
    """
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        piece = text[start:end].strip()
        if piece:
            sentences.append(piece)
        start = end
    if final:
        rest = text[start:].strip()
        if rest:
            sentences.append(rest)
        start = len(text)
    return sentences, start


@dataclass
class SpeechAudio:
    """The audio of one spoken message."""

    pcm: bytes
    sample_rate: int
    first_audio_at: float | None = None  # seconds from the first feed to the first audio
    sentences: int = 0
    msg_id: str = ""
    chunks: list[bytes] = field(default_factory=list, repr=False)

    def wav(self) -> bytes:
        return pcm16_to_wav(self.pcm, self.sample_rate)

    @property
    def duration(self) -> float:
        return len(self.pcm) / (2 * self.sample_rate) if self.sample_rate else 0.0


class SpeechStream:
    """Feeds a growing text to a TTS model (see the module docstring)."""

    def __init__(
        self,
        model: TTSModelBase,
        msg_id: str | None = None,
        on_audio: Callable[[bytes, int], None] | None = None,
        name: str = "assistant",
    ) -> None:
        self.model = model
        self.msg_id = msg_id or uuid.uuid4().hex
        self.on_audio = on_audio
        self.name = name
        self._started: float | None = None
        self._first: float | None = None
        self._chunks: list[bytes] = []
        self._spoken = 0  # characters of the text already handed to the model
        self._text = ""
        self._sentences = 0
        self._queue: asyncio.Queue[str | None] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._finished = False

    def _msg(self, text: str) -> Msg:
        return Msg(self.name, text, "assistant", id=self.msg_id)

    def _audio(self, response: TTSResponse) -> None:
        if response.content is None:
            return
        pcm, rate = block_pcm(response.content)
        if not pcm:
            return
        if self._first is None and self._started is not None:
            self._first = time.perf_counter() - self._started
        self._chunks.append(pcm)
        if self.on_audio is not None:
            self.on_audio(pcm, rate)

    async def feed(self, text_so_far: str) -> None:
        """The reply's text so far (accumulative). Returns without waiting for audio."""
        if self._finished:
            raise RuntimeError("SpeechStream.feed() after finish()")
        if self._started is None:
            self._started = time.perf_counter()
        self._text = text_so_far
        if self.model.supports_streaming_input:
            self._audio(await self.model.push(self._msg(text_so_far)))  # type: ignore[attr-defined]
            return
        sentences, end = split_sentences(text_so_far[self._spoken :])
        self._spoken += end
        for sentence in sentences:
            self._enqueue(sentence)

    def _enqueue(self, sentence: str) -> None:
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.ensure_future(self._speak_sentences())
        self._sentences += 1
        self._queue.put_nowait(sentence)

    async def _speak_sentences(self) -> None:
        assert self._queue is not None
        while True:
            sentence = await self._queue.get()
            if sentence is None:
                return
            stream = await self.model.synthesize(Msg(self.name, sentence, "assistant"), stream=True)
            async for piece in stream:  # type: ignore[union-attr]
                self._audio(piece)

    async def finish(self, final_text: str | None = None) -> SpeechAudio:
        """The text is complete: speak the rest and return the message's whole audio."""
        if self._started is None:
            self._started = time.perf_counter()
        text = self._text if final_text is None else final_text
        self._finished = True
        if self.model.supports_streaming_input:
            if text.strip():
                result = await self.model.synthesize(self._msg(text), stream=True)
                async for piece in result:  # type: ignore[union-attr]
                    self._audio(piece)
        else:
            sentences, _ = split_sentences(text[self._spoken :], final=True)
            self._spoken = len(text)
            for sentence in sentences:
                self._enqueue(sentence)
            if self._queue is not None and self._worker is not None:
                self._queue.put_nowait(None)
                await self._worker
        return SpeechAudio(
            pcm=b"".join(self._chunks),
            sample_rate=self.model.sample_rate,
            first_audio_at=self._first,
            sentences=self._sentences,
            msg_id=self.msg_id,
            chunks=list(self._chunks),
        )

    async def aclose(self) -> None:
        """Stop speaking (e.g. the reply failed): the background synthesis is cancelled."""
        self._finished = True
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
            try:
                await self._worker
            except (asyncio.CancelledError, Exception):
                pass


__all__ = ["SpeechAudio", "SpeechStream", "split_sentences"]
