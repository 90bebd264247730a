"""A run's recorded calls (``invocations.jsonl``), answering the same calls again.

:class:`Recording` indexes the records by ``(config_name, request key)`` (``_key``); each key
holds its calls in recorded order, so a request asked twice gets the first answer, then the
second. A request the record does not hold raises :class:`ReplayMismatchError` naming the
first difference from the nearest recorded request of that config (``missing="error"``, the
default) or goes to the model (``missing="call"``). Replayed calls are recorded again by the
new run, usage as recorded (tokens, latency), so a replayed run is itself replayable.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import errors
from ..errors import AgentScopeError, ProviderError
from ..models.response import Delta, ModelResponse, Usage
from ..monitor import read_jsonl
from ._key import first_difference, leaves, normalise, request_key, shared_prefix, shorten

MISSING_CHOICES = ("error", "call")


class ReplayError(AgentScopeError):
    """A replay cannot start: no record in the directory, another experiment's record."""


class ReplayMismatchError(ReplayError):
    """A call the record does not hold (strict replay). ``path``, ``recorded`` and ``now``
    are the first difference from the nearest recorded request of the config."""

    def __init__(
        self,
        message: str,
        *,
        config_name: str,
        key: str,
        path: str | None = None,
        recorded: Any = None,
        now: Any = None,
    ) -> None:
        super().__init__(message)
        self.config_name, self.key = config_name, key
        self.path, self.recorded, self.now = path, recorded, now


@dataclass
class _Call:
    line: int
    record: dict[str, Any]
    request: Any
    used: bool = False


class Recording:
    """The calls recorded in ``run_dir/invocations.jsonl``, as an interceptor for
    ``models._base.set_interceptor``."""

    def __init__(self, run_dir: str | Path, missing: str = "error") -> None:
        if missing not in MISSING_CHOICES:
            raise ValueError(f"replay_missing must be 'error' or 'call', not {missing!r}")
        self.run_dir = Path(run_dir)
        self.missing = missing
        self.path = self.run_dir / "invocations.jsonl"
        if not self.path.is_file():
            raise ReplayError(
                f"{self.run_dir} holds no recorded calls (no invocations.jsonl): replay needs "
                "the directory of a run made with save_api_invoke (every experiment run is)"
            )
        self._lock = threading.Lock()
        self._queues: dict[tuple[str, str], deque[_Call]] = {}
        self._by_config: dict[str, list[_Call]] = {}
        self.answered = 0  #: calls answered from the record
        self.sent = 0  #: calls sent to the model (``missing="call"``)
        try:
            records = list(read_jsonl(self.path))
        except ValueError as exc:
            raise ReplayError(f"cannot replay {self.path}: {exc}") from None
        for line, record in enumerate(records, 1):
            if not _replayable(record):
                continue  # a call cut short by Ctrl-C or a cancelled task: no answer
            if "reply" not in record and record.get("status") != "error":
                raise ReplayError(
                    f"{self.path}:{line}: the call has no `reply` (recorded by a version "
                    "before replay): it cannot be replayed"
                )
            config = str(record.get("config_name"))
            request = normalise(record.get("arguments"))
            call = _Call(line, record, request)
            self._queues.setdefault((config, request_key(request)), deque()).append(call)
            self._by_config.setdefault(config, []).append(call)

    @property
    def unused(self) -> int:
        """Recorded calls no request asked for (so far)."""
        with self._lock:
            return sum(len(q) for q in self._queues.values())

    def __call__(
        self, wrapper: Any, request: dict[str, Any], stream: bool, is_async: bool
    ) -> ModelResponse | None:
        now = normalise(request)
        key = request_key(now)
        config = wrapper.config_name
        with self._lock:
            queue = self._queues.get((config, key))
            call = queue.popleft() if queue else None
            if call is not None:
                call.used = True
                self.answered += 1
            elif self.missing == "call":
                self.sent += 1
                return None
            else:
                raise self._mismatch(config, key, now)
        return _answer(wrapper, request, call.record, stream, is_async)

    def _mismatch(self, config: str, key: str, now: Any) -> ReplayMismatchError:
        hint = (
            " To send requests the record lacks to the model, replay with "
            "--replay-missing call (replay_missing='call')."
        )
        calls = self._by_config.get(config)
        if not calls:
            known = ", ".join(sorted(self._by_config)) or "none"
            return ReplayMismatchError(
                f"replay: config '{config}' made no call in {self.path} (configs recorded: "
                f"{known}).{hint}",
                config_name=config,
                key=key,
            )
        same = [c for c in calls if request_key(c.request) == key]
        if same:
            return ReplayMismatchError(
                f"replay: config '{config}' asked this request (key {key}) more often than "
                f"{self.path} recorded it ({len(same)} time(s), lines "
                f"{', '.join(str(c.line) for c in same)}).{hint}",
                config_name=config,
                key=key,
            )
        mine = leaves(now)
        nearest = max(calls, key=lambda c: (shared_prefix(leaves(c.request), mine), not c.used))
        path, recorded, current = first_difference(nearest.request, now) or ("?", None, None)
        return ReplayMismatchError(
            f"replay: no recorded call of config '{config}' matches this request (key {key}); "
            f"the nearest recorded one ({self.path.name} line {nearest.line}) first differs at "
            f"{path}: recorded {shorten(recorded)}, now {shorten(current)}.{hint}",
            config_name=config,
            key=key,
            path=path,
            recorded=recorded,
            now=current,
        )


