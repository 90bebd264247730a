"""``Msg``: the unit agents exchange.

``content`` is a string or a list of content blocks (dicts with a ``type``: ``text``,
``thinking``, ``image``, ``audio``, ``video``, ``tool_use``, ``tool_result``). ``url`` keeps the
0.x way of attaching images and files to a message.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]
ROLES = ("system", "user", "assistant")


def _now() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S")


class Msg:
    """A message with a speaker ``name``, ``content``, ``role`` and optional ``url``/metadata."""

    __slots__ = ("id", "name", "content", "role", "url", "metadata", "timestamp")

    def __init__(
        self,
        name: str,
        content: str | list[dict[str, Any]] | None,
        role: Role = "assistant",
        url: str | list[str] | None = None,
        metadata: Any = None,
        echo: bool = False,
        *,
        id: str | None = None,
        timestamp: str | None = None,
    ) -> None:
        if role not in ROLES:
            raise ValueError(f"Msg role must be one of {', '.join(ROLES)}, got {role!r}")
        if content is not None and not isinstance(content, (str, list)):
            raise TypeError(
                "Msg content must be a str or a list of content blocks, "
                f"got {type(content).__name__}"
            )
        if metadata is not None:
            try:
                json.dumps(metadata)
            except TypeError as exc:
                raise TypeError(f"Msg metadata must be JSON-serialisable: {exc}") from None
        self.id = id or uuid.uuid4().hex
        self.name = name
        self.content = content
        self.role = role
        self.url = url
        self.metadata = metadata
        self.timestamp = timestamp or _now()
        if echo:
            from .logging import log_msg

            log_msg(self)

    # -- content access ----------------------------------------------------------------------
    def get_text_content(self) -> str | None:
        """The text of the message: the str content, or its text blocks joined by newlines."""
        if isinstance(self.content, str):
            return self.content
        if not self.content:
            return None
        texts = [b.get("text", "") for b in self.content if b.get("type") == "text"]
        return "\n".join(texts) if texts else None

    def get_content_blocks(self, block_type: str | None = None) -> list[dict[str, Any]]:
        """Content as blocks (a str becomes one text block), optionally of one ``type``."""
        if isinstance(self.content, str):
            blocks = [{"type": "text", "text": self.content}]
        else:
            blocks = list(self.content or [])
        if block_type is None:
            return blocks
        return [b for b in blocks if b.get("type") == block_type]

    @property
    def urls(self) -> list[str]:
        """``url`` as a list (0.x accepted one string or a list)."""
        if not self.url:
            return []
        return [self.url] if isinstance(self.url, str) else list(self.url)

    # -- serialisation -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` restores an equal ``Msg``."""
        return {
            "__module__": "agentscope_legacy.message",
            "__name__": "Msg",
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "content": self.content,
            "url": self.url,
            "metadata": self.metadata,
            "timestamp": self.timestamp,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Msg:
        """Build a Msg from :meth:`to_dict` output (the input is not modified)."""
        fields = {k: v for k, v in data.items() if not k.startswith("__")}
        unknown = set(fields) - {"id", "name", "role", "content", "url", "metadata", "timestamp"}
        if unknown:
            raise ValueError(f"unknown Msg fields: {', '.join(sorted(unknown))}")
        return cls(
            fields.get("name"),
            fields.get("content"),
            fields.get("role", "assistant"),
            url=fields.get("url"),
            metadata=fields.get("metadata"),
            id=fields.get("id"),
            timestamp=fields.get("timestamp"),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Msg:
        return cls.from_dict(json.loads(text))

    def formatted_str(self, colored: bool = False) -> str:
        """``name: text`` lines as printed on the terminal (0.x layout)."""
        from .logging import format_msg

        return format_msg(self, colored=colored)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Msg):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        content = (
            self.content if isinstance(self.content, str) else f"<{len(self.content or [])} blocks>"
        )
        if isinstance(content, str) and len(content) > 60:
            content = content[:57] + "..."
        return f"Msg(name={self.name!r}, role={self.role!r}, content={content!r})"
