"""RealtimeAgent, ChatRoom, tools and the model base, over a scripted model (realtime_kit)."""

from __future__ import annotations

import asyncio
import base64
import threading
from typing import Literal

import pytest

pytest.importorskip("pydantic")

from agentscope_legacy.agent import RealtimeAgent  # noqa: E402
from agentscope_legacy.errors import ProviderConnectionError  # noqa: E402
from agentscope_legacy.pipeline import ChatRoom  # noqa: E402
from agentscope_legacy.realtime import (  # noqa: E402
    ClientEvents,
    RealtimeSessionError,
    ServerEvents,
)
from agentscope_legacy.realtime._tools import function_schema  # noqa: E402

from .realtime_kit import FakeRealtimeModel, tone  # noqa: E402
from .realtime_kit import until as drain  # noqa: E402


def run(coro):
    return asyncio.run(coro)


def test_the_reference_snippet_runs_with_our_imports() -> None:
    async def main():
        agent = RealtimeAgent(
            name="Friday",
            sys_prompt="You are a helpful assistant named Friday.",
            model=FakeRealtimeModel(),
        )
        queue: asyncio.Queue = asyncio.Queue()
        await agent.start(queue)
        ready = await queue.get()
        await agent.stop()
        return agent, ready, await drain(queue, "agent_ended")

    agent, ready, rest = run(main())
    assert (
        ready.type == "agent_ready" and ready.agent_name == "Friday" and ready.agent_id == agent.id
    )
    assert agent.model.instructions == "You are a helpful assistant named Friday."
    assert [e.type for e in rest] == ["agent_ended"]


def test_text_turn_becomes_server_events_in_order_and_memory() -> None:
    async def main():
        agent = RealtimeAgent("Friday", "Be brief.", FakeRealtimeModel("Hi Ann."))
        queue: asyncio.Queue = asyncio.Queue()
        await agent.start(queue)
        await agent.handle_input(
            ClientEvents.from_json(
                {"type": "client_text_append", "session_id": "s", "text": "I am Ann"}
            )
        )
        events = await drain(queue, "agent_response_done")
        await agent.stop()
        return agent, events

    agent, events = run(main())
    types = [e.type for e in events]
    assert types[0] == "agent_ready"
    assert types[1:3] == ["agent_response_created", "agent_response_audio_transcript_delta"]
    assert types[-3:] == [
        "agent_response_audio_done",
        "agent_response_audio_transcript_done",
        "agent_response_done",
    ]
    assert types.count("agent_response_audio_delta") == 3
    assert all(e.agent_name == "Friday" for e in events)
    text = "".join(e.delta for e in events if e.type == "agent_response_audio_transcript_delta")
    assert text.strip() == "Hi Ann."
    audio = next(e for e in events if e.type == "agent_response_audio_delta")
    assert base64.b64decode(audio.delta) == tone() and audio.format.sample_rate == 24000
    assert events[-1].output_tokens == 5
    assert [(m.name, m.content) for m in agent.memory] == [
        ("user", "I am Ann"),
        ("Friday", "Hi Ann."),
    ]
    # every server event round-trips through JSON as the page gets it
    for event in events:
        assert ServerEvents.from_json(event.model_dump()) == event


def test_client_audio_is_resampled_to_the_model_rate_and_controls_reach_it() -> None:
    async def main():
        model = FakeRealtimeModel()
        agent = RealtimeAgent("A", "", model)
        queue: asyncio.Queue = asyncio.Queue()
        await agent.start(queue)
        pcm24 = tone(100, 24000)  # 100 ms at 24 kHz -> 1600 samples at 16 kHz
        await agent.handle_input(
            ClientEvents.ClientAudioAppendEvent(
                session_id="s",
                audio=base64.b64encode(pcm24).decode(),
                format={"sample_rate": 24000},
            )
        )
        await agent.handle_input(ClientEvents.ClientAudioCommitEvent(session_id="s"))
        await drain(queue, "agent_response_done")
        await agent.handle_input(ClientEvents.ClientResponseCreateEvent(session_id="s"))
        await agent.handle_input(ClientEvents.ClientResponseCancelEvent(session_id="s"))
        await agent.stop()
        return model.sent

    sent = run(main())
    assert sent[0] == ("audio", 3200)
    assert sent[1:] == [("commit",), ("create",), ("cancel",)]


