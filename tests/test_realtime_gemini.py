"""GeminiRealtimeModel on the wire: google-genai's ``client.aio.live.connect`` against the
loopback Gemini Live emulator (TLS on 127.0.0.1, :mod:`tests.emulators.realtime_gemini`)."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
import socket

import pytest

pytest.importorskip("google.genai")
pytest.importorskip("websockets")

from agentscope_legacy.audio import pcm_block  # noqa: E402
from agentscope_legacy.errors import (  # noqa: E402
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
)
from agentscope_legacy.realtime import (  # noqa: E402
    ModelEvents,
    RealtimeEventError,
    RealtimeSessionError,
    realtime_model_class,
)
from agentscope_legacy.realtime._gemini import (  # noqa: E402
    GeminiRealtimeModel,
    LiveTranslator,
    close_error,
)
from tests.emulators import tls  # noqa: E402
from tests.emulators.realtime_gemini import (  # noqa: E402
    HEARD,
    GeminiLiveEmulator,
    RefusingGateway,
    tone,
)
from tests.emulators.ws import WSFault  # noqa: E402

KEY = "test-gemini-key"
M = ModelEvents
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city_name": {"type": "string"}},
            "required": ["city_name"],
        },
    },
}


def live(test):
    """Runs an async test in its own event loop, within a deadline."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(asyncio.wait_for(test(*args, **kwargs), 30))

    return run


@pytest.fixture
def emulator():
    with GeminiLiveEmulator(api_key=KEY) as emu:
        yield emu
        assert emu.errors == []


def make_model(emu: GeminiLiveEmulator, **kw) -> GeminiRealtimeModel:
    kw.setdefault("api_key", KEY)
    kw.setdefault("response_timeout", 3)
    kw.setdefault("connect_timeout", 5)
    return GeminiRealtimeModel(
        base_url=emu.base_url,
        http_options={"async_client_args": {"ssl": tls.client_context()}},
        **kw,
    )


async def until(queue: asyncio.Queue, kind: type, timeout: float = 5.0) -> list:
    """The events up to and including the first of ``kind``."""
    events = []
    while True:
        event = await asyncio.wait_for(queue.get(), timeout)
        events.append(event)
        if isinstance(event, kind):
            return events


async def quiet(queue: asyncio.Queue, seconds: float = 0.3) -> list:
    """What arrives within ``seconds``."""
    events = []
    try:
        while True:
            events.append(await asyncio.wait_for(queue.get(), seconds))
    except asyncio.TimeoutError:
        return events


async def connected(emu, instructions="", tools=None, **kw):
    model = make_model(emu, **kw)
    queue: asyncio.Queue = asyncio.Queue()
    await model.connect(queue, instructions, tools)
    created = await asyncio.wait_for(queue.get(), 2)
    assert isinstance(created, M.ModelSessionCreatedEvent)
    assert created.session_id == model.session_id
    return model, queue


def speech(ms: int = 200, rate: int = 16000) -> dict:
    return pcm_block(tone(ms, rate=rate), rate)


