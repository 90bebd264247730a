"""Usage accounting and invocation records.

Every call, streamed or not, ends in :meth:`Monitor.record` exactly once. Totals per config are
kept in memory; with ``use_monitor`` each call is also a row in ``run_dir/agentscope.db``
(SQLite, WAL mode, committed per row), and with ``save_api_invoke`` the request and response
(keys redacted) are appended as one flushed JSON line to ``run_dir/invocations.jsonl``. Both
formats survive a crash: a row is either committed or absent, a line is whole or the last.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._secrets import redact

if TYPE_CHECKING:
    from .models._base import ModelWrapperBase
    from .models.response import ModelResponse, Usage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp TEXT NOT NULL,
    config_name TEXT NOT NULL,
    model_type TEXT NOT NULL,
    model_name TEXT NOT NULL,
    stream INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    total_tokens INTEGER NOT NULL,
    latency REAL NOT NULL,
    time_to_first_token REAL,
    status TEXT NOT NULL,
    error TEXT
)
"""


@dataclass
class UsageTotals:
    calls: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Monitor:
    """Records calls: in-memory totals always; SQLite rows and JSON lines when asked."""

    def __init__(
        self,
        run_dir: str | Path | None = None,
        use_monitor: bool = True,
        save_api_invoke: bool = False,
    ) -> None:
        self._lock = threading.Lock()
        self.totals: dict[tuple[str, str], UsageTotals] = {}
        self.db_path: Path | None = None
        self.invocations_path: Path | None = None
        self._db: sqlite3.Connection | None = None
        self._invocations: Any = None
        if run_dir is not None and use_monitor:
            self.db_path = Path(run_dir) / "agentscope.db"
            self._db = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
        if run_dir is not None and save_api_invoke:
            self.invocations_path = Path(run_dir) / "invocations.jsonl"
            self._invocations = open(self.invocations_path, "a", encoding="utf-8")  # noqa: SIM115

    @property
    def persists(self) -> bool:
        return self._db is not None or self._invocations is not None

    def record(
        self,
        wrapper: ModelWrapperBase,
        request: dict[str, Any],
        response: ModelResponse | None,
        usage: Usage,
        error: BaseException | None,
        stream: bool,
    ) -> None:
        key = (wrapper.config_name, wrapper.model_name)
        with self._lock:
            totals = self.totals.get(key)
            if totals is None:
                totals = self.totals[key] = UsageTotals()
            totals.calls += 1
            totals.failures += error is not None
            totals.prompt_tokens += usage.prompt_tokens
            totals.completion_tokens += usage.completion_tokens
            totals.latency += usage.latency
        if not self.persists:
            return
        now = datetime.now().isoformat(timespec="milliseconds")
        status = (
            "error"
            if error is not None
            else (
                "cancelled"
                if response is not None and response.finish_reason == "cancelled"
                else "ok"
            )
        )
        error_text = f"{type(error).__name__}: {error}" if error is not None else None
        with self._lock:
            if self._db is not None:
                self._db.execute(
                    "INSERT INTO usage (timestamp, config_name, model_type, model_name, stream,"
                    " prompt_tokens, completion_tokens, total_tokens, latency, time_to_first_token,"
                    " status, error) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        now,
                        wrapper.config_name,
                        wrapper.model_type,
                        wrapper.model_name,
                        int(stream),
                        usage.prompt_tokens,
                        usage.completion_tokens,
                        usage.total_tokens,
                        usage.latency,
                        usage.time_to_first_token,
                        status,
                        error_text,
                    ),
                )
            if self._invocations is not None:
                record = {
                    "timestamp": now,
                    "config_name": wrapper.config_name,
                    "model_type": wrapper.model_type,
                    "model_name": wrapper.model_name,
                    "model_class": type(wrapper).__name__,
                    "stream": stream,
                    "arguments": redact(_jsonable(request)),
                    "response": redact(_response_summary(response, stream)),
                    "usage": usage.to_dict(),
                    "status": status,
                    "error": error_text and redact(error_text),
                }
                self._invocations.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
                self._invocations.flush()

    def usage_rows(self) -> list[dict[str, Any]]:
        """One row per (config_name, model_name): calls, failures, tokens, mean latency."""
        with self._lock:
            items = sorted(self.totals.items())
        return [
            {
                "config_name": config_name,
                "model_name": model_name,
                "calls": t.calls,
                "failures": t.failures,
                "prompt_tokens": t.prompt_tokens,
                "completion_tokens": t.completion_tokens,
                "total_tokens": t.total_tokens,
                "mean_latency": t.latency / t.calls if t.calls else 0.0,
            }
            for (config_name, model_name), t in items
        ]

    def usage_table(self) -> str:
        """The usage rows as an aligned text table."""
        rows = self.usage_rows()
        headers = [
            "config_name",
            "model_name",
            "calls",
            "failures",
            "prompt_tokens",
            "completion_tokens",
            "total_tokens",
            "mean_latency",
        ]
        cells = [
            [f"{r[h]:.3f}s" if h == "mean_latency" else str(r[h]) for h in headers] for r in rows
        ]
        widths = [
            max(len(h), *(len(c[i]) for c in cells)) if cells else len(h)
            for i, h in enumerate(headers)
        ]
        lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) for row in cells]
        return "\n".join(lines)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            if self._invocations is not None:
                self._invocations.close()
                self._invocations = None


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _response_summary(response: ModelResponse | None, stream: bool) -> Any:
    if response is None:
        return None
    if not stream and response.raw is not None:
        return _jsonable(response.raw)
    return {
        "text": response.text if not stream else "".join(response._pieces),
        "reasoning": response.reasoning,
        "tool_calls": response.tool_calls,
        "finish_reason": response.finish_reason,
        "embedding_count": len(response.embedding) if response.embedding else None,
        "image_urls": response.image_urls,
    }
