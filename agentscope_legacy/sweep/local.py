"""The ``local`` executor: ``jobs`` worker processes on this machine, one run at a time each.

Processes rather than threads because a run's state (``init()``) is process-wide. Workers
are forked from a forkserver that has imported the worker module once, so starting one is
cheap; each is reused for the next run. A worker that dies mid-run is noticed through its
process sentinel and replaced; the driver decides whether to run the point again.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import shutil
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

#: The SDK a model type's wrapper imports on its first call. The forkserver imports those of
#: the sweep's configs once, so that each worker forked from it does not import them again
#: (openai alone takes 1-4 s of CPU on a busy machine; eight workers would pay it eight times).
SDK_MODULES = {"openai": "openai", "deepseek": "openai", "kimi": "openai", "xai": "openai",
               "vllm": "openai", "yi": "openai", "anthropic": "anthropic",
               "dashscope": "dashscope", "gemini": "google.genai", "ollama": "ollama",
               "zhipuai": "zhipuai", "litellm": "litellm", "llamacpp": "xllamacpp"}


def sdk_modules(model_types: list[str]) -> list[str]:
    """The SDK modules to preload for these model types (those installed)."""
    import importlib.util

    found = {SDK_MODULES.get(str(t).split("_")[0]) for t in model_types} - {None}
    out = []
    for name in sorted(n for n in found if n):
        with contextlib.suppress(ImportError, ValueError):
            if importlib.util.find_spec(name) is not None:
                out.append(name)
    return out


class WorkerLost(RuntimeError):
    """The process running a point died (killed, out of memory) before it answered."""


class LocalExecutor:
    name = "local"

    def __init__(self, jobs: int, preload: tuple[str, ...] | list[str] = ()) -> None:
        self.capacity = max(1, jobs)
        self._ctx = multiprocessing.get_context("forkserver")
        # Only until the forkserver starts (the first sweep of this process) does this count.
        self._ctx.set_forkserver_preload(["agentscope_legacy.sweep._worker",
                                          "agentscope_legacy.experiment", *preload])
        self._idle: list[tuple[Any, Any]] = []  # (process, connection)
        self._busy: dict[Any, tuple[Any, str, Path]] = {}  # connection -> (process, key, dest)

    def _worker(self) -> tuple[Any, Any]:
        from ._worker import serve

        if self._idle:
            return self._idle.pop()
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(target=serve, args=(child,), daemon=True)
        process.start()
        child.close()
        return process, parent

    def submit(self, key: str, spec: dict[str, Any], dest: Path) -> None:
        process, conn = self._worker()
        conn.send(spec)
        self._busy[conn] = (process, key, dest)

    @property
    def running(self) -> int:
        return len(self._busy)

    def wait(self, timeout: float) -> list[tuple[str, dict[str, Any] | BaseException]]:
        """The runs that ended within ``timeout`` seconds: ``(key, record or WorkerLost)``."""
        if not self._busy:
            return []
        sentinels = {p.sentinel: c for c, (p, _, _) in self._busy.items()}
        ready = wait([*self._busy, *sentinels], timeout)
        ended = []
        for conn in {sentinels.get(r, r) for r in ready}:
            process, key, dest = self._busy.pop(conn)
            try:
                record = conn.recv() if conn.poll() else None
            except (EOFError, OSError):
                record = None
            if record is None:
                code = process.exitcode
                process.join(timeout=1)
                conn.close()
                ended.append((key, WorkerLost(f"the worker process died (exit code {code})")))
                continue
            record["dir"] = _place(record.get("dir"), dest)
            self._idle.append((process, conn))
            ended.append((key, record))
        return ended

    def stop(self) -> None:
        """End every worker: idle ones are told to, busy ones (Ctrl-C) are terminated."""
        for _, conn in self._idle:
            try:
                conn.send(None)
            except OSError:
                pass
        busy = [process for process, _, _ in self._busy.values()]
        for process in busy:
            process.terminate()
        for process in [*(p for p, _ in self._idle), *busy]:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
        self._idle, self._busy = [], {}


def _place(run_dir: str | None, dest: Path) -> str | None:
    """Move the run directory made in the work area to its place in the sweep directory."""
    if run_dir is None or not Path(run_dir).is_dir():
        return None
    if dest.exists():
        shutil.rmtree(dest)  # what an interrupted earlier attempt left
    shutil.move(run_dir, dest)
    shutil.rmtree(Path(run_dir).parent, ignore_errors=True)
    return dest.name
