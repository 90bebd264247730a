"""Endpoint pool against LiteLLM's Router: three loopback OpenAI endpoints, one failing 50%.

``python benchmarks/endpoint_pool.py [--calls N] [--rounds R]``

* The servers are three ``tests/emulators/openai_compat.py`` emulators in their own process;
  the first answers every other chat request with a 500.
* Four clients, each in this process, each through the ``openai`` SDK: an ``openai_chat``
  config with ``endpoints:`` (the pool, ``max_retries: 2``, no retry wait: failover needs
  none) and, the same calls, LiteLLM's ``Router`` over the same three deployments
  (``num_retries=2``, ``retry_after=0``); each beside its direct baseline (one healthy endpoint,
  no pool: ``openai_chat`` with ``base_url``, ``litellm.completion`` with ``api_base``).
* Two cooldown settings: each library's default (ours: an endpoint out for 30 s after 3
  failures in a row, which 50% failing never reaches; LiteLLM's Router: out for 5 s after
  3 failures in a minute), and cooldowns off for both (every call may meet the failing
  endpoint), the like-for-like case.
* Per round (the order of the clients rotating), ``--calls`` non-streamed calls per client,
  each timed. Reported per client: success rate, mean and median latency; the added latency
  per call is the pool's mean minus its own stack's direct mean; the ratio ours / LiteLLM of
  the added latency and of the mean latency is the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
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
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch of the price list
for _name in ("NO_PROXY", "no_proxy"):
    os.environ[_name] = ",".join(filter(None, [os.environ.get(_name), "127.0.0.1,localhost"]))

MESSAGES = [{"role": "user", "content": "hi"}]
KEYS = ["sk-bench-pool-000001", "sk-bench-pool-000002", "sk-bench-pool-000003"]


def serve() -> None:
    """The server process: three emulators, the first failing every other chat request."""
    import threading

    from tests.emulators.base import Fault
    from tests.emulators.openai_compat import OpenAIEmulator

    class HalfFailing(OpenAIEmulator):
        def __init__(self) -> None:
            super().__init__()
            self._count, self._count_lock = 0, threading.Lock()

        def _take_fault(self, path: str) -> Fault | None:
            if not path.endswith("/chat/completions"):
                return None
            with self._count_lock:
                self._count += 1
                odd = self._count % 2 == 1
            return Fault(status=500, message="half of the time") if odd else None

    servers = [HalfFailing().start(), OpenAIEmulator().start(), OpenAIEmulator().start()]
    print(json.dumps([s.base_url + "/v1" for s in servers]), flush=True)
    sys.stdin.read()  # until the benchmark closes our stdin
    for server in servers:
        server.stop()


def timed(fn: Any, calls: int) -> tuple[list[float], int]:
    latencies, failures = [], 0
    for _ in range(calls):
        start = time.perf_counter()
        try:
            text = fn()
            if text != "Hello!":
                failures += 1
        except Exception:
            failures += 1
        latencies.append(time.perf_counter() - start)
    return latencies, failures


def clients(urls: list[str], cooldowns: bool) -> dict[str, Any]:
    import litellm
    from litellm import Router

    from agentscope_legacy.models import load_model_by_config_name, read_model_configs

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    common = {"model_type": "openai_chat", "model_name": "gpt-4o-mini", "retry_interval": 0.0}
    pool = {
        "config_name": f"pool-{cooldowns}",
        "max_retries": 2,
        "endpoints": [{"base_url": u, "api_key": k} for u, k in zip(urls, KEYS, strict=True)],
        **common,
    }
    if not cooldowns:
        pool["cooldown"] = {"failures": 1_000_000, "seconds": 0}
    direct = {"config_name": "direct", "base_url": urls[1], "api_key": KEYS[1],
              "max_retries": 0, **common}
    read_model_configs([pool, direct], allow_replace=True)
    ours, ours_direct = (load_model_by_config_name(c["config_name"]) for c in (pool, direct))
    router_args: dict[str, Any] = {"num_retries": 2, "retry_after": 0, "timeout": 30}
    router_args.update({"disable_cooldowns": True} if not cooldowns else {"allowed_fails": 3})
    router = Router(
        model_list=[
            {
                "model_name": "pool",
                "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": u, "api_key": k},
            }
            for u, k in zip(urls, KEYS, strict=True)
        ],
        **router_args,
    )
    return {
        "ours pool": lambda: ours(MESSAGES).text,
        "ours direct": lambda: ours_direct(MESSAGES).text,
        "litellm router": lambda: router.completion(model="pool", messages=MESSAGES)
        .choices[0]
        .message.content,
        "litellm direct": lambda: litellm.completion(
            model="openai/gpt-4o-mini", api_base=urls[1], api_key=KEYS[1], messages=MESSAGES
        )
        .choices[0]
        .message.content,
    }


def measure(urls: list[str], cooldowns: bool, calls: int, rounds: int) -> dict[str, Any]:
    fns = clients(urls, cooldowns)
    names = list(fns)
    for fn in fns.values():  # warm-up: connections, imports, lazy clients
        timed(fn, 5)
    samples: dict[str, list[float]] = {n: [] for n in names}
    failures = dict.fromkeys(names, 0)
    added_ratios, mean_ratios = [], []
    for r in range(rounds):
        means = {}
        for name in names[r % len(names):] + names[: r % len(names)]:
            latencies, failed = timed(fns[name], calls)
            samples[name] += latencies
            failures[name] += failed
            means[name] = statistics.fmean(latencies)
        ours_added = means["ours pool"] - means["ours direct"]
        theirs_added = means["litellm router"] - means["litellm direct"]
        added_ratios.append(ours_added / theirs_added if theirs_added > 0 else float("nan"))
        mean_ratios.append(means["ours pool"] / means["litellm router"])
    total = calls * rounds
    rows = {
        name: {
            "success": 1 - failures[name] / total,
            "mean_ms": statistics.fmean(samples[name]) * 1000,
            "median_ms": statistics.median(samples[name]) * 1000,
        }
        for name in names
    }
    return {
        "clients": rows,
        "added_ms": {
            "ours": rows["ours pool"]["mean_ms"] - rows["ours direct"]["mean_ms"],
            "litellm": rows["litellm router"]["mean_ms"] - rows["litellm direct"]["mean_ms"],
        },
        "added_ratio_median": statistics.median(added_ratios),
        "mean_ratio_median": statistics.median(mean_ratios),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True, env=env,
    )
    try:
        urls = json.loads(server.stdout.readline())  # type: ignore[union-attr]
        from loguru import logger

        logger.remove()  # the pool's failovers are logged per call: not what is timed here
        results = {
            "default cooldowns": measure(urls, True, args.calls, args.rounds),
            "cooldowns off": measure(urls, False, args.calls, args.rounds),
        }
    finally:
        server.stdin.close()  # type: ignore[union-attr]
        server.wait(timeout=30)
    for setting, result in results.items():
        print(f"== {setting} ({args.calls} calls x {args.rounds} rounds per client)")
        for name, row in result["clients"].items():
            print(
                f"  {name:15s} success {row['success']:.1%}  mean {row['mean_ms']:.2f} ms  "
                f"median {row['median_ms']:.2f} ms"
            )
        added = result["added_ms"]
        print(
            f"  added per call: ours {added['ours']:.2f} ms, litellm {added['litellm']:.2f} ms; "
            f"ratio ours/litellm (median of rounds): added {result['added_ratio_median']:.2f}x, "
            f"mean latency {result['mean_ratio_median']:.2f}x"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
