"""Reading run directories for the Studio: the runs under a save directory and one run's
messages, usage, invocation records and audio, from the files a run writes.

Everything here reads only inside the save directory: a run id is one plain name (checked by
:func:`run_path`), a symlink that leads out is refused, and a file with a torn last line (the
run died while writing it) gives every whole line before it. What is returned is redacted
again, so a key never reaches the page even from an old file.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

from .._secrets import redact, scrub

__all__ = ["StudioPathError", "audio_path", "list_runs", "read_run", "run_path"]

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,254}$")
_AUDIO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,200}\.(wav|mp3|ogg|flac)$")
#: A run directory holds at least one of these.
_MARKERS = (".config", "transcript.jsonl", "logging.chat", "agentscope.db", "invocations.jsonl")
_MAX_LINES = 20_000  # per file: a page needs no more, a huge file must not stall the server


class StudioPathError(ValueError):
    """A run id or file name that is not one plain name inside the save directory."""


def run_path(save_dir: Path, run_id: str) -> Path:
    """The directory of ``run_id`` in ``save_dir``; StudioPathError for anything else (``..``,
    a slash, a symlink out of ``save_dir``, a run that does not exist)."""
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id) or run_id in (".", ".."):
        raise StudioPathError(f"not a run id: {run_id!r:.80}")
    root = save_dir.resolve()
    path = (root / run_id).resolve()
    if path.parent != root or not path.is_dir():
        raise StudioPathError(f"no run {run_id!r} in the save directory")
    return path


def audio_path(save_dir: Path, run_id: str, name: str) -> Path:
    """An audio file of a run (``audio/<name>``), validated as :func:`run_path` does."""
    if not isinstance(name, str) or not _AUDIO.match(name):
        raise StudioPathError(f"not an audio file name: {name!r:.80}")
    run = run_path(save_dir, run_id)
    path = (run / "audio" / name).resolve()
    if path.parent != run / "audio" or not path.is_file():
        raise StudioPathError(f"no audio {name!r} in run {run_id!r}")
    return path


def _jsonl(path: Path) -> list[dict[str, Any]]:
    """The whole records of a JSON-lines file: a torn last line and bad lines are skipped."""
    records: list[dict[str, Any]] = []
    try:
        with open(path, "rb") as fh:
            for line in fh:
                if not line.endswith(b"\n") or len(records) >= _MAX_LINES:
                    break
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    records.append(record)
    except OSError:
        pass
    return records


def _state(run: Path) -> dict[str, Any]:
    try:
        data = json.loads((run / ".config").read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _usage(run: Path) -> list[dict[str, Any]]:
    """Usage rows per (config, model) from the run's ``agentscope.db`` (read-only)."""
    db = run / "agentscope.db"
    if not db.is_file():
        return []
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            rows = con.execute(
                "SELECT config_name, model_name, COUNT(*), SUM(status='error'),"
                " SUM(prompt_tokens), SUM(completion_tokens), SUM(total_tokens), AVG(latency)"
                " FROM usage GROUP BY config_name, model_name ORDER BY config_name, model_name"
            ).fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return []
    keys = ("config_name", "model_name", "calls", "failures", "prompt_tokens",
            "completion_tokens", "total_tokens", "mean_latency")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _prices(state: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The run's budget and each config's, as ``.config`` saved them (the monitor charges a
    call at its config's prices, else the run's); a bad saved value is no price."""
    from ..monitor import Budget

    def parse(value: Any) -> Any:
        try:
            # asdict() saved every field, the unset ones as null
            budget = Budget.parse({k: v for k, v in value.items() if v is not None}) \
                if isinstance(value, dict) else None
        except Exception:  # an old or hand-edited file: no price rather than no page
            return None
        return budget if budget is not None and budget.priced else None

    monitor = state.get("monitor") if isinstance(state.get("monitor"), dict) else {}
    configs = (state.get("model") or {}).get("model_configs") \
        if isinstance(state.get("model"), dict) else None
    own = {str(c.get("config_name")): parse(c.get("budget")) for c in configs or []
           if isinstance(c, dict)}
    return parse(monitor.get("budget")), own


def _cost(state: dict[str, Any], usage: list[dict[str, Any]]) -> float | None:
    """The run's cost from its usage rows and saved prices; each row gets its ``cost`` (None
    where no price is known). None when no row is priced."""
    run_prices, own = _prices(state)
    total = None
    for row in usage:
        prices = own.get(str(row["config_name"])) or run_prices
        row["cost"] = None if prices is None else prices.cost(
            int(row["prompt_tokens"] or 0), int(row["completion_tokens"] or 0))
        if row["cost"] is not None:
            total = (total or 0.0) + row["cost"]
    return total


def message_view(record: dict[str, Any]) -> dict[str, Any]:
    """What the page shows of a saved or pushed message: id, name, role, text, urls, time."""
    content = record.get("content")
    if isinstance(content, list):  # content blocks: their text
        text = "\n".join(str(b.get("text", "")) for b in content
                         if isinstance(b, dict) and b.get("type") == "text")
    else:
        text = "" if content is None else str(content)
    urls = record.get("url") or []
    if isinstance(urls, str):
        urls = [urls]
    return {"id": str(record.get("id") or ""), "name": str(record.get("name") or ""),
            "role": str(record.get("role") or ""), "text": scrub(text),
            "urls": [scrub(str(u)) for u in urls if isinstance(u, str)][:16],
            "timestamp": str(record.get("timestamp") or "")}


def _messages(run: Path) -> list[dict[str, Any]]:
    """The run's finished messages: the experiment transcript, else 0.x's ``logging.chat``."""
    for name in ("transcript.jsonl", "logging.chat"):
        if (run / name).is_file():
            return [message_view(r) for r in _jsonl(run / name)]
    return []


def _audio_name(run: Path, msg: dict[str, Any]) -> str | None:
    """The saved audio of a message: its ``audio/...`` url, or ``audio/<id>.wav``."""
    for url in msg["urls"]:
        parts = Path(url).parts
        if len(parts) == 2 and parts[0] == "audio" and _AUDIO.match(parts[1]):
            return parts[1]
    name = f"{msg['id']}.wav"
    return name if _AUDIO.match(name) and (run / "audio" / name).is_file() else None


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, not ours
        return True
    return True


def summary(run: Path, usage: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One row of the runs list: id, project, name, start time, status, models, tokens, cost
    (from the prices saved in ``.config``; None when none is known)."""
    state = _state(run)
    usage = _usage(run) if usage is None else usage
    finished = (run / "usage.txt").is_file()
    status = "finished" if finished or not _pid_alive(state.get("pid")) else "running"
    return {
        "id": run.name,
        "project": str(state.get("project", "")),
        "name": str(state.get("name", "")),
        "timestamp": str(state.get("timestamp", "")),
        "status": status,
        "models": sorted({str(u["model_name"]) for u in usage}),
        "tokens": sum(int(u["total_tokens"] or 0) for u in usage),
        "calls": sum(int(u["calls"] or 0) for u in usage),
        "cost": _cost(state, usage),
    }


