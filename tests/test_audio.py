"""agentscope_legacy.audio: PCM16 <-> WAV, resampling, duration, audio blocks."""

from __future__ import annotations

import base64
import io
import struct
import wave

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentscope_legacy import audio
from agentscope_legacy.audio import (
    AudioFormatError,
    block_pcm,
    duration_seconds,
    pcm16_to_wav,
    pcm_block,
    resample_pcm16,
    wav_block,
    wav_to_pcm16,
)
from agentscope_legacy.errors import AgentScopeError

RATES = st.sampled_from([8000, 16000, 22050, 24000, 44100, 48000])


def pcm_of(samples: list[int]) -> bytes:
    return struct.pack(f"<{len(samples)}h", *samples)


samples_st = st.lists(st.integers(-32768, 32767), max_size=400)


@given(samples_st, RATES, st.sampled_from([1, 2]))
def test_wav_round_trip(samples, rate, channels):
    samples = samples[: len(samples) - len(samples) % channels]
    pcm = pcm_of(samples)
    wav = pcm16_to_wav(pcm, rate, channels)
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    assert wav_to_pcm16(wav) == (pcm, rate, channels)
    # and the standard library reads it as such
    with wave.open(io.BytesIO(wav)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (rate, channels, 2)


@given(samples_st, RATES)
def test_block_round_trips(samples, rate):
    pcm = pcm_of(samples)
    block = pcm_block(pcm, rate)
    assert block["type"] == "audio"
    assert block["source"] == {
        "type": "base64",
        "media_type": f"audio/pcm;rate={rate}",
        "data": base64.b64encode(pcm).decode(),
    }
    assert block_pcm(block) == (pcm, rate)
    wblock = wav_block(pcm16_to_wav(pcm, rate))
    assert wblock["source"]["media_type"] == "audio/wav"
    assert block_pcm(wblock) == (pcm, rate)


@settings(max_examples=60)
@given(samples_st, RATES, RATES)
def test_resample_length_and_range(samples, src, dst):
    pcm = pcm_of(samples)
    out = resample_pcm16(pcm, src, dst)
    assert len(out) % 2 == 0
    assert len(out) // 2 == round(len(samples) * dst / src)
    if samples and out:
        got = struct.unpack(f"<{len(out) // 2}h", out)
        assert min(got) >= min(samples) and max(got) <= max(samples)  # interpolation only


def test_resample_identity_and_exact_cases():
    pcm = pcm_of([0, 100, 200, 300])
    assert resample_pcm16(pcm, 16000, 16000) == pcm
    assert resample_pcm16(pcm, 16000, 32000) == pcm_of([0, 50, 100, 150, 200, 250, 300, 300])
    assert resample_pcm16(pcm, 16000, 8000) == pcm_of([0, 200])


def test_resample_pure_python_matches_numpy(monkeypatch):
    pytest.importorskip("numpy")
    pcm = pcm_of([(i * 7919) % 65536 - 32768 for i in range(1001)])
    with_numpy = resample_pcm16(pcm, 22050, 16000)
    import builtins

    real_import = builtins.__import__

    def no_numpy(name, *args, **kwargs):
        if name == "numpy":
            raise ImportError("no numpy")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_numpy)
    pure = resample_pcm16(pcm, 22050, 16000)
    a = struct.unpack(f"<{len(pure) // 2}h", pure)
    b = struct.unpack(f"<{len(with_numpy) // 2}h", with_numpy)
    assert len(a) == len(b) and max(abs(x - y) for x, y in zip(a, b, strict=True)) <= 1


def test_resample_stereo_keeps_channels_apart():
    left, right = [1000] * 10, [-1000] * 10
    pcm = pcm_of([v for pair in zip(left, right, strict=True) for v in pair])
    out = resample_pcm16(pcm, 8000, 16000, channels=2)
    got = struct.unpack(f"<{len(out) // 2}h", out)
    assert set(got[0::2]) == {1000} and set(got[1::2]) == {-1000}


def test_duration():
    assert duration_seconds(b"\0" * 44100, 22050) == pytest.approx(1.0)
    assert duration_seconds(b"\0" * 8, 8000, channels=2) == pytest.approx(0.00025)
    assert duration_seconds(b"", 16000) == 0


@pytest.mark.parametrize(
    "data, match",
    [
        (b"", "not a WAV"),
        (b"RIFF\0\0\0\0WAVEjunk", "invalid or unsupported"),
        (b"hello world, not audio at all", "not a WAV"),
    ],
)
def test_bad_wav_is_a_clear_error(data, match):
    with pytest.raises(AudioFormatError, match=match):
        wav_to_pcm16(data)


def test_non_pcm16_wav_is_refused():
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(b"\x80" * 10)
    with pytest.raises(AudioFormatError, match="8 bits; only 16-bit"):
        wav_to_pcm16(out.getvalue())
    assert issubclass(AudioFormatError, AgentScopeError) and issubclass(
        AudioFormatError, ValueError
    )


def test_bad_arguments_and_blocks():
    with pytest.raises(AudioFormatError, match="whole number"):
        pcm16_to_wav(b"\0\0\0", 8000)
    with pytest.raises(ValueError, match="positive"):
        pcm16_to_wav(b"", 0)
    with pytest.raises(ValueError):
        resample_pcm16(b"\0\0", 8000, -1)
    with pytest.raises(AudioFormatError, match="base64 source"):
        block_pcm({"type": "audio", "source": {"type": "url", "url": "a.wav"}})
    with pytest.raises(AudioFormatError, match="not valid base64"):
        block_pcm(
            {"type": "audio", "source": {"type": "base64", "media_type": "audio/wav", "data": "@@"}}
        )
    with pytest.raises(AudioFormatError, match="does not say its rate"):
        block_pcm(
            {"type": "audio", "source": {"type": "base64", "media_type": "audio/pcm", "data": ""}}
        )
    with pytest.raises(AudioFormatError, match="unsupported audio media type"):
        block_pcm(
            {"type": "audio", "source": {"type": "base64", "media_type": "audio/mp3", "data": ""}}
        )
    # the L16 spelling Gemini uses is PCM too
    l16 = {
        "type": "audio",
        "source": {
            "type": "base64",
            "media_type": "audio/L16;codec=pcm;rate=24000",
            "data": "AAA=",
        },
    }
    assert block_pcm(l16) == (b"\0\0", 24000)


def test_no_audioop():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(audio))
    names = {
        a.name
        for n in ast.walk(tree)
        if isinstance(n, (ast.Import, ast.ImportFrom))
        for a in n.names
    }
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "audioop" not in names | modules
