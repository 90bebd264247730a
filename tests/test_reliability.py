"""Reliability: every chat wrapper against every fault, streamed and not; and nothing lost
when a run is killed.

The fault matrix drives each chat type's real SDK against its loopback emulator (the same
``CHAT_TYPES`` as the parity test) and checks, for every fault: whether it was retried, the
error type, the waits the retry layer chose before each retry (never a wall-clock bound), and
that the text received before a mid-stream failure is kept on the error (``partial_text``).
``python -m tests.test_reliability --table`` runs the whole matrix and prints the markdown
table of ``docs/reliability.md``.

The kill tests start a child process that streams from an emulator running in *this* process,
SIGKILL it mid-stream, and check that every file the run left is readable: each JSON line that
ends with a newline parses (only a final line without its newline may be cut short), the SQLite
usage database opens, counts and passes ``PRAGMA integrity_check``.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from agentscope_legacy.errors import (
    AuthenticationError,
    BadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
)
from agentscope_legacy.models.manager import ModelManager
from agentscope_legacy.monitor import Monitor, read_jsonl
from tests.emulators.base import STALL, Fault, RawReply, StreamReply
from tests.emulators.openai_compat import OpenAIEmulator
from tests.retry_log import recording_retry_waits
from tests.test_parity import CHAT_TYPES, HAS_LITELLM

ROOT = Path(__file__).resolve().parent.parent
TEXT = "one two three four five six seven eight nine ten"
# Wire bytes of a line that is not JSON, in each protocol's framing.
BAD_SSE = b"data: {this is not json\n\n"
BAD_LINE = {
    "ollama_chat": b"{this is not json\n",
    "anthropic_chat": b"event: content_block_delta\ndata: {this is not json\n\n",
}
# Retry settings of every matrix config: fast, and bounded.
RETRY = {"max_retries": 2, "retry_interval": 0.02, "max_retry_interval": 0.1}
RETRY_AFTER = 0.1  # seconds, sent as Retry-After
READ_TIMEOUT = 0.15
CONNECT_TIMEOUT = 0.1
# The Gemini SDK has one timeout for every phase of a request (HttpOptions.timeout); the
# wrapper gives it `read` from a {connect, read} mapping, so its connect case uses one number.
ONE_TIMEOUT = {"gemini_chat"}


# -- the matrix -------------------------------------------------------------------------------
@dataclass
class Outcome:
    """What one call under one fault came to."""

    error: BaseException | None
    text: str | None
    requests: int  # requests the emulator received
    elapsed: float
    config_name: str = ""
    waits: list[float] = field(default_factory=list)  # chosen before each retry, in order

    @property
    def attempts(self) -> int:
        if isinstance(self.error, ProviderError):
            return self.error.attempts
        return max(self.requests, 1)

    @property
    def partial(self) -> str | None:
        return getattr(self.error, "partial_text", None)

    @property
    def kind(self) -> str:
        return type(self.error).__name__ if self.error is not None else "ok"


@dataclass(frozen=True)
class Expect:
    """The expected outcome: ``error`` None means the call succeeds (after ``attempts``)."""

    error: type[BaseException] | None
    attempts: int
    partial: bool = False  # a non-empty proper prefix of the reply is on the error
    text: str = TEXT  # the reply, on success
    min_elapsed: float = 0.0  # a lower bound only: a busy machine is slower, never faster
    # Each wait before a retry is the server's Retry-After (True), else a backoff of at most
    # RETRY["max_retry_interval"].
    waits_retry_after: bool = False


@dataclass
class Env:
    """What a case may use to set its fault up."""

    model_type: str
    stream: bool
    server: Any
    refused_url: str
    blackhole_url: str
    token: str = field(default_factory=lambda: uuid.uuid4().hex)  # in this call's request
    overrides: dict[str, Any] = field(default_factory=dict)
    target: Any = None  # the object whose base_url the config uses (default: server)
    patches: list[Callable[[], None]] = field(default_factory=list)


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    arrange: Callable[[Env], None]
    expect: Callable[[bool], Expect]  # stream -> Expect
    streams: tuple[bool, ...] = (False, True)
    #: Documented deviations: (model_type, stream) -> (what happens instead, why).
    known: dict[tuple[str, bool], tuple[Expect, str]] = field(default_factory=dict)

    def expected(self, model_type: str, stream: bool) -> Expect:
        known = self.known.get((model_type, stream))
        return known[0] if known else self.expect(stream)


def _fault(fault: Fault) -> Callable[[Env], None]:
    return lambda env: env.server.add_fault(fault)


def _auth(status: int) -> Callable[[Env], None]:
    return lambda env: env.server.add_fault(Fault(status=status, times=5))


def _refused(env: Env) -> None:
    env.target = SimpleNamespace(base_url=env.refused_url)


def _connect_timeout(env: Env) -> None:
    env.target = SimpleNamespace(base_url=env.blackhole_url)
    timeout: Any = {"connect": CONNECT_TIMEOUT, "read": 5.0}
    if env.model_type in ONE_TIMEOUT:
        timeout = CONNECT_TIMEOUT
    env.overrides.update(max_retries=1, timeout=timeout)


def _read_timeout(env: Env) -> None:
    env.server.add_fault(Fault(delay=STALL, times=5))  # ended by run_case's clear()
    env.overrides.update(max_retries=1, timeout={"connect": 5.0, "read": READ_TIMEOUT})


def _patch_stream(env: Env, transform: Callable[[Iterator[bytes]], Iterator[bytes]]) -> None:
    """Pass the streamed reply to this call's first request through ``transform``."""
    server = env.server
    original = server.handle
    used = threading.Event()
    token = env.token.encode()

    def handle(req: Any) -> Any:
        reply = original(req)
        # Only this call's request: a delayed handler of an earlier case may run now.
        if isinstance(reply, StreamReply) and token in req.body and not used.is_set():
            used.set()
            reply.events = transform(iter(reply.events))
            reply.chunk_delay = 0.001  # every event its own flushed chunk
        return reply

    server.handle = handle
    env.patches.append(lambda: server.__dict__.pop("handle", None))


