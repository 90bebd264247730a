"""What the realtime tests share: queue helpers, and a scripted realtime model for testing
what sits above the model (agent, room).

It is a real RealtimeModelBase subclass: the base's receive loop, resampling, watchdog and
error handling all run; only the "provider" is an in-process script. A text turn or a
commit answers with a response: created, transcript deltas, audio deltas (a tone), done.
"""

from __future__ import annotations

import asyncio
import json
import math
import struct
from typing import Any

from agentscope_legacy.realtime import AudioFormat, ModelEvents, RealtimeModelBase

RATE = 24000


async def until(queue: asyncio.Queue[Any], kind: str, timeout: float = 5.0) -> list[Any]:
    """The events of ``queue`` up to and including the first of type ``kind``."""
    events = []
    while True:
        event = await asyncio.wait_for(queue.get(), timeout)
        events.append(event)
        if event.type == kind:
            return events


def types(events: list[Any]) -> list[str]:
    return [e.type for e in events]


async def wait_for_wire(emu: Any, kind: str, count: int = 1, seconds: float = 3.0) -> list[Any]:
    """The client events of type ``kind`` an emulator received, once there are ``count``."""
    for _ in range(int(seconds / 0.01)):
        if len(found := emu.events(kind)) >= count:
            return found
        await asyncio.sleep(0.01)
    raise AssertionError(f"{kind} never reached the emulator: {emu.events()}")


def tone(ms: int = 40, rate: int = RATE) -> bytes:
    n = rate * ms // 1000
    return struct.pack(f"<{n}h", *(int(8000 * math.sin(i / 8)) for i in range(n)))


class FakeRealtimeModel(RealtimeModelBase):
    provider = "fake"
    model_type = "fake_realtime"
    support_tools = True
    input_sample_rate = 16000
    output_sample_rate = RATE

    def __init__(
        self,
        reply: str = "Hello there.",
        *,
        tool_call: dict | None = None,
        audio_chunks: int = 3,
        **kw: Any,
    ) -> None:
        super().__init__("fake-1", **kw)
        self.reply, self.tool_call, self.audio_chunks = reply, tool_call, audio_chunks
        self.sent: list[Any] = []
        self.instructions = ""
        self.tools: list[dict] = []
        self._inbox: asyncio.Queue[Any] | None = None
        self._turns = 0

    async def _open(self, instructions: str, tools: list[dict]) -> None:
        self.instructions, self.tools = instructions, tools
        self._inbox = asyncio.Queue()
        self._inbox.put_nowait(ModelEvents.ModelSessionCreatedEvent(session_id="s1"))

    async def _close(self) -> None:
        if self._inbox is not None:
            self._inbox.put_nowait(None)

    async def _receive(self):
        while (item := await self._inbox.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    def _parse(self, raw: Any) -> list[Any]:
        return [raw]

    def push(self, item: Any) -> None:
        """What the "provider" says next (an event, or an exception to raise)."""
        self._inbox.put_nowait(item)

    def _respond(self, text: str) -> None:
        self._turns += 1
        rid, item = f"resp_{self._turns}", f"item_{self._turns}"
        self.push(ModelEvents.ModelResponseCreatedEvent(response_id=rid))
        if self.tool_call and self._turns == 1:
            call = dict(self.tool_call, type="tool_use")
            self.push(
                ModelEvents.ModelResponseToolUseDeltaEvent(
                    response_id=rid,
                    item_id=item,
                    tool_use=dict(call, raw_input=json.dumps(call["input"])),
                )
            )
            self.push(
                ModelEvents.ModelResponseToolUseDoneEvent(
                    response_id=rid, item_id=item, tool_use=call
                )
            )
        else:
            for word in text.split(" "):
                self.push(
                    ModelEvents.ModelResponseAudioTranscriptDeltaEvent(
                        response_id=rid, item_id=item, delta=word + " "
                    )
                )
            import base64

            for _ in range(self.audio_chunks):
                self.push(
                    ModelEvents.ModelResponseAudioDeltaEvent(
                        response_id=rid,
                        item_id=item,
                        delta=base64.b64encode(tone()).decode(),
                        format=AudioFormat(sample_rate=RATE),
                    )
                )
            self.push(ModelEvents.ModelResponseAudioDoneEvent(response_id=rid, item_id=item))
            self.push(
                ModelEvents.ModelResponseAudioTranscriptDoneEvent(
                    response_id=rid, item_id=item, transcript=text
                )
            )
        self.push(
            ModelEvents.ModelResponseDoneEvent(response_id=rid, input_tokens=3, output_tokens=5)
        )

    async def _send_audio(self, pcm: bytes) -> None:
        self.sent.append(("audio", len(pcm)))

    async def _send_text(self, text: str) -> None:
        self.sent.append(("text", text))
        self._respond(self.reply)

    async def _send_tool_result(self, call_id: str, name: str, output: str) -> None:
        self.sent.append(("tool_result", call_id, name, output))
        self._respond(f"The answer is {output}.")

    async def _commit_audio(self) -> None:
        self.sent.append(("commit",))
        self._respond(self.reply)

    async def _create_response(self) -> None:
        self.sent.append(("create",))
        self._respond(self.reply)

    async def _cancel_response(self) -> None:
        self.sent.append(("cancel",))
