"""``EmbeddingResponse`` and ``EmbeddingUsage``: what every embedding model returns."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

#: One vector.
Embedding = list[float]


def _timestamp() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


@dataclass
class EmbeddingUsage:
    """Tokens the provider billed (0 when every vector came from the cache) and the seconds
    the call took, cache look-ups included."""

    tokens: int = 0
    time: float = 0.0
    type: Literal["embedding"] = "embedding"


@dataclass
class EmbeddingResponse:
    """One vector per input text, in input order.

    ``source`` is ``"cache"`` only when every vector came from the cache; a call that sent at
    least one text to the provider says ``"api"``.
    """

    embeddings: list[Embedding]
    usage: EmbeddingUsage | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: str = field(default_factory=_timestamp)
    source: Literal["api", "cache"] = "api"
    type: Literal["embedding"] = "embedding"

    def __getitem__(self, key: str) -> Any:  # response["embeddings"], as dict-like results
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


__all__ = ["Embedding", "EmbeddingResponse", "EmbeddingUsage"]
