"""Audio helpers in one place: PCM16 <-> WAV, resampling, duration, audio blocks.

Everything here is 16-bit signed little-endian PCM ("PCM16"), interleaved when there are
several channels. Only the standard library is needed (``wave``, ``array``, ``base64``; not
``audioop``, which Python 3.13 removed); numpy speeds up resampling when it is installed.

::

    wav = pcm16_to_wav(pcm, 22050)
    pcm, rate, channels = wav_to_pcm16(wav)
    block = pcm_block(pcm, 22050)          # {"type": "audio", "source": {"type": "base64",
                                           #   "media_type": "audio/pcm;rate=22050", ...}}
    pcm, rate = block_pcm(block)           # back from a pcm or a wav block
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import sys
import wave
from array import array
from typing import Any

from .errors import AgentScopeError
from .message import AudioBlock, audio_block, base64_source

SAMPLE_WIDTH = 2  # bytes per PCM16 sample
PCM_MEDIA_TYPE = "audio/pcm"
WAV_MEDIA_TYPE = "audio/wav"
_WAV_TYPES = {"audio/wav", "audio/wave", "audio/x-wav", "audio/vnd.wave"}
_RATE = re.compile(r"rate\s*=\s*(\d+)")


class AudioFormatError(AgentScopeError, ValueError):
    """Audio bytes that are not what they claim (bad WAV header, not PCM16, odd length)."""


def _check_rate(sample_rate: int, what: str = "sample_rate") -> None:
    if not isinstance(sample_rate, int) or isinstance(sample_rate, bool) or sample_rate <= 0:
        raise ValueError(f"{what} must be a positive integer, got {sample_rate!r}")


def _check_pcm(pcm: bytes, channels: int) -> None:
    if not isinstance(channels, int) or channels <= 0:
        raise ValueError(f"channels must be a positive integer, got {channels!r}")
    if len(pcm) % (SAMPLE_WIDTH * channels):
        raise AudioFormatError(
            f"PCM16 data of {len(pcm)} bytes is not a whole number of "
            f"{channels}-channel frames ({SAMPLE_WIDTH * channels} bytes each)"
        )


def pcm16_to_wav(pcm: bytes, sample_rate: int, channels: int = 1) -> bytes:
    """A complete WAV file (RIFF header + data) holding ``pcm``."""
    _check_rate(sample_rate)
    _check_pcm(pcm, channels)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(SAMPLE_WIDTH)
        w.setframerate(sample_rate)
        w.writeframes(bytes(pcm))
    return out.getvalue()


def wav_to_pcm16(data: bytes) -> tuple[bytes, int, int]:
    """``(pcm, sample_rate, channels)`` of a PCM16 WAV file; AudioFormatError otherwise."""
    if not data[:4] == b"RIFF" or data[8:12] != b"WAVE":
        raise AudioFormatError("not a WAV file (no RIFF/WAVE header)")
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            width, channels, rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
            if width != SAMPLE_WIDTH:
                raise AudioFormatError(
                    f"WAV sample width is {width * 8} bits; only 16-bit PCM is supported"
                )
            frames = w.readframes(w.getnframes())
    except AudioFormatError:
        raise
    except (wave.Error, EOFError, ValueError) as exc:
        raise AudioFormatError(f"invalid or unsupported WAV data: {exc}") from None
    if rate <= 0 or channels <= 0:
        raise AudioFormatError(f"invalid WAV header: rate={rate}, channels={channels}")
    usable = len(frames) - len(frames) % (SAMPLE_WIDTH * channels)
    return frames[:usable], rate, channels


def duration_seconds(pcm: bytes, sample_rate: int, channels: int = 1) -> float:
    """How long ``pcm`` plays, in seconds."""
    _check_rate(sample_rate)
    return len(pcm) / (SAMPLE_WIDTH * channels * sample_rate)


def _samples(pcm: bytes) -> array:
    samples = array("h")
    samples.frombytes(bytes(pcm))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def _to_bytes(samples: array) -> bytes:
    if sys.byteorder == "big":
        samples = array("h", samples)
        samples.byteswap()
    return samples.tobytes()


def resample_pcm16(pcm: bytes, from_rate: int, to_rate: int, channels: int = 1) -> bytes:
    """``pcm`` at ``to_rate``, by linear interpolation (each channel separately).

    The output has ``round(frames * to_rate / from_rate)`` frames.
    """
    _check_rate(from_rate, "from_rate")
    _check_rate(to_rate, "to_rate")
    _check_pcm(pcm, channels)
    if from_rate == to_rate or not pcm:
        return bytes(pcm)
    n_in = len(pcm) // (SAMPLE_WIDTH * channels)
    n_out = round(n_in * to_rate / from_rate)
    if n_out == 0:
        return b""
    try:
        import numpy as np
    except ImportError:  # the pure-Python path
        np = None
    if np is not None:
        x = np.frombuffer(bytes(pcm), dtype="<i2").reshape(n_in, channels).astype(np.float64)
        positions = np.arange(n_out, dtype=np.float64) * (from_rate / to_rate)
        out = np.empty((n_out, channels), dtype=np.float64)
        for c in range(channels):
            out[:, c] = np.interp(positions, np.arange(n_in), x[:, c])
        return np.clip(np.rint(out), -32768, 32767).astype("<i2").tobytes()
    src = _samples(pcm)
    out_samples = array("h", bytes(SAMPLE_WIDTH * channels * n_out))
    step = from_rate / to_rate
    last = n_in - 1
    for i in range(n_out):
        pos = i * step
        j = int(pos)
        frac = pos - j
        if j >= last:
            j, frac = last, 0.0
        for c in range(channels):
            a = src[j * channels + c]
            b = src[(j + 1) * channels + c] if frac else a
            value = round(a + (b - a) * frac)
            out_samples[i * channels + c] = max(-32768, min(32767, value))
    return _to_bytes(out_samples)


def pcm_block(pcm: bytes, sample_rate: int) -> AudioBlock:
    """An audio block of base64 PCM16 (mono), media type ``audio/pcm;rate=<hz>``."""
    _check_rate(sample_rate)
    data = base64.b64encode(bytes(pcm)).decode("ascii")
    return audio_block(base64_source(data, f"{PCM_MEDIA_TYPE};rate={sample_rate}"))


def wav_block(wav_bytes: bytes) -> AudioBlock:
    """An audio block of a base64 WAV file, media type ``audio/wav``."""
    data = base64.b64encode(bytes(wav_bytes)).decode("ascii")
    return audio_block(base64_source(data, WAV_MEDIA_TYPE))


def block_pcm(block: AudioBlock | dict[str, Any]) -> tuple[bytes, int]:
    """``(pcm16, sample_rate)`` of a base64 ``audio/pcm;rate=..`` or ``audio/wav`` block.

    Multi-channel WAV is returned interleaved as it is (use ``wav_to_pcm16`` to see channels).
    """
    source = block.get("source") if isinstance(block, dict) else None
    if not isinstance(source, dict) or source.get("type") != "base64":
        raise AudioFormatError("expected an audio block with a base64 source")
    media_type = str(source.get("media_type", "")).lower()
    try:
        raw = base64.b64decode(source.get("data", ""), validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise AudioFormatError("the audio block's data is not valid base64") from None
    kind = media_type.split(";")[0].strip()
    if kind in _WAV_TYPES:
        pcm, rate, _ = wav_to_pcm16(raw)
        return pcm, rate
    if kind in (PCM_MEDIA_TYPE, "audio/l16"):
        match = _RATE.search(media_type)
        if not match:
            raise AudioFormatError(f"PCM media type {media_type!r} does not say its rate")
        if len(raw) % SAMPLE_WIDTH:
            raise AudioFormatError(f"PCM16 data of {len(raw)} bytes has an odd length")
        return raw, int(match.group(1))
    raise AudioFormatError(f"unsupported audio media type {media_type!r} (want PCM16 or WAV)")


__all__ = [
    "AudioFormatError",
    "block_pcm",
    "duration_seconds",
    "pcm16_to_wav",
    "pcm_block",
    "resample_pcm16",
    "wav_block",
    "wav_to_pcm16",
]