def _malformed(env: Env) -> None:
    if not env.stream:
        env.server.add_fault(Fault(malformed=True))
        return
    bad = BAD_LINE.get(env.model_type, BAD_SSE)

    def transform(events: Iterator[bytes]) -> Iterator[bytes]:
        for i, event in enumerate(events):
            if i == 4:
                yield bad
            yield event

    _patch_stream(env, transform)


def _stall(env: Env) -> None:
    env.overrides.update(max_retries=1, timeout={"connect": 5.0, "read": READ_TIMEOUT})

    def transform(events: Iterator[bytes]) -> Iterator[bytes]:
        for i, event in enumerate(events):
            if i == 4:
                env.server.stall(STALL)  # ended by run_case's clear()
            yield event

    _patch_stream(env, transform)


def _error_inside(env: Env) -> None:
    if env.stream:
        env.server.add_fault(Fault(drop_after=4, stream_error={"message": "model overloaded"}))
    else:  # a 200 whose JSON body is the provider's error document
        body = env.server.error_body(500, "model overloaded")
        env.server.add_fault(Fault(status=200, body=body))


# Deadlines under test: far below the slow replies below (a trickled body takes >= 10 s, a
# keep-alive stream never ends), far above what a loaded machine needs for a normal reply.
DEADLINE = 1.0


def _trickle(env: Env) -> None:
    """The whole body, one byte every 0.05 s: no read ever times out, no event completes."""
    env.server.add_fault(Fault(trickle=0.05, times=5))
    key = "stream_idle" if env.stream else "total"
    env.overrides.update(deadline={key: DEADLINE}, timeout={"connect": 5.0, "read": 5.0})


def _keepalive(env: Env) -> None:
    """Four events, then keep-alive comments (NDJSON: spaces) every 0.05 s, forever."""
    env.server.add_fault(Fault(keepalive_after=4, times=5))
    env.overrides.update(deadline={"stream_idle": DEADLINE}, timeout={"connect": 5.0, "read": 5.0})


def _same(expect: Expect) -> Callable[[bool], Expect]:
    return lambda stream: expect


CASES: list[Case] = [
    Case("401", "401 Unauthorized", _auth(401), _same(Expect(AuthenticationError, 1))),
    Case("403", "403 Forbidden", _auth(403), _same(Expect(AuthenticationError, 1))),
    Case(
        "404",
        "404 model not found",
        _fault(Fault(status=404, message="The model 'nope' does not exist", times=5)),
        _same(Expect(BadRequestError, 1)),
    ),
    Case(
        "429-retry-after",
        f"429 with `Retry-After: {RETRY_AFTER}`, once",
        _fault(Fault(status=429, headers={"Retry-After": str(RETRY_AFTER)})),
        _same(Expect(None, 2, min_elapsed=RETRY_AFTER, waits_retry_after=True)),
    ),
    Case(
        "429-backoff",
        "429 without Retry-After, once",
        _fault(Fault(status=429)),
        _same(Expect(None, 2, min_elapsed=RETRY["retry_interval"] * 0.75)),
    ),
    Case(
        "429-always",
        f"429 with `Retry-After: {RETRY_AFTER}`, every time",
        _fault(Fault(status=429, headers={"Retry-After": str(RETRY_AFTER)}, times=9)),
        _same(Expect(RateLimitError, 3, min_elapsed=2 * RETRY_AFTER, waits_retry_after=True)),
    ),
    Case(
        "429-too-long",
        "429 with `Retry-After: 3600` (over the 120 s cap)",
        _fault(Fault(status=429, headers={"Retry-After": "3600"}, times=9)),
        _same(Expect(RateLimitError, 1)),  # 1 attempt: no wait at all
    ),
    Case("500-once", "500, once", _fault(Fault(status=500)), _same(Expect(None, 2))),
    Case(
        "500",
        "500, every time",
        _fault(Fault(status=500, times=9)),
        _same(Expect(ServerError, 3)),
    ),
    Case(
        "502",
        "502, every time",
        _fault(Fault(status=502, times=9)),
        _same(Expect(ServerError, 3)),
    ),
    Case(
        "503",
        "503, every time",
        _fault(Fault(status=503, times=9)),
        _same(Expect(ServerError, 3)),
    ),
    Case(
        "refused",
        "connection refused (closed port)",
        _refused,
        _same(Expect(ProviderConnectionError, 3)),
    ),
    Case(
        "connect-timeout",
        f"connect timeout ({CONNECT_TIMEOUT} s; accept queue full)",
        _connect_timeout,
        _same(Expect(ProviderTimeoutError, 2, min_elapsed=2 * CONNECT_TIMEOUT * 0.9)),
    ),
    Case(
        "read-timeout",
        f"read timeout ({READ_TIMEOUT} s; no response headers)",
        _read_timeout,
        _same(Expect(ProviderTimeoutError, 2, min_elapsed=2 * READ_TIMEOUT * 0.9)),
    ),
    Case(
        "stall",
        f"stream stalls mid-way (read timeout {READ_TIMEOUT} s)",
        _stall,
        _same(Expect(ProviderTimeoutError, 1, partial=True, min_elapsed=READ_TIMEOUT * 0.9)),
        streams=(True,),
    ),
    Case(
        "dropped",
        "connection dropped mid-body",
        _fault(Fault(drop_after=6)),
        lambda stream: (
            Expect(ProviderConnectionError, 1, partial=True) if stream else Expect(None, 2)
        ),
    ),
    Case(
        "malformed",
        "malformed JSON (body, or one SSE/NDJSON line)",
        _malformed,
        lambda stream: Expect(ResponseFormatError, 1, partial=stream),
    ),
    Case(
        "empty",
        "empty 200 body",
        _fault(Fault(empty_body=True)),
        # (litellm before 1.110 invented a `finish_reason: stop` chunk for an empty streamed
        # body; 1.110.2 gives nothing, so it is a ResponseFormatError like everyone else's.)
        _same(Expect(ResponseFormatError, 1)),
    ),
    Case(
        "error-in-200",
        "200 carrying an error (in-stream error event, or an error document)",
        _error_inside,
        lambda stream: Expect(ProviderError, 1, partial=stream),
    ),
    Case(
        "retry-after-ms-negative",
        "429 with `retry-after-ms: -1000`, once (ignored: backoff)",
        _fault(Fault(status=429, headers={"retry-after-ms": "-1000"})),
        _same(Expect(None, 2)),
    ),
    Case(
        "retry-after-nan",
        "429 with `Retry-After: nan`, once (ignored: backoff)",
        _fault(Fault(status=429, headers={"Retry-After": "nan"})),
        _same(Expect(None, 2)),
    ),
    Case(
        "trickle",
        f"body trickled one byte per 0.05 s (deadline {DEADLINE} s: total, or stream_idle)",
        _trickle,
        _same(Expect(ProviderTimeoutError, 1, min_elapsed=DEADLINE)),
    ),
    Case(
        "keepalive",
        f"stream: 4 events, then keep-alive comments forever (stream_idle {DEADLINE} s)",
        _keepalive,
        _same(Expect(ProviderTimeoutError, 1, partial=True, min_elapsed=DEADLINE)),
        streams=(True,),
        known={
            ("gemini_chat", True): (
                Expect(ResponseFormatError, 1, partial=True),
                "the google-genai SDK parses every SSE line as JSON: the first keep-alive "
                "comment is a malformed event, which ends the stream at once",
            )
        },
    ),
]
CASE_IDS = [c.name for c in CASES]