def test_a_python_tool_runs_and_its_result_goes_back_to_the_model() -> None:
    calls = []

    def get_weather(city: str, unit: str = "C") -> dict:
        """Get the weather of a city.

        Args:
            city: the city's name.
            unit: C or F.
        """
        calls.append((city, unit, threading.current_thread() is threading.main_thread()))
        return {"city": city, "temp": 21}

    async def main():
        model = FakeRealtimeModel(
            tool_call={"id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}
        )
        agent = RealtimeAgent("A", "", model, tools=[get_weather])
        queue: asyncio.Queue = asyncio.Queue()
        await agent.start(queue)
        await agent.handle_input(
            ClientEvents.ClientTextAppendEvent(session_id="s", text="Weather?")
        )
        first = await drain(queue, "agent_response_done")
        second = await drain(queue, "agent_response_done")
        await agent.stop()
        return model, first, second

    model, first, second = run(main())
    assert model.tools == [function_schema(get_weather)]
    params = model.tools[0]["function"]["parameters"]
    assert (
        params["required"] == ["city"]
        and params["properties"]["city"]["description"] == "the city's name."
    )
    assert calls == [("Paris", "C", False)]  # a blocking tool runs off the event loop
    done = next(e for e in first if e.type == "agent_response_tool_use_done")
    assert done.tool_use["input"] == {"city": "Paris"}
    result = next(e for e in first + second if e.type == "agent_response_tool_result")
    assert result.tool_result["id"] == "call_1" and '"temp": 21' in result.tool_result["output"]
    assert ("tool_result", "call_1", "get_weather", result.tool_result["output"]) in model.sent
    assert any(
        e.type == "agent_response_audio_transcript_done" and "temp" in e.transcript for e in second
    )


def test_a_failing_tool_tells_the_model_instead_of_crashing() -> None:
    def broken(x: int) -> int:
        """Always fails."""
        raise RuntimeError("no luck")

    async def main():
        model = FakeRealtimeModel(tool_call={"id": "c", "name": "broken", "input": {"x": 1}})
        agent = RealtimeAgent("A", "", model, tools=[broken])
        queue: asyncio.Queue = asyncio.Queue()
        await agent.start(queue)
        await agent.handle_input(ClientEvents.ClientTextAppendEvent(session_id="s", text="go"))
        await drain(queue, "agent_response_done")
        await drain(queue, "agent_response_done")
        await agent.stop()
        return model.sent

    sent = run(main())
    assert ("tool_result", "c", "broken", "Error: RuntimeError: no luck") in sent


def test_frontend_tool_results_reach_the_model() -> None:
    schema = {
        "type": "function",
        "function": {"name": "ui_clock", "parameters": {"type": "object"}},
    }

    async def main():
        model = FakeRealtimeModel()
        agent = RealtimeAgent("A", "", model, tools=[schema])
        queue: asyncio.Queue = asyncio.Queue()
        await agent.start(queue)
        await agent.handle_input(
            ClientEvents.from_json(
                {
                    "type": "client_tool_result",
                    "session_id": "s",
                    "id": "c9",
                    "name": "ui_clock",
                    "output": "12:00",
                }
            )
        )
        await drain(queue, "agent_response_done")
        await agent.stop()
        return model

    model = run(main())
    assert model.tools == [schema]
    assert ("tool_result", "c9", "ui_clock", "12:00") in model.sent


def test_bad_input_and_provider_failures_become_agent_error_events() -> None:
    async def main():
        model = FakeRealtimeModel()
        agent = RealtimeAgent("A", "", model)
        queue: asyncio.Queue = asyncio.Queue()
        await agent.start(queue)
        await queue.get()
        await agent.handle_input(ClientEvents.ClientImageAppendEvent(session_id="s", image="AAAA"))
        bad_input = await queue.get()
        model.push(ConnectionResetError("peer reset"))
        dropped = await drain(queue, "agent_ended")
        await agent.handle_input(ClientEvents.ClientTextAppendEvent(session_id="s", text="hello?"))
        after = await queue.get()
        await agent.stop()
        return bad_input, dropped, after, queue

    bad_input, dropped, after, queue = run(main())
    assert bad_input.type == "agent_error" and bad_input.error_type == "RealtimeSessionError"
    assert [e.type for e in dropped] == ["agent_error", "agent_ended"]
    assert dropped[0].error_type == ProviderConnectionError.__name__
    assert after.type == "agent_error" and "ended" in after.message
    assert queue.empty()  # stop after the end sends no second agent_ended


def test_lifecycle_errors() -> None:
    async def main():
        agent = RealtimeAgent("A", "", FakeRealtimeModel())
        await agent.stop()  # never started: nothing to do
        await agent.start(asyncio.Queue())
        with pytest.raises(RealtimeSessionError):
            await agent.start(asyncio.Queue())
        await agent.stop()
        await agent.stop()

    run(main())
    with pytest.raises(TypeError):
        RealtimeAgent("A", "", model=object())  # type: ignore[arg-type]


def test_chat_room_broadcasts_between_agents_and_to_one_queue() -> None:
    async def main():
        alice, bob = FakeRealtimeModel("I am Alice."), FakeRealtimeModel("I am Bob.")
        room = ChatRoom(agents=[RealtimeAgent("Alice", "", alice), RealtimeAgent("Bob", "", bob)])
        queue: asyncio.Queue = asyncio.Queue()
        await room.start(queue)
        await room.handle_input(
            ClientEvents.ClientTextAppendEvent(session_id="s", text="Hello everyone!")
        )
        seen = []
        while sum(e.type == "agent_response_done" for e in seen) < 2:
            seen.append(await asyncio.wait_for(queue.get(), 5))
        await room.stop()
        while not queue.empty():
            seen.append(queue.get_nowait())
        return room, alice, bob, seen

    room, alice, bob, seen = run(main())
    assert ("text", "Hello everyone!") in alice.sent and ("text", "Hello everyone!") in bob.sent
    # each heard the other's audio (3 deltas of 40 ms at 24 kHz -> 640 samples at 16 kHz each)
    assert alice.sent.count(("audio", 1280)) == 3 and bob.sent.count(("audio", 1280)) == 3
    assert {e.agent_name for e in seen if e.type == "agent_ready"} == {"Alice", "Bob"}
    assert sum(e.type == "agent_ended" for e in seen) == 2
    alice_agent = room.agents[0]
    assert ("Bob", "I am Bob.") in [(m.name, m.content) for m in alice_agent.memory]


def test_chat_room_start_is_all_or_nothing() -> None:
    class Refusing(FakeRealtimeModel):
        async def _open(self, instructions, tools):
            raise ProviderConnectionError("refused", provider="fake")

    async def main():
        ok = RealtimeAgent("ok", "", FakeRealtimeModel())
        room = ChatRoom([ok, RealtimeAgent("bad", "", Refusing())])
        queue: asyncio.Queue = asyncio.Queue()
        with pytest.raises(ProviderConnectionError):
            await room.start(queue)
        return ok, [queue.get_nowait().type for _ in range(queue.qsize())]

    ok, types = run(main())
    assert not ok.model.connected
    with pytest.raises(ValueError):
        ChatRoom([])


def test_function_schema_types() -> None:
    def f(
        a: int,
        b: float | None = None,
        c: list[str] | None = None,
        d: Literal["x", "y"] = "x",
        *args,
        **kwargs,
    ) -> None:
        """Do f."""

    schema = function_schema(f)["function"]
    props = schema["parameters"]["properties"]
    assert schema["description"] == "Do f." and schema["parameters"]["required"] == ["a"]
    assert props == {
        "a": {"type": "integer"},
        "b": {"type": "number"},
        "c": {"type": "array"},
        "d": {"enum": ["x", "y"]},
    }
