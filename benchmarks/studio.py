"""Studio overhead: a streamed 1,000-chunk reply with ``studio_url`` set against the built-in
Studio, against the same reply without it, and the delay from a chunk being spoken to the page
receiving it.

``python benchmarks/studio.py [--chunks N] [--rounds R] [--out DIR]``

* The model server is ``benchmarks/server.py`` (model ``bench-<N>``: N streamed chunks) and
  the Studio is ``agentscope-legacy studio``, each in its own process; the benchmark process
  runs a ``DialogAgent`` over ``openai_chat`` (the real SDK) whose reply is spoken (printed to
  /dev/null, as a terminal would take it).
* Per round, after one warm-up: one run without Studio and one with ``init(studio_url=...)``
  (the order alternating), each of ``--replies`` + 1 replies timed from the call to the reply
  returned. The ratio (target at most 1.05x) is the median of the per-round ratios of the
  runs' median replies (drifting load cancels out); a run's first reply, which shares its
  time with the run's registration and the client's first connection, is reported apart, as
  is the client's final flush (at the end of a run, off the replies' path).
* Page latency, in ``--latency-replies`` further replies with Studio (not timed: a listener of
  the benchmark's own notes when each chunk is spoken and how long the text then is): an SSE
  reader of the Studio's ``/api/events`` (what the page receives; its own process) notes when
  each message event arrives and its text's length. A chunk's delay is the arrival of the
  first event whose text holds it minus the time it was spoken (one machine, one clock), so
  the time a chunk waits to be coalesced with the next ones counts. Median and p99 over
  every chunk.
"""

from __future__ import annotations

import argparse
import contextlib
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


