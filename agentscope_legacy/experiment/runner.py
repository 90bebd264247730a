"""What a running experiment shares between its steps: the agents, the transcript, the
progress line, the variables in scope and the open msghubs."""

from __future__ import annotations

import shutil
import subprocess
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

    def write(self, msg: Msg, audio: str | None = None) -> None:
        """Record ``msg``; ``audio``, the path of its WAV relative to the transcript, goes in
        the recorded copy's ``url`` (the 0.x attachment), not in the agents' memories."""
        if audio is not None:
            msg = Msg.from_dict({**msg.to_dict(), "url": [*msg.urls, audio]})
        self.messages.append(msg)
        if self._file is not None:
            self._file.write(scrub(msg.to_json()) + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class Player:
    """``--play``: each WAV through the first of aplay, afplay, paplay found on PATH; without
    one it says so once and the run goes on."""

    PLAYERS = ("aplay", "afplay", "paplay")

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream
        self.command = next((c for n in self.PLAYERS if (c := shutil.which(n))), None)
        self._said = False

    def play(self, path: Path) -> None:
        if self.command is None:
            self._note(f"no audio player found ({', '.join(self.PLAYERS)}): not playing")
            return
        try:
            subprocess.run(
                [self.command, str(path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
        except OSError as exc:
            self._note(f"{self.command} failed ({exc}): not playing")

    def _note(self, text: str) -> None:
        if not self._said:
            self._said = True
            print(f"note: --play: {text}; the audio is still saved", file=self.stream or sys.stderr)


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
        player: Player | None = None,
    ) -> None:
        self.agents = agents
        self.player = player
        self.transcript = transcript
        self.progress = progress
        self.scope: ChainMap[str, Any] = ChainMap(dict(variables or {}))
        self.hubs: list[MsgHubManager] = []

    def record(self, msg: Msg | None) -> None:
        """An agent's reply (already printed by its ``speak``) goes into the transcript, with
        its audio when the agent spoke it aloud (then played, with ``--play``)."""
        if msg is None:
            return
        wav = self._audio_of(msg)
        audio = None
        if wav is not None:
            base = self.transcript.path.parent if self.transcript.path else None
            audio = str(wav.relative_to(base)) if base and wav.is_relative_to(base) else str(wav)
        self.transcript.write(msg, audio=audio)
        if wav is not None and self.player is not None:
            self.player.play(wav)

    def _audio_of(self, msg: Msg) -> Path | None:
        agent = self.agents.get(msg.name) if isinstance(msg.name, str) else None
        files = getattr(agent, "audio_files", None)
        return files.get(msg.id) if isinstance(files, dict) else None

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