@contextlib.contextmanager
def dead_endpoints() -> Iterator[tuple[str, str]]:
    """(refused_url, blackhole_url): a bound port that does not listen (connections are
    refused) and a listening port whose accept queue is full (connections time out)."""
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(0)
    fillers: list[socket.socket] = []
    try:
        for _ in range(8):  # fill the accept queue; nobody ever accepts
            filler = socket.socket()
            filler.settimeout(0.1)
            try:
                filler.connect(hole.getsockname())
            except OSError:
                filler.close()
                break
            fillers.append(filler)
        yield (
            f"http://127.0.0.1:{refused.getsockname()[1]}",
            f"http://127.0.0.1:{hole.getsockname()[1]}",
        )
    finally:
        for sock in (refused, hole, *fillers):
            sock.close()


KEY_MARK = "5f0c1d2e3a4b"


def key_for(model_type: str) -> str:
    return f"sk-reliability-{model_type}-{KEY_MARK}"


def config_for(model_type: str, env: Env) -> dict[str, Any]:
    fields = CHAT_TYPES[model_type][1]
    config: dict[str, Any] = {
        "model_type": model_type,
        **RETRY,
        **fields(env.target or env.server),
        **env.overrides,
    }
    if model_type == "post_api_chat":
        config["headers"] = {"Authorization": f"Bearer {key_for(model_type)}"}
    else:
        config["api_key"] = key_for(model_type)
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:8]
    config["config_name"] = f"{model_type}-{digest}"
    return config


# Wrappers are built once per distinct config (building an SDK client costs ~40 ms: most SDKs
# load the system CA bundle), in a manager of this module's own.
_MANAGER = ModelManager()


def wrapper_for(config: dict[str, Any]) -> Any:
    name = config["config_name"]
    if name not in _MANAGER.config_names:
        _MANAGER.load_model_configs([config])
    return _MANAGER.get_model_by_config_name(name)


_SERVERS: dict[str, Any] = {}
_SERVERS_LOCK = threading.Lock()


def server_for(model_type: str) -> Any:
    """An emulator of ``model_type``'s protocol for this type alone (several types share one
    protocol), so that every type can face the same fault at the same time."""
    with _SERVERS_LOCK:
        server = _SERVERS.get(model_type)
        if server is None:
            shared = CHAT_TYPES[model_type][0]()
            server = _SERVERS[model_type] = type(shared)().start()
            atexit.register(server.stop)
        return server


