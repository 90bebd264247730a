"""Voice activity detection for :class:`LocalRealtimeModel`: frames of 16 kHz PCM16 -> turns.

Two frame classifiers, one segmenter:

- ``"webrtc"`` (``webrtcvad-wheels``): Google's WebRTC GMM VAD, 30 ms frames, a C call;
- ``"silero"``: the Silero v6 network that faster-whisper ships
  (``faster_whisper/assets/silero_vad_v6.onnx``), 32 ms frames, run by onnxruntime on one
  thread, its LSTM state carried from frame to frame.

:class:`SpeechSegmenter` turns the per-frame decisions into ``start``/``end`` marks with the
utterance's audio: speech starts after ``min_speech_ms`` of speech, ends after
``silence_ms`` of silence. Times are milliseconds of audio since the segmenter began.

Measured on this 2-core machine (``python benchmarks/realtime_local.py --vad``): the local
Piper voice saying a question (resampled to 16 kHz), with 1 s before and 2 s after, in silence
and in white noise at -30 dBFS; 20 ms chunks; ``silence_ms=600``. "End" is when the end mark
came, after the speech's last sample above -40 dBFS (600 ms of it is the silence asked for).

=================  ==================  =========================  ====================
VAD                CPU per s of audio  end detected after         false starts (noise)
=================  ==================  =========================  ====================
webrtc (mode 3)    0.16 ms             706 ms (silence), 646 ms   1
webrtc (mode 1)    0.15 ms             786 ms (silence), never    1
silero (0.5)       3.5 ms              666 ms (silence), 666 ms   0
=================  ==================  =========================  ====================

WebRTC is 20 times cheaper, but it takes steady noise for speech: a false start in a noisy
room is a barge-in that cancels the answer, and in its permissive modes the turn never ends.
Silero costs 0.35 % of one core, ends the turn at the same point in silence and in noise, and
starts within 20 ms of the speech. The default is therefore ``"silero"``; ``"webrtc"`` suits
clean input (a headset) on a very small machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

from ..errors import MissingDependencyError

__all__ = [
    "FrameVAD", "SileroVAD", "SpeechSegmenter", "VadMark", "WebRtcVAD", "make_vad",
    "silero_model_path", "vad_spec",
]

RATE = 16000


class FrameVAD(Protocol):
    """A per-frame speech classifier over 16 kHz PCM16."""

    frame_samples: int

    def is_speech(self, frame: bytes) -> bool: ...

    def reset(self) -> None: ...


class WebRtcVAD:
    """WebRTC's VAD; ``mode`` 0 (permissive) to 3 (strict)."""

    frame_samples = 480  # 30 ms

    def __init__(self, mode: int = 3) -> None:
        try:
            import webrtcvad
        except ImportError:
            raise MissingDependencyError("webrtcvad-wheels", "realtime") from None
        if mode not in (0, 1, 2, 3):
            raise ValueError(f"webrtc VAD mode must be 0-3, got {mode!r}")
        self._vad = webrtcvad.Vad(mode)

    def is_speech(self, frame: bytes) -> bool:
        return self._vad.is_speech(frame, RATE)

    def reset(self) -> None:
        pass


def silero_model_path() -> str:
    """The Silero v6 network that faster-whisper (1.2.1 on) ships; MissingDependencyError
    naming the extra when it is absent."""
    try:
        from faster_whisper.utils import get_assets_path
    except ImportError:
        raise MissingDependencyError("faster-whisper", "realtime") from None
    path = os.path.join(get_assets_path(), "silero_vad_v6.onnx")
    if not os.path.isfile(path):  # faster-whisper < 1.2.1 has Silero v4/v5 only
        raise MissingDependencyError("faster-whisper", "realtime",
                                     " (version 1.2.1 or later, for its Silero v6 VAD)")
    return path


class SileroVAD:
    """Silero v6 (faster-whisper's copy) one 32 ms frame at a time; speech above ``threshold``."""

    frame_samples = 512
    _context = 64  # the model sees the previous frame's last 64 samples too

    def __init__(self, threshold: float = 0.5) -> None:
        try:
            import numpy as np
            import onnxruntime
        except ImportError as exc:
            raise MissingDependencyError(exc.name or "onnxruntime", "realtime") from None
        if not 0 < threshold < 1:
            raise ValueError(f"silero VAD threshold must be in (0, 1), got {threshold!r}")
        self.threshold = threshold
        self._np = np
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        options.log_severity_level = 4
        self._session = onnxruntime.InferenceSession(
            silero_model_path(),
            sess_options=options, providers=["CPUExecutionProvider"],
        )
        self.reset()

    def reset(self) -> None:
        np = self._np
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._tail = np.zeros(self._context, dtype=np.float32)

    def probability(self, frame: bytes) -> float:
        np = self._np
        samples = np.frombuffer(frame, dtype=np.int16).astype(np.float32) / 32768.0
        window = np.concatenate([self._tail, samples])[None, :]
        self._tail = samples[-self._context:]
        out, self._h, self._c = self._session.run(
            None, {"input": window, "h": self._h, "c": self._c}
        )
        return float(np.asarray(out).reshape(-1)[0])

    def is_speech(self, frame: bytes) -> bool:
        return self.probability(frame) >= self.threshold


