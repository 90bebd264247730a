"""``UserAgent``: a person at the terminal, or a script of inputs when nobody is there."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..errors import AgentScopeError
from ..message import Msg
from .agent_base import AgentBase


class UserInputError(AgentScopeError, RuntimeError):
    """A UserAgent needs input that nobody can give (no script left, no terminal)."""


class UserAgent(AgentBase):
    """Takes the user's turn: a line typed at the terminal, or, when nobody is at one, the next
    of its scripted ``inputs``.

    ``interactive=None`` means "stdin is a terminal". A run that is not interactive never
    waits for a person: once the script is used up it raises :class:`UserInputError` instead
    of hanging. ``input_fn(hint) -> str`` replaces both (tests, GUIs).
    """

    def __init__(
        self,
        name: str = "User",
        input_hint: str = "User Input: ",
        inputs: Iterable[str] | None = None,
        input_fn: Callable[[str], str] | None = None,
        use_memory: bool = True,
        interactive: bool | None = None,
    ) -> None:
        super().__init__(name, use_memory=use_memory)
        self.input_hint = input_hint
        self.inputs = list(inputs or [])
        self.input_fn = input_fn
        self.interactive = interactive
        self._used = 0

    def reply(self, x: Msg | Sequence[Msg] | None = None, **kwargs: Any) -> Msg:
        self._remember(x)
        msg = Msg(self.name, self._next_input(), "user")
        self.speak(msg)
        self._remember(msg)
        return msg

    def _next_input(self) -> str:
        if self.input_fn is not None:
            return self.input_fn(self.input_hint)
        from .._runtime import get_runtime

        studio = get_runtime().user_input  # init(studio_url=...): the Studio's page answers
        if studio is not None:
            return studio(self, self.input_hint)
        if self.interactive if self.interactive is not None else _interactive():
            # The hint goes to stderr: stdout carries the conversation and may be redirected.
            sys.stderr.write(self.input_hint)
            sys.stderr.flush()
            try:
                return input()
            except EOFError:
                raise UserInputError(f"UserAgent '{self.name}': input ended (EOF)") from None
        if self._used < len(self.inputs):
            self._used += 1
            return str(self.inputs[self._used - 1])
        raise UserInputError(
            f"UserAgent '{self.name}' needs input, but this run is not interactive (stdin is "
            f"not a terminal) and its {len(self.inputs)} scripted input(s) are used up; add "
            "more `inputs:` to the agent or run in a terminal"
        )


def _interactive() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError, OSError):  # closed or replaced stdin
        return False
