"""``ChatRoom``: several realtime agents in one conversation (reference 004).

Every event an agent sends goes to the room's one outgoing queue and to every other agent
(``RealtimeAgent.handle_input`` decides what an agent does with another's event: hear its
audio, remember its transcript). Client input goes to all agents.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ._agent import RealtimeAgent
from ._base import RealtimeSessionError
from ._events import ServerEvents

__all__ = ["ChatRoom"]


class ChatRoom:
    """Agents that hear each other; ``start(queue)``, ``handle_input(event)``, ``stop()``."""

    def __init__(self, agents: Sequence[RealtimeAgent]) -> None:
        agents = list(agents)
        if not agents:
            raise ValueError("a ChatRoom needs at least one agent")
        if len({id(a) for a in agents}) != len(agents):
            raise ValueError("an agent can be in a ChatRoom only once")
        self.agents = agents
        self._outgoing: asyncio.Queue[Any] | None = None
        self._relays: list[asyncio.Task[None]] = []

    async def start(self, outgoing_queue: asyncio.Queue[Any]) -> None:
        """Start every agent (all or none: one failing stops those started, and raises)."""
        if self._outgoing is not None:
            raise RealtimeSessionError("the ChatRoom was started already")
        self._outgoing = outgoing_queue
        started: list[RealtimeAgent] = []
        try:
            for agent in self.agents:
                inbox: asyncio.Queue[Any] = asyncio.Queue()
                await agent.start(inbox)
                started.append(agent)
                self._relays.append(asyncio.create_task(self._relay(agent, inbox)))
        except BaseException:
            await asyncio.gather(*(a.stop() for a in started), return_exceptions=True)
            for relay in self._relays:
                relay.cancel()
            self._relays.clear()
            self._outgoing = None
            raise

    async def handle_input(self, event: Any) -> None:
        """A client event, for every agent."""
        await asyncio.gather(*(agent.handle_input(event) for agent in self.agents))

    async def stop(self) -> None:
        """Stop every agent; their ``AgentEndedEvent``s reach the queue before this returns."""
        await asyncio.gather(*(agent.stop() for agent in self.agents), return_exceptions=True)
        relays, self._relays = self._relays, []
        if relays:
            _, pending = await asyncio.wait(relays, timeout=5)
            for relay in pending:
                relay.cancel()

    async def _relay(self, agent: RealtimeAgent, inbox: asyncio.Queue[Any]) -> None:
        others = [a for a in self.agents if a is not agent]
        while True:
            event = await inbox.get()
            assert self._outgoing is not None
            self._outgoing.put_nowait(event)
            if isinstance(event, ServerEvents.AgentEndedEvent):
                return
            for other in others:
                await other.handle_input(event)
