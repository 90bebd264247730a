"""Record and replay: a 100-message experiment replayed from its record against the original
run, and what recording costs a streamed 1,000-chunk reply.

``python benchmarks/replay.py [--messages 100] [--chunks 50] [--rounds 5] [--calls 40]``

* The model server is ``benchmarks/server.py`` in its own process (model ``bench-<N>``: an
  N-chunk stream). The experiment is two ``DialogAgent``s taking turns in a loop until
  ``--messages`` messages, each reply a ``--chunks``-chunk stream over ``openai_chat`` (the
  real SDK). Per round: the original run (recorded, as every experiment run is), then its
  replay (``run(replay=...)``: no request reaches the server, checked), each timed from
  ``run()`` to its return, in one process. Reported: median wall time of each and the
  median of the per-round ratios.
* Recording overhead: ``--calls`` streamed 1,000-chunk replies per contender, alternating,
  with the run's records off (``disable_saving``) and on (``save_api_invoke``: the JSON line
  with the reply's pieces); paired median ratio, and the time of building the record's
  ``reply`` alone per call.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "benchmarks/server.py"], stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
    )
    line = proc.stdout.readline().strip()  # type: ignore[union-attr]
    if not line.startswith("PORT "):
        proc.kill()
        raise SystemExit(f"benchmarks/server.py did not start: {line!r}")
    return proc, f"http://127.0.0.1:{line.split()[1]}/v1"


def _requests(base_url: str) -> int:
    import urllib.request

    with urllib.request.urlopen(base_url.rsplit("/v1", 1)[0] + "/_stats") as res:
        return int(json.load(res)["requests"])


def _experiment(base_url: str, save_dir: str, messages: int, chunks: int) -> dict[str, Any]:
    return {
        "model_configs": [{
            "config_name": "bench", "model_type": "openai_chat", "model_name": f"bench-{chunks}",
            "base_url": base_url, "api_key": "sk-bench", "stream": True, "max_retries": 0,
        }],
        "agents": {
            "ping": {"class": "DialogAgent", "model": "bench", "sys_prompt": "You are ping.",
                     "memory_window": 2},
            "pong": {"class": "DialogAgent", "model": "bench", "sys_prompt": "You are pong.",
                     "memory_window": 2},
        },
        "pipeline": [{"loop": {"max_rounds": messages // 2, "steps": ["ping", "pong"]}}],
        "run": {"name": "bench_replay", "save_dir": save_dir},
    }


def _timed_run(spec: dict[str, Any], replay: Path | None = None) -> tuple[float, Any]:
    from agentscope_legacy.experiment import load

    experiment = load(spec)
    gc.collect()
    sink = io.StringIO()
    with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
        start = time.perf_counter()
        result = experiment.run(quiet=True, replay=replay)
        elapsed = time.perf_counter() - start
    return elapsed, result


def bench_replay(base_url: str, messages: int, chunks: int, rounds: int) -> dict[str, Any]:
    originals, replays, ratios = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        spec = _experiment(base_url, tmp, messages, chunks)
        _timed_run(spec)  # warm-up: imports, the first connection
        for _ in range(rounds):
            original, first = _timed_run(spec)
            before = _requests(base_url)
            again, second = _timed_run(spec, replay=first.run_dir)
            assert _requests(base_url) == before, "a replayed call reached the server"
            assert [m.content for m in second.messages] == [m.content for m in first.messages]
            assert len(first.messages) == messages
            originals.append(original)
            replays.append(again)
            ratios.append(original / again)
    return {
        "messages": messages,
        "chunks_per_reply": chunks,
        "original_s": statistics.median(originals),
        "replay_s": statistics.median(replays),
        "speedup_paired": statistics.median(ratios),
    }


def bench_recording(base_url: str, calls: int) -> dict[str, Any]:
    import agentscope_legacy
    from agentscope_legacy import monitor
    from agentscope_legacy.models import load_model_by_config_name

    config = [{"config_name": "bench1000", "model_type": "openai_chat",
               "model_name": "bench-1000", "base_url": base_url, "api_key": "sk-bench",
               "stream": True, "max_retries": 0}]
    prompt = [{"role": "user", "content": "go"}]
    with tempfile.TemporaryDirectory() as tmp:
        setups = {
            "off": {"disable_saving": True},
            "on": {"save_dir": tmp, "save_api_invoke": True, "use_monitor": False},
        }
        times: dict[str, list[float]] = {"off": [], "on": []}
        reply_us: list[float] = []
        for i in range(calls + 1):
            order = ("off", "on") if i % 2 == 0 else ("on", "off")
            for name in order:
                loaded = {} if i or name != order[0] else {"model_configs": config}
                agentscope_legacy.init(**loaded, **setups[name])  # the config stays loaded
                model = load_model_by_config_name("bench1000")
                gc.collect()
                start = time.perf_counter()
                response = model(prompt)
                pieces = sum(1 for _ in response.deltas)
                elapsed = time.perf_counter() - start
                assert pieces == 1000, pieces
                if i:  # the first pair warms up
                    times[name].append(elapsed)
                if name == "on" and i:
                    start = time.perf_counter()
                    monitor._reply(response, True)
                    reply_us.append((time.perf_counter() - start) * 1e6)
        agentscope_legacy.init(disable_saving=True)
    ratios = [on / off for on, off in zip(times["on"], times["off"], strict=True)]
    return {
        "chunks": 1000,
        "off_ms": statistics.median(times["off"]) * 1e3,
        "on_ms": statistics.median(times["on"]) * 1e3,
        "overhead_paired": statistics.median(ratios),
        "reply_record_us": statistics.median(reply_us),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--chunks", type=int, default=50, help="chunks per experiment reply")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=40, help="1,000-chunk calls per contender")
    args = parser.parse_args()
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    proc, base_url = _server()
    try:
        replay = bench_replay(base_url, args.messages, args.chunks, args.rounds)
        recording = bench_recording(base_url, args.calls)
    finally:
        proc.kill()
    print(json.dumps({"replay": replay, "recording": recording}, indent=2))
    print(
        f"\n{replay['messages']}-message experiment ({replay['chunks_per_reply']}-chunk "
        f"replies): original {replay['original_s']:.3f} s, replay {replay['replay_s']:.3f} s "
        f"-> {replay['speedup_paired']:.1f}x faster (paired median)\n"
        f"recording a 1,000-chunk stream: {recording['off_ms']:.2f} ms without records, "
        f"{recording['on_ms']:.2f} ms with -> {recording['overhead_paired']:.3f}x "
        f"(paired median); building the reply's record: {recording['reply_record_us']:.0f} us"
    )


if __name__ == "__main__":
    main()
