"""Usage accounting and invocation records.

Every call, streamed or not, ends in :meth:`Monitor.record` exactly once. Totals per config are
kept in memory; with ``use_monitor`` each call is also a row in ``run_dir/agentscope.db``
(SQLite, WAL mode, committed per row), and with ``save_api_invoke`` the request and response
(keys redacted) are appended as one flushed JSON line to ``run_dir/invocations.jsonl``, with
the ``reply`` a replay answers the call from (a stream's pieces in order; ``replay``);
``save_api_invoke="0.x"`` also writes 0.1.x's file per successful call in ``run_dir/invoke/``.

Both formats survive a crash (SIGKILL, power loss of the process, Ctrl-C): a row is either
committed or absent; in a JSON-lines file every line that ends with a newline is a whole
record, and only the last line, if it has no newline, may be cut short. :func:`read_jsonl`
reads such a file by that rule, and reopening it for appending first drops a cut-short tail
(:func:`open_jsonl`), so a torn record never merges with the next one. Files written once
(the run's ``.config``, an experiment's ``experiment.yaml`` and ``usage.txt``) are replaced
atomically (:func:`write_atomic`): old or new, never half.

Budgets: a config's ``budget`` and the run's (``init(budget=...)``) limit calls, tokens and
cost. :meth:`Monitor.check_budget` runs before every call (never mid-stream) and raises
:class:`~agentscope_legacy.errors.QuotaExceededError` once a limit is reached; the totals are
this run's, in memory (a new ``init`` starts from zero).

One file over ~400 lines on purpose: budgets, usage rows, invocation records and the
crash-safe file helpers are the parts of one :meth:`Monitor.record`, one step of the core's
fixed order (tests/test_layers.py).
"""

from __future__ import annotations

import difflib
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from ._secrets import redact
from .errors import ConfigError, ConfigIssue, QuotaExceededError


# What the monitor reads of a wrapper, a usage and a response (models' ModelWrapperBase,
# Usage and ModelResponse): described here, so that the core never imports the
# model layer above it (docs/architecture.md).
class RecordedWrapper(Protocol):
    config_name: str
    model_type: str
    model_name: str


class RecordedUsage(Protocol):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    latency: float
    time_to_first_token: float | None

    def to_dict(self) -> dict[str, Any]: ...


