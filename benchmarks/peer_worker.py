"""Measure a peer library against the raw ``openai`` SDK of its own virtual environment.

Run by ``peers.py`` with the peer venv's Python; it never imports ``agentscope_legacy``.
Peers: ``agentscope`` (0.1.6, its ``OpenAIChatWrapper``) and ``litellm``
(``litellm.completion(model="openai/...")``). Writes one JSON document to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import _wire
import harness

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch at import
MESSAGES = [{"role": "user", "content": "Say hello."}]
API_KEY = "sk-bench"


def agentscope_peer(base_url: str) -> tuple[Callable[[], str], Callable[[int], Any]]:
    import agentscope
    from agentscope.models import OpenAIChatWrapper

    agentscope.init(disable_saving=True, logger_level="WARNING")
    models: dict[str, Any] = {}

    def wrapper(model_name: str) -> Any:  # one wrapper per model name (= reply shape)
        if model_name not in models:
            models[model_name] = OpenAIChatWrapper(
                "bench",
                model_name,
                api_key=API_KEY,
                client_args={"base_url": base_url, "max_retries": 0},
                stream=False,
            )
        return models[model_name]

    def call() -> str:
        return wrapper("bench")(MESSAGES).text

    def stream(n: int) -> Any:
        return (text for _, text in wrapper(f"bench-{n}")(MESSAGES, stream=True).stream)

    return call, stream


def litellm_peer(base_url: str) -> tuple[Callable[[], str], Callable[[int], Any]]:
    import litellm

    common = {"api_base": base_url, "api_key": API_KEY, "max_retries": 0}

    def call() -> str:
        reply = litellm.completion(model="openai/bench", messages=MESSAGES, **common)
        return reply.choices[0].message.content

    def stream(n: int) -> Any:
        chunks = litellm.completion(
            model=f"openai/bench-{n}",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
            **common,
        )
        return (
            c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
        )

    return call, stream


def raw_sdk(base_url: str) -> tuple[Callable[[], str], Callable[[int], Any]]:
    import openai

    client = openai.OpenAI(api_key=API_KEY, base_url=base_url, max_retries=0)

    def call() -> str:
        return (
            client.chat.completions.create(model="bench", messages=MESSAGES)
            .choices[0]
            .message.content
        )

    def stream(n: int) -> Any:
        chunks = client.chat.completions.create(
            model=f"bench-{n}",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        return (
            c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
        )

    return call, stream


def consume(open_stream: Callable[[], Any], accumulated: bool) -> tuple[float, str]:
    """Open and iterate a stream: (seconds from the call to the first item, final text)."""
    start = time.perf_counter()
    items = open_stream()
    first = None
    pieces: list[str] = []
    text = ""
    for item in items:
        if first is None:
            first = time.perf_counter() - start
        if accumulated:
            text = item
        else:
            pieces.append(item)
    return first or 0.0, text if accumulated else "".join(pieces)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peer", choices=["agentscope", "litellm"], required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--plan", required=True, help="JSON: rounds and sizes")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    plan = json.loads(args.plan)
    result: dict[str, Any] = {
        "peer": args.peer,
        "versions": {
            args.peer: harness.package_version(args.peer),
            "openai": harness.package_version("openai"),
            "python": sys.version.split()[0],
        },
    }

    py = sys.executable
    result["import"] = harness.interleaved(
        {
            "python -c pass": lambda: subprocess.run([py, "-c", "pass"], check=True),
            "import openai": lambda: subprocess.run([py, "-c", "import openai"], check=True),
            f"import {args.peer}": lambda: subprocess.run(
                [py, "-c", f"import {args.peer}"], check=True, stdout=subprocess.DEVNULL
            ),
        },
        rounds=plan["import_rounds"],
    )

    raw_call, raw_stream = raw_sdk(args.base_url)
    make = agentscope_peer if args.peer == "agentscope" else litellm_peer
    peer_call, peer_stream = make(args.base_url)
    if peer_call() != _wire.COMPLETION_TEXT:
        raise SystemExit(f"{args.peer}: wrong completion text")

    calls = plan["nonstream_calls"]
    result["nonstream"] = harness.interleaved(
        {
            "raw": lambda: [raw_call() for _ in range(calls)],
            args.peer: lambda: [peer_call() for _ in range(calls)],
        },
        rounds=plan["nonstream_rounds"],
    )
    result["nonstream"]["calls"] = calls

    accumulated = args.peer == "agentscope"
    result["stream"] = {}
    for n, per_round, rounds in plan["streams"]:
        expected = _wire.stream_text(n)

        def run(
            source: Callable[[int], Any],
            acc: bool,
            n: int = n,
            k: int = per_round,
            want: str = expected,
        ) -> dict:
            ttfts = []
            for _ in range(k):
                ttft, text = consume(lambda: source(n), acc)
                if text != want:
                    raise SystemExit(f"wrong stream text for {n} chunks")
                ttfts.append(ttft)
            return {"ttft": ttfts}

        timed = harness.interleaved(
            {
                "raw": lambda run=run: run(raw_stream, False),
                args.peer: lambda run=run: run(peer_stream, accumulated),
            },
            rounds=rounds,
        )
        result["stream"][str(n)] = {"streams_per_round": per_round, **timed}

    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    main()
