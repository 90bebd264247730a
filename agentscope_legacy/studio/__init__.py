"""AgentScope Studio: watch runs live in a browser.

* The client (``init(studio_url=...)``, ``run --studio URL``, ``studio:`` in an experiment):
  :func:`attach` connects the current run to a Studio (:class:`StudioClient`).
* The built-in Studio (``agentscope-legacy studio``): :func:`create_studio_app`, in
  ``_server`` (needs FastAPI; imported on use).
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Any

from ._client import StudioClient, StudioError, check_url

__all__ = ["StudioClient", "StudioError", "attach", "check_url", "create_studio_app", "detach"]


def create_studio_app(*args: Any, **kwargs: Any) -> Any:
    """The Studio's ASGI app (see ``studio._server.create_studio_app``)."""
    from ._server import create_studio_app as create

    return create(*args, **kwargs)


def attach(url: str, runtime: Any, **options: Any) -> StudioClient:
    """Connect ``runtime`` (the current run) to the Studio at ``url``: its printed messages,
    its model calls and its UserAgent turns go through a :class:`StudioClient`."""
    from .. import logging as _logging

    detach(runtime)
    run_dir = runtime.run_dir
    client = StudioClient(url, {
        "id": runtime.run_id, "project": runtime.project, "name": runtime.name,
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%S"),
        "run_dir": str(run_dir) if run_dir else None, "pid": os.getpid()}, **options)
    _logging.speak_listeners.append(client.on_speak)
    _tap(runtime.monitor, client)
    runtime.user_input = client.request_input
    runtime.studio = client
    return client


def detach(runtime: Any, status: str = "finished") -> None:
    """Close the run's Studio client, if any, and remove its hooks."""
    from .. import logging as _logging

    client = getattr(runtime, "studio", None)
    if client is None:
        return
    runtime.studio = None
    if runtime.user_input == client.request_input:
        runtime.user_input = None
    while client.on_speak in _logging.speak_listeners:
        _logging.speak_listeners.remove(client.on_speak)
    record = getattr(runtime.monitor, "record", None)
    if getattr(record, "_studio", None) is client:
        del runtime.monitor.record  # back to the class's method
    client.close(status)


def _tap(monitor: Any, client: StudioClient) -> None:
    """Push each call the monitor records (this run's monitor object only, after it wrote
    its own records: the records are the monitor's, shaped as ``invocations.jsonl`` lines)."""
    from .._secrets import redact
    from ..monitor import _jsonable, _response_summary

    original = type(monitor).record

    def record(wrapper: Any, request: Any, response: Any, usage: Any, error: Any,
               stream: bool) -> None:
        original(monitor, wrapper, request, response, usage, error, stream)
        timestamp = datetime.now().isoformat(timespec="milliseconds")
        names = (wrapper.config_name, wrapper.model_type, wrapper.model_name)
        # Built in the client's thread (the response is final; the request is not reused).
        client.push_invocation(lambda: {
            "timestamp": timestamp, "config_name": names[0], "model_type": names[1],
            "model_name": names[2], "arguments": redact(_jsonable(request)),
            "response": redact(_response_summary(response, stream)),
            "usage": usage.to_dict()})

    record._studio = client  # type: ignore[attr-defined]
    monitor.record = record
