"""The reference's FastAPI backend (reference 004), as written there, with our imports.

The only edits to its code: ``agentscope`` -> ``agentscope_legacy`` in the imports, the
``asyncio``/``os`` imports it leaves out, and ``url=`` pointing DashScopeRealtimeModel at the
loopback emulator of its websocket. The real dashscope SDK does the talking.
"""

from __future__ import annotations

import asyncio
import json

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("dashscope")
websockets = pytest.importorskip("websockets")

from tests.emulators.realtime_dashscope import OmniRealtimeEmulator  # noqa: E402
from tests.test_realtime_server import Served  # noqa: E402

KEY = "sk-reference-snippet-key"

REFERENCE_BACKEND = """
import asyncio
import os

from fastapi import FastAPI, WebSocket
from agentscope_legacy.agent import RealtimeAgent
from agentscope_legacy.realtime import (
    DashScopeRealtimeModel,
    ClientEvents,
    ServerEvents,
)

app = FastAPI()

@app.websocket("/ws/{user_id}/{session_id}")
async def websocket_endpoint(
    websocket: WebSocket,
    user_id: str,
    session_id: str,
):
    await websocket.accept()

    # Create queue for agent messages
    frontend_queue = asyncio.Queue()

    # Create agent
    agent = RealtimeAgent(
        name="Assistant",
        sys_prompt="You are a helpful assistant.",
        model=DashScopeRealtimeModel(
            model_name="qwen3-omni-flash-realtime",
            api_key=os.getenv("DASHSCOPE_API_KEY"),
            url=EMULATOR_URL,
        ),
    )

    # Start agent
    await agent.start(frontend_queue)

    # Forward messages from agent to frontend
    async def send_to_frontend():
        while True:
            msg = await frontend_queue.get()
            await websocket.send_json(msg.model_dump())

    asyncio.create_task(send_to_frontend())

    # Receive messages from frontend and forward to agent
    while True:
        data = await websocket.receive_json()
        client_event = ClientEvents.from_json(data)
        await agent.handle_input(client_event)
"""


def test_the_reference_fastapi_backend_runs_with_our_imports(monkeypatch):
    monkeypatch.setenv("DASHSCOPE_API_KEY", KEY)
    with OmniRealtimeEmulator(keys=(KEY,)) as emulator:
        namespace: dict = {"EMULATOR_URL": emulator.url}
        exec(compile(REFERENCE_BACKEND, "reference_004_backend", "exec"), namespace)
        served = Served(namespace["app"])
        try:
            events = asyncio.run(_talk(served.ws_url("user1", "session1")))
        finally:
            served.stop()
    types = [e["type"] for e in events]
    assert types[0] == "agent_ready" and events[0]["agent_name"] == "Assistant"
    assert "agent_response_audio_transcript_delta" in types
    assert "agent_response_audio_delta" in types
    assert types[-1] == "agent_response_done"
    said = "".join(
        e["delta"] for e in events if e["type"] == "agent_response_audio_transcript_delta"
    )
    assert said == emulator.reply
    (session,) = emulator.sessions
    assert session.headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in json.dumps(events)


async def _talk(url: str) -> list[dict]:
    async with websockets.connect(url) as ws:
        # The reference's frontend: create the session, then text instead of a microphone.
        await ws.send(
            json.dumps(
                {
                    "type": "client_session_create",
                    "config": {
                        "instructions": "You are a helpful assistant.",
                        "user_name": "User1",
                    },
                }
            )
        )
        await ws.send(
            json.dumps({"type": "client_text_append", "session_id": "session1", "text": "Hello!"})
        )
        events = []
        while not events or events[-1]["type"] != "agent_response_done":
            events.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
        return events
