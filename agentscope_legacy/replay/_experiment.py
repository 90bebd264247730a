"""Which experiment a run directory recorded (``record.json``), and replaying run directories.

Every experiment run writes ``record.json``: the experiment's name and source file, its
fingerprint (SHA-256 of the resolved experiment without ``run`` and ``model_configs``:
agents, pipeline, variables after overrides), and the overrides it was loaded with. A replay
checks the directory against the experiment before anything runs: another experiment's
directory is refused; the same experiment changed since (another ``--set``) is refused in
strict mode with the first difference, and only warned about with ``missing="call"``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .._secrets import redact
from ..monitor import write_atomic
from ._key import first_difference, shorten
from ._record import ReplayError

RECORD_FILE = "record.json"
#: Overrides of where and how a run is watched, not of what it does: a replay keeps its own.
_PLACE_OVERRIDES = ("run.save_dir", "run.studio")


def _semantic(data: dict[str, Any]) -> Any:
    kept = {k: v for k, v in data.items() if k not in ("run", "model_configs")}
    return json.loads(json.dumps(redact(kept), ensure_ascii=False, default=str))


def fingerprint(data: dict[str, Any]) -> str:
    """The experiment's identity: what its agents and pipeline do, not where it saves."""
    text = json.dumps(_semantic(data), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def override_strings(overrides: Any) -> list[str]:
    """Overrides as ``path=value`` strings (a mapping's values as JSON, which is YAML)."""
    if overrides is None:
        return []
    if isinstance(overrides, dict):
        return [
            f"{k}={json.dumps(v, ensure_ascii=False, default=str)}" for k, v in overrides.items()
        ]
    return [str(item) for item in overrides]


def write_record(
    run_dir: Path, experiment: Any, overrides: Any, replayed_from: Path | None = None
) -> None:
    """``run_dir/record.json`` for a run of ``experiment``."""
    record = {
        "format": 1,
        "experiment": experiment.name,
        "source": experiment.document.file,
        "fingerprint": fingerprint(experiment.document.data),
        "overrides": redact(override_strings(overrides)),
        "replayed_from": str(replayed_from) if replayed_from else None,
    }
    write_atomic(run_dir / RECORD_FILE, json.dumps(record, indent=2, ensure_ascii=False) + "\n")


def read_record(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / RECORD_FILE
    if not path.is_file():
        what = "a directory" if Path(run_dir).is_dir() else "not a directory"
        raise ReplayError(
            f"{run_dir} is not a recorded experiment run ({what} without {RECORD_FILE}; "
            "every `agentscope-legacy run` writes one in its run directory)"
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ReplayError(f"{path}: not a run record: {exc}") from None
    if not isinstance(record, dict) or "fingerprint" not in record:
        raise ReplayError(f"{path}: not a run record (no fingerprint)")
    return record


def recorded_overrides(run_dir: str | Path) -> list[str]:
    """The overrides the recorded run was loaded with, minus where it saved and was watched."""
    return [
        item
        for item in read_record(run_dir).get("overrides") or []
        if item.split("=", 1)[0].strip() not in _PLACE_OVERRIDES
    ]


def check_same_experiment(run_dir: Path, experiment: Any, strict: bool) -> str | None:
    """Refuse another experiment's directory; for the same experiment changed since, refuse
    (``strict``) or return a warning naming the first difference."""
    record = read_record(run_dir)
    name, source = record.get("experiment"), record.get("source")
    if name != experiment.name:
        return _refuse(
            f"{run_dir} is a record of experiment '{name}' ({source or 'no file'}), not of "
            f"'{experiment.name}' ({experiment.document.file or 'no file'}): replay it with "
            "the file that made it"
        )
    if record["fingerprint"] == fingerprint(experiment.document.data):
        return None
    where = _difference(run_dir, experiment)
    message = (
        f"experiment '{name}' differs from the one recorded in {run_dir}{where}; give the "
        "same --set values as the recorded run (its record.json lists them)"
    )
    if strict:
        return _refuse(message + ", or replay with --replay-missing call")
    return message


def _refuse(message: str) -> str:
    raise ReplayError(message)


def _difference(run_dir: Path, experiment: Any) -> str:
    """`` at PATH: recorded X, now Y`` from the recorded experiment.yaml, where it can say."""
    import yaml

    try:
        recorded = yaml.safe_load((run_dir / "experiment.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return ""
    if not isinstance(recorded, dict):
        return ""
    before, now = _semantic(recorded), _semantic(experiment.document.data)
    # Variables first: a changed variable also changes every text it is used in.
    found = first_difference(
        {"vars": before.get("vars")}, {"vars": now.get("vars")}
    ) or first_difference(before, now)
    if found is None:
        return ""
    path, before, now = found
    return f" at {path}: recorded {shorten(before)}, now {shorten(now)}"


def run_dirs(path: str | Path) -> list[Path]:
    """``path`` if it is a recorded run, else every recorded run under it (a sweep), sorted."""
    root = Path(path)
    if (root / RECORD_FILE).is_file():
        return [root]
    if not root.is_dir():
        raise ReplayError(f"--replay {path}: no such directory")
    found = sorted(p.parent for p in root.rglob(RECORD_FILE))
    if not found:
        raise ReplayError(
            f"{path} holds no recorded experiment run (a run directory has {RECORD_FILE})"
        )
    return found


def replay_runs(
    source: Any,
    replay: str | Path,
    overrides: Iterable[str] | None = None,
    model_configs: Any = None,
    tts_configs: Any = None,
    missing: str = "error",
    **run_kwargs: Any,
) -> list[tuple[Path, Any]]:
    """Replay every recorded run at ``replay`` (one run directory or a sweep's): each loaded
    from ``source`` with its own recorded overrides, then ``overrides``; returns
    ``(recorded dir, RunResult or the exception)`` per run, in order."""
    from ..experiment import load

    results: list[tuple[Path, Any]] = []
    for run_dir in run_dirs(replay):
        try:
            experiment = load(
                source,
                overrides=[*recorded_overrides(run_dir), *(overrides or [])],
                model_configs=model_configs,
                tts_configs=tts_configs,
            )
            results.append((run_dir, experiment.run(replay=run_dir, replay_missing=missing,
                                                    **run_kwargs)))
        except Exception as exc:  # one failed replay is reported; the others still run
            results.append((run_dir, exc))
    return results