def vad_spec(kind: str) -> tuple[str, float | int | None]:
    """``"silero"``/``"silero:T"`` (threshold T) or ``"webrtc"``/``"webrtc:N"`` (mode N) as
    ``(name, argument)``; ValueError for anything else."""
    name, _, arg = str(kind).partition(":")
    try:
        if name == "silero" and (not arg or 0 < float(arg) < 1):
            return name, float(arg) if arg else None
        if name == "webrtc" and (not arg or arg in ("0", "1", "2", "3")):
            return name, int(arg) if arg else None
    except ValueError:
        pass
    raise ValueError(f"unknown VAD {kind!r}: use 'silero', 'silero:<threshold in (0, 1)>', "
                     "'webrtc' or 'webrtc:<mode 0-3>'")


def make_vad(kind: str | FrameVAD) -> FrameVAD:
    """The classifier ``kind`` names (see :func:`vad_spec`), or ``kind`` itself."""
    if not isinstance(kind, str):
        return kind
    name, arg = vad_spec(kind)
    if name == "silero":
        return SileroVAD(0.5 if arg is None else float(arg))
    return WebRtcVAD(3 if arg is None else int(arg))


@dataclass
class VadMark:
    """``start`` (``ms``: where speech began) or ``end`` (``ms``: where it stopped; ``audio``:
    the utterance, with ``pre_roll_ms`` before its start)."""

    kind: str
    ms: int
    audio: bytes = b""


class SpeechSegmenter:
    """Feed 16 kHz PCM16 of any length; get :class:`VadMark` s as turns start and end.

    An utterance longer than ``max_speech_ms`` ends there (a stuck VAD, a push to talk never
    released: the audio must not pile up).

    A pure state machine over the frame decisions (the classifier is the only state outside).
    """

    def __init__(
        self,
        vad: FrameVAD,
        *,
        silence_ms: int = 600,
        min_speech_ms: int = 90,
        pre_roll_ms: int = 300,
        max_speech_ms: int = 30_000,
    ) -> None:
        self.vad = vad
        self.silence_ms, self.min_speech_ms = silence_ms, min_speech_ms
        self.pre_roll_ms, self.max_speech_ms = pre_roll_ms, max_speech_ms
        self._frame_bytes = vad.frame_samples * 2
        self.reset()

    @property
    def frame_ms(self) -> float:
        return self.vad.frame_samples * 1000 / RATE

    @property
    def in_speech(self) -> bool:
        return self._speaking

    def reset(self) -> None:
        self.vad.reset()
        self._base = 0  # samples before the current utterance (the clock)
        self._pending = b""  # less than a frame, waiting for the rest
        self._frames = 0  # frames classified since the last reset
        self._speaking = False
        self._run = 0  # consecutive speech (idle) or silent (speaking) frames
        self._audio = bytearray()  # pre-roll (idle) or the utterance (speaking)
        self._last_speech = 0  # frame index after the last speech frame

    def _ms(self, frames: int, extra_samples: int = 0) -> int:
        return round((self._base + frames * self.vad.frame_samples + extra_samples) * 1000 / RATE)

    def feed(self, pcm: bytes) -> list[VadMark]:
        data = self._pending + pcm
        n = len(data) - len(data) % self._frame_bytes
        marks = []
        for i in range(0, n, self._frame_bytes):
            mark = self._frame(data[i:i + self._frame_bytes])
            if mark is not None:
                marks.append(mark)
        self._pending = data[n:]
        return marks

    def _frame(self, frame: bytes) -> VadMark | None:
        speech = self.vad.is_speech(frame)
        self._frames += 1
        self._audio += frame
        if not self._speaking:
            self._run = self._run + 1 if speech else 0
            keep = (self.pre_roll_ms * RATE // 1000) * 2 + self._run * self._frame_bytes
            del self._audio[:max(0, len(self._audio) - keep)]  # (not [:-keep]: keep may be 0)
            if self._run and self._run * self.frame_ms >= self.min_speech_ms:
                start = self._frames - self._run
                self._speaking, self._run, self._last_speech = True, 0, self._frames
                return VadMark("start", self._ms(start))
            return None
        if len(self._audio) >= self.max_speech_ms * RATE // 1000 * 2:  # Whisper's window: 30 s
            self._last_speech = self._frames
            return self._end(self._ms(self._frames))
        if speech:
            self._run, self._last_speech = 0, self._frames
            return None
        self._run += 1
        if self._run * self.frame_ms >= self.silence_ms:
            return self._end(self._ms(self._last_speech))
        return None

    def finish(self) -> VadMark:
        """End the utterance now (a manual commit): it ends where the audio received ends."""
        rest = len(self._pending) // 2
        return self._end(self._ms(self._frames, rest), self._pending, rest)

    def _end(self, ms: int, rest: bytes = b"", rest_samples: int = 0) -> VadMark:
        mark = VadMark("end", ms, bytes(self._audio) + rest)
        base = self._base + self._frames * self.vad.frame_samples + rest_samples
        self.reset()
        self._base = base  # the clock runs on
        return mark
