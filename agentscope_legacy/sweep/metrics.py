"""The ``metrics:`` of an experiment, read from a finished run; never ``eval``.

::

    metrics:
      stopped: {field: metadata.verdict, equals: stop}   # a condition: true or false
      verdict: metadata.verdict                          # a field of the final message
      tokens: usage.total_tokens                         # summed over the run's models
      messages: run.messages                             # the run's message count

A string is a field (``content``, ``name``, ``role``, ``metadata.<key>...``, ``usage.<column>``,
``run.messages``, ``run.seconds``); a mapping is a condition of the declared-condition syntax
(``experiment/conditions.py``) on the final message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..experiment.conditions import evaluate, field_value


def usage_totals(usage: list[dict[str, Any]]) -> dict[str, int]:
    """The run's calls, failures and tokens, over every model it used."""
    keys = ("calls", "failures", "prompt_tokens", "completion_tokens", "total_tokens")
    return {k: sum(int(row.get(k) or 0) for row in usage) for k in keys}


def collect(metrics: Mapping[str, Any], final: Any, messages: int, seconds: float,
            usage: list[dict[str, Any]]) -> dict[str, Any]:
    """Each metric's value for one run (JSON-ready: anything else becomes its text)."""
    totals = usage_totals(usage)
    out: dict[str, Any] = {}
    for name, metric in metrics.items():
        if isinstance(metric, Mapping):
            value: Any = evaluate(metric, final)
        elif metric.startswith("usage."):
            value = totals.get(metric.split(".", 1)[1])
        elif metric == "run.messages":
            value = messages
        elif metric == "run.seconds":
            value = round(seconds, 3)
        else:
            value = field_value(final, metric)
        out[name] = value if _is_json(value) else str(value)
    return out


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, list):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False
