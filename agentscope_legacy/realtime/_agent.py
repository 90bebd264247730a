"""``RealtimeAgent``: a realtime model as an agent (reference 004).

It bridges two vocabularies: the model's ModelEvents become ServerEvents on the agent's
outgoing queue (with its id and name), and ClientEvents (from a frontend) or other agents'
ServerEvents (in a ChatRoom) become calls on the model. On the way it runs the agent's
tools, keeps the conversation in ``memory``, and turns failures into ``AgentErrorEvent``s, so
``handle_input`` never raises for a bad event or a failed provider call.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import AgentScopeError
from ..message import Msg, tool_result_block
from ._base import RealtimeModelBase, RealtimeSessionError
from ._events import ClientEvents, ModelEvents, ServerEvents
from ._tools import Tool

__all__ = ["RealtimeAgent"]

_C, _M, _S = ClientEvents, ModelEvents, ServerEvents


class RealtimeAgent:
    """An agent speaking through a realtime model.

    Args:
        name: the agent's name, on every event it sends.
        sys_prompt: the model's instructions for the session.
        model: a RealtimeModelBase (OpenAI, DashScope, Gemini, local...).
        tools: Python functions (their schema from signature and docstring) run here when the
            model calls them, or OpenAI-format schema dicts run by the frontend (their results
            come back as ``client_tool_result``).
        hear_others: in a ChatRoom, feed other agents' audio to this agent's model as input.
    """

    def __init__(
        self,
        name: str,
        sys_prompt: str,
        model: RealtimeModelBase,
        tools: Sequence[Callable[..., Any] | dict[str, Any]] | None = None,
        *,
        hear_others: bool = True,
    ) -> None:
        if not isinstance(model, RealtimeModelBase):
            raise TypeError(f"model must be a RealtimeModelBase, not {type(model).__name__}")
        self.id = uuid.uuid4().hex
        self.name = name
        self.sys_prompt = sys_prompt
        self.model = model
        self.hear_others = hear_others
        self.tools: dict[str, Tool] = {}
        for tool in tools or ():
            parsed = Tool.of(tool)
            self.tools[parsed.name] = parsed
        self.memory: list[Msg] = []
        self._outgoing: asyncio.Queue[Any] | None = None
        self._from_model: asyncio.Queue[Any] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._replies: dict[str, list[str]] = {}  # response id -> transcript deltas
        self._ended = False

    def __repr__(self) -> str:
        return f"RealtimeAgent(name={self.name!r}, model={self.model!r})"

    # -- life cycle ------------------------------------------------------------------------------
    async def start(self, outgoing_queue: asyncio.Queue[Any]) -> None:
        """Connect the model; ServerEvents go to ``outgoing_queue`` from now on, the first
        being ``AgentReadyEvent``. Raises the model's typed error if it cannot connect."""
        if self._outgoing is not None:
            raise RealtimeSessionError(f"agent {self.name!r} was started already")
        self._outgoing = outgoing_queue
        schemas = [tool.schema for tool in self.tools.values()]
        await self.model.connect(self._from_model, self.sys_prompt, schemas or None)
        self._pump = asyncio.create_task(self._forward(), name=f"agent-{self.name}")
        self._put(_S.AgentReadyEvent(agent_id=self.id, agent_name=self.name))

    async def stop(self) -> None:
        """Disconnect the model and end the agent (``AgentEndedEvent``); idempotent."""
        if self._outgoing is None:
            return
        await self.model.disconnect()
        for task in [self._pump, *self._tasks]:
            if task is not None and not task.done():
                task.cancel()
        await asyncio.gather(*(t for t in [self._pump, *self._tasks] if t is not None),
                             return_exceptions=True)
        self._tasks.clear()
        self._end()

    # -- input -------------------------------------------------------------------------------------
    async def handle_input(self, event: Any) -> None:
        """A ClientEvent from the frontend, or another agent's ServerEvent (ChatRoom)."""
        try:
            if isinstance(event, _S.EventBase):
                await self._from_other_agent(event)
            else:
                await self._from_client(event)
        except (AgentScopeError, ValueError, TypeError) as exc:
            self._error(exc)

    async def _from_client(self, event: Any) -> None:
        model = self.model
        if isinstance(event, _C.ClientAudioAppendEvent):
            rate = event.format.sample_rate
            await model.send({"type": "audio", "source": {
                "type": "base64", "data": event.audio, "media_type": f"audio/pcm;rate={rate}"}})
        elif isinstance(event, _C.ClientTextAppendEvent):
            await model.send({"type": "text", "text": event.text})
            self.memory.append(Msg("user", event.text, "user"))
        elif isinstance(event, _C.ClientAudioCommitEvent):
            await model.commit_audio()
        elif isinstance(event, _C.ClientResponseCreateEvent):
            await model.create_response()
        elif isinstance(event, _C.ClientResponseCancelEvent):
            await model.cancel_response()
        elif isinstance(event, _C.ClientImageAppendEvent):
            media_type = str(event.format.get("media_type") or event.format.get("type")
                             or "image/jpeg")
            await model.send({"type": "image", "source": {
                "type": "base64", "data": event.image, "media_type": media_type}})
        elif isinstance(event, _C.ClientToolResultEvent):
            await model.send(tool_result_block(event.id, event.output, event.name))
        elif isinstance(event, _C.ClientSessionEndEvent):
            await self.stop()
        elif isinstance(event, _C.ClientSessionCreateEvent):
            pass  # the backend's business: the agent exists once its session does
        else:
            raise RealtimeSessionError(f"agent {self.name!r} cannot handle {event!r:.80}")

    async def _from_other_agent(self, event: Any) -> None:
        if getattr(event, "agent_id", self.id) == self.id:
            return
        if isinstance(event, _S.AgentResponseAudioDeltaEvent) and self.hear_others:
            rate = event.format.sample_rate
            await self.model.send({"type": "audio", "source": {
                "type": "base64", "data": event.delta, "media_type": f"audio/pcm;rate={rate}"}})
        elif isinstance(event, _S.AgentResponseAudioTranscriptDoneEvent) and event.transcript:
            self.memory.append(Msg(event.agent_name, event.transcript, "user"))

    # -- output ------------------------------------------------------------------------------------
    async def _forward(self) -> None:
        while True:
            event = await self._from_model.get()
            if isinstance(event, _M.ModelSessionCreatedEvent):
                continue
            if isinstance(event, _M.ModelSessionEndedEvent):
                self._end()  # the provider ended the session; its error came before
                return
            self._remember(event)
            self._put(_S.from_model_event(event, self.id, self.name))
            if isinstance(event, _M.ModelResponseToolUseDoneEvent):
                tool = self.tools.get(event.tool_use["name"])
                if tool is not None and tool.func is not None:
                    task = asyncio.create_task(self._run_tool(tool, event.tool_use))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)

    async def _run_tool(self, tool: Tool, tool_use: dict[str, Any]) -> None:
        arguments = tool_use.get("input")
        output = await tool.run(arguments if isinstance(arguments, dict) else {})
        block = tool_result_block(tool_use["id"], output, tool.name)
        self._put(_S.AgentResponseToolResultEvent(
            tool_result=dict(block), agent_id=self.id, agent_name=self.name))
        try:
            await self.model.send(block)  # the provider answers the result with a response
        except (AgentScopeError, ValueError) as exc:
            self._error(exc)

    def _remember(self, event: Any) -> None:
        if isinstance(event, _M.ModelInputTranscriptionDoneEvent) and event.transcript:
            self.memory.append(Msg("user", event.transcript, "user"))
        elif isinstance(event, _M.ModelResponseAudioTranscriptDeltaEvent):
            self._replies.setdefault(event.response_id, []).append(event.delta)
        elif isinstance(event, _M.ModelResponseAudioTranscriptDoneEvent):
            text = event.transcript or "".join(self._replies.pop(event.response_id, []))
            self._replies.pop(event.response_id, None)
            if text:
                self.memory.append(Msg(self.name, text, "assistant"))
        elif isinstance(event, _M.ModelResponseDoneEvent):
            partial = "".join(self._replies.pop(event.response_id, []))
            if partial:  # interrupted before its transcript was done: what was said
                self.memory.append(Msg(self.name, partial, "assistant"))

    def _put(self, event: Any) -> None:
        if self._outgoing is not None:
            self._outgoing.put_nowait(event)

    def _error(self, exc: BaseException) -> None:
        self._put(_S.AgentErrorEvent(
            error_type=type(exc).__name__,
            code=str(getattr(exc, "status", None) or type(exc).__name__),
            message=str(exc), agent_id=self.id, agent_name=self.name,
        ))

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self._put(_S.AgentEndedEvent(agent_id=self.id, agent_name=self.name))