RecordedResponse = Any  # models.response.ModelResponse: finish_reason, text, raw, reasoning, ...

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
    error TEXT,
    endpoint TEXT
)
"""


# -- budgets ----------------------------------------------------------------------------------
_COUNT = {"type": "integer", "minimum": 0}
_AMOUNT = {"type": "number", "minimum": 0}
#: JSON Schema of a ``budget`` (a config field, and ``init(budget=...)``); prices are per
#: million tokens, in the currency of ``max_cost``.
BUDGET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "max_tokens": _COUNT,
        "max_calls": _COUNT,
        "max_cost": _AMOUNT,
        "prompt_price": _AMOUNT,
        "completion_price": _AMOUNT,
    },
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Budget:
    """Limits on calls, tokens (prompt + completion) and cost; ``None`` is no limit."""

    max_tokens: int | None = None
    max_calls: int | None = None
    max_cost: float | None = None
    prompt_price: float | None = None  # per 1M prompt tokens
    completion_price: float | None = None  # per 1M completion tokens

    @classmethod
    def parse(cls, value: Any, config_name: str | None = None) -> Budget | None:
        """A Budget from a mapping (None stays None); a ConfigError lists every problem."""
        if value is None or isinstance(value, Budget):
            return value
        issues = [
            ConfigIssue(message, config_name=config_name, field=field)
            for field, message in budget_problems(value)
        ]
        if issues:
            raise ConfigError(issues)
        return cls(**value)

    @property
    def priced(self) -> bool:
        return self.prompt_price is not None or self.completion_price is not None

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (
            prompt_tokens * (self.prompt_price or 0.0)
            + completion_tokens * (self.completion_price or 0.0)
        ) / 1_000_000


def budget_problems(value: Any) -> list[tuple[str, str]]:
    """``(field, message)`` for everything wrong with a budget mapping."""
    if not isinstance(value, dict):
        return [("budget", f"expected a mapping of {', '.join(BUDGET_SCHEMA['properties'])}")]
    problems = []
    for key, item in value.items():
        field = f"budget.{key}"
        if key not in BUDGET_SCHEMA["properties"]:
            known = list(BUDGET_SCHEMA["properties"])
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(known)}"
            problems.append((field, f"unknown budget field; {hint}"))
        elif isinstance(item, bool) or not isinstance(item, (int, float)):
            problems.append((field, f"expected a number, got {type(item).__name__}"))
        elif key in ("max_tokens", "max_calls") and not isinstance(item, int):
            problems.append((field, f"expected a whole number, got {item!r}"))
        elif not item >= 0:  # also NaN
            problems.append((field, f"expected a value >= 0, got {item!r}"))
    if (
        value.get("max_cost") is not None
        and value.get("prompt_price") is None
        and value.get("completion_price") is None
    ):
        problems.append(
            (
                "budget.max_cost",
                "a cost limit needs prices: set prompt_price and completion_price "
                "(per million tokens)",
            )
        )
    return problems


@dataclass
class Spent:
    """What a budget counts: calls started, tokens and cost of the calls that ended."""

    calls: int = 0
    tokens: int = 0
    cost: float = 0.0


_LIMITS = (("max_calls", "calls", "calls"), ("max_tokens", "tokens", "tokens"))


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
        save_api_invoke: bool | str = False,
        budget: Budget | dict[str, Any] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self.totals: dict[tuple[str, str], UsageTotals] = {}
        #: The run's budget, over every config; each config's own is on its wrapper.
        self.budget = Budget.parse(budget, config_name=None)
        self.spent_by_config: dict[str, Spent] = {}
        self.spent_in_run = Spent()
        # 0.1.x's usage view (print_llm_usage): successful calls by model name; image models
        # by model name and resolution.
        self._text_usage: dict[str, list[int]] = {}
        self._image_usage: dict[tuple[str, str], list[int]] = {}
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
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(usage)")}
            if "endpoint" not in columns:  # a database written before endpoint pools
                self._db.execute("ALTER TABLE usage ADD COLUMN endpoint TEXT")
        #: ``save_api_invoke="0.x"``: also 0.1.x's one file per call in ``run_dir/invoke/``.
        self.invoke_dir: Path | None = None
        if save_api_invoke not in (False, True, "0.x", None):
            raise ConfigError(
                f"save_api_invoke must be true, false or '0.x', not {save_api_invoke!r}"
            )
        if run_dir is not None and save_api_invoke:
            self.invocations_path = Path(run_dir) / "invocations.jsonl"
            self._invocations = open_jsonl(self.invocations_path)
            if save_api_invoke == "0.x":
                self.invoke_dir = Path(run_dir) / "invoke"
                self.invoke_dir.mkdir(exist_ok=True)

    @property
    def persists(self) -> bool:
        return self._db is not None or self._invocations is not None

    def record(
        self,
        wrapper: RecordedWrapper,
        request: dict[str, Any],
        response: RecordedResponse | None,
        usage: RecordedUsage,
        error: BaseException | None,
        stream: bool,
    ) -> None:
        key = (wrapper.config_name, wrapper.model_name)
        # The pool member that served the call (its base_url, credentials masked), if pooled.
        endpoint = getattr(wrapper, "pool_endpoint", None)
        prices = _prices(getattr(wrapper, "budget", None), self.budget)
        cost = prices.cost(usage.prompt_tokens, usage.completion_tokens) if prices else 0.0
        with self._lock:
            totals = self.totals.get(key)
            if totals is None:
                totals = self.totals[key] = UsageTotals()
            totals.calls += 1
            totals.failures += error is not None
            totals.prompt_tokens += usage.prompt_tokens
            totals.completion_tokens += usage.completion_tokens
            totals.latency += usage.latency
            spent = self.spent_by_config.setdefault(wrapper.config_name, Spent())
            for budget_spent in (spent, self.spent_in_run):
                budget_spent.tokens += usage.total_tokens
                budget_spent.cost += cost
        if error is None:
            images = getattr(response, "image_urls", None)
            if images:
                resolution = _resolution(wrapper.model_type, request)
                self.update_image_tokens(wrapper.model_name, resolution, len(images))
            else:
                self.update_text_and_embedding_tokens(
                    wrapper.model_name, usage.prompt_tokens, usage.completion_tokens
                )
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
        # Redacted for the database as for the records: an untyped error's text is not scrubbed.
        error_text = redact(f"{type(error).__name__}: {error}") if error is not None else None
        with self._lock:
            if self._db is not None:
                self._db.execute(
                    "INSERT INTO usage (timestamp, config_name, model_type, model_name, stream,"
                    " prompt_tokens, completion_tokens, total_tokens, latency, time_to_first_token,"
                    " status, error, endpoint) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
                        endpoint,
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
                if response is not None and error is None:
                    record["reply"] = _reply(response, stream)
                elif error is not None:
                    record["error_info"] = {
                        "type": type(error).__name__,
                        "status": getattr(error, "status", None),
                    }
                if endpoint is not None:
                    record["endpoint"] = endpoint
                self._invocations.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
                self._invocations.flush()
        if self.invoke_dir is not None and error is None:
            _write_invoke_file(self.invoke_dir, wrapper, request, response, usage, stream)

    def check_budget(self, wrapper: RecordedWrapper) -> None:
        """Refuse the call about to be made if the config's or the run's budget is used up;
        else count it as started (so concurrent callers cannot overrun ``max_calls``).

        Tokens and cost are those of calls that ended: a call is refused once they reached
        the limit, so the call that crosses it completes (a stream is never cut).
        """
        own = getattr(wrapper, "budget", None)
        if own is None and self.budget is None:
            return
        name = wrapper.config_name
        with self._lock:
            spent = self.spent_by_config.setdefault(name, Spent())
            for budget, used, scope in (
                (own, spent, "config"),
                (self.budget, self.spent_in_run, "run"),
            ):
                if budget is None:
                    continue
                limits = [
                    (limit, getattr(budget, limit), getattr(used, attr), unit)
                    for limit, attr, unit in _LIMITS
                ]
                limits.append(("max_cost", budget.max_cost, used.cost, ""))
                for limit, maximum, amount, unit in limits:
                    if maximum is not None and amount >= maximum:
                        raise _refusal(name, scope, limit, maximum, amount, unit, used)
            spent.calls += 1
            self.spent_in_run.calls += 1

    def spent(self, config_name: str | None = None) -> Spent:
        """What the run (or one config) has used of its budget so far, as a copy."""
        with self._lock:
            used = (
                self.spent_in_run
                if config_name is None
                else self.spent_by_config.get(config_name, Spent())
            )
            return Spent(used.calls, used.tokens, used.cost)

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

    # -- 0.1.x's MonitorManager API ---------------------------------------------------------
    def update_text_and_embedding_tokens(
        self,
        model_name: str,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        total_tokens: int | None = None,
    ) -> None:
        """Count one text or embedding call (0.1.x's custom wrappers call this themselves)."""
        if total_tokens is not None and total_tokens != prompt_tokens + completion_tokens:
            raise ValueError(
                f"total_tokens ({total_tokens}) must be prompt_tokens + completion_tokens "
                f"({prompt_tokens} + {completion_tokens})"
            )
        with self._lock:
            row = self._text_usage.setdefault(model_name, [0, 0, 0])
            row[0] += 1
            row[1] += prompt_tokens
            row[2] += completion_tokens

    def update_image_tokens(self, model_name: str, resolution: str, image_count: int) -> None:
        """Count one image-generation call of ``image_count`` images."""
        with self._lock:
            row = self._image_usage.setdefault((model_name, resolution), [0, 0])
            row[0] += 1
            row[1] += image_count

    def llm_usage(self) -> dict[str, list[dict[str, Any]]]:
        """0.1.x's usage summary: ``{"text_and_embedding": [...], "image": [...]}``."""
        with self._lock:
            text = sorted(self._text_usage.items())
            image = sorted(self._image_usage.items())
        return {
            "text_and_embedding": [
                {"model_name": name, "times": times, "prompt_tokens": prompt,
                 "completion_tokens": completion, "total_tokens": prompt + completion}
                for name, (times, prompt, completion) in text
            ],
            "image": [
                {"model_name": name, "resolution": resolution, "times": times,
                 "image_count": count}
                for (name, resolution), (times, count) in image
            ],
        }  # fmt: skip

    def print_llm_usage(self) -> dict[str, list[dict[str, Any]]]:
        """Log the usage table; return :meth:`llm_usage` (0.1.x's ``MonitorManager``)."""
        from loguru import logger

        logger.info("LLM usage:\n{}", self.usage_table())
        return self.llm_usage()

    @property
    def path_db(self) -> str | None:
        """0.1.x's name for the run's SQLite file (None without a run directory)."""
        return str(self.db_path) if self.db_path is not None else None

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


def _write_invoke_file(
    directory: Path,
    wrapper: RecordedWrapper,
    request: dict[str, Any],
    response: RecordedResponse | None,
    usage: RecordedUsage,
    stream: bool,
) -> None:
    """0.1.x's record of one successful call: ``invoke/model_<Class>_<timestamp>_<rand>.json``
    holding model_class, timestamp, arguments, response and usage (keys redacted)."""
    model_class = type(wrapper).__name__
    timestamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    record = {
        "model_class": model_class,
        "timestamp": timestamp,
        "arguments": redact(_jsonable(request)),
        "response": redact(_response_summary(response, stream)),
        "usage": {
            "type": "chat",
            "usage": {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
            },
        },
    }
    path = directory / f"model_{model_class}_{timestamp}_{uuid.uuid4().hex[:6]}.json"
    write_atomic(path, json.dumps(record, indent=4, ensure_ascii=False, default=str))


def _resolution(model_type: str, request: dict[str, Any]) -> str:
    """An image call's resolution as 0.1.x named it (``standard-1024x1024`` for DALL-E)."""
    size = str(request.get("size") or ("1024x1024" if "dall_e" in model_type else "1024*1024"))
    if "dall_e" in model_type:
        return f"{request.get('quality') or 'standard'}-{size}"
    return size


def _prices(own: Budget | None, run: Budget | None) -> Budget | None:
    """The prices a call is charged at: its config's, else the run's."""
    if own is not None and own.priced:
        return own
    if run is not None and run.priced:
        return run
    return None


def _refusal(
    config_name: str,
    scope: str,
    limit: str,
    maximum: float,
    amount: float,
    unit: str,
    used: Spent,
) -> QuotaExceededError:
    from loguru import logger

    shown = f"{amount:.6g}" if limit == "max_cost" else f"{amount} {unit}"
    whose = f"config '{config_name}'" if scope == "config" else "the run (all configs)"
    message = (
        f"budget exceeded for {whose}: {limit} is {maximum:g} and {shown} "
        f"{'have' if unit else 'has'} been used ({used.calls} calls); the call to "
        f"'{config_name}' was not made"
    )
    logger.warning(message)
    err = QuotaExceededError(message)
    err.config_name, err.scope, err.limit = config_name, scope, limit  # type: ignore[attr-defined]
    err.maximum, err.used = maximum, amount  # type: ignore[attr-defined]
    return err


# -- crash-safe files -------------------------------------------------------------------------
def open_jsonl(path: str | Path) -> Any:
    """Open a JSON-lines file for appending, first cutting off a last line that a crash left
    without its newline (it was never a whole record)."""
    path = Path(path)
    try:
        with open(path, "rb+") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size:
                # Scan back block by block to the last newline (records can be long).
                end = size
                while end > 0:
                    start = max(0, end - 65536)
                    fh.seek(start)
                    block = fh.read(end - start)
                    if end == size and block.endswith(b"\n"):
                        break  # intact
                    cut = block.rfind(b"\n")
                    if cut >= 0:
                        fh.truncate(start + cut + 1)
                        break
                    end = start
                else:
                    fh.truncate(0)
    except FileNotFoundError:
        pass
    return open(path, "a", encoding="utf-8")  # noqa: SIM115


def read_jsonl(path: str | Path) -> Iterator[Any]:
    """The records of a JSON-lines file written by this package; a last line without its
    newline (the process died while writing it) is skipped, any other bad line raises."""
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, 1):
            if not line.endswith(b"\n"):
                return
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError as exc:
                    raise ValueError(f"{path}:{number}: not a JSON record: {exc}") from None


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: a crash leaves the
    old file or the new one, never a part."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _reply(response: RecordedResponse, stream: bool) -> dict[str, Any]:
    """What a replay needs to answer the call again (``agentscope_legacy.replay``): a
    stream's text pieces in order (``chunks``), else the text; only fields that are set.

    A secret is contiguous text, so pieces whose joined text holds none hold none either;
    if the text does hold one, the redacted text is kept as a single piece."""
    reply: dict[str, Any] = {}
    if stream:
        pieces = response._pieces
        text = "".join(pieces)
        masked = redact(text)
        reply["chunks"] = list(pieces) if masked == text else [masked]
        if response._reasoning_pieces:
            reply["reasoning_chunks"] = redact(list(response._reasoning_pieces))
    elif response.text is not None:
        reply["text"] = redact(response.text)
    extra = {
        "reasoning": None if stream else response.reasoning,
        "tool_calls": response.tool_calls,
        "finish_reason": response.finish_reason,
        "request_id": response.request_id,
        "embedding": response.embedding,
        "image_urls": response.image_urls,
    }
    reply.update(redact({k: v for k, v in extra.items() if v}))
    return reply


def _response_summary(response: RecordedResponse | None, stream: bool) -> Any:
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
