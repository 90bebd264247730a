"""``msghub``: a group of agents that hear each other, as in AgentScope 0.x.

::

    with msghub([alice, bob, carol], announcement=Msg("host", "Debate!", "user")) as hub:
        sequentialpipeline([alice, bob, carol])   # each reply reaches the other two
        hub.broadcast(Msg("host", "Last round.", "user"))

Inside the block every participant's audience is the other participants, so a reply (through
``AgentBase.__call__``) is observed by everyone else. Unlike 0.x, leaving the block restores
the audiences the agents had before instead of clearing them, so hubs nest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .message import Msg

if TYPE_CHECKING:
    from .agents import AgentBase

__all__ = ["MsgHubManager", "msghub"]


class MsgHubManager:
    """The context manager returned by :func:`msghub`."""

    def __init__(
        self,
        participants: Sequence[AgentBase],
        announcement: Msg | Sequence[Msg] | None = None,
        broadcast: bool = True,
    ) -> None:
        self.participants: list[AgentBase] = list(participants)
        self.announcement = announcement
        self.auto_broadcast = broadcast
        self._saved: dict[int, list[AgentBase]] = {}
        self._active = False

    def __enter__(self) -> MsgHubManager:
        for agent in self.participants:
            self._saved.setdefault(id(agent), list(agent._audience))
        self._active = True
        self._reset()
        if self.announcement is not None:
            self.broadcast(self.announcement)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._active = False
        for agent in self.participants:
            agent._audience = self._saved.pop(id(agent), [])

    def add(self, new_participant: AgentBase | Sequence[AgentBase]) -> None:
        """Let more agents join (they hear replies from now on)."""
        from loguru import logger

        for agent in _as_list(new_participant):
            if agent in self.participants:
                logger.warning("msghub: {} is already a participant", agent.name)
                continue
            self.participants.append(agent)
            if self._active:
                self._saved.setdefault(id(agent), list(agent._audience))
        self._reset()

    def delete(self, participant: AgentBase | Sequence[AgentBase]) -> None:
        """Remove agents from the hub (their previous audience comes back)."""
        from loguru import logger

        for agent in _as_list(participant):
            if agent not in self.participants:
                logger.warning("msghub: {} is not a participant", agent.name)
                continue
            self.participants.remove(agent)
            if self._active:
                agent._audience = self._saved.pop(id(agent), [])
        self._reset()

    def broadcast(self, msg: Msg | Sequence[Msg]) -> None:
        """Every participant observes ``msg`` (a Msg or a list of them)."""
        for agent in self.participants:
            agent.observe(msg)

    def _reset(self) -> None:
        if not self._active:
            return
        for agent in self.participants:
            agent.reset_audience(self.participants if self.auto_broadcast else [])


def msghub(
    participants: Sequence[AgentBase],
    announcement: Msg | Sequence[Msg] | None = None,
    broadcast: bool = True,
) -> MsgHubManager:
    """A hub where each participant's reply is observed by all the others.

    ``announcement`` is observed by every participant on entry; ``broadcast=False`` keeps the
    group (for ``hub.broadcast``) without automatic sharing of replies.
    """
    return MsgHubManager(participants, announcement, broadcast)


def _as_list(agents: Any) -> list[Any]:
    return list(agents) if isinstance(agents, (list, tuple)) else [agents]
