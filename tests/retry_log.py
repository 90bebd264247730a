"""The waits the retry layer chose, read from its log, so tests assert them instead of the clock.

``ModelWrapperBase._next_attempt`` logs one warning per retry:
``<model_type> [<config_name>]: <Error> (status <s>), retry <i>/<n> in <X.XX>s``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

_RETRY = re.compile(r"^\S+ \[(?P<config>.*)\]: .*, retry (?P<i>\d+)/(?P<n>\d+) in (?P<s>[\d.]+)s$")


@dataclass(frozen=True)
class RetryWait:
    config_name: str
    attempt: int  # the retry this wait precedes, 1-based
    max_retries: int
    seconds: float  # as logged: rounded to 0.01 s


class RetryWaits(list[RetryWait]):
    """Every retry wait logged while recording, in order (thread-safe appends)."""

    def seconds(self, config_name: str | None = None) -> list[float]:
        return [w.seconds for w in self if config_name in (None, w.config_name)]


@contextmanager
def recording_retry_waits() -> Iterator[RetryWaits]:
    """Record the retry waits logged inside the block. ``init()`` replaces loguru's sinks, so
    start recording after any ``init()``."""
    from loguru import logger

    waits, lock = RetryWaits(), threading.Lock()

    def sink(message: object) -> None:
        record = message.record  # type: ignore[attr-defined]
        found = _RETRY.match(record["message"])
        if found and (record["name"] or "").startswith("agentscope_legacy"):
            wait = RetryWait(found["config"], int(found["i"]), int(found["n"]), float(found["s"]))
            with lock:
                waits.append(wait)

    handler = logger.add(sink, level="WARNING", format="{message}")
    try:
        yield waits
    finally:
        try:
            logger.remove(handler)
        except ValueError:  # already removed by an init() inside the block
            pass
