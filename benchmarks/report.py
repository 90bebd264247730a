"""Targets (PASS/MISS) and the markdown report of one run."""

from __future__ import annotations

from typing import Any

from harness import ratio

# Ratio limits against the raw SDK, as the issue sets them.
IMPORT_LIMIT = 3.0
# Non-streamed calls must beat the SDK they wrap (issue 10): the wrapper posts the request
# through the SDK and parses the JSON body itself, skipping the SDK's typed objects.
NONSTREAM_OFF_LIMIT = 0.90
NONSTREAM_ON_LIMIT = 1.00
STREAM_LIMIT = 1.05
CONCURRENT_LIMIT = 1.10
CONFIG_LIMIT_S = 0.5
#: "Linear in chunk count": µs/chunk at the largest size within this factor of the next size.
LINEAR_LIMIT = 1.2
#: The ratio the targets judge (see harness.ratio for all four).
HEADLINE = "paired"
WRAPPER_CONSUMERS = ("wrapper_stream", "wrapper_deltas")
CONSUMER_LABELS = {
    "raw": "raw SDK (deltas)",
    "wrapper_stream": "wrapper `.stream` (last, text)",
    "wrapper_deltas": "wrapper `.deltas`",
    "prototype": "prototype: stdlib SSE parse",
}
RATIO_HEADERS = ["ratio (paired)", "of medians", "of mins", "CPU (paired)"]


