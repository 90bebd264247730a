"""The local model's speed: time to first token and decode tok/s, wrapper against runtime.

``python benchmarks/local.py [--rounds N] [--max-tokens N] [--out DIR]``

For each installed runtime (xllamacpp, llama-cpp-python) the ``llamacpp_chat`` wrapper's
stream (``res.deltas``) is timed against the runtime called directly with the
same options (``xllamacpp.Server.handle_chat_completions`` with a callback;
``llama_cpp.Llama.create_chat_completion(stream=True)``), and, for the first token, against
llama.cpp's default ``n_threads_batch`` (every core; the wrapper uses ``n_threads``).

* One thread (``n_threads=1``), the bundled SmolLM2-135M GGUF, greedy decoding.
* Every sample's prompt starts with a different number, so no prompt cache can serve it: the
  first token always includes evaluating the ~100-token prompt.
* TTFT: from the call to the first text. Decode tok/s: tokens after the first one over the
  time after the first one; every side counts text pieces (one per token), the wrapper's
  through ``res.deltas`` (``res.stream`` holds one piece back to flag the last item).
* Contenders run in turn within each round, the order alternating between rounds, after one
  warm-up round; ratios are medians of the per-round ratios (``paired``), so drifting load
  cancels out. Writes ``DIR/local.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SYSTEM = (
    "You are a careful assistant. Answer in plain English, in full sentences, and explain "
    "your reasoning step by step so that a beginner can follow it. Request number {n}."
)
QUESTION = "Why is the sky blue? Explain the physics, then give two everyday examples."
N_CTX = 1024


def messages(n: int) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SYSTEM.format(n=n)},
        {"role": "user", "content": QUESTION},
    ]


Sample = tuple[float, float]  # (ttft seconds, decode tok/s)


def _sample(start: float, first: float | None, last: float, tokens: int) -> Sample:
    if first is None or tokens < 2:
        raise AssertionError("the model produced fewer than two tokens")
    return first - start, (tokens - 1) / (last - first)


def wrapper_contender(runtime: str, max_tokens: int) -> Callable[[int], Sample]:
    from agentscope_legacy.models.llamacpp import LlamaCppChatWrapper

    model = LlamaCppChatWrapper(
        "bench-local",
        n_ctx=N_CTX,
        n_threads=1,
        runtime=runtime,
        generate_args={"max_tokens": max_tokens, "temperature": 0.0},
    )

    def run(n: int) -> Sample:
        start = time.perf_counter()
        response = model(messages(n), stream=True)
        first, tokens = None, 0
        for _piece in response.deltas:  # .stream holds one piece back to flag the last one
            tokens += 1
            if first is None:
                first = time.perf_counter()
        last = time.perf_counter()
        return _sample(start, first, last, tokens)

    return run


def xllamacpp_direct(max_tokens: int, n_threads_batch: int | None) -> Callable[[int], Sample]:
    import xllamacpp

    from agentscope_legacy.models.llamacpp import bundled_model_path

    params = xllamacpp.CommonParams()
    params.model.path = bundled_model_path()
    params.n_ctx = N_CTX
    params.n_batch = 512
    params.n_parallel = 1
    params.cpuparams.n_threads = 1
    if n_threads_batch is not None:
        params.cpuparams_batch.n_threads = n_threads_batch
    params.verbosity = -1
    params.api_keys = [os.urandom(16).hex()]
    server = xllamacpp.Server(params)

    def run(n: int) -> Sample:
        state: dict[str, Any] = {"first": None, "tokens": 0}

        def callback(chunk: dict[str, Any]) -> bool:
            choices = chunk.get("choices") or []
            if choices and (choices[0].get("delta") or {}).get("content"):
                state["tokens"] += 1
                if state["first"] is None:
                    state["first"] = time.perf_counter()
            return False

        start = time.perf_counter()
        request = {
            "messages": messages(n),
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "stream": True,
        }
        server.handle_chat_completions(request, callback)
        return _sample(start, state["first"], time.perf_counter(), state["tokens"])

    run.server = server  # type: ignore[attr-defined]  (kept alive with the contender)
    return run


def llama_cpp_direct(max_tokens: int, n_threads_batch: int | None) -> Callable[[int], Sample]:
    import llama_cpp

    from agentscope_legacy.models.llamacpp import bundled_model_path

    options: dict[str, Any] = {"n_ctx": N_CTX, "n_threads": 1, "n_batch": 512}
    if n_threads_batch is not None:
        options["n_threads_batch"] = n_threads_batch
    llm = llama_cpp.Llama(model_path=bundled_model_path(), verbose=False, **options)

    def run(n: int) -> Sample:
        start = time.perf_counter()
        first, tokens = None, 0
        chunks = llm.create_chat_completion(
            messages=messages(n), max_tokens=max_tokens, temperature=0.0, stream=True
        )
        for chunk in chunks:
            if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                tokens += 1
                if first is None:
                    first = time.perf_counter()
        return _sample(start, first, time.perf_counter(), tokens)

    return run


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def contenders(max_tokens: int) -> dict[str, Callable[[int], Sample]]:
    found: dict[str, Callable[[int], Sample]] = {}
    if installed("xllamacpp"):
        found["xllamacpp wrapper"] = wrapper_contender("xllamacpp", max_tokens)
        found["xllamacpp direct"] = xllamacpp_direct(max_tokens, 1)
        found["xllamacpp direct, default n_threads_batch"] = xllamacpp_direct(max_tokens, None)
    if installed("llama_cpp"):
        found["llama_cpp wrapper"] = wrapper_contender("llama_cpp", max_tokens)
        found["llama_cpp direct"] = llama_cpp_direct(max_tokens, 1)
        found["llama_cpp direct, default n_threads_batch"] = llama_cpp_direct(max_tokens, None)
    return found


def measure(rounds: int, max_tokens: int) -> dict[str, Any]:
    runs = contenders(max_tokens)
    if not runs:
        return {"status": "skipped", "reason": "no local runtime installed"}
    names = list(runs)
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    n = 0
    for round_ in range(rounds + 1):  # round 0 warms up
        order = names if round_ % 2 else names[::-1]
        for name in order:
            n += 1
            gc.collect()
            sample = runs[name](n)
            if round_:
                samples[name].append(sample)
    result: dict[str, Any] = {"status": "ok", "rounds": rounds, "max_tokens": max_tokens}
    for name in names:
        ttft = [s[0] for s in samples[name]]
        tps = [s[1] for s in samples[name]]
        result[name] = {
            "ttft_s": {"median": statistics.median(ttft), "samples": ttft},
            "decode_tok_s": {"median": statistics.median(tps), "samples": tps},
        }

    def paired(a: str, b: str, key: str) -> float:
        pairs = zip(result[a][key]["samples"], result[b][key]["samples"], strict=True)
        return statistics.median(x / y for x, y in pairs)

    ratios = {}
    for runtime in ("xllamacpp", "llama_cpp"):
        wrapper, direct = f"{runtime} wrapper", f"{runtime} direct"
        if wrapper in result:
            ratios[f"{runtime}: wrapper / direct, decode tok/s"] = paired(
                wrapper, direct, "decode_tok_s"
            )
            ratios[f"{runtime}: wrapper / direct, TTFT"] = paired(wrapper, direct, "ttft_s")
            ratios[f"{runtime}: direct, default n_threads_batch / n_threads_batch=1, TTFT"] = (
                paired(f"{direct}, default n_threads_batch", direct, "ttft_s")
            )
    if "xllamacpp wrapper" in result and "llama_cpp wrapper" in result:
        ratios["wrapper: xllamacpp / llama_cpp, decode tok/s"] = paired(
            "xllamacpp wrapper", "llama_cpp wrapper", "decode_tok_s"
        )
        ratios["wrapper: xllamacpp / llama_cpp, TTFT"] = paired(
            "xllamacpp wrapper", "llama_cpp wrapper", "ttft_s"
        )
    result["ratios"] = ratios
    result["load_average"] = os.getloadavg()
    result["cpus"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return result


def markdown(result: dict[str, Any]) -> str:
    if result["status"] != "ok":
        return f"local model: {result['reason']}"
    lines = [
        f"### Local model ({result['rounds']} rounds, max_tokens {result['max_tokens']}, "
        f"one thread, load average {', '.join(f'{x:.2f}' for x in result['load_average'])})",
        "",
        "| contender | TTFT (median) | decode tok/s (median) |",
        "|---|---|---|",
    ]
    for name, entry in result.items():
        if isinstance(entry, dict) and "ttft_s" in entry:
            ttft, tps = entry["ttft_s"]["median"], entry["decode_tok_s"]["median"]
            lines.append(f"| {name} | {ttft * 1e3:.0f} ms | {tps:.1f} |")
    lines += ["", "| ratio (paired) | value |", "|---|---|"]
    lines += [f"| {name} | {value:.3f}× |" for name, value in result["ratios"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    result = measure(args.rounds, args.max_tokens)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "local.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
