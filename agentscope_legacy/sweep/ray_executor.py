"""The ``ray`` executor: each run a Ray task (``pip install "agentscope-legacy[ray]"``).

``ray.init()`` starts a local Ray unless one is running in this process already; ``address``
joins a cluster (``auto``: the one started on this machine with ``ray start``). The run
directory is written on the worker, in a temporary directory, and its files come back with
the task's result; the driver writes them under the sweep directory. The experiment and
config files are read by path, so on a cluster of several machines they must be at the same
paths on every node (a shared file system). The environment variables that the model
configs reference (``${OPENAI_API_KEY}``) go to the workers with each task, as they go to
local workers, and are set there before the run: not in Ray's runtime env, whose agent writes
its ``env_vars`` to ``runtime_env_agent.log`` (seen with Ray 2.60), and never in a log line.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from .local import WorkerLost


def run_task(spec: dict[str, Any]) -> dict[str, Any]:
    """The task body: run the point in a temporary directory, return its record and files."""
    from ._worker import run_point

    work = tempfile.mkdtemp(prefix="agentscope-sweep-")
    try:
        record = run_point({**spec, "work_dir": work})
        start = time.perf_counter()
        files: dict[str, bytes] = {}
        if record["dir"]:
            root = Path(record["dir"])
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    files[path.relative_to(root).as_posix()] = path.read_bytes()
        record["files"] = files
        record["pack_seconds"] = time.perf_counter() - start
        return record
    finally:
        shutil.rmtree(work, ignore_errors=True)


class RayExecutor:
    name = "ray"

    def __init__(self, jobs: int | None, address: str | None) -> None:
        try:
            import ray
        except ImportError:
            from ..errors import MissingDependencyError

            raise MissingDependencyError("ray", "ray") from None
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address:
                kwargs["address"] = address
            else:
                kwargs["num_cpus"] = jobs or os.cpu_count() or 1
            try:
                ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:  # no cluster there
                from ..errors import ConfigError, ConfigIssue

                where = f"cannot join the Ray cluster at {address!r}" if address else \
                    "cannot start a local Ray"
                raise ConfigError(ConfigIssue(f"{where}: {str(exc).splitlines()[0]}",
                                              field="--address" if address else "--executor")
                                  ) from None
            self._started = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.capacity = max(1, jobs or cpus)
        # max_retries=0: the driver retries a lost worker once itself, and counts it.
        self._task = ray.remote(run_task).options(
            num_cpus=min(1, cpus / self.capacity), max_retries=0)
        self._busy: dict[Any, tuple[str, Path]] = {}

    @property
    def running(self) -> int:
        return len(self._busy)

    def submit(self, key: str, spec: dict[str, Any], dest: Path) -> None:
        self._busy[self._task.remote(spec)] = (key, dest)

    def wait(self, timeout: float) -> list[tuple[str, dict[str, Any] | BaseException]]:
        if not self._busy:
            return []
        ray = self._ray
        ready, _ = ray.wait(list(self._busy), num_returns=1, timeout=timeout)
        if ready:
            ready, _ = ray.wait(list(self._busy), num_returns=len(self._busy), timeout=0)
        ended: list[tuple[str, dict[str, Any] | BaseException]] = []
        for ref in ready:
            key, dest = self._busy.pop(ref)
            try:
                record = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:  # run_point raised: not expected
                ended.append((key, RuntimeError(str(exc).splitlines()[0])))
                continue
            except ray.exceptions.RayError as exc:  # the worker or its node died
                ended.append((key, WorkerLost(f"the Ray worker was lost ({type(exc).__name__})")))
                continue
            record["dir"] = _write(record.pop("files"), dest) if record["dir"] else None
            ended.append((key, record))
        return ended

    def stop(self) -> None:
        # A Ray this sweep started goes down with its workers: no cancel first (Ray 2.60's
        # driver can abort, "Tried to complete task that was not pending", when a cancelled
        # task's reply arrives). On a cluster the running tasks are cancelled.
        if not self._started:
            for ref in self._busy:
                try:
                    self._ray.cancel(ref, force=True)
                except Exception:  # already finished or gone: nothing to stop
                    pass
        self._busy = {}
        if self._started:
            self._ray.shutdown()


def _write(files: dict[str, bytes], dest: Path) -> str:
    """The run directory gathered from the worker, written to its place."""
    if dest.exists():
        shutil.rmtree(dest)
    for name, data in files.items():
        path = dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    dest.mkdir(parents=True, exist_ok=True)
    return dest.name
