"""The TTS providers on the wire: each through its real SDK against its loopback emulator
(``tests/emulators/tts.py``): the audio exactly as scripted (whole and streamed), the request
each SDK sends, typed errors (401, 429 retried, 500, a dropped stream or websocket, malformed
audio) without hangs, keys kept out of errors and reprs, and one key per realtime model."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("websockets")

from agentscope_legacy import errors  # noqa: E402
from agentscope_legacy.message import Msg  # noqa: E402
from agentscope_legacy.tts import TTSResponse  # noqa: E402
from tests.emulators.base import Fault  # noqa: E402
from tests.emulators.fixtures import ensure_no_proxy  # noqa: E402
from tests.emulators.tts import (  # noqa: E402
    DashScopeTTSEmulator,
    GeminiTTSEmulator,
    OpenAISpeechEmulator,
    QwenTTSRealtimeEmulator,
    tone_for,
)
from tests.emulators.ws import WSFault  # noqa: E402

ensure_no_proxy()

TEXT = "Hello from the loopback voice."
PCM = bytes(range(256)) * 12  # 3072 bytes: 1536 samples
#: No test may wait longer than this for a failure (a hang fails the test instead).
QUICK = 15.0


def msg(text: str = TEXT, **kw: Any) -> Msg:
    return Msg("assistant", text, "assistant", **kw)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, QUICK))


async def collect(gen: Any) -> list[TTSResponse]:
    return [chunk async for chunk in gen]


def pcm_of(res: TTSResponse) -> bytes:
    pcm, rate = res.pcm()
    assert rate == 24000
    return pcm


def stream_pcm(chunks: list[TTSResponse]) -> bytes:
    assert chunks and chunks[-1].is_last and not any(c.is_last for c in chunks[:-1])
    assert chunks[-1].usage is not None
    return b"".join(c.pcm()[0] for c in chunks if c.content is not None)


def check_typed(err: errors.ProviderError, cls: type, status: int | None, provider: str) -> None:
    assert isinstance(err, cls), repr(err)
    assert err.status == status
    assert err.provider == provider


def keyless(key: str, *objects: Any) -> None:
    for obj in objects:
        assert key not in str(obj) and key not in repr(obj)
        if isinstance(obj, errors.ProviderError):
            assert key not in str(obj.body) and key not in str(obj.message)


def _server(cls: type) -> Iterator[Any]:
    with cls() as server:
        yield server


@pytest.fixture(scope="module")
def _openai() -> Iterator[OpenAISpeechEmulator]:
    yield from _server(OpenAISpeechEmulator)


@pytest.fixture(scope="module")
def _dashscope() -> Iterator[DashScopeTTSEmulator]:
    yield from _server(DashScopeTTSEmulator)


@pytest.fixture(scope="module")
def _gemini() -> Iterator[GeminiTTSEmulator]:
    yield from _server(GeminiTTSEmulator)


@pytest.fixture(scope="module")
def _realtime() -> Iterator[QwenTTSRealtimeEmulator]:
    yield from _server(QwenTTSRealtimeEmulator)


@pytest.fixture
def openai_tts(_openai: OpenAISpeechEmulator) -> Iterator[OpenAISpeechEmulator]:
    _openai.clear()
    yield _openai
    assert _openai.errors == []


@pytest.fixture
def dashscope_tts(_dashscope: DashScopeTTSEmulator) -> Iterator[DashScopeTTSEmulator]:
    _dashscope.clear()
    yield _dashscope
    assert _dashscope.errors == []


@pytest.fixture
def gemini_tts(_gemini: GeminiTTSEmulator) -> Iterator[GeminiTTSEmulator]:
    _gemini.clear()
    yield _gemini
    assert _gemini.errors == []


@pytest.fixture
def realtime(_realtime: QwenTTSRealtimeEmulator) -> Iterator[QwenTTSRealtimeEmulator]:
    _realtime.clear()
    yield _realtime
    assert _realtime.errors == []


# -- the plain providers, one table --------------------------------------------------------------

OPENAI_KEY = "sk-tts-openai-0123456789abcdef"
DASHSCOPE_KEY = "sk-tts-dashscope-0123456789abcdef"
GEMINI_KEY = "AIza-tts-gemini-0123456789abcdef"


def openai_model(server: Any, **kw: Any) -> Any:
    from agentscope_legacy.tts import OpenAITTSModel

    return OpenAITTSModel(api_key=OPENAI_KEY, base_url=server.base_url + "/v1", voice="nova", **kw)


def dashscope_model(server: Any, **kw: Any) -> Any:
    from agentscope_legacy.tts import DashScopeTTSModel

    return DashScopeTTSModel(
        api_key=DASHSCOPE_KEY, base_url=server.api_base, voice="Cherry", language_type="English",
        **kw,
    )  # fmt: skip


def gemini_model(server: Any, **kw: Any) -> Any:
    from agentscope_legacy.tts import GeminiTTSModel

    return GeminiTTSModel(api_key=GEMINI_KEY, base_url=server.base_url, voice="Puck", **kw)


PROVIDERS = {
    "openai": (openai_model, "openai_tts", OPENAI_KEY),
    "dashscope": (dashscope_model, "dashscope_tts", DASHSCOPE_KEY),
    "gemini": (gemini_model, "gemini_tts", GEMINI_KEY),
}


@pytest.fixture(params=list(PROVIDERS))
def provider(request: pytest.FixtureRequest) -> tuple[str, Any, Any, str]:
    name = request.param
    build, fixture, key = PROVIDERS[name]
    return name, request.getfixturevalue(fixture), build, key


def speech_requests(server: Any) -> list[Any]:
    """The synthesis requests (not the DashScope WAV downloads)."""
    return [r for r in server.requests if r.method == "POST"]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_audio_is_exactly_what_the_server_sent(provider, stream):
    name, server, build, _ = provider
    server.set_audio(PCM, chunks=4)
    model = build(server, stream=stream)
    if stream:
        chunks = run(_stream(model))
        assert stream_pcm(chunks) == PCM
        assert all(c.content["source"]["media_type"] == "audio/pcm;rate=24000" for c in chunks)
    else:
        res = run(model.synthesize(msg()))
        assert res.is_last and res.content["source"]["media_type"] == "audio/wav"
        assert pcm_of(res) == PCM
        assert res.usage.input_characters == len(TEXT)
        assert res.usage.output_seconds == pytest.approx(len(PCM) / 48000)
    (req,) = speech_requests(server)
    check_request(name, req, stream)


async def _stream(model: Any) -> list[TTSResponse]:
    return await collect(await model.synthesize(msg()))


def check_request(name: str, req: Any, stream: bool) -> None:
    body = req.json
    if name == "openai":
        assert req.path == "/v1/audio/speech"
        assert req.headers["authorization"] == f"Bearer {OPENAI_KEY}"
        assert body == {
            "model": "gpt-4o-mini-tts", "input": TEXT, "voice": "nova", "response_format": "pcm"
        }  # fmt: skip
    elif name == "dashscope":
        assert req.path == "/api/v1/services/aigc/multimodal-generation/generation"
        assert req.headers["authorization"] == f"Bearer {DASHSCOPE_KEY}"
        assert body["model"] == "qwen3-tts-flash"
        assert body["input"] == {"text": TEXT, "voice": "Cherry", "language_type": "English"}
        assert (req.headers.get("x-dashscope-sse") == "enable") is stream
    else:
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        assert req.path.endswith(f"/models/gemini-2.5-flash-preview-tts:{method}")
        assert req.headers["x-goog-api-key"] == GEMINI_KEY
        assert body["contents"] == [{"parts": [{"text": TEXT}], "role": "user"}]
        assert body["generationConfig"] == {
            "responseModalities": ["AUDIO"],
            # google-genai sends the inner keys of speech_config as they were written
            "speechConfig": {"voice_config": {"prebuilt_voice_config": {"voice_name": "Puck"}}},
        }


def test_stream_hands_on_chunks_as_they_arrive(provider):
    _, server, build, _ = provider
    server.set_audio(PCM, chunks=3)
    server.chunk_delay = 0.3

    async def timed() -> list[tuple[float, TTSResponse]]:
        started = time.monotonic()
        gen = await build(server, stream=True).synthesize(msg())
        return [(time.monotonic() - started, chunk) async for chunk in gen]

    got = run(timed())
    audio = [(at, c) for at, c in got if c.content is not None and c.pcm()[0]]
    assert len(audio) == 3  # one per chunk the server sent, each as it came
    assert b"".join(c.pcm()[0] for _, c in audio) == PCM
    first_at, _ = audio[0]
    assert first_at < got[-1][0] - 0.4  # the first audio came well before the end
    assert got[-1][1].first_audio_at < got[-1][1].usage.time


def test_dashscope_whole_audio_is_downloaded_from_the_reply_url_without_the_key(dashscope_tts):
    dashscope_tts.set_audio(PCM)
    run(dashscope_model(dashscope_tts).synthesize(msg()))
    post, get = dashscope_tts.requests
    assert (post.method, get.method) == ("POST", "GET")
    assert get.path.startswith("/files/tts-") and get.path.endswith(".wav")
    assert "authorization" not in get.headers


def test_dashscope_whole_audio_sent_inline_is_used_as_it_is(dashscope_tts):
    dashscope_tts.set_audio(PCM)
    dashscope_tts.whole_as_data = True
    res = run(dashscope_model(dashscope_tts).synthesize(msg()))
    assert pcm_of(res) == PCM
    assert [r.method for r in dashscope_tts.requests] == ["POST"]  # nothing downloaded


def test_resampled_when_another_rate_is_asked(provider):
    _, server, build, _ = provider
    server.set_audio(PCM)
    res = run(build(server, sample_rate=16000).synthesize(msg()))
    pcm, rate = res.pcm()
    assert rate == 16000 and abs(len(pcm) - len(PCM) * 2 // 3) <= 4


def test_401_is_an_authentication_error_not_retried(provider):
    name, server, build, key = provider
    server.add_fault(Fault(status=401, message=f"Incorrect API key provided: {key}"))
    model = build(server)
    with pytest.raises(errors.AuthenticationError) as info:
        run(model.synthesize(msg()))
    check_typed(info.value, errors.AuthenticationError, 401, name)
    assert info.value.model == model.model_name
    assert len(speech_requests(server)) == 1
    keyless(key, info.value, model)


def test_429_is_retried_honouring_retry_after(provider):
    _, server, build, _ = provider
    server.set_audio(PCM)
    server.add_fault(Fault(status=429, headers={"Retry-After": "0.2"}))
    started = time.monotonic()
    res = run(build(server).synthesize(msg()))
    assert time.monotonic() - started >= 0.2
    assert pcm_of(res) == PCM
    assert len(speech_requests(server)) == 2


def test_429_every_time_is_a_rate_limit_error_after_the_retries(provider):
    name, server, build, key = provider
    server.add_fault(Fault(status=429, headers={"Retry-After": "0"}, times=3))
    model = build(server, max_retries=2)
    with pytest.raises(errors.RateLimitError) as info:
        run(model.synthesize(msg()))
    check_typed(info.value, errors.RateLimitError, 429, name)
    assert info.value.retry_after == 0 and info.value.attempts == 3
    assert len(speech_requests(server)) == 3
    keyless(key, info.value)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_500_is_a_server_error(provider, stream):
    name, server, build, key = provider
    server.add_fault(Fault(status=500, times=5))
    with pytest.raises(errors.ServerError) as info:
        run(_consume(build(server, stream=stream, max_retries=1)))
    check_typed(info.value, errors.ServerError, 500, name)
    assert len(speech_requests(server)) == 2
    keyless(key, info.value)


def test_a_stream_dropped_midway_is_a_connection_error(provider):
    name, server, build, key = provider
    server.set_audio(PCM, chunks=4)
    server.add_fault(Fault(drop_after=1))

    async def go() -> list[TTSResponse]:
        got = []
        async for chunk in await build(server, stream=True, max_retries=0).synthesize(msg()):
            got.append(chunk)
        return got

    with pytest.raises(errors.ProviderConnectionError) as info:
        run(go())
    assert info.value.provider == name
    keyless(key, info.value)


def test_an_error_event_inside_the_stream_is_typed(provider):
    name, server, build, key = provider
    if name == "openai":
        pytest.skip("OpenAI's speech body is raw PCM: it has no events")
    error = {"code": "InternalError", "message": "boom", "status": 500}
    if name == "gemini":
        error = {"code": 500, "message": "boom"}
    server.set_audio(PCM, chunks=3)
    server.add_fault(Fault(stream_error=error, drop_after=1))
    with pytest.raises(errors.ServerError) as info:
        run(_consume(build(server, stream=True, max_retries=0)))
    assert info.value.provider == name and "boom" in str(info.value)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_malformed_audio_is_a_response_format_error(provider, stream):
    name, server, build, key = provider
    if name == "openai":
        pytest.skip("OpenAI sends raw PCM bytes: there is no encoding to get wrong")
    server.set_malformed_audio()
    with pytest.raises(errors.ResponseFormatError) as info:
        run(_consume(build(server, stream=stream, max_retries=0)))
    assert info.value.provider == name
    keyless(key, info.value)


async def _consume(model: Any) -> Any:
    res = await model.synthesize(msg())
    if isinstance(res, TTSResponse):
        return res
    return await collect(res)


def test_an_unreachable_server_is_a_connection_error(provider):
    import socket

    name, server, build, _ = provider
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = type("Dead", (), {"base_url": f"http://127.0.0.1:{port}",
                             "api_base": f"http://127.0.0.1:{port}/api/v1"})()  # fmt: skip
    with pytest.raises(errors.ProviderConnectionError) as info:
        run(build(dead, max_retries=0).synthesize(msg()))
    assert info.value.provider == name


def test_keys_stay_out_of_reprs(provider):
    _, server, build, key = provider
    model = build(server)
    assert key not in repr(model) and key not in str(vars(model).keys())


def test_one_client_per_model_not_per_call(openai_tts, gemini_tts):
    async def twice(model: Any) -> None:
        await model.synthesize(msg())
        first = model.client
        await model.synthesize(msg())
        assert model.client is first

    run(twice(openai_model(openai_tts)))
    gemini = gemini_model(gemini_tts)
    client = gemini.client
    run(twice(gemini))
    assert gemini.client is client


# -- DashScope realtime ---------------------------------------------------------------------------

RT_KEY = "sk-tts-realtime-0123456789abcdef"


def realtime_model(server: QwenTTSRealtimeEmulator, key: str = RT_KEY, **kw: Any) -> Any:
    from agentscope_legacy.tts import DashScopeRealtimeTTSModel

    return DashScopeRealtimeTTSModel(api_key=key, url=server.url, voice="Cherry", **kw)


def test_realtime_push_then_synthesize_returns_all_the_audio(realtime):
    async def go() -> tuple[list[TTSResponse], TTSResponse]:
        async with realtime_model(realtime) as tts:
            first = msg("Hello")
            pushes = [await tts.push(first)]
            pushes.append(await tts.push(msg("Hello, world", id=first.id)))
            await asyncio.sleep(0.3)  # let the audio of the pushes arrive
            final = await tts.synthesize(msg("Hello, world. Bye.", id=first.id))
            return pushes, final

    pushes, final = run(go())
    pushed = b"".join(p.pcm()[0] for p in pushes if p.content is not None)
    audio = pushed + pcm_of(final)
    assert audio == tone_for("Hello") + tone_for(", world") + tone_for(". Bye.")
    (session,) = realtime.sessions
    assert session.path == "/api-ws/v1/realtime?model=qwen3-tts-flash-realtime"
    assert session.headers["authorization"] == f"Bearer {RT_KEY}"
    events = realtime.events()
    assert [e["type"] for e in events] == [
        "session.update", *["input_text_buffer.append"] * 3, "session.finish"
    ]  # fmt: skip
    config = events[0]["session"]
    assert (config["voice"], config["mode"], config["sample_rate"]) == (
        "Cherry", "server_commit", 24000
    )  # fmt: skip
    assert config["response_format"] == "pcm"
    assert [e["text"] for e in events[1:4]] == ["Hello", ", world", ". Bye."]


def test_realtime_streamed_rest_and_one_connection_per_session(realtime):
    realtime.set_audio_fn(tone_for, chunks=4)

    async def go() -> tuple[list[TTSResponse], TTSResponse]:
        async with realtime_model(realtime, stream=True) as tts:
            chunks = await collect(await tts.synthesize(msg("First message.")))
            second = await tts.synthesize(msg("Second."), stream=False)
            return chunks, second

    chunks, second = run(go())
    assert stream_pcm(chunks) == tone_for("First message.")
    assert len([c for c in chunks if c.content is not None]) >= 4
    assert pcm_of(second) == tone_for("Second.")
    assert len(realtime.sessions) == 2  # the server closes after session.finished


def test_two_realtime_models_each_send_their_own_key(realtime):
    import dashscope

    before = dashscope.api_key

    async def go() -> None:
        a = realtime_model(realtime, key="sk-realtime-key-A-0123456789")
        b = realtime_model(realtime, key="sk-realtime-key-B-0123456789")
        async with a, b:
            await asyncio.gather(a.synthesize(msg("from A")), b.synthesize(msg("from B")))
            await a.synthesize(msg("A again"))

    run(go())
    assert dashscope.api_key == before  # never read or written
    sent = {}
    for index, session in enumerate(realtime.sessions):
        texts = [e["text"] for e in realtime.events(index) if e["type"].endswith("append")]
        sent.setdefault(session.headers["authorization"], []).extend(texts)
    assert sent == {
        "Bearer sk-realtime-key-A-0123456789": ["from A", "A again"],
        "Bearer sk-realtime-key-B-0123456789": ["from B"],
    }


def test_realtime_ignores_the_process_global_key(realtime, monkeypatch):
    import dashscope

    monkeypatch.setattr(dashscope, "api_key", "sk-process-global-0123456789")
    run(_speak(realtime_model(realtime), "Hi."))
    assert realtime.sessions[0].headers["authorization"] == f"Bearer {RT_KEY}"
    assert dashscope.api_key == "sk-process-global-0123456789"


async def _speak(model: Any, text: str) -> TTSResponse:
    async with model:
        return await model.synthesize(msg(text))


def test_realtime_refused_key_is_an_authentication_error_at_connect(realtime):
    realtime.reject_key = RT_KEY
    model = realtime_model(realtime)
    started = time.monotonic()
    with pytest.raises(errors.AuthenticationError) as info:
        run(model.connect())
    assert time.monotonic() - started < 4  # not the SDK's 5 s connect poll
    check_typed(info.value, errors.AuthenticationError, 401, "dashscope")
    keyless(RT_KEY, info.value, model)


@pytest.mark.parametrize(
    "fault",
    [WSFault(after=3, drop=True), WSFault(after=3, close_code=1011, close_reason="overloaded")],
    ids=["dropped", "closed-1011"],
)
def test_realtime_connection_lost_midway_is_a_connection_error(realtime, fault):
    realtime.set_audio_fn(tone_for, chunks=4)

    async def go() -> None:
        async with realtime_model(realtime, timeout=10) as tts:
            first = msg("Hello there")
            await tts.push(first)
            await tts.synthesize(msg("Hello there, friend.", id=first.id))

    realtime.add_fault(fault)  # the next connection: connect()'s, which the session uses
    started = time.monotonic()
    with pytest.raises(errors.ProviderConnectionError) as info:
        run(go())
    assert time.monotonic() - started < 5
    assert info.value.provider == "dashscope"
    keyless(RT_KEY, info.value)


def test_realtime_silence_is_a_timeout_not_a_hang(realtime):
    realtime.add_fault(WSFault(after=2, stall=True))  # session.created, session.updated

    async def go() -> None:
        async with realtime_model(realtime, timeout=0.5) as tts:
            await tts.synthesize(msg("Hello"))

    with pytest.raises(errors.ProviderTimeoutError) as info:
        run(go())
    assert info.value.provider == "dashscope"


def test_realtime_two_sessions_at_once_are_refused(realtime):
    from agentscope_legacy.tts import TTSSessionError

    async def go() -> None:
        async with realtime_model(realtime) as tts:
            await tts.push(msg("One"))
            with pytest.raises(TTSSessionError):
                await tts.push(msg("Two"))

    run(go())


@pytest.mark.parametrize(
    ("code", "cls", "status"),
    [
        ("Throttling.RateQuota", errors.RateLimitError, 429),
        ("InternalError", errors.ServerError, 500),
        ("InvalidParameter", errors.ProviderError, None),
    ],
)
def test_realtime_error_events_are_typed(realtime, code, cls, status):
    realtime.error_on_append = {"code": code, "message": "refused"}
    with pytest.raises(cls) as info:
        run(_speak(realtime_model(realtime), "Hello"))
    check_typed(info.value, cls, status, "dashscope")
    assert str(info.value).startswith(f"{code}: refused")


def test_realtime_malformed_audio_chunk_is_a_response_format_error(realtime):
    realtime.set_malformed_audio()

    async def go() -> None:
        async with realtime_model(realtime) as tts:
            await tts.synthesize(msg("Hello"))

    with pytest.raises(errors.ResponseFormatError):
        run(go())


def test_realtime_unreachable_endpoint_is_a_connection_error_quickly():
    import socket

    from agentscope_legacy.tts import DashScopeRealtimeTTSModel

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model = DashScopeRealtimeTTSModel(api_key=RT_KEY, url=f"ws://127.0.0.1:{port}/x")
    started = time.monotonic()
    with pytest.raises(errors.ProviderConnectionError):
        run(model.connect())
    assert time.monotonic() - started < 4


def test_realtime_repr_and_config_hold_no_key(realtime):
    model = realtime_model(realtime)
    assert RT_KEY not in repr(model)


def test_missing_key_is_a_config_error(monkeypatch):
    from agentscope_legacy.tts import DashScopeRealtimeTTSModel, DashScopeTTSModel

    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    for cls in (DashScopeTTSModel, DashScopeRealtimeTTSModel):
        with pytest.raises(errors.ConfigError, match="DASHSCOPE_API_KEY"):
            cls()


# -- the legacy model_types ------------------------------------------------------------------------


def legacy_wrapper(cls: type, **config: Any) -> Any:
    """The legacy wrapper of ``cls`` as ``tts._legacy`` builds it for its model_type, with
    ``config`` validated against its JSON Schema."""
    import jsonschema

    from agentscope_legacy.tts._legacy import wrapper_for

    wrapper_cls = wrapper_for(cls.model_type, cls)
    full = {"config_name": "voice", "model_type": cls.model_type, **config}
    jsonschema.validate(full, wrapper_cls.json_schema())
    full.pop("model_type")
    return wrapper_cls(**full)


def test_legacy_wrappers_speak_through_each_provider(provider):
    name, server, build, key = provider
    server.set_audio(PCM, chunks=3)
    cls = type(build(server))
    where = {"base_url": server.api_base if name == "dashscope" else server.base_url + "/v1"}
    if name == "gemini":
        where = {"base_url": server.base_url}
    wrapper = legacy_wrapper(cls, api_key=key, voice="Cherry", format="pcm16", **where)
    try:
        assert wrapper("Hello there.").content == PCM
        assert b"".join(wrapper("Hello there.", stream=True).stream) == PCM
    finally:
        wrapper.close()
    assert key not in repr(wrapper)


def test_legacy_realtime_wrapper(realtime):
    from agentscope_legacy.tts import DashScopeRealtimeTTSModel

    wrapper = legacy_wrapper(
        DashScopeRealtimeTTSModel, api_key=RT_KEY, url=realtime.url, mode="server_commit"
    )
    try:
        assert wrapper("Hello there.").audio == tone_for("Hello there.")
        assert b"".join(wrapper("Again.", stream=True).stream) == tone_for("Again.")
    finally:
        wrapper.close()
    assert len(realtime.sessions) == 2


def test_retry_settings_are_config_fields_and_set_the_backoff(provider):
    import jsonschema

    name, server, build, key = provider
    server.set_audio(PCM)
    server.add_fault(Fault(status=500))
    started = time.monotonic()
    res = run(
        build(server, max_retries=1, retry_interval=0.4, max_retry_interval=1).synthesize(msg())
    )
    assert time.monotonic() - started >= 0.4 * 0.75  # the backoff, with its jitter
    assert pcm_of(res) == PCM and len(speech_requests(server)) == 2
    cls = type(build(server))
    where = {"base_url": server.api_base if name == "dashscope" else server.base_url}
    wrapper = legacy_wrapper(
        cls, api_key=key, max_retries=0, retry_interval=0.1, max_retry_interval=2.5, **where
    )
    try:
        assert (wrapper.model.max_retries, wrapper.model.retry_interval) == (0, 0.1)
        assert wrapper.model.max_retry_interval == 2.5
    finally:
        wrapper.close()
    with pytest.raises(jsonschema.ValidationError):  # documented: `timeout` is the TTS bound
        legacy_wrapper(cls, api_key=key, deadline=10, **where)