def _start(args: list[str], marker: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    line = proc.stdout.readline().strip()  # type: ignore[union-attr]
    if not line.startswith(marker):
        proc.kill()
        raise SystemExit(f"{args[1]} did not start: {line!r}")
    return proc, line


def reader(url: str) -> None:
    """The page's side, in its own process (its parsing must not share the run's GIL): read
    the Studio's event stream, print ``<arrival time> <text length> <reply id>`` of every
    message event, one per line."""
    import requests

    print("READY", flush=True)
    with requests.get(url + "/api/events", stream=True, timeout=(5, 600)) as response:
        for line in response.iter_lines():
            if not line.startswith(b"data: "):
                continue
            now = time.time()
            item = json.loads(line[6:])
            if item.get("type") == "message":
                data = item["data"]
                print(f"{now!r} {len(data['text'])} {data['id']}", flush=True)


class _Spoken:
    """A speak listener of the benchmark (latency replies only): per reply id, the text's
    length after each chunk and when that chunk was spoken."""

    def __init__(self) -> None:
        self.chunks: dict[str, list[tuple[int, float]]] = {}

    def __call__(self, msg: Any, last: bool) -> None:
        if last:
            return
        now = time.time()
        seen = self.chunks.setdefault(msg.id, [])
        previous = seen[-1][0] if seen else 0
        seen.append((previous + len(msg.parts[-1]), now))


def _delays(spoken: dict[str, list[tuple[int, float]]], events: list[str]) -> list[float]:
    """Per chunk: the arrival of the first event of its reply holding it, minus when it was
    spoken (a chunk no event held is left out and counted apart)."""
    arrivals: dict[str, list[tuple[float, int]]] = {}
    for line in events:
        at, length, key = line.split(" ", 2)
        arrivals.setdefault(key, []).append((float(at), int(length)))
    delays = []
    for key, chunks in spoken.items():
        got = arrivals.get(key, [])
        for length, at in chunks:
            arrived = next((t for t, n in got if n >= length), None)
            if arrived is not None:
                delays.append(arrived - at)
    return delays


def _cpu_s(pid: int) -> float | None:
    """A process's CPU time (user + system) so far; None where /proc is not there."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _mean_ms(values: list[float]) -> float | None:
    return statistics.mean(values) * 1e3 if values else None


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:  # noqa: PLR0915
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--replies", type=int, default=5, help="timed replies per run")
    parser.add_argument("--latency-replies", type=int, default=10,
                        help="replies with Studio whose chunks' delays are measured")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--reader", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    if args.reader:
        return reader(args.reader)

    import agentscope_legacy
    from agentscope_legacy import logging as aslogging
    from agentscope_legacy._runtime import get_runtime
    from agentscope_legacy.agents import DialogAgent
    from agentscope_legacy.message import Msg
    from agentscope_legacy.studio import detach

    model, port_line = _start([sys.executable, "benchmarks/server.py"], "PORT ")
    save_dir = tempfile.mkdtemp(prefix="studio-bench-")
    studio, studio_url = _start([sys.executable, "-m", "agentscope_legacy.cli", "studio",
                                 "--port", "0", "--save-dir", save_dir], "http://")
    studio_url = studio_url.rstrip("/")
    config = {"config_name": "bench", "model_type": "openai_chat",
              "model_name": f"bench-{args.chunks}", "api_key": "sk-bench",
              "base_url": f"http://127.0.0.1:{port_line.split()[1]}/v1", "stream": True}
    page, _ = _start([sys.executable, "benchmarks/studio.py", "--reader", studio_url], "READY")

    # CPU per timed reply: the run's process, its speaking thread, the Studio client's thread,
    # the Studio's process and the page reader's process.
    cpu: dict[Any, list[float]] = {False: [], True: [], "studio": [], "main": [], "client": [],
                                   "main_without": [], "reader": []}

    def one(with_studio: bool, n: int, replies: int) -> tuple[float, float, float]:
        """One run: (its first reply, the median of the next ``replies``, the final flush);
        also the CPU per reply of this process (both threads) and, with Studio, the Studio's."""
        agentscope_legacy.init(model_configs=[config], disable_saving=True, allow_replace=True,
                               runtime_id=f"run_bench{n}", logger_level="ERROR",
                               studio_url=studio_url if with_studio else None)
        agent = DialogAgent("bench", sys_prompt="You are a benchmark.",
                            model_config_name="bench", use_memory=False)
        times = []
        with contextlib.redirect_stdout(io.StringIO()):
            for i in range(replies + 1):
                if i == 1:
                    run_cpu, studio_cpu = time.process_time(), _cpu_s(studio.pid)
                    main_cpu, reader_cpu = time.thread_time(), _cpu_s(page.pid)
                    client = get_runtime().studio
                    # The thread's own CPU clock (/proc counts in 10 ms ticks: too coarse).
                    clock = (time.pthread_getcpuclockid(client._thread.ident)
                             if client is not None else None)
                    client_cpu = time.clock_gettime(clock) if clock is not None else None
                started = time.perf_counter()
                agent(Msg("user", "go", "user"))
                times.append(time.perf_counter() - started)
        if n:
            cpu[with_studio].append((time.process_time() - run_cpu) / replies)
            cpu["main" if with_studio else "main_without"].append(
                (time.thread_time() - main_cpu) / replies)
            if with_studio and studio_cpu is not None:
                cpu["studio"].append((_cpu_s(studio.pid) - studio_cpu) / replies)
                cpu["reader"].append((_cpu_s(page.pid) - reader_cpu) / replies)
                if client_cpu is not None:
                    cpu["client"].append((time.clock_gettime(clock) - client_cpu) / replies)
        started = time.perf_counter()
        detach(get_runtime())
        return times[0], statistics.median(times[1:]), time.perf_counter() - started

    try:
        one(False, 0, 2)
        one(True, 0, 2)
        firsts: dict[bool, list[float]] = {False: [], True: []}
        steady: dict[bool, list[float]] = {False: [], True: []}
        flushes, ratios, first_ratios = [], [], []
        for n in range(1, args.rounds + 1):
            order = (False, True) if n % 2 else (True, False)
            for with_studio in order:
                first, median, flush = one(with_studio, n, args.replies)
                firsts[with_studio].append(first)
                steady[with_studio].append(median)
                if with_studio:
                    flushes.append(flush)
            ratios.append(steady[True][-1] / steady[False][-1])
            first_ratios.append(firsts[True][-1] / firsts[False][-1])
        spoken = _Spoken()
        aslogging.speak_listeners.append(spoken)  # after the client's, in this run only
        try:
            one(True, 0, args.latency_replies)
        finally:
            aslogging.speak_listeners.remove(spoken)
        time.sleep(0.5)  # the last events reach the reader
    finally:
        page.terminate()
        events = page.stdout.read().splitlines()  # type: ignore[union-attr]
        studio.terminate()
        model.terminate()
    delays = _delays(spoken.chunks, events)
    result = {
        "chunks": args.chunks, "rounds": args.rounds,
        "without_studio_ms": statistics.median(steady[False]) * 1e3,
        "with_studio_ms": statistics.median(steady[True]) * 1e3,
        "ratio": statistics.median(ratios),
        "first_reply_without_ms": statistics.median(firsts[False]) * 1e3,
        "first_reply_with_ms": statistics.median(firsts[True]) * 1e3,
        "first_reply_ratio": statistics.median(first_ratios),
        "final_flush_ms": statistics.median(flushes) * 1e3,
        # Where the time goes: on shared cores the Studio's own CPU competes with the run.
        "run_cpu_per_reply_without_ms": statistics.mean(cpu[False]) * 1e3,
        "run_cpu_per_reply_with_ms": statistics.mean(cpu[True]) * 1e3,
        "run_main_thread_cpu_per_reply_without_ms": _mean_ms(cpu["main_without"]),
        "run_main_thread_cpu_per_reply_with_ms": _mean_ms(cpu["main"]),
        "client_thread_cpu_per_reply_ms": _mean_ms(cpu["client"]),
        "studio_cpu_per_reply_ms": _mean_ms(cpu["studio"]),
        "page_reader_cpu_per_reply_ms": _mean_ms(cpu["reader"]),
        "page_events": len(events),
        "chunks_timed_for_delay": len(delays),
        "chunks_spoken_for_delay": sum(len(c) for c in spoken.chunks.values()),
        "page_delay_median_ms": statistics.median(delays) * 1e3 if delays else None,
        "page_delay_p99_ms": _percentile(delays, 0.99) * 1e3 if delays else None,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "studio.json").write_text(json.dumps(result, indent=2) + "\n")
    print("| measure | value |\n|---|---|")
    for key, value in result.items():
        print(f"| {key} | {value:.2f} |" if isinstance(value, float) else f"| {key} | {value} |")
    target = "PASS" if result["ratio"] <= 1.05 else "MISS"
    print(f"{target}: with Studio / without = {result['ratio']:.3f}x (target <= 1.05x)")


if __name__ == "__main__":
    main()
