"""One wrapper, many callers at once: 32 threads, 32 asyncio tasks, and both together.

Each request carries a unique token and the emulator echoes it back (``set_reply_fn``), with
token counts derived from the caller's number, so a caller that got someone else's text, a
stream with pieces of two replies, or a usage total that lost or doubled a call all show. The
registry is read while another thread registers classes and loads configs.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import agentscope_legacy
from agentscope_legacy.models import ModelWrapperBase, load_model_by_config_name
from agentscope_legacy.models.manager import ModelManager
from agentscope_legacy.monitor import read_jsonl
from tests.test_parity import CHAT_TYPES, HAS_LITELLM

CALLERS = 32
TOKEN = re.compile(r"tok-(\d+)-(\d+)-[0-9a-f]{8}")
# Every SDK family once (the OpenAI-compatible presets share openai_chat's code).
TYPES = [
    "openai_chat",
    "post_api_chat",
    "litellm_chat",
    "dashscope_chat",
    "gemini_chat",
    "zhipuai_chat",
    "ollama_chat",
    "anthropic_chat",
]
HAS_ACALL = hasattr(ModelWrapperBase, "acall")


def echo(body: dict[str, Any]) -> dict[str, Any]:
    """Reply with the request's token; usage derived from it, so totals can be checked."""
    match = TOKEN.search(json.dumps(body))
    if match is None:
        return {"text": "no token"}
    caller, call = int(match.group(1)), int(match.group(2))
    return {
        "text": f"echo {match.group(0)} " * 3,  # several stream pieces
        "prompt_tokens": 10 + caller,
        "completion_tokens": 100 + call,
    }


def token(caller: int, call: int) -> str:
    return f"tok-{caller}-{call}-{uuid.uuid4().hex[:8]}"


def expected_usage(caller: int, call: int) -> tuple[int, int]:
    return 10 + caller, 100 + call


def types() -> list[Any]:
    return [
        pytest.param(
            t,
            marks=pytest.mark.skipif(
                t == "litellm_chat" and not HAS_LITELLM, reason="litellm is not installed"
            ),
        )
        for t in TYPES
    ]


@pytest.fixture
def shared(request, tmp_path):
    """(wrapper, config name) for the type, in a run that saves rows and records."""
    model_type = request.param
    emulator, fields = CHAT_TYPES[model_type]
    server = emulator()
    server.clear()
    server.set_reply_fn(echo)
    config = {
        "config_name": f"shared-{model_type}",
        "model_type": model_type,
        "max_retries": 0,
        **fields(server),
    }
    if model_type != "post_api_chat":
        config["api_key"] = f"sk-concurrency-{uuid.uuid4().hex}"
    agentscope_legacy.init(model_configs=[config], save_dir=str(tmp_path), save_api_invoke=True)
    yield load_model_by_config_name(config["config_name"]), server
    server.clear()


def check_reply(response: Any, tok: str, caller: int, call: int, items: list) -> None:
    """The caller's own text, whole and unmixed, with its own usage."""
    expected = f"echo {tok} " * 3
    assert response.text == expected
    if items:  # streamed: growing prefixes of the caller's own text only
        assert items[-1] == (True, expected)
        texts = [text for _, text in items]
        assert all(expected.startswith(t) for t in texts)
        assert texts == sorted(texts, key=len)
    usage = response.usage
    assert (usage.prompt_tokens, usage.completion_tokens) == expected_usage(caller, call)


def check_totals(model: Any, calls: list[tuple[int, int]]) -> None:
    """The monitor's totals, its database rows and its records add up to exactly these calls."""
    runtime = agentscope_legacy.get_runtime()
    prompt = sum(expected_usage(*c)[0] for c in calls)
    completion = sum(expected_usage(*c)[1] for c in calls)
    (row,) = [r for r in runtime.monitor.usage_rows() if r["config_name"] == model.config_name]
    assert (row["calls"], row["failures"]) == (len(calls), 0)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (prompt, completion)
    db = sqlite3.connect(runtime.monitor.db_path)
    try:
        assert db.execute(
            "SELECT count(*), sum(prompt_tokens), sum(completion_tokens) FROM usage"
        ).fetchone() == (len(calls), prompt, completion)
    finally:
        db.close()
    # Each record pairs a request with its own reply.
    records = list(read_jsonl(runtime.monitor.invocations_path))
    assert len(records) == len(calls)
    for record in records:
        sent = TOKEN.search(json.dumps(record["arguments"])).group(0)
        assert record["response"] and sent in json.dumps(record["response"]), record
        caller, call = map(int, TOKEN.search(sent).groups())
        usage = record["usage"]
        assert (usage["prompt_tokens"], usage["completion_tokens"]) == expected_usage(caller, call)


def call_sync(model: Any, caller: int, call: int) -> None:
    tok = token(caller, call)
    stream = (caller + call) % 2 == 0
    response = model([{"role": "user", "content": f"Repeat {tok}"}], stream=stream)
    items = list(response.stream) if stream else []
    check_reply(response, tok, caller, call, items)


async def call_async(model: Any, caller: int, call: int) -> None:
    tok = token(caller, call)
    stream = (caller + call) % 2 == 0
    messages = [{"role": "user", "content": f"Repeat {tok}"}]
    response = await model.acall(messages, stream=stream)
    items = [item async for item in response.astream] if stream else []
    await response.get_text()
    check_reply(response, tok, caller, call, items)


