"""The sweep driver: the sweep directory, handing runs to an executor, retrying a lost worker
once, recording each run as it ends, resume, and a clean stop on Ctrl-C.

The sweep directory::

    runs/sweep_<time>/
      sweep.json        the plan: experiment, grid, repeats, every run and its overrides
      results.jsonl     one record per run (appended as each ends)
      results.csv       the same, one row per run
      summary.txt/.csv  per grid point: runs ok/failed, mean ± sd of each metric
      g000-r00/         the run directory of grid point 0, repeat 0 (transcript.jsonl,
      g000-r01/ ...     experiment.yaml, invocations.jsonl, usage.txt, output.log)
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ConfigIssue
from ..monitor import write_atomic
from . import results
from ._worker import referenced_env
from .grid import RunSpec, SweepPlan
from .local import WorkerLost
from .progress import SweepProgress

MANIFEST = "sweep.json"
#: Attempts of a run whose worker died (killed, out of memory, node lost).
ATTEMPTS = 2


@dataclass
class SweepResult:
    """What the sweep left: its directory, each run's record, the summary table."""

    sweep_dir: Path
    records: list[dict[str, Any]]
    summary: str
    interrupted: bool = False
    seconds: float = 0.0
    skipped: int = 0
    stats: dict[str, Any] = field(default_factory=dict)
    executor: str = "local"

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["status"] != "ok"]


def new_sweep_dir(save_dir: str | os.PathLike) -> Path:
    base = Path(save_dir).expanduser() / f"sweep_{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    while True:
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            n += 1
            path = base.with_name(f"{base.name}-{n}")


