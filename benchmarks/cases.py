"""The benchmark cases. Each returns a JSON-ready dict; ratios are against the raw SDK.

Every comparison is interleaved (see :func:`harness.interleaved`) and both sides talk to the
same loopback server, so the server, the network stack and the machine's mood cancel out.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _wire
import fastsse
import harness
from harness import BenchServer, interleaved, ratio, summary

MESSAGES = [{"role": "user", "content": "Say hello."}]
API_KEY = "sk-bench"
STREAM_OPTIONS = {"include_usage": True}


@dataclass(frozen=True)
class Plan:
    """How much of everything to run."""

    import_rounds: int
    nonstream_calls: int
    nonstream_rounds: int
    #: (chunks, streams per round, rounds)
    streams: tuple[tuple[int, int, int], ...]
    threads: int
    calls_per_thread: int
    concurrent_rounds: int
    reuse_calls: int
    configs: int
    config_rounds: int
    format_msgs: int
    format_calls: int
    format_rounds: int
    server_rounds: int
    peer_import_rounds: int
    peer_nonstream_rounds: int
    peer_streams: tuple[tuple[int, int, int], ...]


FULL = Plan(
    import_rounds=25,
    nonstream_calls=500,
    nonstream_rounds=11,
    streams=((10, 100, 9), (1000, 3, 9), (20000, 1, 5)),
    threads=64,
    calls_per_thread=8,
    concurrent_rounds=9,
    reuse_calls=5,
    configs=1000,
    config_rounds=7,
    format_msgs=50,
    format_calls=500,
    format_rounds=7,
    server_rounds=5,
    peer_import_rounds=5,
    peer_nonstream_rounds=5,
    peer_streams=((10, 50, 5), (1000, 2, 5), (20000, 1, 3)),
)
SMOKE = Plan(
    import_rounds=2,
    nonstream_calls=20,
    nonstream_rounds=2,
    streams=((10, 5, 2), (100, 2, 2), (400, 1, 2)),
    threads=8,
    calls_per_thread=2,
    concurrent_rounds=2,
    reuse_calls=3,
    configs=50,
    config_rounds=2,
    format_msgs=50,
    format_calls=20,
    format_rounds=2,
    server_rounds=2,
    peer_import_rounds=2,
    peer_nonstream_rounds=2,
    peer_streams=((10, 5, 2), (400, 1, 2)),
)


def raw_client(server: BenchServer) -> Any:
    import openai

    return openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0)


def model_config(server: BenchServer, name: str, model_name: str) -> dict[str, Any]:
    return {
        "config_name": name,
        "model_type": "openai_chat",
        "model_name": model_name,
        "api_key": API_KEY,
        "base_url": server.base_url,
    }


def init_runtime(configs: list[dict[str, Any]], save_dir: str | None = None) -> None:
    """``agentscope_legacy.init``: recording off, or on (monitor + invocations) in save_dir."""
    import agentscope_legacy

    if save_dir is None:
        agentscope_legacy.init(model_configs=configs, disable_saving=True, allow_replace=True)
    else:
        agentscope_legacy.init(
            model_configs=configs,
            save_dir=save_dir,
            save_api_invoke=True,
            use_monitor=True,
            allow_replace=True,
        )


def wrapper(name: str) -> Any:
    from agentscope_legacy.models import load_model_by_config_name

    return load_model_by_config_name(name)


# -- (a) cold start ---------------------------------------------------------------------------
def case_import(plan: Plan) -> dict[str, Any]:
    py = sys.executable
    cli = Path(py).with_name("agentscope-legacy")
    help_cmd = [str(cli), "--help"] if cli.exists() else [py, "-m", "agentscope_legacy.cli", "-h"]
    commands = {
        "python -c pass": [py, "-c", "pass"],
        "import openai": [py, "-c", "import openai"],
        "import agentscope_legacy": [py, "-c", "import agentscope_legacy"],
        "agentscope-legacy --help": help_cmd,
    }

    def runner(cmd: list[str]) -> Callable[[], None]:
        return lambda: subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)

    timed = interleaved({k: runner(v) for k, v in commands.items()}, plan.import_rounds)
    base, openai_ = timed["python -c pass"], timed["import openai"]
    ratios = {
        name: {
            "vs_python_pass": ratio(timed[name], base),
            "vs_import_openai": ratio(timed[name], openai_),
        }
        for name in ("import agentscope_legacy", "agentscope-legacy --help")
    }
    return {
        "commands": {k: " ".join(v) for k, v in commands.items()},
        "timings": timed,
        "ratios": ratios,
    }


# -- (b) sequential non-streaming calls -------------------------------------------------------
def case_nonstream(server: BenchServer, plan: Plan) -> dict[str, Any]:
    client = raw_client(server)
    n = plan.nonstream_calls

    def raw_batch() -> None:
        for _ in range(n):
            reply = client.chat.completions.create(model="bench", messages=MESSAGES)
            if reply.choices[0].message.content != _wire.COMPLETION_TEXT:
                raise AssertionError("raw SDK: wrong completion text")

    result: dict[str, Any] = {"calls_per_round": n}
    save_dir = tempfile.mkdtemp(prefix="asl-bench-")
    try:
        for mode, directory in (("recording_off", None), ("recording_on", save_dir)):
            init_runtime([model_config(server, "bench", "bench")], directory)
            model = wrapper("bench")

            def wrapper_batch(model: Any = model) -> None:
                for _ in range(n):
                    if model(MESSAGES).text != _wire.COMPLETION_TEXT:
                        raise AssertionError("wrapper: wrong completion text")

            timed = interleaved({"raw": raw_batch, "wrapper": wrapper_batch}, plan.nonstream_rounds)
            for side in timed.values():
                side["us_per_call"] = side["median"] / n * 1e6
            result[mode] = {**timed, "ratio": ratio(timed["wrapper"], timed["raw"])}
        result["recording_on"]["files"] = sorted(
            p.name for p in Path(save_dir).rglob("*") if p.is_file()
        )
    finally:
        init_runtime([])  # close the monitor's files before removing them
        shutil.rmtree(save_dir, ignore_errors=True)
    return result


# -- (c) streaming ----------------------------------------------------------------------------
def _consume(items: Iterator[Any], accumulated: bool, start: float) -> tuple[float, str]:
    """Iterate a stream: (seconds from ``start`` to the first item, the final text)."""
    first = None
    pieces: list[str] = []
    text = ""
    for item in items:
        if first is None:
            first = time.perf_counter() - start
        if accumulated:
            text = item[1]
        else:
            pieces.append(item)
    return first or 0.0, text if accumulated else "".join(pieces)


def stream_sources(server: BenchServer) -> dict[str, Callable[[int], tuple[Iterator[Any], bool]]]:
    """Ways to stream ``n`` chunks: raw SDK, wrapper (tuples / deltas), stdlib prototype.

    Each returns ``(iterator, accumulated)``; the iterator is created *inside* the timing,
    so the request itself is part of what is measured.
    """
    client = raw_client(server)

    def raw(n: int) -> tuple[Iterator[Any], bool]:
        chunks = client.chat.completions.create(
            model=f"bench-{n}", messages=MESSAGES, stream=True, stream_options=STREAM_OPTIONS
        )
        return (
            c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
        ), False

    def tuples(n: int) -> tuple[Iterator[Any], bool]:
        return wrapper(f"bench-{n}")(MESSAGES, stream=True).stream, True

    def deltas(n: int) -> tuple[Iterator[Any], bool]:
        return wrapper(f"bench-{n}")(MESSAGES, stream=True).deltas, False

    def prototype(n: int) -> tuple[Iterator[Any], bool]:
        return fastsse.stream_deltas(
            client, model=f"bench-{n}", messages=MESSAGES, stream_options=STREAM_OPTIONS
        ), False

    return {"raw": raw, "wrapper_stream": tuples, "wrapper_deltas": deltas, "prototype": prototype}


def case_stream(server: BenchServer, plan: Plan) -> dict[str, Any]:
    init_runtime([model_config(server, f"bench-{n}", f"bench-{n}") for n, _, _ in plan.streams])
    sources = stream_sources(server)
    result: dict[str, Any] = {"sizes": {}}
    for n, per_round, rounds in plan.streams:
        expected = _wire.stream_text(n)

        def timed_source(name: str, n: int = n, k: int = per_round, want: str = expected):
            def run() -> dict[str, Any]:
                ttfts = []
                for _ in range(k):
                    start = time.perf_counter()
                    items, accumulated = sources[name](n)
                    ttft, text = _consume(items, accumulated, start)
                    if text != want:
                        raise AssertionError(f"{name}: wrong text for a {n}-chunk stream")
                    ttfts.append(ttft)
                return {"ttft": ttfts}

            return run

        timed = interleaved({name: timed_source(name) for name in sources}, rounds)
        entry: dict[str, Any] = {"streams_per_round": per_round}
        for name, side in timed.items():
            ttfts = [t for extra in side.pop("extra") for t in extra["ttft"]]
            side["us_per_chunk"] = side["median"] / per_round / n * 1e6
            side["us_per_chunk_min"] = side["min"] / per_round / n * 1e6
            side["ttft"] = summary(ttfts)
            if name != "raw":
                side["ratio"] = ratio(side, timed["raw"])
            entry[name] = side
        result["sizes"][str(n)] = entry
    return result


# -- (d) concurrency --------------------------------------------------------------------------
def _threaded(call: Callable[[], Any], threads: int, per_thread: int) -> dict[str, float]:
    """Run ``call`` per_thread times in each of ``threads`` threads; time from a common start."""
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            for _ in range(per_thread):
                call()
        except BaseException as exc:  # reported after the join
            errors.append(exc)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for t in workers:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in workers:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return {"seconds": elapsed}


def case_concurrent(server: BenchServer, plan: Plan) -> dict[str, Any]:
    init_runtime([model_config(server, "bench", "bench")])
    client = raw_client(server)
    model = wrapper("bench")

    def raw_call() -> None:
        if (
            client.chat.completions.create(model="bench", messages=MESSAGES)
            .choices[0]
            .message.content
            != _wire.COMPLETION_TEXT
        ):
            raise AssertionError("raw SDK: wrong text")

    def wrapper_call() -> None:
        if model(MESSAGES).text != _wire.COMPLETION_TEXT:
            raise AssertionError("wrapper: wrong text")

    t, k = plan.threads, plan.calls_per_thread
    timed = interleaved(
        {
            "raw": lambda: _threaded(raw_call, t, k),
            "wrapper": lambda: _threaded(wrapper_call, t, k),
        },
        plan.concurrent_rounds,
    )
    return {
        "threads": t,
        "calls_per_thread": k,
        **timed,
        "ratio": ratio(timed["wrapper"], timed["raw"]),
    }


def case_async(server: BenchServer, plan: Plan) -> dict[str, Any]:
    """The async API (``await model.acall(...)``) against ``openai.AsyncOpenAI``, if it exists.

    Nothing is invented: without an ``acall`` the case reports n/a. With one: ``threads``
    concurrent tasks × ``calls_per_thread`` non-streamed calls on one event loop, one shared
    wrapper vs one shared ``AsyncOpenAI``; a stream of the middle size consumed as
    ``adeltas``; and the TCP connections opened by sequential async streams.
    """
    import asyncio

    import openai

    from agentscope_legacy.models import OpenAIChatWrapper

    if not hasattr(OpenAIChatWrapper, "acall"):
        return {"status": "n/a", "reason": "agentscope_legacy has no async model API yet"}
    n = plan.streams[len(plan.streams) // 2][0]
    init_runtime([model_config(server, "bench", "bench"), model_config(server, "s", f"bench-{n}")])
    model, smodel = wrapper("bench"), wrapper("s")
    loop = asyncio.new_event_loop()
    raw = openai.AsyncOpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0)
    t, k = plan.threads, plan.calls_per_thread
    expected = _wire.stream_text(n)

    async def raw_task() -> None:
        for _ in range(k):
            reply = await raw.chat.completions.create(model="bench", messages=MESSAGES)
            if reply.choices[0].message.content != _wire.COMPLETION_TEXT:
                raise AssertionError("raw AsyncOpenAI: wrong text")

    async def wrapper_task() -> None:
        for _ in range(k):
            if (await model.acall(MESSAGES)).text != _wire.COMPLETION_TEXT:
                raise AssertionError("wrapper acall: wrong text")

    async def raw_stream() -> None:
        chunks = await raw.chat.completions.create(
            model=f"bench-{n}", messages=MESSAGES, stream=True, stream_options=STREAM_OPTIONS
        )
        pieces = [c.choices[0].delta.content async for c in chunks if c.choices]
        if "".join(p for p in pieces if p) != expected:
            raise AssertionError("raw AsyncOpenAI: wrong stream text")

    async def wrapper_stream() -> None:
        response = await smodel.acall(MESSAGES, stream=True)
        if "".join([p async for p in response.adeltas]) != expected:
            raise AssertionError("wrapper acall: wrong stream text")

    async def many(make: Callable[[], Any], copies: int) -> None:
        await asyncio.gather(*(make() for _ in range(copies)))

    def run(make: Callable[[], Any], copies: int = 1) -> Callable[[], Any]:
        return lambda: loop.run_until_complete(many(make, copies))

    async def count_connections(make: Callable[[], Any]) -> int:
        await make()
        await asyncio.to_thread(server.reset)
        for _ in range(plan.reuse_calls):
            await make()
        return (await asyncio.to_thread(server.stats))["api_connections"]

    async def close_clients() -> None:
        await raw.close()
        await model.aclient.close()
        await smodel.aclient.close()

    try:
        calls = interleaved(
            {"raw": run(raw_task, t), "wrapper": run(wrapper_task, t)}, plan.concurrent_rounds
        )
        stream = interleaved(
            {"raw": run(raw_stream), "wrapper": run(wrapper_stream)}, plan.streams[1][2]
        )
        reuse = {
            name: {
                "calls": plan.reuse_calls,
                "connections": loop.run_until_complete(count_connections(make)),
            }
            for name, make in (
                ("raw AsyncOpenAI, stream read to the end", raw_stream),
                ("wrapper acall, stream read to the end", wrapper_stream),
            )
        }
        loop.run_until_complete(close_clients())
    finally:
        loop.close()
    for side in stream.values():
        side["us_per_chunk"] = side["median"] / n * 1e6
    return {
        "status": "ok",
        "tasks": t,
        "calls_per_task": k,
        "concurrent": {**calls, "ratio": ratio(calls["wrapper"], calls["raw"])},
        "stream": {"chunks": n, **stream, "ratio": ratio(stream["wrapper"], stream["raw"])},
        "connection_reuse": reuse,
    }


# -- connection reuse -------------------------------------------------------------------------
def case_connection_reuse(server: BenchServer, plan: Plan) -> dict[str, Any]:
    """How many TCP connections ``reuse_calls`` sequential calls open, per way of calling."""
    init_runtime([model_config(server, "bench", "bench"), model_config(server, "s", "bench-50")])
    k = plan.reuse_calls
    client = raw_client(server)

    def raw_stream(early: bool) -> Callable[[], None]:
        def run() -> None:
            chunks = client.chat.completions.create(
                model="bench-50", messages=MESSAGES, stream=True, stream_options=STREAM_OPTIONS
            )
            for _ in chunks:
                if early:
                    break
            chunks.close()

        return run

    def wrapper_stream(early: bool) -> Callable[[], None]:
        def run() -> None:
            response = wrapper("s")(MESSAGES, stream=True)
            items = response.stream
            for _ in items:
                if early:
                    break
            items.close()

        return run

    def proto() -> None:
        "".join(fastsse.stream_deltas(client, model="bench-50", messages=MESSAGES))

    ways: dict[str, Callable[[], Any]] = {
        "raw SDK, non-stream": lambda: client.chat.completions.create(
            model="bench", messages=MESSAGES
        ),
        "wrapper, non-stream": lambda: wrapper("bench")(MESSAGES).text,
        "raw SDK, stream read to the end": raw_stream(False),
        "wrapper, stream read to the end": wrapper_stream(False),
        "raw SDK, stream closed after 1 chunk": raw_stream(True),
        "wrapper, stream closed after 1 item": wrapper_stream(True),
        "prototype (drains after [DONE])": proto,
    }
    result = {}
    for name, call in ways.items():
        call()  # the pool may hold a connection from the previous way: start from one
        server.reset()
        for _ in range(k):
            call()
        result[name] = {"calls": k, "connections": server.stats()["api_connections"]}
    return result


# -- server headroom --------------------------------------------------------------------------
def case_server(server: BenchServer, plan: Plan) -> dict[str, Any]:
    """The server alone, read over a plain socket: it must be far faster than any client."""
    result = {}
    for n, _, _ in plan.streams:
        harness.raw_request(server.port, f"bench-{n}", True)  # encode once, off the clock
        samples = [
            harness.raw_request(server.port, f"bench-{n}", True) for _ in range(plan.server_rounds)
        ]
        seconds = summary([s for s, _ in samples])
        result[str(n)] = {
            "bytes": samples[0][1],
            "seconds": seconds,
            "us_per_chunk": seconds["median"] / n * 1e6,
        }
    return result


# -- (e) configs ------------------------------------------------------------------------------
def write_configs(path: Path, count: int) -> None:
    """A YAML file of ``count`` configs, in the shapes the README shows."""
    lines = ["# generated by benchmarks/cases.py"]
    for i in range(count):
        kind = i % 4
        lines.append(f"- config_name: model-{i}")
        if kind == 3:
            lines += [
                "  model_type: post_api_chat",
                "  api_url: ${POST_API_URL:-http://127.0.0.1:8000/v1/chat/completions}",
                "  headers:",
                "    Authorization: Bearer ${POST_API_KEY:-none}",
                "  json_args:",
                f"    model: local-{i}",
                "  max_retries: 3",
            ]
            continue
        lines += [
            "  model_type: openai_chat",
            f"  model_name: gpt-4o-mini-{i}",
            "  api_key: ${OPENAI_API_KEY:-sk-none}",
            f"  stream: {'true' if kind else 'false'}",
            "  timeout: {connect: 5, read: 60}",
            "  generate_args:",
            "    temperature: 0.5",
            f"    seed: {i}",
        ]
        if kind == 2:
            lines += ["  client_args:", "    base_url: http://127.0.0.1:8000/v1"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


_FRESH = """
import sys, time
start = time.perf_counter()
from agentscope_legacy import read_model_configs
names = read_model_configs(sys.argv[1])
print(time.perf_counter() - start, len(names))
"""


def case_config(plan: Plan) -> dict[str, Any]:
    from agentscope_legacy import read_model_configs
    from agentscope_legacy.models import clear_model_configs

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model_configs.yaml"
        write_configs(path, plan.configs)
        fresh = []
        for _ in range(plan.config_rounds):
            out = subprocess.run(
                [sys.executable, "-c", _FRESH, str(path)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()
            if int(out[1]) != plan.configs:
                raise AssertionError(f"loaded {out[1]} configs, expected {plan.configs}")
            fresh.append(float(out[0]))

        def load() -> None:
            if len(read_model_configs(path, clear_existing=True)) != plan.configs:
                raise AssertionError("wrong number of configs")

        warm = interleaved({"warm": load}, plan.config_rounds)["warm"]
        clear_model_configs()
        size = path.stat().st_size
    return {
        "configs": plan.configs,
        "file_bytes": size,
        "fresh_process": summary(fresh),
        "warm": warm,
        "note": "fresh_process: first read_model_configs() in a new interpreter, including the "
        "imports it triggers (yaml, jsonschema, the wrappers); warm: later calls in one process",
    }


# -- (f) formatting ---------------------------------------------------------------------------
def conversation(count: int) -> list[Any]:
    from agentscope_legacy.message import Msg

    msgs = [Msg("system", "You are one of three agents debating a plan.", role="system")]
    speakers = (("alice", "assistant"), ("bob", "assistant"), ("user", "user"))
    for i in range(count - 1):
        name, role = speakers[i % 3]
        msgs.append(Msg(name, f"Turn {i}: " + "I think we should weigh the options. " * 6, role))
    return msgs


def _formatted(formatter: Any, msgs: list[Any], calls: int) -> None:
    """``calls`` awaits of ``formatter.format(msgs)`` in one event loop."""
    import asyncio

    async def run() -> None:
        for _ in range(calls):
            await formatter.format(msgs)

    asyncio.run(run())


def case_format(server: BenchServer, plan: Plan) -> dict[str, Any]:
    from agentscope_legacy.formatter import OpenAIMultiAgentFormatter
    from agentscope_legacy.token import OpenAITokenCounter

    init_runtime(
        [
            model_config(server, "fmt-common", "qwen-max"),
            model_config(server, "fmt-openai", "gpt-4o"),
        ]
    )
    msgs = conversation(plan.format_msgs)
    k = plan.format_calls
    # Truncation recounts the prompt after each removal, so it gets fewer calls per round.
    k_truncated = max(1, k // 50)
    counter = OpenAITokenCounter("gpt-4o")
    full = asyncio_run(counter.count(asyncio_run(OpenAIMultiAgentFormatter().format(msgs))))
    budget = full // 2
    plain = OpenAIMultiAgentFormatter()
    truncating = OpenAIMultiAgentFormatter(token_counter=counter, max_tokens=budget)
    kept = len(asyncio_run(truncating.format(msgs)))
    calls = {
        "openai_chat qwen-max (0.x multi-agent merged prompt)": k,
        "openai_chat gpt-4o (0.x one message per Msg)": k,
        "OpenAIMultiAgentFormatter, no budget": k,
        f"OpenAIMultiAgentFormatter + OpenAITokenCounter, max_tokens={budget}": k_truncated,
    }
    names = list(calls)
    contenders = {
        names[0]: lambda: [
            wrapper("fmt-common").format(msgs, multi_agent_mode=True) for _ in range(k)
        ],
        names[1]: lambda: [
            wrapper("fmt-openai").format(msgs, multi_agent_mode=True) for _ in range(k)
        ],
        names[2]: lambda: _formatted(plain, msgs, k),
        names[3]: lambda: _formatted(truncating, msgs, k_truncated),
    }
    timed = interleaved(contenders, plan.format_rounds)
    for name, side in timed.items():
        side["us_per_format"] = side["median"] / calls[name] * 1e6
    return {
        "messages": plan.format_msgs,
        "calls_per_round": k,
        **timed,
        "truncation": (
            f"the {plan.format_msgs}-message prompt counts {full} tokens (tiktoken, offline); "
            f"with max_tokens={budget} the oldest turns are dropped and {kept} provider "
            "messages are kept"
        ),
    }


def asyncio_run(awaitable: Any) -> Any:
    import asyncio

    return asyncio.run(awaitable)


# -- peers ------------------------------------------------------------------------------------
def case_peers(server: BenchServer, plan: Plan, enabled: bool) -> dict[str, Any]:
    if not enabled:
        return {"status": "skipped", "reason": "run with --peers to measure agentscope/litellm"}
    import peers

    peer_plan = {
        "import_rounds": plan.peer_import_rounds,
        "nonstream_calls": plan.nonstream_calls,
        "nonstream_rounds": plan.peer_nonstream_rounds,
        "streams": [list(s) for s in plan.peer_streams],
    }
    return {
        "status": "ok",
        **{name: peers.run_peer(name, server.base_url, peer_plan) for name in peers.PEERS},
    }
