"""``ModelResponse``: what every wrapper returns, streamed or not.

A streamed response is fed by the provider's iterator of :class:`Delta` objects. The response
owns everything else: accumulating text, reasoning and tool calls, usage, and finalising the
call exactly once (usage row, invocation record) when the stream ends, fails or is closed.

Rules for ``stream`` (documented contract, tested):

* it yields accumulative ``(last, text_so_far)`` tuples; the final item is ``(True, full_text)``;
  a one-chunk reply yields exactly ``(True, text)``; a reply with no text (tool calls only)
  yields ``(True, "")``;
* every access to ``stream`` is a new iterator over the *same* reply: the source is pulled once
  and buffered, so iterating again **replays** the whole sequence;
* closing an iterator before its end (``break``) cancels the reply: the connection is released,
  the call is finalised with the text received so far and ``finish_reason == "cancelled"``;
* ``text`` drains whatever has not been consumed yet and returns the full text;
* ``deltas`` yields the plain text pieces, for callers that do not want accumulated text.

One file over ~400 lines on purpose: ``ModelResponse`` alone is most of it, one state
machine (buffering, replay, cancellation, finalising once) whose invariants would be spread
over modules by a split.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import ProviderError


@dataclass
class Usage:
    """Tokens and timing of one call."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency: float = 0.0  # seconds from request to the last byte
    time_to_first_token: float | None = None  # streamed calls only
    #: True when the provider reported no usage for a stream: completion_tokens is then the
    #: number of text chunks received (servers send about one token per chunk).
    estimated: bool = False
    #: Prompt tokens read from / written to the provider's prompt cache (Anthropic); they
    #: are part of ``prompt_tokens`` too.
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    # Names used by the newer AgentScope model layer.
    @property
    def input_tokens(self) -> int:
        return self.prompt_tokens

    @property
    def output_tokens(self) -> int:
        return self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "latency": round(self.latency, 6),
            "time_to_first_token": None
            if self.time_to_first_token is None
            else round(self.time_to_first_token, 6),
            "estimated": self.estimated,
            **(
                {
                    "cache_read_tokens": self.cache_read_tokens,
                    "cache_creation_tokens": self.cache_creation_tokens,
                }
                if self.cache_read_tokens or self.cache_creation_tokens
                else {}
            ),
        }


class Delta:
    """One increment of a streamed reply, as a provider module yields it.

    ``tool_call`` is a fragment ``{"index": int, "id"?: str, "name"?: str, "arguments"?: str}``
    (argument fragments are concatenated by index) or a whole call with ``"input": dict``.
    ``usage`` is ``(prompt_tokens, completion_tokens)`` when the chunk carries running totals,
    optionally followed by ``(cache_read_tokens, cache_creation_tokens)``.
    """

    __slots__ = ("text", "reasoning", "tool_calls", "usage", "finish_reason", "request_id")

    def __init__(
        self,
        text: str = "",
        reasoning: str = "",
        tool_calls: list[dict[str, Any]] | None = None,
        usage: tuple[int, ...] | None = None,
        finish_reason: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.text = text
        self.reasoning = reasoning
        self.tool_calls = tool_calls
        self.usage = usage
        self.finish_reason = finish_reason
        self.request_id = request_id

    def __repr__(self) -> str:
        fields = (f"{k}={getattr(self, k)!r}" for k in self.__slots__ if getattr(self, k))
        return f"Delta({', '.join(fields)})"


@dataclass
class _ToolCallBuffer:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)
    input: dict[str, Any] | None = None


def tool_call_block(call_id: str, name: str, arguments: str | dict[str, Any] | None) -> dict:
    """A ``tool_use`` block; string arguments are parsed as JSON.

    Arguments that are not valid JSON are kept verbatim under ``raw_input`` with an empty
    ``input``, so a sloppy model reply is never lost.
    """
    block: dict[str, Any] = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
    if isinstance(arguments, dict):
        block["input"] = arguments
    elif arguments:
        try:
            parsed = json.loads(arguments)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            block["input"] = parsed
        else:
            block["raw_input"] = arguments
    return block


