"""``ChatModelWrapper``: a chat model of the newer layer behind the legacy wrapper interface.

A custom provider subclasses :class:`~agentscope_legacy.model.ChatModelBase` and implements
only ``_generate`` (an async generator of ChatResponses). Everything else in the package talks
to legacy wrappers (agents call ``model.format(...)`` and ``model(prompt)``, the monitor records
usage per wrapper, budgets are checked by the wrapper's template), so such a model gets this
wrapper as its ``wrapper``: its calls then go through the same template as every provider's
(budgets, deadlines, usage records, invocation logs) and it works wherever a model does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import threading
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import ProviderError, ResponseFormatError
from ..models._base import Deadline, ModelWrapperBase, current_deadline
from ..models._format import common_chat_messages, common_multi_agent_messages, flatten_msgs
from ..models.response import Delta, ModelResponse, Usage, tool_call_block

if TYPE_CHECKING:
    from ._base import ChatModelBase
    from ._response import ChatResponse


class ChatModelWrapper(ModelWrapperBase):
    """The legacy wrapper of one ChatModel: requests are ``{"messages", **kwargs}`` handed to
    the model's ``_generate``; its accumulative ChatResponses become deltas.

    ``format()`` gives OpenAI-shaped ``{"role", "content"}`` messages, by the 0.x rules of
    the OpenAI-shaped wrappers (the shape of ``ChatModelBase``'s messages when no formatter
    says otherwise). The model may set
    ``provider`` (a str) to name itself in usage rows and errors.

    The sync calls (agents are synchronous) run the model on one private event loop thread per
    wrapper, so an async client the model keeps stays on one loop across calls.
    """

    model_type = "chat_model"
    can_stream = True

    def __init__(self, model: ChatModelBase, config_name: str | None = None) -> None:
        name = getattr(model, "model_name", None) or type(model).__name__
        super().__init__(config_name or f"{type(model).__name__}:{name}", name)
        self.model = model
        self.stream = bool(getattr(model, "stream", False))
        self.provider = str(getattr(model, "provider", None) or "custom")  # type: ignore[misc]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_lock = threading.Lock()

    def format(self, *args: Any, multi_agent_mode: bool | None = True) -> list[dict[str, Any]]:
        msgs = flatten_msgs(*args)  # as the OpenAI-shaped wrappers do
        if multi_agent_mode is False:
            return common_chat_messages(msgs)
        return common_multi_agent_messages(msgs)

    def _build_request(
        self, messages: list[dict[str, Any]], *, stream: bool, **kwargs: Any
    ) -> dict[str, Any]:
        if not isinstance(messages, list):
            raise TypeError(f"messages must be a list, got {type(messages).__name__}")
        return {"model": self.model_name, "messages": messages, "stream": stream, **kwargs}

    # -- async: the model's own loop ---------------------------------------------------------
    async def _acall(self, request: dict[str, Any]) -> ModelResponse:
        last: ChatResponse | None = None
        async for chunk in self._generate(request):
            last = chunk  # accumulative: the last chunk is the whole reply
        if last is None:
            return ModelResponse(text="")
        text, reasoning, calls = _parts(last)
        return ModelResponse(
            text=text,
            raw=last,
            reasoning=reasoning or None,
            tool_calls=calls or None,
            usage=_usage(last),
        )

    async def _aopen_stream(self, request: dict[str, Any]) -> AsyncIterator[ChatResponse]:
        return self._generate(request)

    async def _aiter_deltas(self, sdk_stream: Any) -> AsyncIterator[Delta]:
        state = _DeltaState()
        try:
            async for chunk in sdk_stream:
                delta = state.delta(chunk)
                if delta is not None:
                    yield delta
        finally:
            close = getattr(sdk_stream, "aclose", None)  # an async generator; any async
            if close is not None:  # iterator will do
                await close()

    def _translate_error(self, exc: Exception) -> ProviderError | None:
        # A model may map its SDK's exceptions (``_translate_error``, as wrappers do); typed
        # errors it raises itself (RateLimitError...) are retried like any provider's.
        translate = getattr(self.model, "_translate_error", None)
        return translate(exc) if translate is not None else None

    def _generate(self, request: dict[str, Any]) -> AsyncIterator[ChatResponse]:
        kwargs = {k: v for k, v in request.items() if k not in ("model", "messages", "stream")}
        return self.model._generate(request["messages"], **kwargs)

    # -- sync: the same coroutines on the wrapper's private loop -----------------------------
    def _call(self, request: dict[str, Any]) -> ModelResponse:
        return self._run(self._acall(request), current_deadline())

    def _open_stream(self, request: dict[str, Any]) -> Any:
        # The call's deadline is only in context now: kept for every later read.
        return self._aiter_deltas(self._generate(request)), current_deadline()

    def _iter_deltas(self, sdk_stream: Any) -> Iterator[Delta]:
        deltas, deadline = sdk_stream
        try:
            while True:
                try:
                    yield self._run(deltas.__anext__(), deadline)
                except StopAsyncIteration:
                    return
        finally:
            try:
                self._run(deltas.aclose(), None)
            except RuntimeError:  # still unwinding a read cancelled at the deadline
                pass

    def _run(self, coro: Any, deadline: Deadline | None) -> Any:
        """Run ``coro`` on the private loop; past the deadline it is cancelled (a model that
        stalls cannot hang a synchronous caller)."""
        future = asyncio.run_coroutine_threadsafe(coro, self._private_loop())
        left = math.inf if deadline is None else max(deadline.remaining(), 0.0)
        try:
            return future.result(None if math.isinf(left) else left)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise deadline.error() from None  # type: ignore[union-attr]

    def _private_loop(self) -> asyncio.AbstractEventLoop:
        with self._loop_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(
                    target=loop.run_forever, name=f"{self.config_name} loop", daemon=True
                ).start()
                self._loop = loop
            return self._loop


class _DeltaState:
    """The reply so far, to turn accumulative ChatResponses into deltas."""

    def __init__(self) -> None:
        self.text = self.reasoning = ""
        self.calls: list[dict[str, Any]] = []

    def delta(self, chunk: ChatResponse) -> Delta | None:
        text, reasoning, calls = _parts(chunk)
        for old, new, what in ((self.text, text, "text"), (self.reasoning, reasoning, "thinking")):
            if not new.startswith(old):
                # A chunk holds the whole reply so far: one that drops text is a model bug.
                raise ResponseFormatError(
                    f"a streamed ChatResponse's {what} does not extend the previous chunk's "
                    "(chunks must be accumulative)"
                )
        changed = [
            {"index": i, "id": c["id"], "name": c["name"], "input": c["input"]}
            for i, c in enumerate(calls)
            if i >= len(self.calls) or c != self.calls[i]
        ]
        usage = _usage(chunk)
        delta = Delta(
            text=text[len(self.text) :],
            reasoning=reasoning[len(self.reasoning) :],
            tool_calls=changed or None,
            usage=(usage.prompt_tokens, usage.completion_tokens) if usage else None,
        )
        self.text, self.reasoning, self.calls = text, reasoning, calls
        if not (delta.text or delta.reasoning or delta.tool_calls or delta.usage):
            return None
        return delta


def _parts(chunk: Any) -> tuple[str, str, list[dict[str, Any]]]:
    """``(text, reasoning, tool calls)`` of a ChatResponse's content blocks."""
    if not hasattr(chunk, "content"):
        raise ResponseFormatError(
            f"a chat model's _generate must yield ChatResponses, got {type(chunk).__name__}"
        )
    text, reasoning, calls = [], [], []
    for block in chunk.content or []:
        kind = block.get("type")
        if kind == "text":
            text.append(block.get("text") or "")
        elif kind == "thinking":
            reasoning.append(block.get("thinking") or "")
        elif kind == "tool_use":
            call = tool_call_block(
                block.get("id") or "", block.get("name") or "", block.get("input") or {}
            )
            calls.append(call)
    return "".join(text), "".join(reasoning), calls


def _usage(chunk: Any) -> Usage | None:
    usage = getattr(chunk, "usage", None)
    if usage is None:
        return None
    return Usage(prompt_tokens=usage.input_tokens, completion_tokens=usage.output_tokens)