def fmt_s(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def fmt_x(value: float) -> str:
    return f"{value:.3f}×"


def ratio_cells(r: dict[str, float] | None) -> list[str]:
    if r is None:
        return ["baseline", "", "", ""]
    cpu = r.get("cpu")
    return [
        f"**{fmt_x(r['paired'])}**",
        fmt_x(r["median"]),
        fmt_x(r["min"]),
        fmt_x(cpu) if cpu is not None else "",
    ]


def _target(name: str, value: float, limit: float, unit: str = "×") -> dict[str, Any]:
    return {"target": name, "value": value, "limit": limit, "unit": unit, "pass": value <= limit}


def evaluate(cases: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of the issue, judged on the headline ratio of this run."""
    targets = []
    ratios = cases["import"]["ratios"]
    for name in ("import agentscope_legacy", "agentscope-legacy --help"):
        value = ratios[name]["vs_python_pass"][HEADLINE]
        label = f"`{name}` ≤ {IMPORT_LIMIT:g}× `python -c pass`"
        targets.append(_target(label, value, IMPORT_LIMIT))
    for mode, limit in (("off", NONSTREAM_OFF_LIMIT), ("on", NONSTREAM_ON_LIMIT)):
        value = cases["nonstream"][f"recording_{mode}"]["ratio"][HEADLINE]
        label = f"non-stream, recording {mode} ≤ {limit:.2f}× raw SDK"
        targets.append(_target(label, value, limit))
    sizes = cases["stream"]["sizes"]
    for n, entry in sizes.items():
        for consumer in WRAPPER_CONSUMERS:
            label = f"stream {int(n):,} chunks, {CONSUMER_LABELS[consumer]} ≤ {STREAM_LIMIT}× raw"
            targets.append(_target(label, entry[consumer]["ratio"][HEADLINE], STREAM_LIMIT))
    ordered = sorted(sizes, key=int)
    if len(ordered) >= 2:
        small, large = ordered[-2], ordered[-1]
        for consumer in WRAPPER_CONSUMERS:
            growth = sizes[large][consumer]["us_per_chunk"] / sizes[small][consumer]["us_per_chunk"]
            label = (
                f"stream linear: {CONSUMER_LABELS[consumer]} µs/chunk at {int(large):,} "
                f"≤ {LINEAR_LIMIT}× µs/chunk at {int(small):,}"
            )
            targets.append(_target(label, growth, LINEAR_LIMIT))
    concurrent = cases["concurrent"]
    label = f"{concurrent['threads']} concurrent threads ≤ {CONCURRENT_LIMIT}× raw SDK"
    targets.append(_target(label, concurrent["ratio"][HEADLINE], CONCURRENT_LIMIT))
    a = cases["async"]
    if a.get("status") == "ok":
        label = f"{a['tasks']} concurrent async tasks (`acall`) ≤ {CONCURRENT_LIMIT}× AsyncOpenAI"
        targets.append(_target(label, a["concurrent"]["ratio"][HEADLINE], CONCURRENT_LIMIT))
    config = cases["config"]
    label = f"load + validate {config['configs']:,} configs (fresh process) < {CONFIG_LIMIT_S} s"
    targets.append(_target(label, config["fresh_process"]["median"], CONFIG_LIMIT_S, "s"))
    return targets


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def markdown(result: dict[str, Any]) -> str:
    cases = result["cases"]
    out = _header(result)
    out += ["### Targets", ""]
    rows = []
    for t in result["targets"]:
        value = fmt_x(t["value"]) if t["unit"] == "×" else fmt_s(t["value"])
        rows.append([t["target"], value, "PASS" if t["pass"] else "**MISS**"])
    out += _table(["target", "measured", "result"], rows)
    out += _imports(cases["import"])
    out += _nonstream(cases["nonstream"])
    out += _streams(cases["stream"])
    out += _concurrency(cases["concurrent"], cases["async"])
    out += _config(cases["config"])
    out += _format(cases["format"])
    out += _server(cases["server"], cases["stream"]["sizes"])
    out += ["### TCP connections opened by sequential calls (one client / wrapper)", ""]
    reuse = dict(cases["connection_reuse"])
    reuse.update(cases["async"].get("connection_reuse", {}))
    out += _table(
        ["way of calling", "calls", "connections"],
        [[k, str(v["calls"]), str(v["connections"])] for k, v in reuse.items()],
    )
    out += _peers(cases["peers"])
    return "\n".join(out)


def _header(result: dict[str, Any]) -> list[str]:
    m = result["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    pinning = (
        f"server on CPU {m['server_cpu']}, client on CPU {m['client_cpu']}"
        if m["server_cpu"] is not None
        else "not pinned (fewer than two usable CPUs)"
    )
    load = m.get("load_average")
    return [
        f"Mode: **{result['mode']}**, {result['time']}, {result['duration_s']:.0f} s in all.",
        "",
        f"- Machine: {m['cpu_model']}, {m['logical_cpus']} logical CPUs "
        f"({m['usable_cpus']} usable), {m['platform']}",
        f"- Load average before / after the run: {load}" if load else "- Load average: n/a",
        f"- Python {m['python']} ({m['python_implementation']}); {packages}",
        f"- Pinning: {pinning}; niceness {m.get('niceness', 0)}",
        "- Ratios are wrapper ÷ raw `openai` SDK, same run, interleaved rounds. Targets judge the "
        "**paired** ratio (median over rounds of back-to-back wrapper/raw pairs); ratios of "
        "medians and of minimums, and the paired ratio of client CPU time, are shown beside it.",
        "",
    ]


def _imports(imp: dict[str, Any]) -> list[str]:
    timings, ratios = imp["timings"], imp["ratios"]
    out = [f"### Cold start (subprocess, {timings['python -c pass']['n']} rounds)", ""]
    rows = []
    for name, t in timings.items():
        r = ratios.get(name)
        rows.append(
            [
                f"`{name}`",
                fmt_s(t["min"]),
                fmt_s(t["median"]),
                fmt_x(r["vs_python_pass"][HEADLINE]) if r else "",
                fmt_x(r["vs_import_openai"][HEADLINE]) if r else "",
            ]
        )
    return out + _table(["command", "min", "median", "× python -c pass", "× import openai"], rows)


def _nonstream(ns: dict[str, Any]) -> list[str]:
    out = [f"### Non-streaming: {ns['calls_per_round']} sequential calls per round", ""]
    rows = []
    for mode in ("recording_off", "recording_on"):
        e = ns[mode]
        rows.append(
            [
                mode.replace("_", " "),
                f"{e['raw']['us_per_call']:.0f}",
                f"{e['wrapper']['us_per_call']:.0f}",
                *ratio_cells(e["ratio"]),
            ]
        )
    return out + _table(["recording", "raw µs/call", "wrapper µs/call", *RATIO_HEADERS], rows)


def _streams(stream: dict[str, Any]) -> list[str]:
    out = ["### Streaming (median per stream; TTFT = from the call to the first item)", ""]
    rows = []
    for n, entry in stream["sizes"].items():
        for name, label in CONSUMER_LABELS.items():
            side = entry[name]
            rows.append(
                [
                    f"{int(n):,}",
                    label,
                    fmt_s(side["median"] / entry["streams_per_round"]),
                    f"{side['us_per_chunk']:.2f}",
                    fmt_s(side["ttft"]["median"]),
                    *ratio_cells(side.get("ratio")),
                ]
            )
    headers = ["chunks", "consumer", "per stream", "µs/chunk", "TTFT", *RATIO_HEADERS]
    return out + _table(headers, rows)


def _concurrency(c: dict[str, Any], a: dict[str, Any]) -> list[str]:
    out = [
        f"### Concurrency: {c['threads']} threads × {c['calls_per_thread']} calls, "
        "one shared client / wrapper",
        "",
    ]
    out += _table(
        ["raw SDK", "wrapper", *RATIO_HEADERS],
        [[fmt_s(c["raw"]["median"]), fmt_s(c["wrapper"]["median"]), *ratio_cells(c["ratio"])]],
    )
    if a.get("status") != "ok":
        return out + [f"Async API: **{a['status']}** ({a['reason']}).", ""]
    calls, stream = a["concurrent"], a["stream"]
    out += [
        f"### Async API: `await model.acall(...)` vs one shared `openai.AsyncOpenAI` "
        f"({a['tasks']} tasks × {a['calls_per_task']} calls; a {stream['chunks']:,}-chunk "
        "stream read as `adeltas`)",
        "",
    ]
    rows = [
        ["concurrent non-stream", fmt_s(calls["raw"]["median"]), fmt_s(calls["wrapper"]["median"]),
         *ratio_cells(calls["ratio"])],
        [f"stream ({stream['wrapper']['us_per_chunk']:.2f} vs {stream['raw']['us_per_chunk']:.2f}"
         " µs/chunk)", fmt_s(stream["raw"]["median"]), fmt_s(stream["wrapper"]["median"]),
         *ratio_cells(stream["ratio"])],
    ]  # fmt: skip
    return out + _table(["case", "AsyncOpenAI", "wrapper", *RATIO_HEADERS], rows)


def _config(cfg: dict[str, Any]) -> list[str]:
    out = [
        f"### Config loading: {cfg['configs']:,} configs, {cfg['file_bytes'] / 1024:.0f} KiB "
        "YAML, `read_model_configs(path)`",
        "",
    ]
    rows = [
        ["fresh process (first call, incl. the imports it triggers)", cfg["fresh_process"]],
        ["warm (same process, later calls)", cfg["warm"]],
    ]
    return out + _table(
        ["where", "min", "median"], [[k, fmt_s(v["min"]), fmt_s(v["median"])] for k, v in rows]
    )


def _format(f: dict[str, Any]) -> list[str]:
    out = [f"### Formatting {f['messages']} Msgs (multi-agent mode)", ""]
    rows = [
        [name, f"{side['us_per_format']:.1f}"]
        for name, side in f.items()
        if isinstance(side, dict) and "us_per_format" in side
    ]
    return (
        out + _table(["wrapper", "µs per format()"], rows) + [f"Truncation: {f['truncation']}.", ""]
    )


def _server(srv: dict[str, Any], sizes: dict[str, Any]) -> list[str]:
    out = ["### Server headroom (the server read over a plain socket, vs the SDK)", ""]
    rows = []
    for n, e in srv.items():
        sdk = sizes[n]["raw"]["us_per_chunk"] if n in sizes else None
        rows.append(
            [
                f"{int(n):,}",
                f"{e['bytes'] / 1024:.0f} KiB",
                f"{e['us_per_chunk']:.3f}",
                f"{sdk:.2f}" if sdk else "",
                f"{sdk / e['us_per_chunk']:.0f}×" if sdk else "",
            ]
        )
    return out + _table(["chunks", "body", "server µs/chunk", "SDK µs/chunk", "headroom"], rows)


def _peers(peers: dict[str, Any]) -> list[str]:
    out = ["### Peers (each in its own venv; ratio against the raw `openai` SDK of that venv)", ""]
    if peers.get("status") != "ok":
        return out + [f"Peers: {peers.get('status')} ({peers.get('reason', '')}).", ""]
    rows = []
    for name, p in peers.items():
        if name == "status":
            continue
        if p.get("status") != "ok":
            rows.append([name, "error", p.get("reason", ""), "", "", "", ""])
            continue
        v = p["versions"]
        label = f"{name} {v[name]} (openai {v['openai']})"
        imp = p["import"]
        key = f"import {name}"
        rows.append(
            [
                label,
                f"cold `{key}`",
                fmt_s(imp[key]["median"]),
                fmt_s(imp["import openai"]["median"]),
                *ratio_cells(ratio(imp[key], imp["import openai"]))[:2],
                f"{fmt_x(ratio(imp[key], imp['python -c pass'])[HEADLINE])} `python -c pass`",
            ]
        )
        ns = p["nonstream"]
        r = ratio(ns[name], ns["raw"])
        rows.append(
            [
                label,
                f"{ns['calls']} non-stream calls",
                fmt_s(ns[name]["median"]),
                fmt_s(ns["raw"]["median"]),
                *ratio_cells(r)[:2],
                f"CPU {fmt_x(r['cpu'])}",
            ]
        )
        for n, e in p["stream"].items():
            k = e["streams_per_round"]
            r = ratio(e[name], e["raw"])
            rows.append(
                [
                    label,
                    f"stream {int(n):,} chunks",
                    fmt_s(e[name]["median"] / k),
                    fmt_s(e["raw"]["median"] / k),
                    *ratio_cells(r)[:2],
                    f"{e[name]['median'] / k / int(n) * 1e6:.1f} µs/chunk, CPU {fmt_x(r['cpu'])}",
                ]
            )
    headers = ["peer", "case", "peer", "its raw SDK", "ratio (paired)", "of medians", "note"]
    return out + _table(headers, rows)
