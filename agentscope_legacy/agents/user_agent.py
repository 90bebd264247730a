"""``UserAgent``: a person at the terminal, a script of inputs, or lines piped into stdin."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..errors import AgentScopeError
from ..message import Msg
from .agent_base import AgentBase


class UserInputError(AgentScopeError, RuntimeError):
    """A UserAgent needs input that nobody can give (no script left, no terminal)."""


class UserInputEnded(SystemExit):
    """Piped input ended: the run stops cleanly (exit status 0), as a shell does at Ctrl-D.

    A ``SystemExit`` so that a plain ``python script.py`` ends without a traceback; catch it
    to carry on after the user left.
    """

    def __init__(self, message: str) -> None:
        super().__init__(0)
        self.message = message


class UserAgent(AgentBase):
    """Takes the user's turn: a line typed at the terminal, or, when nobody is at one, the next
    of its scripted ``inputs``, or (with no script) the next line piped into stdin, as 0.x's
    ``input()`` read it (``printf 'hi\nexit\n' | python script.py``).

    ``interactive=None`` means "stdin is a terminal". A run that is not interactive never
    waits for a person: once the script is used up it raises :class:`UserInputError` instead
    of hanging; at the end of piped input it prints why and raises :class:`UserInputEnded`; a
    closed or absent stdin is a :class:`UserInputError`. ``interactive=False`` never reads
    stdin. ``input_fn(hint) -> str`` replaces all of them (tests, GUIs).
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
        if not self.inputs and self.interactive is None:
            return self._read_piped()
        raise UserInputError(
            f"UserAgent '{self.name}' needs input, but this run is not interactive (stdin is "
            f"not a terminal) and its {len(self.inputs)} scripted input(s) are used up; add "
            "more `inputs:` to the agent or run in a terminal"
        )

    def _read_piped(self) -> str:
        """The next line of a non-terminal stdin, without its line ending."""
        stdin = sys.stdin
        if stdin is None or getattr(stdin, "closed", False):
            raise UserInputError(
                f"UserAgent '{self.name}' needs input, but stdin is closed or absent; pipe the "
                "input in, run in a terminal, or give the agent `inputs`"
            )
        try:
            line = stdin.readline()
        except (OSError, ValueError) as exc:  # e.g. a stdin that refuses reads
            raise UserInputError(
                f"UserAgent '{self.name}' needs input, but stdin cannot be read ({exc}); pipe "
                "the input in, run in a terminal, or give the agent `inputs`"
            ) from None
        if not line:
            message = f"UserAgent '{self.name}': end of input (stdin closed); stopping the run"
            sys.stderr.write(message + "\n")
            raise UserInputEnded(message)
        return line.rstrip("\r\n")


def _interactive() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError, OSError):  # closed or replaced stdin
        return False