def run_case(model_type: str, case: Case, stream: bool, dead: tuple[str, str]) -> Outcome:
    """Call ``model_type`` once under ``case``'s fault and say what happened."""
    server = server_for(model_type)
    server.clear()
    server.set_reply(text=TEXT, prompt_tokens=9, completion_tokens=10)
    env = Env(model_type, stream, server, *dead)
    messages = [{"role": "user", "content": f"Count to ten, please. [{env.token}]"}]
    try:
        case.arrange(env)
        model = wrapper_for(config_for(model_type, env))
        error: BaseException | None = None
        text = None
        started = time.perf_counter()
        try:
            response = model(messages, stream=stream)
            if stream:
                for _, so_far in response.stream:
                    text = so_far
            else:
                text = response.text
        except ProviderError as err:
            error = err
        elapsed = time.perf_counter() - started
        return Outcome(error, text, len(server.requests), elapsed, model.config_name)
    finally:
        for undo in env.patches:
            undo()
        server.clear()


def matrix_types() -> list[str]:
    return [t for t in CHAT_TYPES if t != "litellm_chat" or HAS_LITELLM]


_WARM = threading.Lock()


def warm_up() -> None:
    """Build one wrapper per type, one after the other, before any concurrent cell: the SDKs
    are imported then. (Imported from several threads at once, the openai SDK can see the
    ``httpx`` module another SDK is still importing: ``partially initialized module``.)"""
    with _WARM:
        for model_type in matrix_types():
            wrapper_for(
                config_for(model_type, Env(model_type, False, server_for(model_type), "", ""))
            )


def run_cell(case: Case, stream: bool, dead: tuple[str, str]) -> dict[str, Outcome]:
    """Every chat type under one fault at once (each against its own emulator)."""
    warm_up()
    types = matrix_types()
    with recording_retry_waits() as waits, ThreadPoolExecutor(max_workers=len(types)) as pool:
        futures = {t: pool.submit(run_case, t, case, stream, dead) for t in types}
        outcomes = {t: f.result() for t, f in futures.items()}
    for outcome in outcomes.values():
        outcome.waits = waits.seconds(outcome.config_name)
    return outcomes


def check(outcome: Outcome, expect: Expect) -> list[str]:
    """What differs from the expectation (empty when it matches)."""
    problems = []
    if expect.error is None:
        if outcome.error is not None:
            problems.append(f"expected success, got {outcome.kind}: {outcome.error}")
        elif outcome.text != expect.text:
            problems.append(f"wrong text {outcome.text!r}")
    elif not isinstance(outcome.error, expect.error):
        problems.append(f"expected {expect.error.__name__}, got {outcome.kind}: {outcome.error}")
    if outcome.attempts != expect.attempts:
        problems.append(f"expected {expect.attempts} attempts, got {outcome.attempts}")
    if outcome.requests not in (0, outcome.attempts):
        problems.append(f"{outcome.attempts} attempts but {outcome.requests} requests")
    partial = outcome.partial
    if expect.partial and not (partial and TEXT.startswith(partial) and partial != TEXT):
        problems.append(f"expected a partial text, got {partial!r}")
    if not expect.partial and partial:
        problems.append(f"unexpected partial text {partial!r}")
    if isinstance(outcome.error, AuthenticationError):
        # Names the config and where the key came from, never the key.
        message = str(outcome.error)
        source = "`headers.Authorization`" if "post_api" in message else "`api_key`"
        if outcome.config_name not in message:
            problems.append(f"the auth error does not name the config: {message}")
        if f"API key from the config field {source}" not in message:
            problems.append(f"the auth error does not say where the key came from: {message}")
        if KEY_MARK in message or KEY_MARK in repr(outcome.error):
            problems.append("the auth error shows the key")
    if len(outcome.waits) != outcome.attempts - 1:
        problems.append(f"{outcome.attempts} attempts but waits {outcome.waits}")
    if expect.waits_retry_after:
        if any(w != RETRY_AFTER for w in outcome.waits):
            problems.append(f"waited {outcome.waits}, expected Retry-After {RETRY_AFTER} s")
    elif any(w > RETRY["max_retry_interval"] for w in outcome.waits):
        problems.append(
            f"waited {outcome.waits}, expected backoffs <= {RETRY['max_retry_interval']} s"
        )
    if outcome.elapsed < expect.min_elapsed:
        problems.append(f"took {outcome.elapsed:.3f}s, expected at least {expect.min_elapsed}")
    return problems


CELLS = [
    pytest.param(case, stream, id=f"{case.name}-{'stream' if stream else 'plain'}")
    for case in CASES
    for stream in case.streams
]


@pytest.fixture(scope="module")
def dead():
    with dead_endpoints() as urls:
        yield urls


@pytest.mark.parametrize(("case", "stream"), CELLS)
def test_fault_matrix(case, stream, dead):
    outcomes = run_cell(case, stream, dead)
    problems = {t: p for t, o in outcomes.items() if (p := check(o, case.expected(t, stream)))}
    assert problems == {}


# -- deadlines, [DONE], close-delimited streams, redirects (issue 11, items 4-8, 16) ----------
HANG_GUARD = 60.0  # seconds: only ever reached by a regression (no wall-clock assertions)


