"""Realtime event relay: the cost per audio delta of OpenAIRealtimeModel and RealtimeAgent over
the raw ``openai`` SDK's receive loop, in one run.

``python benchmarks/realtime_relay.py [--deltas N] [--rounds R] [--out DIR]``

* The server is the loopback emulator of the Realtime API (``tests/emulators/realtime_openai``)
  in its **own process** (pinned to its own core where there are two), so its sending does not
  share the client's GIL. Each response is ``N`` ``response.output_audio.delta`` events of 20 ms
  of 24 kHz PCM16 (1,280 base64 characters each) and one transcript delta.
* Per response, from sending the request to its ``response.done`` arriving at the consumer,
  divided by ``N``: µs per audio delta. Every side checks it saw all ``N`` deltas.
* Sides: ``wire`` (a bare ``websockets`` client + ``json.loads``: the floor, not a target),
  ``sdk`` (``async for event in conn`` of ``client.realtime.connect``: the baseline), ``model``
  (``OpenAIRealtimeModel`` to its outgoing queue: ModelEvents), ``agent`` (``RealtimeAgent`` to
  its outgoing queue: ServerEvents; n/a until ``agentscope_legacy.realtime._agent`` exists).
* Each side keeps one connection for the run; per round every side answers one response, the
  order alternating, after one warm-up round; ``gc.collect()`` between samples. Absolute
  figures are medians over rounds; ratios are medians of the per-round ratios against ``sdk``
  (drifting load cancels out). Writes ``DIR/realtime_relay.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KEY = "sk-bench-realtime"
MODEL = "gpt-realtime"


def serve(deltas: int) -> int:
    """The server process: prints its base URL, serves until stdin closes."""
    from tests.emulators.realtime_openai import OpenAIRealtimeEmulator

    with OpenAIRealtimeEmulator(api_key=KEY) as emu:
        emu.transcript = "ok"
        emu.audio_chunks, emu.audio_seconds = deltas, deltas * 0.02
        print(emu.base_url, flush=True)
        sys.stdin.read()
    return 0


def start_server(deltas: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(deltas)], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    base_url = proc.stdout.readline().strip() if proc.stdout else ""
    if not base_url:
        raise RuntimeError("the emulator process did not start")
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) >= 2:
        os.sched_setaffinity(proc.pid, {cores[1]})
        os.sched_setaffinity(0, {cores[0]})
    return proc, base_url


TEXT_ITEM = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]}


class Wire:
    """The floor: a bare websockets client, JSON decoded, no SDK."""

    async def open(self, base_url: str) -> None:
        from websockets.asyncio.client import connect

        url = base_url.replace("http", "ws", 1) + f"/realtime?model={MODEL}"
        self.ws = await connect(url, additional_headers={"Authorization": f"Bearer {KEY}"},
                                max_size=None, compression=None)  # fmt: skip
        await self.ws.recv()  # session.created

    async def respond(self) -> int:
        await self.ws.send(json.dumps({"type": "conversation.item.create", "item": TEXT_ITEM}))
        await self.ws.send(json.dumps({"type": "response.create"}))
        audio = 0
        while True:
            event = json.loads(await self.ws.recv(decode=False))
            kind = event["type"]
            audio += kind == "response.output_audio.delta"
            if kind == "response.done":
                return audio

    async def close(self) -> None:
        await self.ws.close()


class SDK:
    """The baseline: the openai SDK's own receive loop (typed events)."""

    async def open(self, base_url: str) -> None:
        import openai

        client = openai.AsyncOpenAI(api_key=KEY, base_url=base_url, max_retries=0)
        self.manager = client.realtime.connect(model=MODEL)
        self.conn = await self.manager.__aenter__()
        self.events = self.conn.__aiter__()
        await anext(self.events)  # session.created

    async def respond(self) -> int:
        await self.conn.conversation.item.create(item=TEXT_ITEM)
        await self.conn.response.create()
        audio = 0
        async for event in self.events:
            audio += event.type == "response.output_audio.delta"
            if event.type == "response.done":
                return audio
        raise RuntimeError("the connection closed")

    async def close(self) -> None:
        await self.manager.__aexit__(None, None, None)


