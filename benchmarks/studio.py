"""Studio overhead: a streamed 1,000-chunk reply with ``studio_url`` set against the built-in
Studio, against the same reply without it, and the delay from a chunk being spoken to the page
receiving it.

``python benchmarks/studio.py [--chunks N] [--rounds R] [--out DIR]``

* The model server is ``benchmarks/server.py`` (model ``bench-<N>``: N streamed chunks) and
  the Studio is ``agentscope-legacy studio``, each in its own process; the benchmark process
  runs a ``DialogAgent`` over ``openai_chat`` (the real SDK) whose reply is spoken (printed to
  /dev/null, as a terminal would take it).
* Per round, after one warm-up: one reply without Studio and one with ``init(studio_url=...)``
  (the order alternating), each timed from the call to the reply returned. The client's final
  flush (at the end of a run, off the reply's path) is timed apart. Ratio: the median of the
  per-round ratios (drifting load cancels out); target at most 1.05x.
* Page latency: an SSE reader of the Studio's ``/api/events`` (what the page receives) takes
  each message event's arrival time minus the time the client saw that chunk spoken
  (``spokenAt``; one machine, one clock). Median and p99 over every event received.
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
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _start(args: list[str], marker: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            cwd=ROOT)
    line = proc.stdout.readline().strip()  # type: ignore[union-attr]
    if not line.startswith(marker):
        proc.kill()
        raise SystemExit(f"{args[1]} did not start: {line!r}")
    return proc, line


def _events(url: str, sink: list[float], stop: threading.Event) -> None:
    """Read the Studio's event stream; record the delay of every message event."""
    import requests

    with requests.get(url + "/api/events", stream=True, timeout=(5, 60)) as response:
        for line in response.iter_lines():
            if stop.is_set():
                return
            if not line.startswith(b"data: "):
                continue
            now = time.time()
            item = json.loads(line[6:])
            spoken = item.get("data", {}).get("spokenAt") if item.get("type") == "message" \
                else None
            if spoken is not None:
                sink.append(now - spoken)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

    import agentscope_legacy
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
    delays: list[float] = []
    stop = threading.Event()
    reader = threading.Thread(target=_events, args=(studio_url, delays, stop), daemon=True)
    reader.start()

    def one(with_studio: bool, n: int) -> tuple[float, float]:
        agentscope_legacy.init(model_configs=[config], disable_saving=True, allow_replace=True,
                               runtime_id=f"run_bench{n}", logger_level="ERROR",
                               studio_url=studio_url if with_studio else None)
        agent = DialogAgent("bench", sys_prompt="You are a benchmark.",
                            model_config_name="bench")
        with contextlib.redirect_stdout(io.StringIO()):
            started = time.perf_counter()
            agent(Msg("user", "go", "user"))
            wall = time.perf_counter() - started
        started = time.perf_counter()
        detach(get_runtime())
        return wall, time.perf_counter() - started

    try:
        one(False, 0)
        one(True, 0)
        delays.clear()
        plain, watched, flushes, ratios = [], [], [], []
        for n in range(1, args.rounds + 1):
            order = (False, True) if n % 2 else (True, False)
            times = {}
            for with_studio in order:
                times[with_studio], flush = one(with_studio, n)
                if with_studio:
                    flushes.append(flush)
            plain.append(times[False])
            watched.append(times[True])
            ratios.append(times[True] / times[False])
        time.sleep(0.5)  # the last events reach the reader
    finally:
        stop.set()
        studio.terminate()
        model.terminate()
    result = {
        "chunks": args.chunks, "rounds": args.rounds,
        "without_studio_ms": statistics.median(plain) * 1e3,
        "with_studio_ms": statistics.median(watched) * 1e3,
        "ratio": statistics.median(ratios),
        "final_flush_ms": statistics.median(flushes) * 1e3,
        "page_events": len(delays),
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