def read_usage(save_dir: Path, run_id: str) -> list[dict[str, Any]]:
    """One run's usage rows, each with its cost: what the page polls while a run goes (its
    messages and records, which grow with the run, are not read)."""
    run = run_path(save_dir, run_id)
    usage = _usage(run)
    _cost(_state(run), usage)  # prices each row
    return usage


def list_runs(save_dir: Path) -> list[dict[str, Any]]:
    """Every run directory in ``save_dir`` (newest first); symlinks out are skipped."""
    root = save_dir.resolve()
    runs = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return []
    for entry in entries:
        if entry.is_symlink() or not entry.is_dir() or not _RUN_ID.match(entry.name):
            continue
        path = Path(entry.path)
        if any((path / m).exists() for m in _MARKERS):
            runs.append(summary(path))
    runs.sort(key=lambda r: (r["timestamp"], r["id"]), reverse=True)
    return runs


def read_run(save_dir: Path, run_id: str) -> dict[str, Any]:
    """One run as the page shows it: summary, messages (with ``audio``), usage, invocations."""
    run = run_path(save_dir, run_id)
    usage = _usage(run)
    messages = _messages(run)
    for msg in messages:
        msg["audio"] = _audio_name(run, msg)
    return {"run": summary(run, usage), "messages": messages, "usage": usage,
            "invocations": _invocations(run)}


def read_invocations(save_dir: Path, run_id: str) -> list[dict[str, Any]]:
    """One run's saved invocation records, redacted (the page opens them one by one)."""
    return _invocations(run_path(save_dir, run_id))


def _invocations(run: Path) -> list[dict[str, Any]]:
    return [redact(r) for r in _jsonl(run / "invocations.jsonl")]
