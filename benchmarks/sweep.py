"""Sweep throughput: 64 short runs against the loopback OpenAI emulator, sequentially in one
process, with ``sweep --jobs 8`` (local worker processes) and with the Ray executor; the
speed-ups, and the per-run overhead of each executor.

``python benchmarks/sweep.py [--runs 64] [--jobs 8] [--latency 0.2] [--out DIR]``

* A run is a two-agent experiment of one round: two streamed model calls. The emulator
  (``tests/emulators/openai_compat.py``, in this process) answers each call after
  ``--latency`` seconds (a hosted API's time to answer; 0 makes the runs CPU-bound) and is
  run once per latency.
* Sequential: ``experiment.load(...).run()`` ``--runs`` times in this process (no worker, no
  sweep bookkeeping): the baseline. Local and Ray: ``sweep.run_sweep`` over a grid of
  ``--runs`` points, ``--jobs`` at a time; the wall time includes starting the workers (Ray
  itself is started before, and its start is reported apart).
* Per-run overhead: the executor with one run at a time (``--jobs 1``, 16 runs), the
  driver's time from handing a run out to its record written minus the run's own time in the
  worker: task start, passing the result, gathering (Ray: packing and writing) its files.
* Speed-ups are ratios measured in the same process, one after another.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EXPERIMENT = """\
model_configs:
  - {{config_name: bench, model_type: openai_chat, model_name: bench, base_url: "{url}",
     api_key: sk-bench-sweep-0001, stream: true, max_retries: 0}}
vars: {{n: 0}}
agents:
  ping: {{class: DialogAgent, model: bench, sys_prompt: You are ping., memory_window: 2}}
  pong: {{class: DialogAgent, model: bench, sys_prompt: You are pong., memory_window: 2}}
pipeline: [ping, pong]
metrics: {{messages: run.messages}}
run: {{name: bench, save_dir: "{save_dir}"}}
"""


def _sequential(file: Path, runs: int) -> float:
    from agentscope_legacy.experiment import load

    start = time.perf_counter()
    for i in range(runs):
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            load(file, overrides={"vars.n": i}).run(quiet=True, progress=False,
                                                    interactive=False)
    return time.perf_counter() - start


def _sweep(file: Path, runs: int, executor: str, jobs: int, save_dir: str) -> dict[str, Any]:
    from agentscope_legacy.sweep import plan, run_sweep

    sweep = plan(file, grid={"vars.n": list(range(runs))})
    start = time.perf_counter()
    result = run_sweep(sweep, executor=executor, jobs=jobs, save_dir=save_dir, progress=False)
    wall = time.perf_counter() - start
    assert not result.failed, result.failed[0]["error"]
    overhead = [r["wall"] - r["seconds"] for r in result.records]
    return {"wall_s": round(wall, 3), "overhead_ms": round(statistics.median(overhead) * 1e3, 1),
            "run_ms": round(statistics.median(r["seconds"] for r in result.records) * 1e3, 1)}


def measure(latency: float, runs: int, jobs: int, ray_started: bool) -> dict[str, Any]:
    from tests.emulators.base import Fault
    from tests.emulators.openai_compat import OpenAIEmulator

    server = OpenAIEmulator().start()
    try:
        server.set_reply(text="ping pong ping pong")
        if latency:
            server.add_fault(Fault(delay=latency, times=10**9), "/v1/chat")
        work = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
        file = work / "exp.yaml"
        file.write_text(EXPERIMENT.format(url=server.base_url + "/v1", save_dir=work / "runs"))
        row: dict[str, Any] = {"latency_s": latency, "runs": runs, "jobs": jobs}
        row["sequential_s"] = round(_sequential(file, runs), 3)
        row["local"] = _sweep(file, runs, "local", jobs, str(work))
        row["local_1"] = _sweep(file, 16, "local", 1, str(work))
        if ray_started:
            row["ray"] = _sweep(file, runs, "ray", jobs, str(work))
            row["ray_1"] = _sweep(file, 16, "ray", 1, str(work))
        for name in ("local", "ray"):
            if name in row:
                row[name]["speedup"] = round(row["sequential_s"] / row[name]["wall_s"], 2)
        return row
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=64)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--latency", type=float, action="append",
                        help="seconds per model call (repeatable; default 0 and 0.2)")
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--out", default=None, help="write sweep.json here")
    args = parser.parse_args()
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    os.environ.setdefault("no_proxy", "127.0.0.1,localhost")
    ray_start = None
    if not args.no_ray:
        try:
            import ray

            start = time.perf_counter()
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
            ray_start = round(time.perf_counter() - start, 2)
        except ImportError:
            print("ray is not installed: the Ray executor is skipped", file=sys.stderr)
    rows = [measure(latency, args.runs, args.jobs, ray_start is not None)
            for latency in (args.latency or [0.0, 0.2])]
    report = {"cpus": os.cpu_count(), "ray_init_s": ray_start, "rows": rows}
    print(json.dumps(report, indent=1))
    for row in rows:
        line = (f"latency {row['latency_s']:.1f} s: {row['runs']} runs sequential "
                f"{row['sequential_s']:.1f} s; --jobs {row['jobs']} {row['local']['wall_s']:.1f} s "
                f"({row['local']['speedup']}x)")
        if "ray" in row:
            line += f"; ray {row['ray']['wall_s']:.1f} s ({row['ray']['speedup']}x)"
        line += (f"; per-run overhead local {row['local_1']['overhead_ms']} ms"
                 + (f", ray {row['ray_1']['overhead_ms']} ms" if "ray_1" in row else ""))
        print(line)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        Path(args.out, "sweep.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