FinishHook = Callable[["ModelResponse", "BaseException | None"], None]
#: ``(text, reasoning, tool_calls)`` of a reply so far.
Snapshot = tuple[str, str, list[dict[str, Any]]]


def sdk_dict(obj: Any) -> Any:
    """An SDK reply object as the plain dict 0.x put in ``raw`` (pydantic ``model_dump``);
    anything else unchanged."""
    dump = getattr(obj, "model_dump", None)
    return dump() if callable(dump) else obj


class ModelResponse:
    """The result of calling a model wrapper."""

    def __init__(
        self,
        text: str | None = None,
        embedding: list[list[float]] | None = None,
        image_urls: list[str] | None = None,
        raw: Any = None,
        parsed: Any = None,
        stream: Iterator[Delta] | None = None,
        astream: AsyncIterator[Delta] | None = None,
        tool_calls: list[dict[str, Any]] | None = None,
        usage: Usage | None = None,
        reasoning: str | None = None,
        finish_reason: str | None = None,
        on_finish: FinishHook | None = None,
        started_at: float | None = None,
    ) -> None:
        self.embedding = embedding
        self.image_urls = image_urls
        self.raw = raw
        self.parsed = parsed
        self.tool_calls = tool_calls
        self.usage = usage
        self.reasoning = reasoning
        self.finish_reason = finish_reason
        self.request_id: str | None = None
        #: The provider SDK's typed reply object where ``raw`` holds its dict dump (0.x's shape).
        self.sdk_response: Any = None
        #: Answered from a recorded run (``agentscope_legacy.replay``), not by the model.
        self.replayed = False
        self.error: BaseException | None = None
        self._text = text
        self._source: Any = stream if stream is not None else astream
        self._async = astream is not None
        self._alock: asyncio.Lock | None = None
        self._on_finish = on_finish
        self._pieces: list[str] = []
        self._reasoning_pieces: list[str] = []
        self._calls: dict[int, _ToolCallBuffer] = {}
        self._done = self._source is None
        self._lock = threading.RLock()
        self._started = time.perf_counter() if started_at is None else started_at
        self._first_text_at: float | None = None

    # -- public views -----------------------------------------------------------------------
    @property
    def is_stream(self) -> bool:
        return self._source is not None or bool(self._pieces)

    @property
    def is_stream_exhausted(self) -> bool:
        """True once a streamed reply has ended (completed, failed or cancelled)."""
        return self.is_stream and self._done

    @property
    def text(self) -> str | None:
        """The full text; drains a pending stream first (async replies: ``await get_text()``)."""
        if self._text is None and self.is_stream:
            if self._async and not self._done:
                raise RuntimeError("read an async streamed reply with `await response.get_text()`")
            self._drain()
            self._text = "".join(self._pieces)
        return self._text

    @text.setter
    def text(self, value: str | None) -> None:
        self._text = value

    @property
    def stream(self) -> Iterator[tuple[bool, str]] | None:
        """Accumulative ``(last, text_so_far)`` tuples; ``None`` for a non-streamed reply."""
        if not self.is_stream:
            return None
        self._require_sync()
        return self._accumulate()

    @property
    def deltas(self) -> Iterator[str] | None:
        """The text pieces as they arrive (no accumulation); ``None`` if not streamed."""
        if not self.is_stream:
            return None
        self._require_sync()
        return self._iter_pieces()

    def _require_sync(self) -> None:
        if self._async and not self._done:
            raise RuntimeError(
                "this reply came from acall(): iterate `response.astream` or `response.adeltas`"
            )

    # -- iteration machinery ----------------------------------------------------------------
    def _iter_pieces(self) -> Iterator[str]:
        i = 0
        completed = False
        try:
            while True:
                if i < len(self._pieces):
                    yield self._pieces[i]
                    i += 1
                elif not self._pull():
                    completed = True
                    return
        finally:
            if not completed:
                self.close()

    def _accumulate(self) -> Iterator[tuple[bool, str]]:
        # One piece is held back so the final item can be flagged last=True.
        pieces = self._iter_pieces()
        held = False
        text = ""
        try:
            for piece in pieces:
                if held:
                    yield False, text
                text += piece
                held = True
        finally:
            pieces.close()
        yield True, text

    def _pull(self) -> bool:
        """Consume source deltas until one adds text; False when the source has ended."""
        n = len(self._pieces)
        while len(self._pieces) == n:
            if not self._pull_delta(False):
                return len(self._pieces) > n
        return True

    def _drain(self) -> None:
        while self._pull():
            pass

    def _apply(self, delta: Delta) -> bool:
        """Fold one delta into the reply; True when it changed text, reasoning or tool calls."""
        changed = bool(delta.text or delta.reasoning or delta.tool_calls)
        if delta.text:
            if not self._pieces:
                self._first_text_at = time.perf_counter()
            self._pieces.append(delta.text)
        if delta.reasoning:
            self._reasoning_pieces.append(delta.reasoning)
        if delta.tool_calls:
            for fragment in delta.tool_calls:
                buf = self._calls.setdefault(
                    fragment.get("index", len(self._calls)), _ToolCallBuffer()
                )
                buf.id = fragment.get("id") or buf.id
                buf.name = fragment.get("name") or buf.name
                if fragment.get("arguments"):
                    buf.arguments.append(fragment["arguments"])
                if fragment.get("input") is not None:
                    buf.input = fragment["input"]
        if delta.usage is not None:
            if self.usage is None:
                self.usage = Usage()
            self.usage.prompt_tokens, self.usage.completion_tokens = delta.usage[:2]
            if len(delta.usage) == 4:
                self.usage.cache_read_tokens, self.usage.cache_creation_tokens = delta.usage[2:]
        if delta.finish_reason:
            self.finish_reason = delta.finish_reason
        if delta.request_id:
            self.request_id = delta.request_id
        return changed

    def _finish(self, error: BaseException | None) -> None:
        """Assemble the final fields and run the finish hook, exactly once."""
        if self._done:
            return
        self._done = True
        self.error = error
        if self._reasoning_pieces:
            self.reasoning = "".join(self._reasoning_pieces)
        if self._calls:
            self.tool_calls = [
                tool_call_block(
                    b.id, b.name, b.input if b.input is not None else "".join(b.arguments)
                )
                for _, b in sorted(self._calls.items())
            ]
        if self.usage is None:
            self.usage = Usage(completion_tokens=len(self._pieces), estimated=True)
        self.usage.latency = time.perf_counter() - self._started
        if self._first_text_at is not None:
            self.usage.time_to_first_token = self._first_text_at - self._started
        source, self._source = self._source, _ExhaustedSource()
        close = getattr(source, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # closing a broken stream must not mask the real outcome
                pass
        if self._on_finish is not None:
            self._on_finish(self, error)

    # -- async views (replies from ``acall``) -------------------------------------------------
    @property
    def astream(self) -> AsyncIterator[tuple[bool, str]]:
        """Async accumulative ``(last, text_so_far)`` tuples, with the rules of ``stream``."""
        return self._aaccumulate()

    @property
    def adeltas(self) -> AsyncIterator[str]:
        """Async text pieces as they arrive."""
        return self._aiter_pieces()

    async def get_text(self) -> str | None:
        """The full text of an async (or any) reply, draining what is left of the stream."""
        if self._text is None and self.is_stream:
            while await self._apull_delta():
                pass
            self._text = "".join(self._pieces)
        return self._text

    async def aupdates(self) -> AsyncIterator[tuple[bool, Snapshot]]:
        """Accumulative ``(last, (text, reasoning, tool_calls))`` after every change.

        For consumers that rebuild a view of everything as it grows (the ChatModel layer). One
        snapshot is held back so the final one is flagged ``last=True`` exactly once; a reply
        that never changed yields one empty final snapshot.
        """
        held: Snapshot | None = None
        try:
            while await self._apull_delta(changes_only=True):
                if held is not None:
                    yield False, held
                held = self.snapshot()
        except GeneratorExit:
            await self.aclose()
            raise
        yield True, self.snapshot()

    async def _aiter_pieces(self) -> AsyncIterator[str]:
        i = 0
        completed = False
        try:
            while True:
                if i < len(self._pieces):
                    yield self._pieces[i]
                    i += 1
                elif not await self._apull():
                    completed = True
                    return
        finally:
            if not completed:
                await self.aclose()

    async def _aaccumulate(self) -> AsyncIterator[tuple[bool, str]]:
        pieces = self._aiter_pieces()
        held = False
        text = ""
        try:
            async for piece in pieces:
                if held:
                    yield False, text
                text += piece
                held = True
        finally:
            await pieces.aclose()
        yield True, text

    async def _apull(self) -> bool:
        """Consume deltas until one adds text; False when the source has ended."""
        n = len(self._pieces)
        while len(self._pieces) == n:
            if not await self._apull_delta():
                return len(self._pieces) > n
        return True

    async def _apull_delta(self, changes_only: bool = False) -> bool:
        """Consume one delta (with ``changes_only``: one that changes the reply); False at end."""
        if not self._async:
            return await asyncio.to_thread(self._pull_delta, changes_only)
        if self._alock is None:
            self._alock = asyncio.Lock()
        async with self._alock:
            if self._done:
                if self.error is not None:
                    raise self.error
                return False
            try:
                while True:
                    delta = await self._source.__anext__()
                    if self._apply(delta) or not changes_only:
                        return True
            except StopAsyncIteration:
                await self._aclose_source()
                self._finish(None)
                return False
            except BaseException as exc:
                if isinstance(exc, ProviderError):
                    exc.partial_text = "".join(self._pieces)
                await self._aclose_source()
                self._finish(exc)
                raise

    def _pull_delta(self, changes_only: bool) -> bool:
        with self._lock:
            if self._done:
                if self.error is not None:
                    raise self.error
                return False
            try:
                while True:
                    if self._apply(next(self._source)) or not changes_only:
                        return True
            except StopIteration:
                self._finish(None)
                return False
            except BaseException as exc:
                if isinstance(exc, ProviderError):
                    exc.partial_text = "".join(self._pieces)
                self._finish(exc)
                raise

    async def _aclose_source(self) -> None:
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except Exception:  # closing a broken stream must not mask the real outcome
                pass

    async def aclose(self) -> None:
        """Async :meth:`close`: stop the stream, release the connection, finalise once."""
        if not self._done:
            self.finish_reason = self.finish_reason or "cancelled"
            if self._async:
                await self._aclose_source()
            self._finish(None)

    def snapshot(self) -> Snapshot:
        """``(text, reasoning, tool_calls)`` received so far; tool inputs parsed when complete."""
        calls = [
            tool_call_block(b.id, b.name, b.input if b.input is not None else "".join(b.arguments))
            for _, b in sorted(self._calls.items())
        ]
        return "".join(self._pieces), "".join(self._reasoning_pieces), calls

    def close(self) -> None:
        """Stop a stream early: release the connection and finalise with the text so far."""
        with self._lock:
            if not self._done:
                self.finish_reason = self.finish_reason or "cancelled"
                self._finish(None)

    def __del__(self) -> None:  # a stream nobody consumed still gets its call recorded
        try:
            if not self._done:
                self.close()
        except Exception:
            pass

    # -- 0.x compatibility ------------------------------------------------------------------
    def __str__(self) -> str:
        raw = self.raw
        try:
            json.dumps(raw)
        except (TypeError, ValueError):
            raw = str(raw)
        return json.dumps(
            {
                "text": self.text,
                "embedding": self.embedding,
                "image_urls": self.image_urls,
                "parsed": self.parsed,
                "raw": raw,
            },
            indent=4,
            ensure_ascii=False,
        )

    def __repr__(self) -> str:
        state = "streaming" if self.is_stream and not self._done else "done"
        return f"<ModelResponse {state} text={self._text if self._done else None!r:.60}>"


class _ExhaustedSource:
    def __next__(self) -> Delta:
        raise StopIteration

    def __iter__(self) -> _ExhaustedSource:
        return self
