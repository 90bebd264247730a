"""What a running experiment shares between its steps: the agents, the transcript, the
progress line, the variables in scope and the open msghubs."""

from __future__ import annotations

import sys
from collections import ChainMap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .._secrets import scrub
from ..logging import log_msg
from ..message import Msg
from ..monitor import open_jsonl
from .document import render

if TYPE_CHECKING:
    from ..agents import AgentBase
    from ..msghub import MsgHubManager


class Transcript:
    """Every message of the run, in order: kept in memory and appended to a JSON-lines file,
    flushed per message so that a crash or Ctrl-C leaves every finished message on disk."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.messages: list[Msg] = []
        self._file: IO[str] | None = open_jsonl(path) if path else None

    def write(self, msg: Msg) -> None:
        self.messages.append(msg)
        if self._file is not None:
            self._file.write(scrub(msg.to_json()) + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class Progress:
    """The ``[step 2/4 · round 3/5] judge`` line on stderr before each agent speaks."""

    def __init__(self, enabled: bool = True, stream: IO[str] | None = None) -> None:
        self.enabled = enabled
        self.stream = stream
        self.labels: list[str] = []

    @contextmanager
    def level(self, label: str, index: int, total: int | None) -> Iterator[None]:
        self.labels.append(f"{label} {index}/{total}" if total else f"{label} {index}")
        try:
            yield
        finally:
            self.labels.pop()

    def show(self, who: str) -> None:
        if not self.enabled:
            return
        out = self.stream or sys.stderr
        line = f"[{' · '.join(self.labels)}] {who}" if self.labels else f"[{who}]"
        if _isatty(out):
            line = f"\033[2m{line}\033[0m"  # dim: it is a signpost, not part of the dialogue
        out.write(line + "\n")
        out.flush()


class RunContext:
    """Shared state of one run, passed to every step."""

    def __init__(
        self,
        agents: dict[str, AgentBase],
        transcript: Transcript,
        progress: Progress,
        variables: dict[str, Any] | None = None,
    ) -> None:
        self.agents = agents
        self.transcript = transcript
        self.progress = progress
        self.scope: ChainMap[str, Any] = ChainMap(dict(variables or {}))
        self.hubs: list[MsgHubManager] = []

    def record(self, msg: Msg | None) -> None:
        """An agent's reply (already printed by its ``speak``) goes into the transcript."""
        if msg is not None:
            self.transcript.write(msg)

    def say(self, msg: Msg) -> None:
        """A message from the experiment itself: printed, recorded, heard by the open hub."""
        log_msg(msg)
        self.transcript.write(msg)
        if self.hubs:
            self.hubs[-1].broadcast(msg)

    def message(self, spec: dict[str, Any]) -> Msg:
        """A Msg from a ``say``/announcement spec, with ``{{vars}}`` filled in."""
        content, _ = render(spec["content"], self.scope)
        return Msg(spec.get("name", "host"), str(content), spec.get("role", "user"))

    @contextmanager
    def bind(self, name: str, value: Any) -> Iterator[None]:
        self.scope = self.scope.new_child({name: value})
        try:
            yield
        finally:
            self.scope = self.scope.parents


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
