"""One run of a sweep, as a worker does it: load the experiment with the point's overrides,
run it quietly into a directory of its own, read its metrics. Used by both executors.

A run's state is process-wide (``init()``: runtime, monitor, logger), so a worker process
runs one point at a time; the process is reused for the next point.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import time
import traceback
from pathlib import Path
from typing import Any

#: Variables a worker needs besides those the configs reference: loopback must bypass proxies.
PASSED_ALWAYS = ("NO_PROXY", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy",
                 "https_proxy")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def referenced_env(files: list[str]) -> dict[str, str]:
    """The variables set now that ``${VAR}`` in ``files`` names, and the proxy ones: what a
    worker started earlier (or on another machine) must be given."""
    names = set(PASSED_ALWAYS)
    for file in files:
        try:
            names.update(_ENV_REF.findall(Path(file).read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError):
            continue
    return {name: os.environ[name] for name in sorted(names) if name in os.environ}


def run_point(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one point; never raises for a failed run (the record says ``failed`` and why).

    ``spec``: ``experiment`` (file), ``overrides``, ``model_configs``, ``tts_configs``,
    ``work_dir`` (the run's save_dir), ``save_dir`` (the sweep directory, where the run
    directory is moved: what its ``experiment.yaml`` records), ``cwd``, ``env`` (variables
    to set first). The record has ``status``, ``error``, ``seconds``, ``metrics``, ``usage``
    and ``dir`` (the run directory made).
    """
    from .._secrets import scrub
    from ..experiment import load
    from .metrics import collect, usage_totals

    os.environ.update(spec.get("env") or {})
    if spec.get("cwd") and os.path.isdir(spec["cwd"]):
        os.chdir(spec["cwd"])  # relative paths in the experiment mean what they meant
    start = time.perf_counter()
    record: dict[str, Any] = {"status": "failed", "error": None, "metrics": {}, "usage": {},
                              "dir": None}
    out = io.StringIO()
    result = None
    try:
        overrides = {**spec["overrides"], "run.save_dir": spec["work_dir"]}
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            experiment = load(spec["experiment"], overrides=overrides,
                              model_configs=spec.get("model_configs"),
                              tts_configs=spec.get("tts_configs"))
            experiment.recorded_save_dir = spec.get("save_dir")  # where the run dir ends up
            result = experiment.run(quiet=True, progress=False, interactive=False)
        seconds = time.perf_counter() - start
        metrics = experiment.document.data.get("metrics") or {}
        record.update(status="ok", usage=usage_totals(result.usage),
                      metrics=collect(metrics, result.final, len(result.messages), seconds,
                                      result.usage))
    except Exception as exc:  # a failed run is a result of the sweep, not its end
        record["error"] = scrub(f"{type(exc).__name__}: {exc}")
        out.write(scrub(traceback.format_exc()))
    finally:
        record["seconds"] = round(time.perf_counter() - start, 4)
        record["dir"] = _close_run(out.getvalue())
    return record


def _close_run(output: str) -> str | None:
    """Close the finished run's files (so its directory can be moved) and save what it
    printed as ``output.log``; returns the run directory."""
    from .. import _runtime
    from .._secrets import scrub
    from ..logging import setup_logger

    runtime = _runtime.get_runtime()
    run_dir = runtime.run_dir
    runtime.monitor.close()
    _runtime.set_runtime(_runtime.Runtime())
    setup_logger(None, "WARNING", False)  # drops the sinks on the run's files and buffer
    if run_dir is None:
        return None
    with contextlib.suppress(OSError):
        (Path(run_dir) / "output.log").write_text(scrub(output), encoding="utf-8")
    return str(run_dir)


def serve(conn: Any) -> None:
    """A local worker process: run each spec received on ``conn``, send back its record.

    Ctrl-C is the driver's to handle (it stops the workers), so the worker ignores SIGINT.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            spec = conn.recv()
        except (EOFError, OSError):  # the driver is gone
            return
        if spec is None:
            return
        record = run_point(spec)
        try:
            conn.send(record)
        except (BrokenPipeError, OSError):
            return
