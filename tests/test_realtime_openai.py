"""OpenAIRealtimeModel on the wire: the real ``openai`` SDK against the loopback emulator of
the Realtime API (``tests/emulators/realtime_openai.py``), plus its pure parsing."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import Any

import pytest

pytest.importorskip("openai")
pytest.importorskip("websockets")
pytest.importorskip("pydantic")

from agentscope_legacy.audio import pcm_block, resample_pcm16  # noqa: E402
from agentscope_legacy.errors import (  # noqa: E402
    AuthenticationError,
    ConfigError,
    ProviderConnectionError,
    ProviderTimeoutError,
)
from agentscope_legacy.realtime import (  # noqa: E402
    ModelEvents,
    RealtimeSessionError,
    realtime_model_class,
)
from agentscope_legacy.realtime._openai import (  # noqa: E402
    OpenAIRealtimeModel,
    ParseState,
    parse_event,
)
from tests.emulators.realtime_openai import OpenAIRealtimeEmulator, tone  # noqa: E402
from tests.emulators.ws import WSFault  # noqa: E402
from tests.realtime_kit import types, until, wait_for_wire  # noqa: E402

KEY = "sk-realtime-test-5Ecr3tV4lue"
QUICK = 15.0
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]},
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def server() -> Any:
    with OpenAIRealtimeEmulator(api_key=KEY) as emu:
        yield emu


@pytest.fixture
def emu(server: OpenAIRealtimeEmulator) -> Any:
    server.clear()
    yield server
    assert server.errors == []


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, QUICK))


def model(emu: OpenAIRealtimeEmulator, **kw: Any) -> OpenAIRealtimeModel:
    kw.setdefault("api_key", KEY)
    return OpenAIRealtimeModel("gpt-realtime", base_url=emu.base_url, **kw)


# -- the session ---------------------------------------------------------------------------------
def test_registered_with_its_capabilities() -> None:
    assert realtime_model_class("openai_realtime") is OpenAIRealtimeModel
    assert OpenAIRealtimeModel.support_tools and not OpenAIRealtimeModel.support_image
    assert OpenAIRealtimeModel.input_sample_rate == OpenAIRealtimeModel.output_sample_rate == 24000


def test_built_from_a_config(emu: OpenAIRealtimeEmulator) -> None:
    from agentscope_legacy.realtime._config import read_realtime_configs

    config = {"config_name": "oa", "model_type": "openai_realtime", "model_name": "gpt-realtime",
              "api_key": KEY, "base_url": emu.base_url, "voice": "echo", "turn_detection": None,
              "input_transcription_model": None}  # fmt: skip
    m = read_realtime_configs([config])["oa"].build()
    assert isinstance(m, OpenAIRealtimeModel) and KEY not in repr(m)

    async def go() -> list[Any]:
        await m.connect(asyncio.Queue())
        sent = await wait_for_wire(emu, "session.update")  # received in the emulator's thread
        await m.disconnect()
        return sent

    audio = run(go())[0]["session"]["audio"]
    assert audio["input"]["turn_detection"] is None and audio["output"]["voice"] == "echo"
    with pytest.raises(ConfigError) as info:
        read_realtime_configs([{**config, "turn_detection": "push_to_talk"},
                               {**config, "config_name": "typo", "websocket_url": "ws://x"}])
    assert {i.field for i in info.value.issues} == {"turn_detection", "websocket_url"}


def test_session_created_and_what_reached_the_wire(emu: OpenAIRealtimeEmulator) -> None:
    async def go() -> list[Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        m = model(emu, voice="verse")
        await m.connect(queue, "You are Friday.", [WEATHER])
        events = await until(queue, "model_session_created")
        assert m.session_id == "sess_0"
        await wait_for_wire(emu, "session.update")  # received in the emulator's thread
        await m.disconnect()
        return events

    (created,) = run(go())
    assert created.session_id == "sess_0"
    (handshake,) = emu.sessions
    assert handshake.path == "/v1/realtime?model=gpt-realtime"
    assert handshake.headers["authorization"] == f"Bearer {KEY}"
    (update,) = emu.events("session.update")
    assert update["session"] == {
        "type": "realtime",
        "instructions": "You are Friday.",
        "output_modalities": ["audio"],
        "audio": {
            "input": {"format": {"type": "audio/pcm", "rate": 24000},
                      "turn_detection": {"type": "server_vad"},
                      "transcription": {"model": "whisper-1"}},
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "verse"},
        },
        "tools": [{"type": "function", "name": "get_weather",
                   "description": "The weather in a city.",
                   "parameters": WEATHER["function"]["parameters"]}],
    }  # fmt: skip


def test_text_in_transcript_and_audio_out_in_order(emu: OpenAIRealtimeEmulator) -> None:
    async def go() -> list[Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        m = model(emu)
        await m.connect(queue, "Be brief.")
        await until(queue, "model_session_created")
        await m.send({"type": "text", "text": "Hello!"})
        events = await until(queue, "model_response_done")
        await m.disconnect()
        return events

    events = run(go())
    words = emu.transcript.split(" ")
    assert types(events) == [
        "model_response_created",
        *["model_response_audio_transcript_delta", "model_response_audio_delta"] * len(words),
        "model_response_audio_done",
        "model_response_audio_transcript_done",
        "model_response_done",
    ]
    created, done = events[0], events[-1]
    assert {e.response_id for e in events} == {created.response_id}
    transcript = "".join(e.delta for e in events if e.type.endswith("transcript_delta"))
    assert transcript == events[-2].transcript == emu.transcript
    audio = [e for e in events if e.type == "model_response_audio_delta"]
    assert {e.format.sample_rate for e in audio} == {24000}
    assert b"".join(base64.b64decode(e.delta) for e in audio) == tone(emu.audio_seconds)
    assert (done.input_tokens, done.output_tokens) == (21, 13)
    assert done.metadata == {"status": "completed"}
    create, response = emu.events("conversation.item.create"), emu.events("response.create")
    assert [c["item"] for c in create] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello!"}]}
    ]
    assert len(response) == 1
    kinds = [e["type"] for e in emu.events()]
    assert kinds.index("conversation.item.create") < kinds.index("response.create")


def test_audio_is_resampled_to_24k_on_the_wire(emu: OpenAIRealtimeEmulator) -> None:
    pcm16k = resample_pcm16(tone(0.1), 24000, 16000)

    async def go() -> None:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        m = model(emu, turn_detection=None)
        await m.connect(queue)
        await m.send(pcm_block(pcm16k, 16000))
        await wait_for_wire(emu, "input_audio_buffer.append")
        await m.disconnect()

    run(go())
    (append,) = emu.events("input_audio_buffer.append")
    sent = base64.b64decode(append["audio"])
    assert len(sent) == 2 * 2400  # 0.1 s at 24 kHz
    assert sent == resample_pcm16(pcm16k, 16000, 24000)


def test_server_vad_and_input_transcription(emu: OpenAIRealtimeEmulator) -> None:
    async def go() -> list[Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        m = model(emu)
        await m.connect(queue)
        await until(queue, "model_session_created")
        speech = resample_pcm16(tone(0.2), 24000, 16000)
        await m.send(pcm_block(speech, 16000))
        await m.send(pcm_block(bytes(3200), 16000))  # 0.1 s of silence: the end of the turn
        events = await until(queue, "model_response_done")
        await m.disconnect()
        return events

    events = run(go())
    kinds = types(events)
    assert kinds[:2] == ["model_input_started", "model_input_done"]
    started, stopped = events[0], events[1]
    assert started.item_id == stopped.item_id and stopped.audio_end_ms > started.audio_start_ms
    deltas = [e for e in events if e.type == "model_input_transcription_delta"]
    (done,) = [e for e in events if e.type == "model_input_transcription_done"]
    assert "".join(d.delta for d in deltas) == done.transcript == emu.input_transcript
    assert {d.item_id for d in deltas} == {done.item_id} == {started.item_id}
    assert done.input_tokens == 7
    # the server answered the turn by itself: no response.create from the model
    assert kinds.index("model_input_done") < kinds.index("model_response_created")
    assert emu.events("response.create") == []


def test_without_server_vad_commit_asks_for_the_response(emu: OpenAIRealtimeEmulator) -> None:
    async def go() -> list[Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        m = model(emu, turn_detection=None, input_transcription_model=None)
        await m.connect(queue)
        await until(queue, "model_session_created")
        await m.send(pcm_block(tone(0.1), 24000))
        await m.commit_audio()
        events = await until(queue, "model_response_done")
        await m.disconnect()
        return events

    events = run(go())
    assert not any(e.type.startswith("model_input") for e in events)
    assert events[-1].metadata["status"] == "completed"
    audio_in = emu.events("session.update")[0]["session"]["audio"]["input"]
    assert audio_in["turn_detection"] is None and "transcription" not in audio_in
    kinds = [e["type"] for e in emu.events()]
    assert kinds == ["session.update", "input_audio_buffer.append", "input_audio_buffer.commit",
                     "response.create"]  # fmt: skip


def test_response_cancel(emu: OpenAIRealtimeEmulator) -> None:
    emu.delay, emu.audio_chunks = 0.05, 40

    async def go() -> list[Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        m = model(emu)
        await m.connect(queue)
        await m.send({"type": "text", "text": "Tell me a long story."})
        events = await until(queue, "model_response_audio_delta")
        await m.cancel_response()
        events += await until(queue, "model_response_done")
        await m.disconnect()
        return events

    events = run(go())
    done = events[-1]
    assert done.metadata["status"] == "cancelled"
    (created,) = [e for e in events if e.type == "model_response_created"]
    assert done.response_id == created.response_id
    assert len([e for e in events if e.type == "model_response_audio_delta"]) < 40
    assert "model_response_audio_transcript_done" not in types(events)
    assert len(emu.events("response.cancel")) == 1


def test_tool_call_round_trip_through_the_model(emu: OpenAIRealtimeEmulator) -> None:
    arguments = json.dumps({"city": "Paris", "unit": "celsius"})
    emu.tool_call = {"name": "get_weather", "arguments": arguments}

    async def go() -> tuple[list[Any], list[Any]]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        m = model(emu)
        await m.connect(queue, "", [WEATHER])
        await m.send({"type": "text", "text": "Weather in Paris?"})
        call = await until(queue, "model_response_done")
        use = next(e for e in call if e.type == "model_response_tool_use_done").tool_use
        await m.send({"type": "tool_result", "id": use["id"], "name": use["name"],
                      "output": {"temperature": 21}})  # fmt: skip
        answer = await until(queue, "model_response_done")
        await m.disconnect()
        return call, answer

    call, answer = run(go())
    deltas = [e for e in call if e.type == "model_response_tool_use_delta"]
    assert len(deltas) > 1
    raws = [d.tool_use["raw_input"] for d in deltas]
    assert all(arguments.startswith(r) for r in raws) and raws[-1] == arguments
    assert all(len(a) < len(b) for a, b in zip(raws, raws[1:], strict=False))
    (done,) = [e for e in call if e.type == "model_response_tool_use_done"]
    assert done.tool_use["input"] == {"city": "Paris", "unit": "celsius"}
    assert done.tool_use["name"] == "get_weather" and done.tool_use["id"].startswith("call_")
    assert {d.tool_use["id"] for d in deltas} == {done.tool_use["id"]}
    assert {d.tool_use["name"] for d in deltas} == {"get_weather"}
    # the result went back as a function_call_output item, then a response was asked for
    output = emu.events("conversation.item.create")[-1]["item"]
    assert output == {"type": "function_call_output", "call_id": done.tool_use["id"],
                      "output": '{"temperature": 21}'}  # fmt: skip
    kinds = [e["type"] for e in emu.events()]
    assert kinds[-2:] == ["conversation.item.create", "response.create"]
    assert "model_response_audio_delta" in types(answer)
    assert answer[-2].transcript == 'The tool says: {"temperature": 21}'


def test_tool_call_round_trip_through_realtime_agent(emu: OpenAIRealtimeEmulator) -> None:
    """The model calls a real Python tool of a RealtimeAgent; its result goes back on the wire
    and the model's answer (which reads the result out) reaches the agent's queue and memory."""
    pytest.importorskip("agentscope_legacy.realtime._agent")
    from agentscope_legacy.agent import RealtimeAgent
    from agentscope_legacy.realtime import ClientEvents

    calls: list[str] = []

    def get_weather(city: str) -> str:
        """The weather in a city.

        Args:
            city: the city's name.
        """
        calls.append(city)
        return f"sunny, 21 C in {city}"

    emu.tool_call = {"name": "get_weather", "arguments": '{"city": "Paris"}'}

    async def go() -> tuple[list[Any], Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        agent = RealtimeAgent("Friday", "You are Friday.", model=model(emu), tools=[get_weather])
        await agent.start(queue)
        await agent.handle_input(ClientEvents.from_json(
            {"type": "client_text_append", "text": "Weather in Paris?"}))
        events = await until(queue, "agent_response_done")  # the tool call's response
        events += await until(queue, "agent_response_done")  # the answer
        await agent.stop()
        return events, agent

    events, agent = run(go())
    kinds = types(events)
    assert kinds[0] == "agent_ready"
    assert {e.agent_name for e in events} == {"Friday"}
    assert calls == ["Paris"]
    (done,) = [e for e in events if e.type == "agent_response_tool_use_done"]
    assert done.tool_use["input"] == {"city": "Paris"}
    (result,) = [e for e in events if e.type == "agent_response_tool_result"]
    assert result.tool_result["id"] == done.tool_use["id"]
    assert result.tool_result["output"] == "sunny, 21 C in Paris"
    order = [kinds.index(k) for k in ("agent_response_tool_use_delta",
                                      "agent_response_tool_use_done",
                                      "agent_response_tool_result")]  # fmt: skip
    assert order == sorted(order) and kinds.count("agent_response_created") == 2
    assert order[-1] < len(kinds) - 1 - kinds[::-1].index("agent_response_created")
    # on the wire: the tool in the session, its output as a function_call_output, a response
    (tool,) = emu.events("session.update")[0]["session"]["tools"]
    assert tool["name"] == "get_weather" and tool["parameters"]["required"] == ["city"]
    output = emu.events("conversation.item.create")[-1]["item"]
    assert output == {"type": "function_call_output", "call_id": done.tool_use["id"],
                      "output": "sunny, 21 C in Paris"}  # fmt: skip
    assert [e["type"] for e in emu.events()][-1] == "response.create"
    said = "The tool says: sunny, 21 C in Paris"
    assert events[-2].transcript == said
    assert [(m.name, m.content) for m in agent.memory] == [
        ("user", "Weather in Paris?"), ("Friday", said)]


def test_cancel_with_no_response_is_not_an_error(emu: OpenAIRealtimeEmulator) -> None:
    async def go() -> list[Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        m = model(emu)
        await m.connect(queue)
        await until(queue, "model_session_created")
        await m.cancel_response()  # a barge-in just after the answer ended
        await m.send({"type": "text", "text": "hi"})
        events = await until(queue, "model_response_done")
        await m.disconnect()
        return events

    events = run(go())
    assert "model_error" not in types(events)
    kinds = [e["type"] for e in emu.events()]
    assert kinds[1:] == ["response.cancel", "conversation.item.create", "response.create"]


def test_websocket_base_url_wins_over_base_url(emu: OpenAIRealtimeEmulator) -> None:
    ws_url = emu.base_url.replace("http://", "ws://")

    async def go() -> None:
        m = OpenAIRealtimeModel("gpt-realtime", api_key=KEY, base_url="http://127.0.0.1:1/v1",
                                websocket_base_url=ws_url)  # fmt: skip
        await m.connect(asyncio.Queue())
        await m.disconnect()

    run(go())
    assert [s.path for s in emu.sessions] == ["/v1/realtime?model=gpt-realtime"]


def test_voice_turn_through_realtime_agent(emu: OpenAIRealtimeEmulator) -> None:
    """A frontend's 16 kHz microphone audio through RealtimeAgent: the server's VAD ends the
    turn, both transcripts reach the agent's queue and its memory."""
    pytest.importorskip("agentscope_legacy.realtime._agent")
    from agentscope_legacy.agent import RealtimeAgent
    from agentscope_legacy.realtime import ClientEvents

    def audio_event(pcm: bytes) -> Any:
        return ClientEvents.from_json({"type": "client_audio_append",
                                       "audio": base64.b64encode(pcm).decode(),
                                       "format": {"encoding": "pcm16", "sample_rate": 16000}})

    async def go() -> tuple[list[Any], Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        agent = RealtimeAgent("Friday", "You are Friday.", model=model(emu))
        await agent.start(queue)
        await agent.handle_input(audio_event(resample_pcm16(tone(0.2), 24000, 16000)))
        await agent.handle_input(audio_event(bytes(3200)))
        events = await until(queue, "agent_response_done")
        await agent.stop()
        return events, agent

    events, agent = run(go())
    kinds = types(events)
    assert "agent_error" not in kinds
    assert kinds.index("agent_input_started") < kinds.index("agent_input_done") \
        < kinds.index("agent_input_transcription_done") < kinds.index("agent_response_done")
    assert events[-2].transcript == emu.transcript
    assert [(m.name, m.content) for m in agent.memory] == [
        ("user", emu.input_transcript), ("Friday", emu.transcript)]
    sent = b"".join(base64.b64decode(e["audio"]) for e in emu.events("input_audio_buffer.append"))
    assert len(sent) == 2 * (4800 + 2400)  # 0.2 s of tone and 0.1 s of silence, at 24 kHz


# -- errors and faults -----------------------------------------------------------------------------
def test_error_event_is_a_model_error_and_the_session_goes_on(emu: OpenAIRealtimeEmulator) -> None:
    emu.error_on["conversation.item.create"] = {
        "code": "invalid_value", "message": f"Bad item (key {KEY})"}  # a server echoing the key

    async def go() -> list[Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        m = model(emu)
        await m.connect(queue)
        await m.send({"type": "text", "text": "hi"})
        events = await until(queue, "model_error")
        emu.error_on.clear()
        await m.send({"type": "text", "text": "hi again"})
        events += await until(queue, "model_response_done")
        assert m.connected
        await m.disconnect()
        return events

    events = run(go())
    (error,) = [e for e in events if e.type == "model_error"]
    assert (error.error_type, error.code) == ("BadRequestError", "invalid_value")
    assert "Bad item" in error.message and "provider=openai" in error.message
    assert KEY not in json.dumps([e.model_dump() for e in events])


@pytest.mark.parametrize("fault", [WSFault(after=5, drop=True), WSFault(after=5, close_code=1011)],
                         ids=["drop", "close-1011"])  # fmt: skip
def test_lost_socket_is_an_error_then_the_session_ends(
    emu: OpenAIRealtimeEmulator, fault: WSFault
) -> None:
    emu.add_fault(fault)  # after session.created/updated, item.created, response.created, one delta

    async def go() -> tuple[list[Any], OpenAIRealtimeModel]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        m = model(emu)
        await m.connect(queue)
        await m.send({"type": "text", "text": "hi"})
        events = await until(queue, "model_session_ended")
        with pytest.raises(RealtimeSessionError, match="ended"):
            await m.send({"type": "text", "text": "anyone?"})
        with pytest.raises(RealtimeSessionError, match="ended"):
            await m.send(pcm_block(bytes(480), 24000))
        await m.disconnect()
        return events, m

    events, m = run(go())
    assert types(events)[-2:] == ["model_error", "model_session_ended"]
    assert events[-2].error_type == "ProviderConnectionError"
    assert "ProviderConnectionError" in events[-1].reason
    assert "model_response_created" in types(events) and not m.connected


def test_clean_close_by_the_server_ends_the_session_without_error(
    emu: OpenAIRealtimeEmulator,
) -> None:
    emu.add_fault(WSFault(after=2, close_code=1000))

    async def go() -> list[Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        m = model(emu)
        await m.connect(queue)
        await m.send({"type": "text", "text": "hi"})
        events = await until(queue, "model_session_ended")
        await m.disconnect()
        return events

    events = run(go())
    assert "model_error" not in types(events)
    assert events[-1].reason == "closed by the provider"


def test_stalled_socket_times_out_as_an_error_event(emu: OpenAIRealtimeEmulator) -> None:
    emu.add_fault(WSFault(after=4, stall=True))  # silent after response.created

    async def go() -> list[Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        m = model(emu, response_timeout=0.5)
        await m.connect(queue)
        await m.send({"type": "text", "text": "hi"})
        events = await until(queue, "model_session_ended")
        await m.disconnect()
        return events

    events = run(go())
    assert types(events)[-3:] == ["model_response_created", "model_error", "model_session_ended"]
    assert events[-2].error_type == "ProviderTimeoutError"


def test_no_session_created_within_connect_timeout(emu: OpenAIRealtimeEmulator) -> None:
    emu.add_fault(WSFault(after=0, stall=True))
    m = model(emu, connect_timeout=0.5)
    with pytest.raises(ProviderTimeoutError) as info:
        run(m.connect(asyncio.Queue()))
    assert info.value.provider == "openai"


def test_bad_key_is_an_authentication_error_without_the_key(emu: OpenAIRealtimeEmulator) -> None:
    wrong = "sk-wrong-key-Zq9XfT3"
    m = model(emu, api_key=wrong)
    queue: asyncio.Queue[Any] = asyncio.Queue()
    with pytest.raises(AuthenticationError) as info:
        run(m.connect(queue))
    err = info.value
    assert (err.status, err.provider, err.model) == (401, "openai", "gpt-realtime")
    assert "Incorrect API key" in str(err)
    for text in (str(err), repr(err), repr(m), str(err.__cause__), repr(err.__cause__)):
        assert wrong not in text and KEY not in text
    assert queue.empty() and not m.connected
    assert emu.events() == []  # refused at the handshake: nothing was sent


def test_key_is_not_in_the_websocket_debug_log(emu: OpenAIRealtimeEmulator, caplog: Any) -> None:
    async def go() -> None:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        m = model(emu)
        await m.connect(queue)
        await m.send({"type": "text", "text": "hi"})
        await until(queue, "model_response_done")
        await m.disconnect()

    with caplog.at_level(logging.DEBUG, logger="websockets.client"):
        run(go())
    client = [r.getMessage() for r in caplog.records if r.name == "websockets.client"]
    assert any(line.lower().startswith("> authorization: ") for line in client)  # it was logged
    assert not any(KEY in line for line in client)


def test_refused_port_is_a_connection_error() -> None:
    m = OpenAIRealtimeModel("gpt-realtime", api_key=KEY, base_url="http://127.0.0.1:1/v1")
    with pytest.raises(ProviderConnectionError) as info:
        run(m.connect(asyncio.Queue()))
    assert info.value.provider == "openai" and KEY not in str(info.value)


def test_bad_input_is_a_typed_error(emu: OpenAIRealtimeEmulator, monkeypatch: Any) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAIRealtimeModel()
    with pytest.raises(ConfigError, match="turn_detection"):
        OpenAIRealtimeModel(api_key=KEY, turn_detection="push_to_talk")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    m = model(emu, api_key=None)  # from the environment
    with pytest.raises(RealtimeSessionError, match="tool"):
        nameless = {"type": "function", "function": {"description": "x"}}
        run(m.connect(asyncio.Queue(), "", [nameless]))
    with pytest.raises(RealtimeSessionError, match="not connected"):
        run(m.send({"type": "text", "text": "hi"}))
    assert emu.sessions == []

    async def go() -> None:
        await m.connect(asyncio.Queue())
        with pytest.raises(RealtimeSessionError, match="image"):
            await m.send({"type": "image", "source": {"type": "base64", "data": "AAAA"}})
        await m.disconnect()

    run(go())
    assert emu.sessions[0].headers["authorization"] == f"Bearer {KEY}"


# -- pure parsing ----------------------------------------------------------------------------------
def test_parse_beta_event_names() -> None:
    state = ParseState(model="m")
    at = {"response_id": "r", "item_id": "i"}
    audio = base64.b64encode(b"\x01\x00\x02\x00").decode()
    (delta,) = parse_event({"type": "response.audio.delta", **at, "delta": audio}, state)
    assert isinstance(delta, ModelEvents.ModelResponseAudioDeltaEvent) and delta.delta == audio
    (text,) = parse_event({"type": "response.audio_transcript.delta", **at, "delta": "Hi"}, state)
    assert isinstance(text, ModelEvents.ModelResponseAudioTranscriptDeltaEvent)
    (done,) = parse_event({"type": "response.audio_transcript.done", **at, "transcript": "Hi"},
                          state)  # fmt: skip
    assert done.transcript == "Hi"
    assert parse_event({"type": "session.updated", "session": {}}, state) == []
    assert parse_event({"type": "rate_limits.updated", "rate_limits": []}, state) == []


def test_parse_tool_arguments_that_are_not_an_object() -> None:
    state = ParseState(model="m")
    at = {"response_id": "r", "item_id": "fc1"}
    parse_event({"type": "response.output_item.added", "response_id": "r", "output_index": 0,
                 "item": {"id": "fc1", "type": "function_call", "call_id": "c1",
                          "name": "f"}}, state)  # fmt: skip
    (delta,) = parse_event({"type": "response.function_call_arguments.delta", **at,
                            "call_id": "c1", "delta": "[1,"}, state)  # fmt: skip
    assert delta.tool_use == {"type": "tool_use", "id": "c1", "name": "f", "input": {},
                              "raw_input": "[1,"}  # fmt: skip
    error, done = parse_event({"type": "response.function_call_arguments.done", **at,
                               "call_id": "c1", "name": "f", "arguments": "[1, 2]"}, state)
    assert error.error_type == "ResponseFormatError" and error.code == "invalid_tool_arguments"
    assert done.tool_use["input"] == {} and done.tool_use["raw_input"] == "[1, 2]"
    assert state.tool_calls == {}


def test_parse_failed_response_and_error_classes() -> None:
    state = ParseState(model="m")
    failed = {"type": "response.done", "response": {
        "id": "r", "status": "failed", "usage": None,
        "status_details": {"type": "failed", "error": {"type": "server_error",
                                                       "code": "boom", "message": "oops"}}}}
    error, done = parse_event(failed, state)
    assert (error.error_type, error.code) == ("ServerError", "boom")
    assert done.metadata == {"status": "failed"} and done.input_tokens == 0
    for payload, cls in [({"type": "invalid_request_error", "code": "invalid_api_key"},
                          "AuthenticationError"),
                         ({"type": "tokens", "code": "rate_limit_exceeded"}, "RateLimitError"),
                         ({"type": "weird"}, "ProviderError")]:  # fmt: skip
        (event,) = parse_event({"type": "error", "error": {**payload, "message": "x"}}, state)
        assert event.error_type == cls