def _in_thread(fn: Callable[[], Any]) -> Any:
    """``fn()``'s result, or a failure (never a hung test) if it has not returned in time."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(fn)
        try:
            return future.result(timeout=HANG_GUARD)
        finally:
            if not future.done():
                pytest.fail("the call hung")


@pytest.fixture
def openai_server():
    with OpenAIEmulator() as server:
        server.set_reply(text=TEXT, prompt_tokens=9, completion_tokens=10)
        yield server


def _chat(model_type: str, server: Any, **fields: Any) -> Any:
    config = {
        "config_name": f"{model_type}-{uuid.uuid4().hex[:8]}",
        "model_type": model_type,
        "max_retries": 0,
        **CHAT_TYPES[model_type][1](server),
        **fields,
    }
    if model_type != "post_api_chat":
        config.setdefault("api_key", key_for(model_type))
    manager = ModelManager()
    manager.load_model_configs([config])
    return manager.get_model_by_config_name(config["config_name"])


def _stream_text(model: Any) -> str:
    response = model([{"role": "user", "content": "count"}], stream=True)
    return "".join(response.deltas)


class EndlessEmulator(OpenAIEmulator):
    """Streams content events forever, one every 0.02 s."""

    def handle(self, req: Any) -> Any:
        def events() -> Iterator[bytes]:
            while True:
                delta = {"index": 0, "delta": {"content": "la "}}
                chunk = {"id": "c", "object": "chat.completion.chunk", "choices": [delta]}
                yield b"data: " + json.dumps(chunk).encode() + b"\n\n"

        return StreamReply(events(), chunk_delay=0.02)


@pytest.mark.parametrize("model_type", ["openai_chat", "post_api_chat"])
def test_content_forever_ends_at_the_stream_total_with_the_partial_text(model_type):
    with EndlessEmulator() as server:
        model = _chat(model_type, server, deadline={"stream_total": DEADLINE})
        with pytest.raises(ProviderTimeoutError) as caught:
            _in_thread(lambda: _stream_text(model))
        server.clear()
    err = caught.value
    assert err.deadline == "stream_total" and "stream_total: 1 s" in str(err)
    assert err.partial_text and err.partial_text.startswith("la la ")
    assert err.attempts == 1


@pytest.mark.parametrize("model_type", ["openai_chat", "anthropic_chat", "post_api_chat"])
def test_async_calls_end_at_the_deadline(model_type):
    import asyncio

    server = server_for(model_type)
    server.clear()
    server.set_reply(text=TEXT, prompt_tokens=9, completion_tokens=10)
    server.add_fault(Fault(trickle=0.05, times=2))
    model = _chat(model_type, server, deadline={"total": DEADLINE, "stream_idle": DEADLINE})
    messages = [{"role": "user", "content": "count"}]

    async def both() -> list[BaseException]:
        errors = []
        for stream in (False, True):
            try:
                response = await model.acall(messages, stream=stream)
                await response.get_text()
            except ProviderTimeoutError as err:
                errors.append(err)
        return errors

    try:
        errors = _in_thread(lambda: asyncio.run(both()))
    finally:
        server.clear()
    assert [e.deadline for e in errors] == ["total", "stream_idle"]


def test_a_retry_wait_past_the_deadline_is_not_waited(openai_server):
    openai_server.add_fault(Fault(status=429, headers={"Retry-After": "60"}, times=3))
    model = _chat("openai_chat", openai_server, max_retries=2, deadline=DEADLINE)
    with pytest.raises(RateLimitError):
        _in_thread(lambda: model([{"role": "user", "content": "x"}]))
    assert len(openai_server.requests) == 1


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_openai_stream_ends_at_done_without_waiting_for_the_server(openai_server, use_async):
    """The server sends every event and [DONE], then holds the body open (no HTTP terminator)
    far past the read timeout: the call ends with the whole text. Before: it read on until the
    read timeout and failed."""
    import asyncio

    openai_server.add_fault(Fault(hold_after_end=True, times=2))
    model = _chat("openai_chat", openai_server, timeout={"connect": 5.0, "read": 10.0})
    messages = [{"role": "user", "content": "count"}]

    async def atext() -> str | None:
        response = await model.acall(messages, stream=True)
        return await response.get_text()

    run = (lambda: asyncio.run(atext())) if use_async else (lambda: _stream_text(model))
    assert _in_thread(run) == TEXT
    openai_server.clear()  # the held body is dropped
    openai_server.set_reply(text=TEXT, prompt_tokens=9, completion_tokens=10)
    assert _in_thread(run) == TEXT  # and the next call gets a connection of its own


def test_openai_stream_keeps_its_connection_when_the_body_ends_with_done(openai_server):
    model = _chat("openai_chat", openai_server)
    for _ in range(3):
        assert _stream_text(model) == TEXT
    assert openai_server.connections == 1


class GatedEmulator(OpenAIEmulator):
    """A close-delimited stream (no chunked framing) that sends two events, then waits for
    ``gate`` before the rest: nothing of the body's end exists until the test opens it."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def handle(self, req: Any) -> Any:
        reply = super().handle(req)
        if isinstance(reply, StreamReply):
            reply.events = self._gated(list(reply.events))
        return reply

    def _gated(self, events: list[bytes]) -> Iterator[bytes]:
        yield from events[:2]
        self.gate.wait(HANG_GUARD)
        yield from events[2:]


def test_post_api_delivers_a_close_delimited_stream_as_it_arrives():
    with GatedEmulator() as server:
        server.set_reply(text=TEXT, prompt_tokens=9, completion_tokens=10)
        server.add_fault(Fault(close_delimited=True))
        model = _chat("post_api_chat", server)
        response = model([{"role": "user", "content": "count"}], stream=True)
        pieces = response.deltas

        def first() -> str:
            return next(p for p in pieces if p)

        # Before the fix: nothing arrived until the connection closed (here: never).
        assert TEXT.startswith(_in_thread(first))
        server.gate.set()
        assert _in_thread(lambda: "".join(pieces)) and response.text == TEXT


