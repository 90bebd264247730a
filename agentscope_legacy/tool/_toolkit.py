"""``Tool`` and ``Toolkit``: Python functions a model may call, run safely.

Whatever goes wrong in a call (an unknown tool name, arguments that are not a JSON object or do
not fit the signature, a function that raises, returns something that is not JSON or hangs past
its timeout) becomes the call's result text, ``"Error: ..."``, for the model to read and
correct: a tool call never raises into the agent.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ._schema import function_schema

#: Seconds a tool may run before its call is answered with a timeout error.
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Tool:
    """A tool's schema and, for a local tool, the function that runs it.

    A tool given as a schema dict alone is run elsewhere (a realtime agent's frontend sends
    its result back as a ``client_tool_result``).
    """

    schema: dict[str, Any]
    func: Callable[..., Any] | None = None
    timeout: float | None = DEFAULT_TIMEOUT

    @property
    def name(self) -> str:
        return self.schema["function"]["name"]

    @classmethod
    def of(
        cls, tool: Callable[..., Any] | dict[str, Any], timeout: float | None = DEFAULT_TIMEOUT
    ) -> Tool:
        """A tool from a function (its schema derived) or an OpenAI-format schema dict."""
        if isinstance(tool, Tool):
            return tool
        if isinstance(tool, dict):
            if not isinstance(tool.get("function", {}).get("name"), str):
                raise ValueError("a tool schema needs function.name (OpenAI chat format)")
            return cls(tool, timeout=timeout)
        if not callable(tool):
            raise TypeError(f"a tool is a function or a schema dict, not {type(tool).__name__}")
        return cls(function_schema(tool), tool, timeout)

    async def run(self, arguments: dict[str, Any]) -> str:
        """Run the function; its result as text (JSON for non-strings), an error as text."""
        if self.func is None:
            return f"Error: tool '{self.name}' has no local function to run"
        try:
            inspect.signature(self.func).bind(**arguments)
        except TypeError as exc:
            return f"Error: invalid arguments for '{self.name}': {exc}"
        try:
            result = await asyncio.wait_for(self._call(arguments), self.timeout)
        except asyncio.TimeoutError:
            # A thread cannot be stopped: a blocking function runs on, its result unused.
            return f"Error: tool '{self.name}' did not finish within {self.timeout:g} s"
        except Exception as exc:  # the model is told, and may try again
            return f"Error: {type(exc).__name__}: {exc}"
        return result_text(self.name, result)

    async def _call(self, arguments: dict[str, Any]) -> Any:
        if inspect.iscoroutinefunction(self.func):
            return await self.func(**arguments)
        # Not on the event loop (it would stall it), nor in the loop's default executor, which
        # asyncio.run() waits for on exit: a tool hung past its timeout would hang reply().
        return await _in_daemon_thread(self.name, self.func, arguments)


def _in_daemon_thread(
    name: str, func: Callable[..., Any], arguments: dict[str, Any]
) -> asyncio.Future[Any]:
    """``func(**arguments)`` in its own daemon thread (with this context), as a future."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():  # timed out (cancelled) meanwhile
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def target() -> None:
        result, error = None, None
        try:
            result = context.run(func, **arguments)
        except BaseException as exc:  # handed to the awaiting task
            error = exc
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:  # the loop is closed: nobody waits for this result any more
            pass

    threading.Thread(target=target, name=f"tool-{name}", daemon=True).start()
    return future


def result_text(name: str, result: Any) -> str:
    """A tool's return value as the text the model reads: a string as it is, else JSON."""
    if isinstance(result, str):
        return result
    try:
        return json.dumps(result, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return f"Error: tool '{name}' returned a {type(result).__name__}, which is not JSON"


class Toolkit:
    """The tools an agent offers its model, by name; runs the model's tool calls.

    ::

        toolkit = Toolkit()
        toolkit.register_tool_function(get_weather)   # type hints + docstring -> schema
        await model(messages, tools=toolkit.get_json_schemas())
    """

    def __init__(
        self, tools: Iterable[Callable[..., Any]] = (), timeout: float | None = DEFAULT_TIMEOUT
    ) -> None:
        self.timeout = timeout
        self.tools: dict[str, Tool] = {}
        for func in tools:
            self.register_tool_function(func)

    def register_tool_function(
        self, func: Callable[..., Any], timeout: float | None = None
    ) -> Tool:
        """Offer ``func`` (named by ``__name__``); ``timeout`` overrides the toolkit's."""
        tool = Tool.of(func, self.timeout if timeout is None else timeout)
        if tool.func is None:
            raise TypeError("a Toolkit runs its tools: register a function, not a schema")
        if tool.name in self.tools:
            raise ValueError(f"a tool named '{tool.name}' is already registered")
        self.tools[tool.name] = tool
        return tool

    def remove_tool_function(self, name: str) -> None:
        self.tools.pop(name, None)

    def get_json_schemas(self) -> list[dict[str, Any]]:
        """The tools' schemas, in OpenAI's chat format (what ``tools=`` takes)."""
        return [tool.schema for tool in self.tools.values()]

    def __len__(self) -> int:
        return len(self.tools)

    def __contains__(self, name: object) -> bool:
        return name in self.tools

    async def call(self, tool_use: dict[str, Any]) -> dict[str, Any]:
        """Run one ``tool_use`` block; the ``tool_result`` block answering it."""
        name = tool_use.get("name") or ""
        tool = self.tools.get(name)
        if tool is None:
            known = ", ".join(self.tools) or "none"
            output = f"Error: there is no tool named '{name}' (the tools are: {known})"
        elif tool_use.get("raw_input") or not isinstance(tool_use.get("input", {}), dict):
            raw = tool_use.get("raw_input", tool_use.get("input"))
            output = f"Error: the arguments of '{name}' are not a JSON object: {raw!s:.200}"
        else:
            output = await tool.run(dict(tool_use.get("input") or {}))
        return {
            "type": "tool_result",
            "id": tool_use.get("id") or "",
            "name": name,
            "output": [{"type": "text", "text": output}],
        }

    async def call_all(self, tool_uses: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run the calls of one reply concurrently; results in the calls' order."""
        return list(await asyncio.gather(*(self.call(block) for block in tool_uses)))

    def __repr__(self) -> str:
        return f"Toolkit({', '.join(self.tools)})"
