"""The TTS base classes, driven by in-process fake providers (no SDK, no network)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from agentscope_legacy.audio import block_pcm, wav_to_pcm16
from agentscope_legacy.errors import (
    AuthenticationError,
    ProviderConnectionError,
    ProviderTimeoutError,
    ResponseFormatError,
)
from agentscope_legacy.message import Msg
from agentscope_legacy.tts import (
    RealtimeTTSModelBase,
    TTSInputError,
    TTSModelBase,
    TTSResponse,
    TTSSessionError,
    TTSUsage,
)

RATE = 16000


def tone(text: str) -> bytes:
    """Deterministic PCM16 for a text: 100 samples per character."""
    return b"".join(bytes([ord(c) % 256, 1]) * 100 for c in text)


class SDKError(Exception):
    pass


class FakeTTS(TTSModelBase):
    provider = "fake"
    default_sample_rate = RATE

    def __init__(self, *args, chunks=3, fail=None, split_odd=False, native=None, **kwargs):
        super().__init__("fake-model", *args, **kwargs)
        self.chunks, self.fail, self.split_odd, self.native = chunks, fail, split_odd, native
        self.calls = []

    async def _synthesize_pcm(self, text, **kwargs):
        self.calls.append((text, kwargs))
        pcm = tone(text)
        if self.fail == "before":
            raise SDKError("401 bad key")
        if self.fail == "stall":
            await asyncio.sleep(10)
        if self.split_odd:  # cut mid-sample, as raw HTTP chunks are
            for i in range(0, len(pcm), 333):
                yield pcm[i : i + 333]
            return
        size = -(-len(pcm) // self.chunks)
        for i in range(0, len(pcm), size):
            if self.fail == "midway" and i:
                raise SDKError("connection reset")
            piece = pcm[i : i + size]
            yield (piece, self.native) if self.native else piece
        if self.fail == "garbage":
            yield "not bytes"

    def _translate_error(self, exc):
        if "401" in str(exc):
            return AuthenticationError("bad key", status=401)
        if "reset" in str(exc):
            return ProviderConnectionError("dropped")
        return None


def msg(text, **kw):
    return Msg("assistant", text, "assistant", **kw)


def run(coro):
    return asyncio.run(coro)


# -- plain models -------------------------------------------------------------------------------
def test_non_stream_is_one_wav_response_with_usage():
    tts = FakeTTS()
    res = run(tts.synthesize(msg("Hello")))
    assert isinstance(res, TTSResponse) and res.is_last
    assert res.content["type"] == "audio"
    assert res.content["source"]["media_type"] == "audio/wav"
    pcm, rate = block_pcm(res.content)
    assert (pcm, rate) == (tone("Hello"), RATE)
    assert isinstance(res.usage, TTSUsage)
    assert res.usage.input_characters == 5
    assert res.usage.output_seconds == pytest.approx(len(tone("Hello")) / 2 / RATE)
    assert res.first_audio_at is not None and res.first_audio_at <= res.usage.time


def test_stream_yields_pcm_chunks_last_flagged():
    tts = FakeTTS(stream=True, chunks=4)

    async def go():
        return [r async for r in await tts.synthesize(msg("Hello world"))]

    pieces = run(go())
    assert [p.is_last for p in pieces] == [False] * 4 + [True]  # 4 chunks, then the end
    assert block_pcm(pieces[-1].content) == (b"", RATE)
    assert all(p.content["source"]["media_type"] == f"audio/pcm;rate={RATE}" for p in pieces)
    assert b"".join(block_pcm(p.content)[0] for p in pieces) == tone("Hello world")
    assert pieces[-1].usage is not None and all(p.usage is None for p in pieces[:-1])
    assert len({p.id for p in pieces}) == 1


def test_stream_keyword_overrides_the_model():
    tts = FakeTTS(stream=False)

    async def go():
        gen = await tts.synthesize(msg("Hi"), stream=True, speed=2)
        return [r async for r in gen]

    assert run(go())[-1].is_last
    assert tts.calls == [("Hi", {"speed": 2})]


def test_text_blocks_are_joined_and_stripped():
    tts = FakeTTS()
    m = Msg(
        "assistant",
        [
            {"type": "text", "text": " one"},
            {"type": "image", "source": {"type": "url", "url": "x.png"}},
            {"type": "text", "text": "two "},
        ],
        "assistant",
    )
    run(tts.synthesize(m))
    assert tts.calls[0][0] == "one\ntwo"


@pytest.mark.parametrize(
    "content", ["", "   \n", None, [{"type": "image", "source": {"type": "url", "url": "a.png"}}]]
)
def test_empty_text_is_a_typed_error(content):
    with pytest.raises(TTSInputError, match="no text"):
        run(FakeTTS().synthesize(Msg("assistant", content, "assistant")))
    with pytest.raises(TTSInputError):
        run(FakeTTS().synthesize(None))


def test_too_long_text_is_refused():
    class Short(FakeTTS):
        max_text_chars = 10

    with pytest.raises(TTSInputError, match="max_text_chars"):
        run(Short().synthesize(msg("x" * 11)))


def test_odd_byte_chunks_are_realigned():
    res = run(FakeTTS(split_odd=True).synthesize(msg("abcdef")))
    assert block_pcm(res.content)[0] == tone("abcdef")


def test_another_native_rate_is_resampled():
    tts = FakeTTS(native=RATE * 2, chunks=1)
    pcm, rate = block_pcm(run(tts.synthesize(msg("abcd"))).content)
    assert rate == RATE and len(pcm) == len(tone("abcd")) // 2


def test_sdk_errors_are_translated_once_with_context():
    with pytest.raises(AuthenticationError) as info:
        run(FakeTTS(fail="before").synthesize(msg("x")))
    assert info.value.provider == "fake" and info.value.model == "fake-model"
    assert isinstance(info.value.__cause__, SDKError)

    async def go():
        return [r async for r in await FakeTTS(fail="midway", stream=True).synthesize(msg("abc"))]

    with pytest.raises(ProviderConnectionError):
        run(go())


def test_unknown_errors_pass_through_and_garbage_is_typed():
    class Other(FakeTTS):
        def _translate_error(self, exc):
            return None

    with pytest.raises(SDKError):
        run(Other(fail="before").synthesize(msg("x")))
    with pytest.raises(ResponseFormatError):
        run(FakeTTS(fail="garbage").synthesize(msg("x")))


def test_stall_times_out():
    with pytest.raises(ProviderTimeoutError):
        run(FakeTTS(fail="stall", timeout=0.05).synthesize(msg("x")))


def test_a_plain_model_does_not_take_streaming_input():
    assert FakeTTS.supports_streaming_input is False
    assert RealtimeTTSModelBase.supports_streaming_input is True


# -- realtime models ----------------------------------------------------------------------------
class FakeRealtime(RealtimeTTSModelBase):
    """Speaks each text delta as it is sent, from a receiver thread (like an SDK callback)."""

    provider = "fake-rt"
    default_sample_rate = RATE

    def __init__(self, *args, drop_at_finish=False, silent_finish=False, threaded=True, **kw):
        super().__init__("fake-rt", *args, **kw)
        self.events = []
        self.drop_at_finish, self.silent_finish, self.threaded = (
            drop_at_finish,
            silent_finish,
            threaded,
        )

    def _deliver(self, fn, *args):
        if self.threaded:
            t = threading.Thread(target=fn, args=args)
            t.start()
            t.join()
        else:
            fn(*args)

    async def _connect(self):
        self.events.append("connect")

    async def _disconnect(self):
        self.events.append("disconnect")

    async def _open_session(self, session_id):
        self.events.append(("open", session_id))

    async def _send_text(self, delta):
        self.events.append(("text", delta))
        self._deliver(self.feed_audio, tone(delta))

    async def _finish(self):
        self.events.append("finish")
        if self.drop_at_finish:
            self._deliver(self.feed_error, ProviderConnectionError("websocket dropped (1006)"))
        elif not self.silent_finish:
            self._deliver(self.feed_audio, tone("."))
            self._deliver(self.feed_end)


def test_realtime_push_then_synthesize():
    async def go():
        tts = FakeRealtime()
        m1 = msg("Hello")
        m2 = msg("Hello, world", id=m1.id)
        final = msg("Hello, world!", id=m1.id)
        async with tts:
            r1 = await tts.push(m1)
            r2 = await tts.push(m2)
            r3 = await tts.synthesize(final)
        return tts, r1, r2, r3

    tts, r1, r2, r3 = run(go())
    assert tts.events == [
        "connect",
        ("open", r1.id),
        ("text", "Hello"),
        ("text", ", world"),
        ("text", "!"),
        "finish",
        "disconnect",
    ]
    assert not r1.is_last and block_pcm(r1.content) == (tone("Hello"), RATE)
    assert block_pcm(r2.content)[0] == tone(", world")
    assert r3.is_last and r3.content["source"]["media_type"] == "audio/wav"
    pcm, rate, channels = wav_to_pcm16(__import__("base64").b64decode(r3.content["source"]["data"]))
    assert pcm == tone("!") + tone(".") and rate == RATE and channels == 1
    assert r3.usage.input_characters == len("Hello, world!")
    assert r3.usage.output_seconds == pytest.approx(len(tone("Hello, world!.")) / 2 / RATE)


def test_realtime_push_returns_none_before_audio_and_tolerates_repeats():
    async def go():
        tts = FakeRealtime()
        tts.feed_audio  # noqa: B018
        m = msg("Hi")
        async with tts:
            await tts.push(m)
            again = await tts.push(m)  # the same text: nothing new to send
            older = await tts.push(msg("H", id=m.id))
            res = await tts.synthesize(m)
        return tts, again, older, res

    tts, again, older, res = run(go())
    assert again.content is None and older.content is None
    assert [e for e in tts.events if isinstance(e, tuple) and e[0] == "text"] == [("text", "Hi")]
    assert res.is_last


def test_realtime_synthesize_alone_and_streamed():
    async def go():
        async with FakeRealtime(threaded=False) as tts:
            whole = await tts.synthesize(msg("abc"))
            gen = await tts.synthesize(msg("xyz"), stream=True)
            pieces = [p async for p in gen]
        return whole, pieces

    whole, pieces = run(go())
    assert block_pcm(whole.content)[0] == tone("abc.")
    assert pieces[-1].is_last and pieces[-1].usage is not None
    assert b"".join(block_pcm(p.content)[0] for p in pieces) == tone("xyz.")


def test_realtime_session_rules_are_typed_errors():
    async def go():
        async with FakeRealtime() as tts:
            a = msg("first")
            await tts.push(a)
            with pytest.raises(TTSSessionError, match="one session at a time"):
                await tts.push(msg("second"))
            with pytest.raises(TTSSessionError, match="one session at a time"):
                await tts.synthesize(msg("second"))
            await tts.synthesize(a)
            with pytest.raises(TTSSessionError, match="already finished"):
                await tts.push(a)
            with pytest.raises(TTSSessionError, match="already finished"):
                await tts.synthesize(a)
            with pytest.raises(TTSInputError, match="accumulative"):
                b = msg("one two")
                await tts.push(b)
                await tts.push(msg("three", id=b.id))
            # the failed session was ended: a new one works
            res = await tts.synthesize(msg("ok"))
            assert res.is_last
            with pytest.raises(TTSInputError):
                await tts.synthesize(msg(""))

    run(go())


def test_realtime_unconsumed_stream_blocks_the_next_session_clearly():
    async def go():
        async with FakeRealtime() as tts:
            gen = await tts.synthesize(msg("abc"), stream=True)
            with pytest.raises(TTSSessionError, match="consumed"):
                await tts.push(msg("next"))
            [p async for p in gen]
            await tts.push(msg("next"))

    run(go())


def test_realtime_dropped_connection_and_silence_are_typed_never_a_hang():
    async def dropped():
        async with FakeRealtime(drop_at_finish=True) as tts:
            await tts.synthesize(msg("abc"))

    with pytest.raises(ProviderConnectionError, match="dropped"):
        run(asyncio.wait_for(dropped(), 5))

    async def silent():
        async with FakeRealtime(silent_finish=True, timeout=0.05) as tts:
            await tts.synthesize(msg("abc"))

    with pytest.raises(ProviderTimeoutError):
        run(asyncio.wait_for(silent(), 5))


def test_realtime_error_seen_by_push():
    async def go():
        async with FakeRealtime(threaded=False) as tts:
            m = msg("a")
            await tts.push(m)
            tts.feed_error(ProviderConnectionError("gone"))
            with pytest.raises(ProviderConnectionError):
                await tts.push(msg("ab", id=m.id))
            # that session is over; the model can start another
            assert tts.session_id is None

    run(go())


def test_realtime_push_connects_lazily_and_close_is_idempotent():
    async def go():
        tts = FakeRealtime()
        await tts.push(msg("x"))
        assert tts.connected
        await tts.close()
        await tts.close()
        return tts

    assert run(go()).events.count("disconnect") == 1


# -- the legacy side ---------------------------------------------------------------------------
def _manager_with_fake():
    from agentscope_legacy.models.manager import ModelManager
    from agentscope_legacy.tts._legacy import wrapper_for

    class ConfiguredFake(FakeTTS):
        config_schema = {"properties": {"chunks": {"type": "integer", "minimum": 1}}}

        def __init__(self, model_name="fake-model", **kwargs):
            super().__init__(**kwargs)

    manager = ModelManager()
    manager.register_model_wrapper_class(wrapper_for("fake_tts", ConfiguredFake))
    return manager


def test_legacy_wrapper_speaks_text_sync_and_streamed():
    manager = _manager_with_fake()
    manager.load_model_configs(
        [{"config_name": "v", "model_type": "fake_tts", "chunks": 2, "format": "pcm16"}]
    )
    wrapper = manager.get_model_by_config_name("v")
    speech = wrapper("Hello")
    assert speech.audio == tone("Hello") and speech.sample_rate == RATE
    assert speech.content == tone("Hello")  # format pcm16
    assert wav_to_pcm16(speech.wav()) == (tone("Hello"), RATE, 1)
    assert speech.usage.input_characters == 5
    streamed = wrapper("Hello there", stream=True)
    chunks = list(streamed.stream)
    assert len(chunks) >= 2 and b"".join(chunks) == tone("Hello there") == streamed.audio
    assert run(wrapper.acall("Hi")).audio == tone("Hi")
    with pytest.raises(TTSInputError):
        wrapper("")
    wrapper.close()


def test_tts_configs_are_validated_at_load_time():
    from agentscope_legacy.errors import ConfigError

    manager = _manager_with_fake()
    with pytest.raises(ConfigError) as info:
        manager.load_model_configs(
            [
                {
                    "config_name": "v",
                    "model_type": "fake_tts",
                    "format": "mp3",
                    "sample_rate": 12,
                    "chunks": 0,
                    "voise": "x",
                }
            ]
        )
    text = str(info.value)
    assert "format" in text and "sample_rate" in text and "chunks" in text
    assert "did you mean 'voice'" in text


def test_builtin_tts_types_are_registered_without_sdk_imports():
    import subprocess
    import sys

    code = (
        "import sys; from agentscope_legacy.models.manager import ModelManager;"
        "m = ModelManager();"
        "print(sorted(k for k in m.model_wrapper_mapping if k.endswith('_tts')));"
        "sdks = ('piper', 'onnxruntime', 'openai', 'dashscope', 'google.genai');"
        "bad = [n for n in sdks if n in sys.modules];"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    types, bad = out.stdout.strip().splitlines()
    assert "local_tts" in types
    assert bad == "[]"


def test_local_tts_config_schema():
    from agentscope_legacy.errors import ConfigError
    from agentscope_legacy.models.manager import ModelManager

    manager = ModelManager()
    manager.load_model_configs([{"config_name": "lv", "model_type": "local_tts", "n_threads": 1}])
    with pytest.raises(ConfigError, match="n_threads"):
        manager.load_model_configs(
            [{"config_name": "x", "model_type": "local_tts", "n_threads": -1}]
        )


# -- speaking a reply as it streams ----------------------------------------------------------
def test_split_sentences():
    from agentscope_legacy.tts import split_sentences

    assert split_sentences("Hello there. How are") == (["Hello there."], 12)
    assert split_sentences("Hi! Sure? \u201cYes.\u201d And") == (
        ["Hi!", "Sure?", "\u201cYes.\u201d"],
        16,
    )
    assert split_sentences("3.5 is a number") == ([], 0)  # no space after the dot
    assert split_sentences("one\ntwo", final=True) == (["one", "two"], 7)
    assert split_sentences("end.", final=False) == ([], 0)  # may go on ("end.com")
    assert split_sentences("end.", final=True) == (["end."], 4)


def test_speech_stream_speaks_sentences_before_the_text_ends():
    from agentscope_legacy.tts import SpeechStream

    async def go():
        tts = FakeTTS(chunks=2)
        heard = []
        speech = SpeechStream(tts, on_audio=lambda pcm, rate: heard.append(pcm))
        text = ""
        for piece in ["Hello ", "there. ", "How are", " you?"]:
            text += piece
            await speech.feed(text)
            await asyncio.sleep(0.01)
            if piece == "How are":
                assert b"".join(heard) == tone("Hello there.")  # spoken before the end
        audio = await speech.finish(text)
        return tts, heard, audio

    tts, heard, audio = run(go())
    assert [c[0] for c in tts.calls] == ["Hello there.", "How are you?"]
    assert audio.pcm == b"".join(heard) == tone("Hello there.") + tone("How are you?")
    assert audio.sentences == 2 and audio.first_audio_at is not None
    assert wav_to_pcm16(audio.wav()) == (audio.pcm, RATE, 1)


def test_speech_stream_on_a_realtime_model_pushes():
    from agentscope_legacy.tts import SpeechStream

    async def go():
        tts = FakeRealtime(threaded=False)
        speech = SpeechStream(tts)
        await speech.feed("Hel")
        await speech.feed("Hello")
        audio = await speech.finish("Hello!")
        await tts.close()
        return tts, audio

    tts, audio = run(go())
    sent = [e[1] for e in tts.events if isinstance(e, tuple) and e[0] == "text"]
    assert sent == ["Hel", "lo", "!"]
    assert audio.pcm == tone("Hel") + tone("lo") + tone("!") + tone(".")
    assert ("open", audio.msg_id) in tts.events


def test_speech_stream_errors_surface_at_finish():
    from agentscope_legacy.tts import SpeechStream

    async def go():
        speech = SpeechStream(FakeTTS(fail="before"))
        await speech.feed("One. Two")
        await speech.finish()

    with pytest.raises(AuthenticationError):
        run(go())


def test_legacy_speech_stream_for_sync_code():
    manager = _manager_with_fake()
    manager.load_model_configs([{"config_name": "v", "model_type": "fake_tts"}])
    wrapper = manager.get_model_by_config_name("v")
    speech = wrapper.speech_stream(name="bot")
    text = ""
    for piece in ["One. ", "Two", " three."]:
        text += piece
        speech.feed(text)
    result = speech.finish(text)
    assert result.audio == tone("One.") + tone("Two three.")
    assert result.first_audio_at is not None and len(speech.msg_id) == 32
    closed = wrapper.speech_stream()
    closed.feed("Never finished")
    closed.close()
    wrapper.close()


# -- the hook's `stream` argument, half samples, retries -----------------------------------------
class StreamAwareTTS(FakeTTS):
    """A hook that declares `stream`: the base tells it whether the call streams."""

    async def _synthesize_pcm(self, text, *, stream, **kwargs):
        self.calls.append((text, stream, kwargs))
        yield tone(text)


def test_a_hook_that_declares_stream_is_told_whether_the_call_streams():
    async def go(tts, **kw):
        res = await tts.synthesize(msg("Hi"), **kw)
        if isinstance(res, TTSResponse):
            return res
        return [r async for r in res]

    tts = StreamAwareTTS(stream=False)
    run(go(tts))
    run(go(tts, stream=True, speed=2))
    streaming = StreamAwareTTS(stream=True)
    run(go(streaming))
    run(go(streaming, stream=False))
    assert tts.calls == [("Hi", False, {}), ("Hi", True, {"speed": 2})]
    assert streaming.calls == [("Hi", True, {}), ("Hi", False, {})]
    # A hook with only **kwargs is not given it (test_stream_keyword_overrides_the_model).
    assert StreamAwareTTS._hook_takes_stream() and not FakeTTS._hook_takes_stream()


class HalfSampleTTS(FakeTTS):
    async def _synthesize_pcm(self, text, **kwargs):
        yield tone(text)[:3]  # cut mid-sample: carried over
        yield tone(text)[3:] + b"\x01"  # ends on half a sample


def test_audio_ending_on_half_a_sample_is_a_response_format_error():
    with pytest.raises(ResponseFormatError, match="half a sample") as info:
        run(HalfSampleTTS().synthesize(msg("ab")))
    assert info.value.provider == "fake" and info.value.model == "fake-model"

    async def go():
        got = []
        with pytest.raises(ResponseFormatError, match="half a sample"):
            async for r in await HalfSampleTTS(stream=True).synthesize(msg("ab")):
                got.append(r)
        return got

    got = run(go())  # the whole samples came first, then the error instead of the last chunk
    assert b"".join(block_pcm(r.content)[0] for r in got) == tone("ab")
    assert not any(r.is_last for r in got)


class OddRealtime(FakeRealtime):
    """Delivers each delta's audio cut at an odd byte: half a sample spans two pushes."""

    async def _send_text(self, delta):
        self.events.append(("text", delta))
        pcm = getattr(self, "pending", b"") + tone(delta)
        self._deliver(self.feed_audio, pcm[:-1])
        self.pending = pcm[-1:]

    async def _finish(self):
        self._deliver(self.feed_audio, self.pending + tone(".") + self.tail)
        self._deliver(self.feed_end)