def run_threads(target: Callable[[int], None], n: int = CALLERS) -> None:
    """``target(i)`` in ``n`` threads released together; every failure re-raised."""
    barrier = threading.Barrier(n)

    def start(i: int) -> None:
        barrier.wait(timeout=30)
        target(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        for future in [pool.submit(start, i) for i in range(n)]:
            future.result(timeout=120)


CALLS_PER_CALLER = 3


@pytest.mark.parametrize("shared", types(), indirect=True)
def test_one_wrapper_from_32_threads(shared):
    model, _ = shared
    run_threads(lambda i: [call_sync(model, i, c) for c in range(CALLS_PER_CALLER)])
    check_totals(model, [(i, c) for i in range(CALLERS) for c in range(CALLS_PER_CALLER)])


@pytest.mark.skipif(not HAS_ACALL, reason="ModelWrapperBase.acall is not there yet")
@pytest.mark.parametrize("shared", types(), indirect=True)
def test_one_wrapper_from_32_asyncio_tasks(shared):
    model, _ = shared

    async def main() -> None:
        await asyncio.gather(
            *(call_async(model, i, c) for i in range(CALLERS) for c in range(CALLS_PER_CALLER))
        )

    asyncio.run(main())
    check_totals(model, [(i, c) for i in range(CALLERS) for c in range(CALLS_PER_CALLER)])


@pytest.mark.parametrize("shared", ["openai_chat"], indirect=True)
def test_threads_and_asyncio_tasks_at_once(shared):
    """16 threads calling the wrapper and 16 tasks of an event loop in another thread (through
    ``acall`` when there is one, else ``asyncio.to_thread``), all at the same time."""
    model, _ = shared
    half = CALLERS // 2

    async def tasks() -> None:
        if HAS_ACALL:
            jobs = [call_async(model, half + i, 0) for i in range(half)]
        else:
            jobs = [asyncio.to_thread(call_sync, model, half + i, 0) for i in range(half)]
        await asyncio.gather(*jobs)

    def worker(i: int) -> None:
        if i == half:
            asyncio.run(tasks())
        elif i < half:
            call_sync(model, i, 0)

    run_threads(worker, half + 1)
    check_totals(model, [(i, 0) for i in range(CALLERS)])


@pytest.mark.parametrize("shared", ["openai_chat"], indirect=True)
def test_asyncio_to_thread_callers(shared):
    model, _ = shared

    async def main() -> None:
        await asyncio.gather(*(asyncio.to_thread(call_sync, model, i, 0) for i in range(CALLERS)))

    asyncio.run(main())
    check_totals(model, [(i, 0) for i in range(CALLERS)])


# -- the registry -----------------------------------------------------------------------------
class Echo(ModelWrapperBase):
    model_type = "echo_concurrency"

    def _build_request(self, messages: Any, *, stream: bool, **kwargs: Any) -> dict[str, Any]:
        return {"messages": messages}

    def _call(self, request: dict[str, Any]) -> Any:
        from agentscope_legacy.models import ModelResponse

        return ModelResponse(text=str(request["messages"]))


WRITES = 300


def test_the_registry_is_safe_to_read_while_another_thread_writes():
    manager = ModelManager()
    manager.register_model_wrapper_class(Echo)
    manager.load_model_configs([{"config_name": "base", "model_type": "echo_concurrency"}])
    stop = threading.Event()
    errors: list[BaseException] = []
    written: list[str] = []

    def writer() -> None:
        try:
            for i in range(WRITES):
                model_type = "echo_concurrency"
                if i % 10 == 0:  # a new class now and then (validators are built per class)
                    model_type = f"echo_{i}"
                    manager.register_model_wrapper_class(
                        type(f"Echo{i}", (Echo,), {"model_type": model_type})
                    )
                name = f"cfg-{i}"
                manager.load_model_configs([{"config_name": name, "model_type": model_type}])
                written.append(name)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            stop.set()

    def reader() -> None:
        try:
            while not stop.is_set():
                mapping = manager.model_wrapper_mapping
                assert all(isinstance(k, str) for k in mapping)
                assert manager.wrapper_class("echo_concurrency") is Echo
                names = manager.config_names
                for name in names[:2] + names[-3:]:
                    assert manager.get_config_by_name(name) is not None
                state = manager.state_dict()["model_configs"]
                assert {c["config_name"] for c in state} >= {"base"}
                model = manager.get_model_by_config_name("base")
                assert model is manager.get_model_by_config_name("base")  # built once
                for name in list(written[-3:]):
                    assert manager.get_model_by_config_name(name).config_name == name
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=reader) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert len(written) == WRITES and len(manager.config_names) == WRITES + 1


def test_a_wrapper_is_built_once_when_32_threads_ask_at_once():
    manager = ModelManager()
    manager.register_model_wrapper_class(Echo)
    manager.load_model_configs([{"config_name": "once", "model_type": "echo_concurrency"}])
    built: list[Any] = []
    run_threads(lambda i: built.append(manager.get_model_by_config_name("once")))
    assert len(built) == CALLERS and len({id(m) for m in built}) == 1


def test_state_dict_survives_a_config_loaded_while_it_iterates(monkeypatch):
    """Deterministic twin of the race above: a load lands in the middle of the iteration."""
    from agentscope_legacy import _secrets

    manager = ModelManager()
    manager.register_model_wrapper_class(Echo)
    manager.load_model_configs(
        [{"config_name": f"c{i}", "model_type": Echo.model_type} for i in range(3)]
    )
    redact, loaded = _secrets.redact, []

    def redact_and_load(obj: Any, *args: Any, **kwargs: Any) -> Any:
        if not loaded:
            loaded.append(True)
            manager.load_model_configs([{"config_name": "late", "model_type": Echo.model_type}])
        return redact(obj, *args, **kwargs)

    monkeypatch.setattr(_secrets, "redact", redact_and_load)
    assert [c["config_name"] for c in manager.state_dict()["model_configs"]] == ["c0", "c1", "c2"]
    assert "late" in manager.config_names
