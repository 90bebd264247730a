"""Timing, statistics, CPU pinning, the server process, and machine facts."""

from __future__ import annotations

import gc
import http.client
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"


# -- statistics -------------------------------------------------------------------------------
def summary(samples: list[float]) -> dict[str, Any]:
    """min/median/mean/max of a list of seconds (kept raw too, for the JSON)."""
    return {
        "n": len(samples),
        "min": min(samples),
        "median": statistics.median(samples),
        "mean": statistics.fmean(samples),
        "max": max(samples),
        "samples": samples,
    }


def ratio(candidate: dict[str, Any], baseline: dict[str, Any]) -> dict[str, float]:
    """Candidate over baseline, four ways (the first is the headline, judged by the targets).

    * ``paired``: median over rounds of candidate/baseline, each pair timed back to back, so
      load that drifts over the run cancels out;
    * ``median``/``min``: ratio of the medians / of the minimums of wall time;
    * ``cpu``: ``paired`` on CPU time of the client process (and its children), which other
      processes on a busy machine barely disturb; waiting (network, server) is not in it.
    """
    pairs = zip(candidate["samples"], baseline["samples"], strict=True)
    result = {
        "paired": statistics.median(c / b for c, b in pairs),
        "median": candidate["median"] / baseline["median"],
        "min": candidate["min"] / baseline["min"],
    }
    if "cpu" in candidate and "cpu" in baseline:
        cpu_pairs = zip(candidate["cpu"]["samples"], baseline["cpu"]["samples"], strict=True)
        result["cpu"] = statistics.median(c / b for c, b in cpu_pairs if b > 0)
    return result


def cpu_seconds() -> float:
    """CPU time of this process (all threads) and of its waited-for children.

    ``os.times()`` would tick at 100 Hz; these two clocks have microsecond resolution.
    """
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def interleaved(
    contenders: dict[str, Callable[[], Any]], rounds: int, warmup: int = 1
) -> dict[str, dict[str, Any]]:
    """Time each contender ``rounds`` times, interleaved: wall time and CPU time.

    Rounds alternate the order (A B C, C B A, A B C, ...) so that no contender always runs
    right after the same other one. ``gc.collect()`` runs before every timed sample, outside
    the timing. A contender may return a dict of extra per-round measurements (such as time to
    first item), collected under ``extra``; a ``seconds`` entry in it replaces the measured
    wall time (for contenders that must exclude their own set-up, such as starting threads).
    """
    names = list(contenders)
    for _ in range(warmup):
        for name in names:
            contenders[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    extras: dict[str, list[Any]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            gc.collect()
            cpu_start = cpu_seconds()
            start = time.perf_counter()
            extra = contenders[name]()
            elapsed = time.perf_counter() - start
            cpu[name].append(cpu_seconds() - cpu_start)
            if isinstance(extra, dict):
                elapsed = extra.pop("seconds", elapsed)
                if extra:
                    extras[name].append(extra)
            times[name].append(elapsed)
    result = {}
    for name in names:
        result[name] = summary(times[name])
        result[name]["cpu"] = summary(cpu[name])
        if extras[name]:
            result[name]["extra"] = extras[name]
    return result


# -- CPU pinning ------------------------------------------------------------------------------
def plan_cpus() -> tuple[int | None, int | None]:
    """(server CPU, client CPU): two distinct cores when the process may use two."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None, None
    if len(cpus) < 2:
        return None, None
    return cpus[-1], cpus[0]


def pin_self(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


# -- the server process -----------------------------------------------------------------------
class BenchServer:
    """``benchmarks/server.py`` in its own process, pinned to ``cpu``."""

    def __init__(self, cpu: int | None) -> None:
        cmd = [sys.executable, str(HERE / "server.py")]
        if cpu is not None:
            cmd += ["--cpu", str(cpu)]
        self.cpu = cpu
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("PORT "):
            self.close()
            raise RuntimeError(f"the benchmark server did not start: {line!r}")
        self.port = int(line.split()[1])
        self.base_url = f"http://{HOST}:{self.port}/v1"

    def _control(self, method: str, path: str) -> dict[str, Any]:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=10)
        try:
            conn.request(method, path, body=b"" if method == "POST" else None)
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def stats(self) -> dict[str, Any]:
        return self._control("GET", "/_stats")

    def reset(self) -> None:
        self._control("POST", "/_reset")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> BenchServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def raw_request(port: int, model: str, stream: bool) -> tuple[float, int]:
    """Fetch one reply over a plain socket: (seconds, bytes). Measures the server alone."""
    import socket

    body = json.dumps(
        {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    ).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    end = b"0\r\n\r\n" if stream else None
    with socket.create_connection((HOST, port)) as sock:
        start = time.perf_counter()
        sock.sendall(request)
        received = bytearray()
        while True:
            data = sock.recv(1 << 20)
            if not data:
                break
            received += data
            if end is not None and received.endswith(end):
                break
            if end is None and b"\r\n\r\n" in received:
                head, _, rest = bytes(received).partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                if len(rest) >= length:
                    break
        return time.perf_counter() - start, len(received)


# -- machine facts ----------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine_info(server_cpu: int | None, client_cpu: int | None) -> dict[str, Any]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "server_cpu": server_cpu,
        "client_cpu": client_cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "packages": {
            name: package_version(name)
            for name in (
                "agentscope-legacy",
                "openai",
                "httpx2",
                "pydantic",
                "PyYAML",
                "jsonschema",
                "loguru",
            )
        },
        "time": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