def test_realtime_audio_is_realigned_across_pushes_and_a_half_sample_at_the_end_is_typed():
    async def go(tail):
        async with OddRealtime(threaded=False) as tts:
            tts.tail = tail
            m = msg("ab")
            first = await tts.push(m)
            second = await tts.push(msg("abcd", id=m.id))
            rest = await tts.synthesize(msg("abcd", id=m.id))
        return first, second, rest

    first, second, rest = run(go(b""))
    pcm = b"".join(block_pcm(r.content)[0] for r in (first, second, rest))
    assert pcm == tone("abcd.")
    with pytest.raises(ResponseFormatError, match="half a sample"):
        run(go(b"\x07"))


def test_retry_settings_come_from_the_model():
    from agentscope_legacy.errors import RateLimitError, ServerError
    from agentscope_legacy.tts._common import MAX_RETRY_WAIT, retry_delay, with_retries

    class Model:
        max_retries, retry_interval, max_retry_interval = 2, 0.0, 0.0

        def _typed(self, exc):
            return exc

    model = Model()
    calls = []

    async def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ServerError("busy", status=503)
        return "ok"

    assert run(with_retries(model, flaky)) == "ok" and len(calls) == 3
    calls.clear()
    model.max_retries = 1
    with pytest.raises(ServerError) as info:
        run(with_retries(model, flaky))
    assert info.value.attempts == 2
    model.retry_interval, model.max_retry_interval = 1.0, 3.0
    assert 0.75 * 3.0 <= retry_delay(model, ServerError("x", status=500), 0) * 3 <= 3.0
    model.max_retries = 5
    assert 0.75 * 3.0 <= retry_delay(model, ServerError("x", status=500), 4) <= 3.0
    assert retry_delay(model, RateLimitError("x", status=429, retry_after=2.5), 0) == 2.5
    slow = RateLimitError("x", status=429, retry_after=MAX_RETRY_WAIT + 1)
    assert retry_delay(model, slow, 0) is None
