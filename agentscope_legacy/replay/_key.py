"""The request key a replay matches calls by, and the first difference between two requests.

The key of a call is ``config_name`` plus the SHA-256 (first 20 hex digits) of its normalised
request: the wrapper's SDK request (messages, tools, model, generate args: what
``_build_request`` made), keys redacted, as JSON with sorted keys, without the top-level
``stream`` and ``stream_options`` (how a reply is delivered, not what is asked: a recorded
stream answers a non-streamed call, and the other way round). Requests hold no timestamps
or keys, so two runs asking the same thing get the same key.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .._secrets import redact

#: Top-level request fields left out of the key.
DELIVERY_FIELDS = frozenset({"stream", "stream_options"})


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def normalise(request: Any) -> Any:
    """A request as the record holds it (JSON values, keys redacted), minus delivery fields.

    The round trip through JSON text makes a live request and a recorded one (read back from
    ``invocations.jsonl``) compare equal: tuples become lists, other objects their ``str``.
    """
    data = json.loads(json.dumps(redact(_plain(request)), ensure_ascii=False, default=str))
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in DELIVERY_FIELDS}
    return data


def request_key(normalised: Any) -> str:
    """The documented request key of a normalised request."""
    text = json.dumps(normalised, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """``(path, value)`` of every leaf in order (dict keys sorted): ``messages[2].content``."""
    if isinstance(value, dict) and value:
        out: list[tuple[str, Any]] = []
        for key in sorted(value):
            out += leaves(value[key], f"{path}.{key}" if path else key)
        return out
    if isinstance(value, list) and value:
        out = []
        for i, item in enumerate(value):
            out += leaves(item, f"{path}[{i}]")
        return out
    return [(path or "(the request)", value)]


def first_difference(recorded: Any, now: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """``(path, recorded value, value now)`` where the two first differ, or ``None``.

    Dict keys are compared in sorted order; a missing key or list item shows as ``<absent>``.
    """
    here = path or "(the request)"
    if isinstance(recorded, dict) and isinstance(now, dict):
        for key in sorted(set(recorded) | set(now)):
            sub = f"{path}.{key}" if path else key
            if key not in recorded or key not in now:
                return sub, recorded.get(key, ABSENT), now.get(key, ABSENT)
            found = first_difference(recorded[key], now[key], sub)
            if found:
                return found
        return None
    if isinstance(recorded, list) and isinstance(now, list):
        for i in range(max(len(recorded), len(now))):
            sub = f"{path}[{i}]"
            if i >= len(recorded) or i >= len(now):
                return (
                    sub,
                    recorded[i] if i < len(recorded) else ABSENT,
                    now[i] if i < len(now) else ABSENT,
                )
            found = first_difference(recorded[i], now[i], sub)
            if found:
                return found
        return None
    return None if recorded == now else (here, recorded, now)


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


ABSENT = _Absent()


def shared_prefix(a: list[tuple[str, Any]], b: list[tuple[str, Any]]) -> int:
    """How many leading leaves two requests share (the nearest recorded request has most)."""
    n = 0
    for left, right in zip(a, b, strict=False):
        if left != right:
            break
        n += 1
    return n


def shorten(value: Any, limit: int = 80) -> str:
    """A value for an error message: its repr, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
