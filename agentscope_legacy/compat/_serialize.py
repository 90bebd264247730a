"""``agentscope.serialize`` of 0.1.3-0.1.6: JSON with ``Msg`` objects in 0.1.x's format.

A ``Msg`` is written as 0.1.6 wrote it: ``{"__module__": "agentscope.message.msg", "__name__":
"Msg", "id", "name", "role", "content", "metadata", "timestamp"}``, with a 0.x ``url`` turned
into content blocks (as 0.1.3+ did on construction), so 0.1.6 can read it back. Reading takes
that format, 0.1.0-0.1.2's (a ``url`` field) and this project's own ``Msg.to_dict()``. Unlike
0.1.6, a ``__module__`` in the data never makes anything be imported: any other object stays a
plain dict, so loading a file cannot run code.
"""

from __future__ import annotations

import json
from typing import Any

from ..logging import chat_record as msg_to_dict
from ..message import Msg

__all__ = ["deserialize", "is_serializable", "serialize"]

#: The ``__module__`` values a serialised Msg carries: 0.1.3+, 0.1.0-0.1.2, this project.
MSG_MODULES = frozenset(
    {"agentscope.message.msg", "agentscope.message", "agentscope_legacy.message"}
)


def _default(obj: Any) -> Any:
    if isinstance(obj, Msg):
        return msg_to_dict(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _hook(data: dict[str, Any]) -> Any:
    if data.get("__name__") == "Msg" and data.get("__module__") in MSG_MODULES:
        return Msg.from_dict(data)
    return data


def serialize(obj: Any) -> str:
    """``obj`` (a Msg, a list or dict holding Msgs, any JSON value) as a JSON string."""
    return json.dumps(obj, ensure_ascii=False, default=_default)


def deserialize(s: str) -> Any:
    """The value of a :func:`serialize` string, with its Msgs rebuilt (ids and timestamps kept)."""
    return json.loads(s, object_hook=_hook)


def is_serializable(obj: Any) -> bool:
    try:
        serialize(obj)
    except (TypeError, ValueError):
        return False
    return True