class Model:
    """OpenAIRealtimeModel: ModelEvents on its outgoing queue."""

    done = "model_response_done"
    audio = "model_response_audio_delta"

    async def open(self, base_url: str) -> None:
        from agentscope_legacy.realtime import OpenAIRealtimeModel

        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.model = OpenAIRealtimeModel(MODEL, api_key=KEY, base_url=base_url,
                                         turn_detection=None, input_transcription_model=None)
        await self.model.connect(self.queue)
        await self.drain("model_session_created")

    async def drain(self, kind: str) -> int:
        audio = 0
        while True:
            event = await self.queue.get()
            audio += event.type == self.audio
            if event.type == kind:
                return audio
            if event.type.endswith("_error"):
                raise RuntimeError(f"{event}")

    async def respond(self) -> int:
        await self.model.send({"type": "text", "text": "go"})
        return await self.drain(self.done)

    async def close(self) -> None:
        await self.model.disconnect()


class Agent(Model):
    """RealtimeAgent over OpenAIRealtimeModel: ServerEvents on its outgoing queue."""

    done = "agent_response_done"
    audio = "agent_response_audio_delta"

    async def open(self, base_url: str) -> None:
        from agentscope_legacy.realtime import ClientEvents, OpenAIRealtimeModel

        RealtimeAgent = realtime_agent_class()  # noqa: N806
        self.client_events = ClientEvents
        self.queue = asyncio.Queue()
        model = OpenAIRealtimeModel(MODEL, api_key=KEY, base_url=base_url,
                                    turn_detection=None, input_transcription_model=None)
        self.agent = RealtimeAgent(name="Bench", sys_prompt="", model=model)
        await self.agent.start(self.queue)
        await asyncio.sleep(0.2)  # its session and ready events
        while not self.queue.empty():
            self.queue.get_nowait()

    async def respond(self) -> int:
        event = self.client_events.ClientTextAppendEvent(text="go")
        await self.agent.handle_input(event)
        return await self.drain(self.done)

    async def close(self) -> None:
        await self.agent.stop()


def realtime_agent_class() -> Any:
    """RealtimeAgent, or None before it exists."""
    try:
        from agentscope_legacy.realtime._agent import RealtimeAgent
    except ImportError:
        return None
    return RealtimeAgent


async def measure(base_url: str, deltas: int, rounds: int) -> dict[str, Any]:
    sides: dict[str, Any] = {"wire": Wire(), "sdk": SDK(), "model": Model()}
    if realtime_agent_class() is not None:
        sides["agent"] = Agent()
    for side in sides.values():
        await side.open(base_url)
    samples: dict[str, list[float]] = {name: [] for name in sides}
    try:
        for r in range(rounds + 1):  # round 0 warms up
            order = list(sides) if r % 2 else list(reversed(sides))
            for name in order:
                gc.collect()
                started = time.perf_counter()
                seen = await sides[name].respond()
                elapsed = time.perf_counter() - started
                if seen != deltas:
                    raise RuntimeError(f"{name} saw {seen} audio deltas, not {deltas}")
                if r:
                    samples[name].append(elapsed / deltas * 1e6)
    finally:
        for side in sides.values():
            await side.close()
    return samples


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        return serve(int(sys.argv[2]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deltas", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    proc, base_url = start_server(args.deltas)
    try:
        samples = asyncio.run(measure(base_url, args.deltas, args.rounds))
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(timeout=10)
    base = samples["sdk"]
    result = {
        "deltas": args.deltas,
        "rounds": args.rounds,
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "us_per_delta": {name: statistics.median(s) for name, s in samples.items()},
        "ratio_vs_sdk": {
            name: statistics.median(a / b for a, b in zip(s, base, strict=True))
            for name, s in samples.items()
        },
        "samples": samples,
    }
    if "agent" not in samples:
        result["agent"] = "n/a: agentscope_legacy.realtime._agent is not there yet"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "realtime_relay.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"{args.deltas} audio deltas per response, {args.rounds} rounds (medians), "
          f"load average {result['load_average']}\n")  # fmt: skip
    print("| side | µs per audio delta | ratio vs sdk (paired median) |")
    print("|---|---|---|")
    for name in samples:
        print(f"| {name} | {result['us_per_delta'][name]:.1f} | "
              f"{result['ratio_vs_sdk'][name]:.3f} |")  # fmt: skip
    if "agent" not in samples:
        print(f"| agent | {result['agent']} | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