def test_a_streamed_openai_call_answered_with_html_says_so(openai_server):
    page = b"<!DOCTYPE html><html><body>502 Bad Gateway (proxy login)</body></html>"
    openai_server.handle = lambda req: RawReply(page, content_type="text/html")
    model = _chat("openai_chat", openai_server)
    with pytest.raises(ResponseFormatError) as caught:
        _stream_text(model)
    message = str(caught.value)
    assert "HTML" in message and "text/html" in message and "not server-sent events" in message
    assert "empty response body" not in message


@pytest.fixture
def second_host():
    """Another origin for redirects: `localhost` (not 127.0.0.1) and its own port."""
    with OpenAIEmulator() as server:
        server.set_reply(text=TEXT, prompt_tokens=9, completion_tokens=10)
        yield server, f"http://localhost:{server.port}"


@pytest.mark.parametrize("model_type", ["openai_chat", "post_api_chat", "anthropic_chat"])
def test_a_redirect_to_another_host_carries_no_credentials(second_host, model_type):
    other, other_url = second_host
    server = server_for(model_type)
    server.clear()
    server.set_reply(text=TEXT, prompt_tokens=9, completion_tokens=10)
    secret = f"sk-redirected-{uuid.uuid4().hex}"
    if model_type == "post_api_chat":
        fields: dict[str, Any] = {
            "headers": {"X-Api-Key": secret, "Authorization": f"Bearer {secret}"},
            "api_url": server.base_url + "/v1/chat/completions",
        }
        target = other_url + "/v1/chat/completions"
    else:
        fields = {
            "api_key": secret,
            "client_args": {"default_headers": {"api-key": secret, "x-vendor-token": secret}},
        }
        target = other_url + (
            "/v1/messages" if model_type == "anthropic_chat" else "/chat/completions"
        )
    server.add_fault(Fault(redirect=target))
    model = _chat(model_type, server, **fields)
    try:
        model([{"role": "user", "content": "x"}])
    except ProviderError:
        pass  # the second host may not speak this protocol; what it received matters
    finally:
        server.clear()
    received = other.requests
    assert len(received) == 1
    assert not [k for k, v in received[0].headers.items() if secret in v], received[0].headers
    assert "content-type" in received[0].headers  # harmless headers still go


def test_a_redirect_on_the_same_host_keeps_the_headers(openai_server):
    secret = f"sk-same-{uuid.uuid4().hex}"
    openai_server.add_fault(Fault(redirect=openai_server.base_url + "/v1/chat/completions"))
    model = _chat(
        "post_api_chat",
        openai_server,
        headers={"X-Api-Key": secret},
        api_url=openai_server.base_url + "/v1/redirected",
    )
    assert model([{"role": "user", "content": "x"}]).text == TEXT
    assert openai_server.requests[-1].headers.get("x-api-key") == secret


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "-1000"}, None),
        ({"retry-after-ms": "-1000", "retry-after": "2"}, 2.0),
        ({"retry-after-ms": "nan"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "-5"}, None),
        ({"retry-after": "1e999"}, None),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 -0000"}, 0.0),
        ({"retry-after": "Wed, 99 Foo 2015"}, None),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after": "3"}, 3.0),
    ],
)
def test_retry_after_headers_are_parsed_defensively(headers, seconds):
    from agentscope_legacy.models._base import parse_retry_after

    assert parse_retry_after(headers) == seconds


@pytest.mark.parametrize(
    "deadline",
    [0, -1, "10", {"total": 0}, {"idle": 5}, {"stream_total": "x"}, [1]],
)
def test_bad_deadlines_are_refused_at_load(deadline):
    from agentscope_legacy.errors import ConfigError

    config = {"config_name": "d", "model_type": "post_api_chat", "api_url": "http://x/",
              "deadline": deadline}  # fmt: skip
    with pytest.raises(ConfigError):
        ModelManager().load_model_configs([config])


def test_deadline_defaults_and_one_number():
    from agentscope_legacy.models._base import DEFAULT_DEADLINE

    model = _chat("post_api_chat", SimpleNamespace(base_url="http://127.0.0.1:9"))
    assert model.deadline == DEFAULT_DEADLINE
    model = _chat("post_api_chat", SimpleNamespace(base_url="http://127.0.0.1:9"), deadline=30)
    assert model.deadline == {"total": 30.0, "stream_idle": 300.0, "stream_total": 30.0}


# -- nothing lost: SIGKILL mid-stream ------------------------------------------------------
class SlowStreamEmulator(OpenAIEmulator):
    """Streams one event per ``delay`` seconds; ``midstream`` is set once the reply to the
    ``after``-th request is part-way through."""

    def __init__(self, delay: float, after: int) -> None:
        super().__init__()
        self.delay, self.after = delay, after
        self.midstream = threading.Event()

    def handle(self, req: Any) -> Any:
        reply = super().handle(req)
        if isinstance(reply, StreamReply):
            reply.chunk_delay = self.delay
            reply.events = self._watched(iter(reply.events), len(self.requests))
        return reply

    def _watched(self, events: Iterator[bytes], number: int) -> Iterator[bytes]:
        for i, event in enumerate(events):
            if number >= self.after and i == 3:
                self.midstream.set()
            yield event