def _replayable(record: dict[str, Any]) -> bool:
    if record.get("status") != "error":
        return True
    kind = (record.get("error_info") or {}).get("type")
    cls = getattr(errors, str(kind), None)
    return isinstance(cls, type) and issubclass(cls, ProviderError)


def _usage(record: dict[str, Any]) -> Usage:
    u = record.get("usage") or {}
    return Usage(
        prompt_tokens=int(u.get("prompt_tokens") or 0),
        completion_tokens=int(u.get("completion_tokens") or 0),
        latency=float(u.get("latency") or 0.0),
        time_to_first_token=u.get("time_to_first_token"),
        estimated=bool(u.get("estimated")),
        cache_read_tokens=int(u.get("cache_read_tokens") or 0),
        cache_creation_tokens=int(u.get("cache_creation_tokens") or 0),
    )


def _error(wrapper: Any, record: dict[str, Any]) -> ProviderError:
    """The recorded provider failure, as the typed error it was."""
    info = record.get("error_info") or {}
    cls = getattr(errors, str(info.get("type")), ProviderError)
    text = str(record.get("error") or "")
    prefix = f"{info.get('type')}: "
    message = text[len(prefix) :] if text.startswith(prefix) else text
    err = cls(f"{message} [replayed]", status=info.get("status"))
    wrapper._fill_context(err)
    return err


def _answer(
    wrapper: Any, request: dict[str, Any], record: dict[str, Any], stream: bool, is_async: bool
) -> ModelResponse:
    if record.get("status") == "error":
        err = _error(wrapper, record)
        wrapper._record(request, None, err, stream, None)
        raise err
    reply = record["reply"]
    usage = _usage(record)
    if not stream:
        chunks = reply.get("chunks")
        text = "".join(chunks) if chunks is not None else reply.get("text")
        reasoning = reply.get("reasoning") or "".join(reply.get("reasoning_chunks") or []) or None
        response = ModelResponse(
            text=text,
            embedding=reply.get("embedding"),
            image_urls=reply.get("image_urls"),
            raw=None if record.get("stream") else record.get("response"),
            tool_calls=reply.get("tool_calls"),
            usage=usage,
            reasoning=reasoning,
            finish_reason=reply.get("finish_reason"),
        )
        response.request_id = reply.get("request_id")
        response.replayed = True
        wrapper._record(request, response, None, False)
        return response

    def finish(res: ModelResponse, err: BaseException | None) -> None:
        if res.usage is not None and res.finish_reason != "cancelled":
            res.usage.latency = usage.latency  # as recorded: usage replays whole
            res.usage.time_to_first_token = usage.time_to_first_token
        wrapper._record(request, res, err, True)

    deltas = list(_deltas(reply, usage))
    if is_async:
        replayed = ModelResponse(astream=_aiter(deltas), on_finish=finish)
    else:
        replayed = ModelResponse(stream=iter(deltas), on_finish=finish)
    replayed.replayed = True
    return replayed


def _deltas(reply: dict[str, Any], usage: Usage) -> Iterator[Delta]:
    """The reply as a stream: reasoning pieces, text pieces, tool calls, then the end."""
    reasoning = reply.get("reasoning_chunks")
    if reasoning is None:
        reasoning = [reply["reasoning"]] if reply.get("reasoning") else []
    for piece in reasoning:
        yield Delta(reasoning=piece)
    chunks = reply.get("chunks")
    if chunks is None:
        chunks = [reply["text"]] if reply.get("text") else []
    for piece in chunks:
        yield Delta(text=piece)
    calls = []
    for i, block in enumerate(reply.get("tool_calls") or []):
        fragment = {"index": i, "id": block.get("id", ""), "name": block.get("name", "")}
        if "raw_input" in block:
            fragment["arguments"] = block["raw_input"]
        else:
            fragment["input"] = block.get("input") or {}
        calls.append(fragment)
    counts: tuple[int, ...] | None = None
    if not usage.estimated:
        counts = (usage.prompt_tokens, usage.completion_tokens)
        if usage.cache_read_tokens or usage.cache_creation_tokens:
            counts += (usage.cache_read_tokens, usage.cache_creation_tokens)
    yield Delta(
        tool_calls=calls or None,
        usage=counts,
        finish_reason=reply.get("finish_reason"),
        request_id=reply.get("request_id"),
    )


async def _aiter(deltas: list[Delta]) -> AsyncIterator[Delta]:
    for delta in deltas:
        yield delta