def silence(ms: int = 100, rate: int = 16000) -> dict:
    return pcm_block(bytes(2 * rate * ms // 1000), rate)


def kinds(events: list) -> list[str]:
    return [e.type for e in events]


# -- the session ---------------------------------------------------------------------------------
@live
async def test_setup_reaches_the_wire(emulator):
    model, _ = await connected(emulator, "Be brief.", [WEATHER], voice="Puck")
    await model.disconnect()
    (session,) = emulator.sessions
    assert session.path.startswith("/ws/google.ai.generativelanguage.v")
    assert session.path.endswith(".GenerativeService.BidiGenerateContent")
    assert session.headers["x-goog-api-key"] == KEY
    setup = emulator.frames(0)[0]["setup"]
    assert setup["model"] == "models/gemini-2.5-flash-native-audio-preview-09-2025"
    assert setup["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    assert setup["generationConfig"]["responseModalities"] == ["AUDIO"]
    voice = setup["generationConfig"]["speechConfig"]["voiceConfig"]["prebuiltVoiceConfig"]
    assert voice == {"voiceName": "Puck"}
    assert "inputAudioTranscription" in setup and "outputAudioTranscription" in setup
    (declaration,) = setup["tools"][0]["functionDeclarations"]
    assert declaration["name"] == "get_weather"
    assert declaration["description"] == "The weather in a city."
    # The JSON schema as given (its property names untouched).
    assert declaration["parametersJsonSchema"] == WEATHER["function"]["parameters"]


@live
async def test_no_instructions_no_tools_no_voice_are_not_sent(emulator):
    model, _ = await connected(emulator)
    await model.disconnect()
    setup = emulator.frames(0)[0]["setup"]
    assert "systemInstruction" not in setup and "tools" not in setup
    assert "speechConfig" not in setup["generationConfig"]


@live
async def test_registered_and_declared():
    cls = realtime_model_class("gemini_realtime")
    assert cls is GeminiRealtimeModel
    assert (cls.support_tools, cls.support_image) == (True, True)
    assert (cls.input_sample_rate, cls.output_sample_rate) == (16000, 24000)
    assert set(cls.config_schema) == {"base_url", "api_version", "http_options", "live_config"}


# -- text in, audio and transcript out ------------------------------------------------------------
@live
async def test_text_in_transcript_and_audio_out_in_order(emulator):
    model, queue = await connected(emulator)
    await model.send({"type": "text", "text": "What time is it?"})
    events = await until(queue, M.ModelResponseDoneEvent)
    await model.disconnect()

    assert emulator.frames(0)[1] == {"clientContent": {
        "turns": [{"role": "user", "parts": [{"text": "What time is it?"}]}],
        "turnComplete": True}}  # fmt: skip
    words = emulator.reply
    assert kinds(events) == [
        "model_response_created",
        *["model_response_audio_delta", "model_response_audio_transcript_delta"] * len(words),
        "model_response_audio_done",
        "model_response_audio_transcript_done",
        "model_response_done",
    ]
    assert len({e.response_id for e in events}) == 1
    deltas = [e for e in events if isinstance(e, M.ModelResponseAudioDeltaEvent)]
    assert b"".join(base64.b64decode(e.delta) for e in deltas) == b"".join(
        tone(20 * len(w)) for w in words
    )
    assert {e.format.sample_rate for e in deltas} == {24000}
    said = [e.delta for e in events if isinstance(e, M.ModelResponseAudioTranscriptDeltaEvent)]
    assert said == list(words)
    assert events[-2].transcript == "".join(words)
    done = events[-1]
    assert (done.input_tokens, done.output_tokens) == (12, 7)
    assert done.metadata == {"status": "completed"}


@live
async def test_two_turns_get_two_response_ids(emulator):
    model, queue = await connected(emulator)
    ids = []
    for text in ("one", "two"):
        await model.send({"type": "text", "text": text})
        ids.append((await until(queue, M.ModelResponseDoneEvent))[-1].response_id)
    await model.disconnect()
    assert len(set(ids)) == 2


# -- audio in -------------------------------------------------------------------------------------
@live
async def test_audio_is_resampled_to_16k_and_transcribed(emulator):
    model, queue = await connected(emulator)
    await model.send(speech(100, rate=48000))
    await model.send(silence(50, rate=48000))
    events = await until(queue, M.ModelResponseDoneEvent)
    await model.disconnect()

    audio = [f["realtimeInput"]["audio"] for f in emulator.frames(0) if "realtimeInput" in f]
    assert [a["mimeType"] for a in audio] == ["audio/pcm;rate=16000"] * 2
    sent = [base64.urlsafe_b64decode(a["data"]) for a in audio]
    assert [len(pcm) for pcm in sent] == [100 * 16 * 2, 50 * 16 * 2]  # 16 kHz PCM16
    assert sent[1] == bytes(len(sent[1]))  # silence stays silence

    heard = [e for e in events if isinstance(e, M.ModelInputTranscriptionDeltaEvent)]
    assert [e.delta for e in heard] == list(HEARD)
    (done,) = [e for e in events if isinstance(e, M.ModelInputTranscriptionDoneEvent)]
    assert done.transcript == "".join(HEARD) and done.item_id == heard[0].item_id
    # The user's words are done before the answer starts.
    assert kinds(events).index("model_input_transcription_done") < kinds(events).index(
        "model_response_created"
    )
    assert events[-1].metadata == {"status": "completed"}


@live
async def test_voice_activity_becomes_input_started_and_done(emulator):
    emulator.voice_activity = True
    model, queue = await connected(emulator)
    await model.send(speech())
    started = await until(queue, M.ModelInputStartedEvent)
    await model.send(silence())
    events = await until(queue, M.ModelResponseDoneEvent)
    await model.disconnect()
    (input_done,) = [e for e in events if isinstance(e, M.ModelInputDoneEvent)]
    (transcribed,) = [e for e in events if isinstance(e, M.ModelInputTranscriptionDoneEvent)]
    assert started[-1].item_id == input_done.item_id == transcribed.item_id
    assert kinds(events).index("model_input_done") < kinds(events).index("model_response_created")


@live
async def test_commit_audio_ends_the_audio_stream(emulator):
    model, queue = await connected(emulator)
    await model.send(speech())
    await model.commit_audio()
    events = await until(queue, M.ModelResponseDoneEvent)
    await model.disconnect()
    assert emulator.frames(0)[-1] == {"realtimeInput": {"audioStreamEnd": True}}
    assert "model_input_transcription_done" in kinds(events)


# -- interruptions --------------------------------------------------------------------------------
@live
async def test_barge_in_cancels_the_response(emulator):
    emulator.frame_interval = 0.05
    model, queue = await connected(emulator)
    await model.send({"type": "text", "text": "Tell me a story."})
    first = await until(queue, M.ModelResponseAudioDeltaEvent)
    await model.send(speech())  # the user talks over the answer
    events = await until(queue, M.ModelResponseDoneEvent)
    assert events[-1].response_id == first[-1].response_id
    assert events[-1].metadata == {"status": "cancelled"}
    assert kinds(events)[-2:] == ["model_response_audio_transcript_done", "model_response_done"]
    await model.send(silence())  # the end of the user's speech: a new answer
    after = await until(queue, M.ModelResponseDoneEvent)
    await model.disconnect()
    assert after[-1].metadata == {"status": "completed"}
    assert first[-1].response_id not in {getattr(e, "response_id", None) for e in after}


@live
async def test_new_text_interrupts_the_answer_being_played(emulator):
    emulator.frame_interval = 0.05
    model, queue = await connected(emulator)
    await model.send({"type": "text", "text": "Tell me a story."})
    first = (await until(queue, M.ModelResponseAudioDeltaEvent))[-1].response_id
    await model.send({"type": "text", "text": "No, the time."})
    events = await until(queue, M.ModelResponseDoneEvent)
    assert (events[-1].response_id, events[-1].metadata) == (first, {"status": "cancelled"})
    events = await until(queue, M.ModelResponseDoneEvent)
    await model.disconnect()
    assert events[0].type == "model_response_created" and events[0].response_id != first
    assert events[-1].metadata == {"status": "completed"}


@live
async def test_cancel_response_ends_it_and_drops_the_rest_of_the_turn(emulator):
    emulator.frame_interval = 0.03
    model, queue = await connected(emulator)
    await model.send({"type": "text", "text": "Tell me a story."})
    first = await until(queue, M.ModelResponseAudioDeltaEvent)
    sent = len(emulator.frames(0))
    await model.cancel_response()
    events = await until(queue, M.ModelResponseDoneEvent, timeout=0.5)
    assert events[-1].metadata == {"status": "cancelled"}
    assert events[-1].response_id == first[-1].response_id
    # Gemini has no cancel message: nothing went out; the rest of the turn is dropped.
    assert len(emulator.frames(0)) == sent
    assert await quiet(queue, 0.5) == []
    await model.cancel_response()  # nothing under way: no event
    await model.send({"type": "text", "text": "Again."})
    again = await until(queue, M.ModelResponseDoneEvent)
    await model.disconnect()
    assert again[-1].metadata == {"status": "completed"}
    assert again[-1].response_id != first[-1].response_id


@live
async def test_create_response_asks_for_an_answer_once(emulator):
    emulator.frame_interval = 0.03
    model, queue = await connected(emulator)
    await model.create_response()
    await until(queue, M.ModelResponseAudioDeltaEvent)
    await model.create_response()  # a response is under way: not asked again
    await until(queue, M.ModelResponseDoneEvent)
    await model.disconnect()
    asks = [f for f in emulator.frames(0) if "clientContent" in f]
    assert asks == [{"clientContent": {"turnComplete": True}}]


# -- tools and images -----------------------------------------------------------------------------
@live
async def test_tool_call_round_trip(emulator):
    model, queue = await connected(emulator, tools=[WEATHER])
    await model.send({"type": "text", "text": "Use get_weather for Paris."})
    events = await until(queue, M.ModelResponseDoneEvent)
    assert kinds(events) == ["model_response_created", "model_response_tool_use_delta",
                             "model_response_tool_use_done", "model_response_done"]  # fmt: skip
    tool_use = events[2].tool_use
    assert tool_use["id"] == "function-call-1" and tool_use["name"] == "get_weather"
    assert tool_use["input"] == {"city": "Paris"}
    assert json.loads(tool_use["raw_input"]) == {"city": "Paris"}
    await model.send({"type": "tool_result", "id": tool_use["id"], "name": "get_weather",
                      "output": "sunny, 21 C"})  # fmt: skip
    await model.create_response()  # not sent: Gemini answers a tool result by itself
    answer = await until(queue, M.ModelResponseDoneEvent)
    await model.disconnect()
    responses = [f["toolResponse"] for f in emulator.frames(0) if "toolResponse" in f]
    assert responses == [
        {
            "functionResponses": [
                {
                    "id": "function-call-1",
                    "name": "get_weather",
                    "response": {"output": "sunny, 21 C"},
                }
            ]
        }
    ]
    transcript = [e for e in answer if isinstance(e, M.ModelResponseAudioTranscriptDoneEvent)]
    assert "sunny, 21 C" in transcript[-1].transcript
    assert answer[-1].response_id != events[-1].response_id
    assert {"clientContent": {"turnComplete": True}} not in emulator.frames(0)


@live
async def test_tool_call_through_the_realtime_agent(emulator):
    from agentscope_legacy.agent import RealtimeAgent
    from agentscope_legacy.realtime import ClientEvents, ServerEvents

    calls = []

    def get_weather(city: str) -> str:
        """The weather in a city.

        Args:
            city: the city.
        """
        calls.append(city)
        return f"sunny in {city}"

    agent = RealtimeAgent(
        name="Friday", sys_prompt="Be brief.", model=make_model(emulator), tools=[get_weather]
    )
    queue: asyncio.Queue = asyncio.Queue()
    await agent.start(queue)
    await agent.handle_input(ClientEvents.ClientTextAppendEvent(text="get_weather in Paris?"))
    seen = []
    while not any(isinstance(e, ServerEvents.AgentResponseAudioTranscriptDoneEvent)
                  and "sunny" in e.transcript for e in seen):  # fmt: skip
        seen.append(await asyncio.wait_for(queue.get(), 5))
    await agent.stop()
    assert calls == ["Paris"]
    (declared,) = emulator.frames(0)[0]["setup"]["tools"][0]["functionDeclarations"]
    assert declared["name"] == "get_weather"
    (result,) = [f["toolResponse"] for f in emulator.frames(0) if "toolResponse" in f]
    assert result["functionResponses"][0]["id"] == "function-call-1"
    assert "sunny in Paris" in json.dumps(result)
    order = [e.type for e in seen if e.type.startswith("agent_response_tool")]
    assert order == ["agent_response_tool_use_delta", "agent_response_tool_use_done",
                     "agent_response_tool_result"]  # fmt: skip
    assert {e.agent_name for e in seen if hasattr(e, "agent_name")} == {"Friday"}
    assert (agent.memory[0].role, agent.memory[0].content) == ("user", "get_weather in Paris?")
    assert agent.memory[-1].role == "assistant" and "sunny in Paris" in agent.memory[-1].content


@live
async def test_image_goes_out_as_a_video_frame(emulator):
    model, _ = await connected(emulator)
    png = b"\x89PNG\r\n\x1a\n" + bytes(32)
    block = {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": base64.b64encode(png).decode()}}  # fmt: skip
    await model.send(block)
    bad = {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                       "data": "%% not base64"}}  # fmt: skip
    with pytest.raises(RealtimeEventError):
        await model.send(bad)
    await asyncio.sleep(0.1)
    await model.disconnect()
    (video,) = [f["realtimeInput"]["video"] for f in emulator.frames(0) if "realtimeInput" in f]
    assert video["mimeType"] == "image/png"
    assert base64.urlsafe_b64decode(video["data"]) == png


# -- errors ----------------------------------------------------------------------------------------
@live
async def test_bad_key_is_an_authentication_error_without_the_key(emulator):
    wrong = "wrong-gemini-key-0123456789"
    model = make_model(emulator, api_key=wrong)
    with pytest.raises(AuthenticationError) as info:
        await model.connect(asyncio.Queue())
    err = info.value
    assert (err.provider, err.status) == ("gemini", 1007)
    assert emulator.sessions[0].headers["x-goog-api-key"] == wrong  # it did reach the server
    assert wrong not in str(err) and wrong not in repr(err) and wrong not in repr(model)
    assert not model.connected


@live
async def test_a_close_during_setup_is_raised_typed(emulator):
    emulator.add_fault(WSFault(after=0, close_code=1008, close_reason="models/x is not found"))
    model = make_model(emulator)
    with pytest.raises(BadRequestError) as info:
        await model.connect(asyncio.Queue())
    assert info.value.status == 1008


@pytest.mark.parametrize(
    ("status", "cls"), [(403, AuthenticationError), (429, RateLimitError), (503, ServerError)]
)
@live
async def test_a_refused_handshake_is_raised_typed(status, cls):
    with RefusingGateway(status) as gateway:
        model = GeminiRealtimeModel(
            api_key=KEY,
            base_url=f"http://127.0.0.1:{gateway.port}",
            http_options={"async_client_args": {"ssl": tls.client_context()}},
        )
        with pytest.raises(cls) as info:
            await model.connect(asyncio.Queue())
        (request,) = gateway.requests
    assert info.value.status == status and KEY not in str(info.value)
    assert request.headers.get("upgrade", "").lower() == "websocket"


@live
async def test_no_server_is_a_connection_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    model = GeminiRealtimeModel(api_key=KEY, base_url=f"http://127.0.0.1:{port}",
                                http_options={"async_client_args": {"ssl": tls.client_context()}},
                                connect_timeout=3)  # fmt: skip
    with pytest.raises(ProviderConnectionError):
        await model.connect(asyncio.Queue())


@pytest.mark.parametrize(
    ("fault", "error_type", "code"),
    [
        (WSFault(after=2, close_code=1011, close_reason="Internal error encountered."),
         "ServerError", "1011"),
        (WSFault(after=2, close_code=1011, close_reason="You exceeded your current quota."),
         "RateLimitError", "1011"),
        (WSFault(after=2, drop=True), "ProviderConnectionError", "1006"),
    ],
)  # fmt: skip
@live
async def test_failures_during_the_session_are_events(emulator, fault, error_type, code):
    emulator.add_fault(fault)
    model, queue = await connected(emulator)
    await model.send({"type": "text", "text": "hello"})
    events = await until(queue, M.ModelSessionEndedEvent)
    (error,) = [e for e in events if isinstance(e, M.ModelErrorEvent)]
    assert (error.error_type, error.code) == (error_type, code)
    assert "gemini" in error.message
    assert kinds(events)[-2:] == ["model_error", "model_session_ended"]
    assert not model.connected
    with pytest.raises(RealtimeSessionError):
        await model.send({"type": "text", "text": "still there?"})
    await model.disconnect()


@live
async def test_a_frame_that_is_not_json_is_a_response_format_error(emulator):
    model, queue = await connected(emulator)
    await model.send({"type": "text", "text": "send garbage"})
    events = await until(queue, M.ModelSessionEndedEvent)
    assert [e.error_type for e in events if isinstance(e, M.ModelErrorEvent)] == [
        "ResponseFormatError"
    ]
    await model.disconnect()


@live
async def test_a_stalled_socket_times_out(emulator):
    emulator.add_fault(WSFault(after=1, stall=True))  # setupComplete, then nothing
    model, queue = await connected(emulator, response_timeout=0.5)
    await model.send({"type": "text", "text": "hello"})
    events = await until(queue, M.ModelSessionEndedEvent, timeout=5)
    (error,) = [e for e in events if isinstance(e, M.ModelErrorEvent)]
    assert error.error_type == ProviderTimeoutError.__name__
    await model.disconnect()


@live
async def test_a_normal_close_ends_the_session_without_an_error(emulator):
    emulator.add_fault(WSFault(after=1, close_code=1000))
    model, queue = await connected(emulator)
    await model.send({"type": "text", "text": "hello"})
    events = await until(queue, M.ModelSessionEndedEvent)
    assert kinds(events) == ["model_session_ended"]
    await model.disconnect()


@live
async def test_go_away_ends_the_session(emulator):
    model, queue = await connected(emulator)
    await model.send({"type": "text", "text": "please go away"})
    events = await until(queue, M.ModelSessionEndedEvent)
    assert kinds(events) == ["model_session_ended"]
    assert not model.connected
    await model.disconnect()


@live
async def test_disconnect_stops_the_events(emulator):
    emulator.frame_interval = 0.05
    model, queue = await connected(emulator)
    await model.send({"type": "text", "text": "hello"})
    await until(queue, M.ModelResponseAudioDeltaEvent)
    await model.disconnect()
    assert await quiet(queue, 0.3) == []
    assert not model.connected
    with pytest.raises(RealtimeSessionError):
        await model.send({"type": "text", "text": "hello"})


# -- keys and configuration ------------------------------------------------------------------------
def test_the_key_is_in_no_log(emulator, caplog):
    secret = "sk-gemini-secret-in-logs-42"
    emulator.api_key = secret
    caplog.set_level(logging.DEBUG)

    async def session():
        model, _ = await connected(emulator, api_key=secret)
        await model.disconnect()

    asyncio.run(session())
    client_logs = [r for r in caplog.records if not r.name.startswith("websockets.server")]
    assert any("x-goog-api-key" in r.getMessage() for r in client_logs)  # the header is logged
    assert all(secret not in r.getMessage() for r in client_logs)


@live
async def test_the_key_is_in_no_event_error_or_repr(emulator):
    secret = "sk-gemini-secret-9876543210"
    emulator.api_key = secret
    emulator.add_fault(WSFault(after=4, close_code=1011, close_reason=f"boom {secret}"))
    model = make_model(emulator, api_key=secret)
    queue: asyncio.Queue = asyncio.Queue()
    await model.connect(queue)
    await model.send({"type": "text", "text": "hello"})
    events = await until(queue, M.ModelSessionEndedEvent)
    assert any(isinstance(e, M.ModelErrorEvent) for e in events)
    assert all(secret not in json.dumps(e.model_dump()) for e in events)
    assert secret not in repr(model) and secret not in str(vars(model).get("live_config"))
    await model.disconnect()


def test_the_key_comes_from_the_environment(monkeypatch):
    with pytest.raises(ConfigError) as info:
        GeminiRealtimeModel()
    assert "GEMINI_API_KEY" in str(info.value)
    monkeypatch.setenv("GOOGLE_API_KEY", "google-env-key")
    assert GeminiRealtimeModel()._api_key == "google-env-key"
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-env-key")
    assert GeminiRealtimeModel()._api_key == "gemini-env-key"


@pytest.mark.parametrize(
    ("kw", "field"),
    [({"http_options": {"no_such_option": 1}}, "http_options"),
     ({"live_config": {"no_such_field": 1}}, "live_config")],
)  # fmt: skip
@live
async def test_bad_options_are_config_errors_before_any_socket(emulator, kw, field):
    model = make_model(emulator)
    model.http_options.update(kw.get("http_options", {}))
    model.live_config.update(kw.get("live_config", {}))
    with pytest.raises(ConfigError) as info:
        await model.connect(asyncio.Queue())
    assert info.value.issues[0].field == field
    assert emulator.sessions == [] and not model.connected


@live
async def test_send_before_connect_is_refused():
    model = GeminiRealtimeModel(api_key=KEY)
    with pytest.raises(RealtimeSessionError):
        await model.send({"type": "text", "text": "hi"})


@pytest.mark.parametrize(
    ("code", "reason", "cls"),
    [
        (1007, "API key not valid. Please pass a valid API key.", AuthenticationError),
        (1008, "Permission denied", AuthenticationError),
        (1007, "Request contains an invalid argument.", BadRequestError),
        (1008, "models/x is not found for API version v1beta", BadRequestError),
        (1011, "RESOURCE_EXHAUSTED", RateLimitError),
        (1011, "Internal error", ServerError),
        (1006, "", ProviderConnectionError),
        (1001, "going away", ProviderConnectionError),
        (429, "", RateLimitError),
        (503, "", ServerError),
    ],
)
def test_close_error(code, reason, cls):
    assert close_error(code, reason) is cls
    assert issubclass(cls, ProviderError)


# -- the translator alone --------------------------------------------------------------------------
def _message(**fields):
    from google.genai import types

    return types.LiveServerMessage.model_validate(fields)


def _audio(data: bytes):
    return _message(server_content={"model_turn": {"parts": [
        {"inline_data": {"data": data, "mime_type": "audio/pcm;rate=24000"}}]}})  # fmt: skip


def test_translator_realigns_half_samples():
    turns = LiveTranslator()
    first, second = turns.translate(_audio(b"\x01\x02\x03")), turns.translate(_audio(b"\x04"))
    deltas = [e for e in first + second if isinstance(e, M.ModelResponseAudioDeltaEvent)]
    assert [base64.b64decode(e.delta) for e in deltas] == [b"\x01\x02", b"\x03\x04"]


def test_translator_ignores_ends_without_a_response():
    turns = LiveTranslator()
    assert turns.translate(_message(server_content={"interrupted": True})) == []
    assert turns.translate(_message(server_content={"turn_complete": True})) == []
    assert turns.cancel() == []


def test_translator_drops_the_rest_of_a_cancelled_turn():
    turns = LiveTranslator()
    turns.translate(_audio(b"\x01\x02"))
    assert kinds(turns.cancel()) == ["model_response_audio_done",
                                     "model_response_audio_transcript_done",
                                     "model_response_done"]  # fmt: skip
    assert turns.translate(_audio(b"\x03\x04")) == []
    assert turns.translate(_message(server_content={"turn_complete": True})) == []
    assert kinds(turns.translate(_audio(b"\x05\x06")))[0] == "model_response_created"


def test_translator_counts_a_turn_s_usage_once():
    turns = LiveTranslator()
    turns.translate(_message(tool_call={"function_calls": [{"id": "c1", "name": "f"}]}))
    usage = {"prompt_token_count": 5, "response_token_count": 3, "thoughts_token_count": 2}
    ended = turns.translate(_message(server_content={"turn_complete": True}, usage_metadata=usage))
    assert ended == []  # the tool call's response was over already
    turns.translate(_audio(b"\x01\x02"))
    (done,) = turns.translate(_message(server_content={"turn_complete": True}))[-1:]
    assert (done.input_tokens, done.output_tokens) == (0, 0)
    turns.translate(_audio(b"\x01\x02"))
    (done,) = turns.translate(_message(server_content={"turn_complete": True},
                                       usage_metadata=usage))[-1:]  # fmt: skip
    assert (done.input_tokens, done.output_tokens) == (5, 5)  # thinking is output


def test_translator_voice_activity_opens_one_item_per_utterance():
    turns = LiveTranslator()
    start = {"voice_activity": {"voice_activity_type": "ACTIVITY_START"}}
    first = turns.translate(_message(**start))[0].item_id
    turns.translate(_message(voice_activity={"voice_activity_type": "ACTIVITY_END"}))
    second = turns.translate(_message(**start))[0].item_id
    assert first != second