def check_jsonl(path: Path) -> int:
    """The crash rule of every JSON-lines file: each line ending with a newline parses; only
    a last line without one may be cut short. Returns the number of whole records."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    for number, line in enumerate(lines[:-1], 1):
        json.loads(line)  # raises, naming nothing but the test fails with the line
        assert line.strip(), f"{path.name}:{number}: empty line"
    assert len(list(read_jsonl(path))) == len(lines) - 1
    return len(lines) - 1


def check_run_dir(run_dir: Path) -> dict[str, int]:
    """Every file a run leaves must be readable after the process was killed."""
    counts: dict[str, int] = {}
    for path in sorted(run_dir.rglob("*")):
        if path.is_dir():
            continue
        name = path.name
        if name.endswith((".jsonl", ".chat")):
            counts[name] = check_jsonl(path)
        elif name == "agentscope.db":
            db = sqlite3.connect(path)
            try:
                assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
                (counts[name],) = db.execute("SELECT count(*) FROM usage").fetchone()
            finally:
                db.close()
        elif name.startswith("agentscope.db-"):  # the WAL and its index: SQLite's own
            continue
        elif name in (".config", "record.json"):  # record.json: what a replay checks
            json.loads(path.read_text(encoding="utf-8"))
        elif name.endswith(".yaml"):
            yaml.safe_load(path.read_text(encoding="utf-8"))
        elif name.endswith((".log", ".txt")):
            text = path.read_bytes()
            whole = text[: text.rfind(b"\n") + 1]
            whole.decode("utf-8")  # a cut-short last line may end inside a character
        else:
            raise AssertionError(f"unexpected file in the run directory: {path}")
    return counts


SCRIPT = Path(sys.executable).parent / "agentscope-legacy"


@pytest.mark.skipif(os.name != "posix", reason="sends SIGKILL")
def test_sigkill_mid_stream_leaves_every_file_readable(tmp_path):
    server = SlowStreamEmulator(delay=0.01, after=4).start()
    try:
        server.set_reply(text="ping pong " * 8, prompt_tokens=3, completion_tokens=4)
        env = {**os.environ, "EMULATOR_URL": server.base_url + "/v1"}
        runs = tmp_path / "runs"
        long_run = ROOT / "tests" / "data" / "experiments" / "long.yaml"
        command = [str(SCRIPT), "run", str(long_run), "--set", f"run.save_dir={runs}"]
        with open(tmp_path / "out", "wb") as out, open(tmp_path / "err", "wb") as err:
            proc = subprocess.Popen(
                command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=ROOT, env=env
            )
            try:
                assert server.midstream.wait(60), (tmp_path / "err").read_text()
                proc.send_signal(signal.SIGKILL)
                assert proc.wait(timeout=30) == -signal.SIGKILL
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    finally:
        server.stop()
    (run_dir,) = runs.iterdir()
    counts = check_run_dir(run_dir)
    # Three calls finished before the kill, the fourth was streaming: nothing of it is saved
    # as a usage row or record, and every finished one is.
    assert counts["agentscope.db"] == counts["invocations.jsonl"] == 3
    assert counts["transcript.jsonl"] == 3
    assert counts["logging.chat"] >= 3
    assert not (run_dir / "usage.txt").exists()  # written at the end: the run never ended


CHILD = """
import sys, threading
import agentscope_legacy
from agentscope_legacy.models import ModelWrapperBase, register_model_wrapper_class
from agentscope_legacy.models import Delta, ModelResponse, Usage

class Burst(ModelWrapperBase):
    model_type = "burst"
    can_stream = True

    def _build_request(self, messages, *, stream, **kwargs):
        return {"messages": messages}

    def _call(self, request):
        return ModelResponse(text="r" * 20000, usage=Usage(7, 11))

    def _open_stream(self, request):
        return iter(range(40))

    def _iter_deltas(self, sdk_stream):
        for i in sdk_stream:
            yield Delta(text=f"piece {i} " * 50, usage=(7, i + 1))

register_model_wrapper_class(Burst)
agentscope_legacy.init(
    model_configs=[{"config_name": "burst", "model_type": "burst"}],
    save_dir=sys.argv[1], save_api_invoke=True, logger_level="WARNING",
)
model = agentscope_legacy.load_model_by_config_name("burst")
done = threading.Event()

def work(n):
    for i in range(1, 3001):
        res = model([{"role": "user", "content": f"{n}:{i} " + "q" * 30000}], stream=i % 2 == 0)
        res.text
        if n == 0 and i == 20:
            print("READY", flush=True)

for n in range(4):
    threading.Thread(target=work, args=(n,), daemon=True).start()
threading.Event().wait(60)
"""


@pytest.mark.skipif(os.name != "posix", reason="sends SIGKILL")
@pytest.mark.parametrize("delay", [0.0, 0.13])
def test_sigkill_during_a_burst_of_large_records(tmp_path, delay):
    """Four threads write ~50 kB records as fast as they can; a kill lands mid-write more
    often than not, and the rule still holds (and the next run in that directory appends
    after a clean line)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert proc.stdout.readline().strip() == b"READY", proc.stderr.read()
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    (run_dir,) = tmp_path.iterdir()
    counts = check_run_dir(run_dir)
    assert counts["invocations.jsonl"] >= 20
    # The two stores are written one after the other, one call at a time: the row of the
    # call being written when the process died may be there without its record.
    assert 0 <= counts["agentscope.db"] - counts["invocations.jsonl"] <= 1
    # A new monitor on the same directory cuts a torn tail off before appending.
    path = run_dir / "invocations.jsonl"
    monitor = Monitor(run_dir, use_monitor=False, save_api_invoke=True)
    monitor.close()
    assert path.read_bytes().endswith(b"\n") or path.stat().st_size == 0
    assert len(list(read_jsonl(path))) == counts["invocations.jsonl"]