def read_manifest(sweep_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((sweep_dir / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(ConfigIssue(f"not a sweep directory (no {MANIFEST})",
                                      file=str(sweep_dir), field="--resume")) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(ConfigIssue(f"cannot read {MANIFEST}: {exc}", file=str(sweep_dir),
                                      field="--resume")) from None
    return data


def check_same_plan(plan: SweepPlan, manifest: dict[str, Any], sweep_dir: Path) -> None:
    """A ConfigError naming the first difference unless ``plan`` is the sweep in the dir."""
    mine = json.loads(json.dumps(plan.manifest()))
    if Path(mine["experiment"]) != Path(manifest.get("experiment", "")):
        diff = f"experiment {manifest.get('experiment')!r}, not {mine['experiment']!r}"
    else:
        theirs = {r["run"]: r for r in manifest.get("runs", [])}
        ours = {r["run"]: r for r in mine["runs"]}
        diff = next((f"run {k}: {theirs.get(k, {}).get('overrides')} there, "
                     f"{ours.get(k, {}).get('overrides')} here"
                     for k in sorted(set(theirs) | set(ours))
                     if (theirs.get(k) or {}).get("overrides") != (ours.get(k) or {}).get(
                         "overrides")), None)
        if diff is None:
            return
    raise ConfigError(ConfigIssue(f"this directory holds another sweep: {diff}",
                                  file=str(sweep_dir), field="--resume"))


def run_sweep(plan: SweepPlan, executor: str = "local", jobs: int | None = None,
              address: str | None = None, resume: str | os.PathLike | None = None,
              save_dir: str | os.PathLike | None = None, progress: bool = True) -> SweepResult:
    """Run every point of ``plan`` not yet done; return the records and the summary.

    ``resume`` is an earlier sweep directory of the same plan: its finished runs (status
    ``ok``) are kept, the others run. Otherwise the sweep directory is made under
    ``save_dir`` (default: the experiment's ``run.save_dir``). Ctrl-C stops the workers,
    saves what finished and returns with ``interrupted`` set.
    """
    if resume is not None:
        directory = Path(resume)
        check_same_plan(plan, read_manifest(directory), directory)
    else:
        directory = new_sweep_dir(save_dir or plan.save_dir)
        # How it ran, too: ``--resume`` runs the rest the same way unless told otherwise.
        manifest = {**plan.manifest(), "executor": {"kind": executor, "address": address}}
        write_atomic(directory / MANIFEST,
                     json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    records = results.read(directory)
    todo = [r for r in plan.runs if records.get(r.run_id, {}).get("status") != "ok"]
    skipped = len(plan.runs) - len(todo)
    shutil.rmtree(directory / ".work", ignore_errors=True)  # what a killed sweep left
    bar = SweepProgress(len(plan.runs), skipped, enabled=progress)
    start = time.perf_counter()
    pool = _executor(executor, jobs, address, plan)
    interrupted = False
    try:
        _drive(pool, plan, todo, directory, records, bar)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        pool.stop()
        bar.close()
        shutil.rmtree(directory / ".work", ignore_errors=True)
        summary = results.write_all(directory, [r.run_id for r in plan.runs], records,
                                    list(plan.grid))
    done = [records[r.run_id] for r in plan.runs if r.run_id in records]
    return SweepResult(directory, done, summary, interrupted, time.perf_counter() - start,
                       skipped, executor=executor)


def _executor(kind: str, jobs: int | None, address: str | None, plan: SweepPlan) -> Any:
    if kind == "local":
        from .local import LocalExecutor, sdk_modules

        return LocalExecutor(jobs or os.cpu_count() or 1, sdk_modules(plan.model_types))
    if kind == "ray":
        from .ray_executor import RayExecutor

        return RayExecutor(jobs, address)
    raise ConfigError(ConfigIssue(f"unknown executor {kind!r} (local or ray)", field="--executor"))


def _drive(pool: Any, plan: SweepPlan, todo: list[RunSpec], directory: Path,
           records: dict[str, dict[str, Any]], bar: SweepProgress) -> None:
    queue = deque((spec, 1) for spec in todo)
    by_id = {spec.run_id: spec for spec in todo}
    started: dict[str, tuple[int, float]] = {}
    cwd = os.getcwd()
    # Workers may predate this sweep (a forkserver, a running Ray) or be on another machine:
    # each spec carries the variables the configs reference, set in the worker before the run.
    env = referenced_env(plan.files + (plan.model_configs or []))

    def counts(ended: bool) -> None:
        failed = sum(1 for r in plan.runs if records.get(r.run_id, {}).get("status") == "failed")
        bar.update(sum(r.run_id in records for r in plan.runs), failed, pool.running, ended)

    just_ended = False
    while queue or pool.running:
        while queue and pool.running < pool.capacity:
            spec, attempt = queue.popleft()
            worker_spec = {"experiment": plan.experiment, "overrides": spec.overrides,
                           "model_configs": plan.model_configs, "tts_configs": plan.tts_configs,
                           "cwd": cwd, "env": env, "save_dir": str(directory),
                           "work_dir": str(directory / ".work" / f"{spec.run_id}-a{attempt}")}
            started[spec.run_id] = (attempt, time.perf_counter())
            pool.submit(spec.run_id, worker_spec, directory / spec.run_id)
        counts(just_ended)  # after refilling: the line shows the runs running now
        ended = pool.wait(0.25)
        just_ended = bool(ended)
        for key, outcome in ended:
            attempt, t0 = started.pop(key)
            spec = by_id[key]
            if isinstance(outcome, WorkerLost) and attempt < ATTEMPTS:
                queue.appendleft((spec, attempt + 1))  # once more, ahead of the rest
                continue
            if isinstance(outcome, BaseException):
                outcome = {"status": "failed", "dir": None, "seconds": None, "metrics": {},
                           "usage": {}, "error": f"{outcome} (attempt {attempt} of {ATTEMPTS})"}
            record = {**spec.as_json(), "status": outcome["status"], "error": outcome["error"],
                      "attempts": attempt, "seconds": outcome["seconds"],
                      "wall": round(time.perf_counter() - t0, 4), "dir": outcome["dir"],
                      "metrics": outcome["metrics"], "usage": outcome["usage"]}
            records[key] = record
            results.append(directory, record)
    if just_ended:
        counts(True)


def print_outcome(result: SweepResult, out: Any = None) -> None:
    """The summary table and where everything is (the CLI's end of a sweep)."""
    out = out or sys.stdout
    ok = len(result.records) - len(result.failed)
    print(result.summary, file=out)
    for record in result.failed:
        print(f"failed: {record['run']}: {record['error']}", file=sys.stderr)
    before = f" ({result.skipped} done before)" if result.skipped else ""
    line = (f"sweep: {ok} ok, {len(result.failed)} failed of {len(result.records)} run(s) "
            f"in {result.seconds:.1f} s on {result.executor}{before}")
    print(f"{line}; results in {result.sweep_dir}", file=sys.stderr)