def test_a_torn_tail_is_cut_before_appending(tmp_path):
    path = tmp_path / "invocations.jsonl"
    whole = [json.dumps({"n": i, "pad": "x" * 70000}) + "\n" for i in range(3)]
    path.write_text("".join(whole) + whole[0][: 100_000 // 3], encoding="utf-8")
    assert check_jsonl(path) == 3  # the torn last line is allowed, and skipped by readers
    monitor = Monitor(tmp_path, use_monitor=False, save_api_invoke=True)
    monitor.close()
    assert path.read_text(encoding="utf-8") == "".join(whole)
    path.write_text('{"n": 0', encoding="utf-8")  # not one whole line
    Monitor(tmp_path, use_monitor=False, save_api_invoke=True).close()
    assert path.read_bytes() == b""


# -- the table for docs/reliability.md ------------------------------------------------------
def run_matrix() -> dict[tuple[str, bool], dict[str, Outcome]]:
    with dead_endpoints() as urls:
        return {
            (case.name, stream): run_cell(case, stream, urls)
            for case in CASES
            for stream in case.streams
        }


def markdown_table(results: dict[tuple[str, bool], dict[str, Outcome]]) -> str:
    """One row per fault and mode; where types differ, the exceptions are named."""
    lines = [
        "| fault | mode | outcome | retried | attempts | time | partial text on the error "
        "| as expected |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case in CASES:
        for stream in case.streams:
            outcomes = results[(case.name, stream)]
            kinds: dict[str, list[str]] = {}
            for t, o in outcomes.items():
                kinds.setdefault(_label(o), []).append(t)
            common = max(kinds, key=lambda k: len(kinds[k]))
            outcome = common
            others = [f"{', '.join(ts)}: {k}" for k, ts in kinds.items() if k != common]
            if others:
                outcome += " (" + "; ".join(others) + ")"
            attempts = sorted({o.attempts for o in outcomes.values()})
            times = [o.elapsed for o in outcomes.values()]
            partial = [t for t, o in outcomes.items() if o.partial]
            kept = (
                "kept"
                if len(partial) == len(outcomes)
                else ("—" if not partial else "kept by " + ", ".join(partial))
            )
            bad = [t for t, o in outcomes.items() if check(o, case.expected(t, stream))]
            known = [t for t in outcomes if (t, stream) in case.known]
            verdict = "yes" if not bad else "NO: " + ", ".join(bad)
            if known:
                verdict += " (known gap: " + ", ".join(known) + ")"
            lines.append(
                f"| {case.description} | {'stream' if stream else 'plain'} | {outcome} "
                f"| {'yes' if max(attempts) > 1 else 'no'} "
                f"| {'/'.join(map(str, attempts))} "
                f"| {min(times):.2f}–{max(times):.2f} s | {kept} "
                f"| {verdict} |"
            )
    return "\n".join(lines)


def _label(outcome: Outcome) -> str:
    if outcome.error is not None:
        return f"`{outcome.kind}`"
    label = "recovered" if outcome.attempts > 1 else "ok"
    return label if outcome.text else f"{label}, empty text"


def known_gaps() -> str:
    return "\n".join(
        f"* {case.description}, {'stream' if stream else 'plain'}, {t}: {why}."
        for case in CASES
        for (t, stream), (_, why) in case.known.items()
    )


def test_what_an_error_keeps_of_a_huge_error_body_is_capped(openai_server):
    """A server answering a 500 with megabytes: the typed error keeps at most MAX_ERROR_TEXT
    characters of its message and body (they are printed, logged and recorded)."""
    from agentscope_legacy.errors import MAX_ERROR_TEXT, ProviderError
    from agentscope_legacy.models import load_model_by_config_name, read_model_configs

    huge = "x" * (4 * 2**20)
    openai_server.add_fault(Fault(status=500, body={"error": {"message": huge}}, times=2))
    read_model_configs(
        {
            "config_name": "huge-error",
            "model_type": "openai_chat",
            "model_name": "m",
            "base_url": openai_server.base_url + "/v1",
            "api_key": "sk-test-huge-error-01",
            "max_retries": 0,
        }
    )
    with pytest.raises(ServerError) as info:
        load_model_by_config_name("huge-error")([{"role": "user", "content": "hi"}])
    err = info.value
    assert len(err.message) <= MAX_ERROR_TEXT + 100 and len(str(err.body)) <= MAX_ERROR_TEXT + 100
    assert "more characters not kept" in str(err.body)
    # The cap itself, for every kind of body.
    for body in (huge, huge.encode(), {"error": huge}, [huge]):
        kept = ProviderError("failed", body=body).body
        assert len(kept) <= MAX_ERROR_TEXT + 100
    small = {"error": {"message": "bad key"}}
    assert ProviderError("failed", body=small).body is small


def main() -> None:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    if sys.argv[1:] != ["--table"]:
        sys.exit("usage: python -m tests.test_reliability --table")
    from loguru import logger

    logger.remove()  # retries log warnings; the table is the output
    sdks = []
    for dist in ("openai", "anthropic", "dashscope", "google-genai", "zhipuai", "ollama",
                 "litellm", "requests", "httpx"):  # fmt: skip
        try:
            sdks.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            pass
    print(
        f"Run on {time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, "
        f"agentscope-legacy {version('agentscope-legacy')}; {', '.join(sdks)}; "
        f"{len(matrix_types())} chat types: {', '.join(matrix_types())}.\n"
    )
    print(markdown_table(run_matrix()))
    print("\nKnown gaps:\n\n" + known_gaps())


if __name__ == "__main__":
    import tests.conftest  # noqa: F401  (loopback-only environment, provider variables unset)

    main()
