"""An agent's memory with AgentScope 0.1.x's API: ``MemoryBase`` and ``TemporaryMemory``.

``TemporaryMemory`` keeps messages in order, skips one it already holds (same ``id``), and
reads like the list it replaces (``len``, iteration, indexing and slicing), so code written
against either works.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, overload

from loguru import logger

from ..message import Msg

Memories = Msg | Sequence[Msg] | None


class MemoryBase(ABC):
    """What a memory offers (0.1.x): add, read, delete, clear, size, export and load."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = dict(config or {})

    def update_config(self, config: dict[str, Any]) -> None:
        self.config = dict(config)

    @abstractmethod
    def add(self, memories: Memories) -> None: ...

    @abstractmethod
    def get_memory(
        self,
        recent_n: int | None = None,
        filter_func: Callable[[int, Msg], bool] | None = None,
    ) -> list[Msg]: ...

    @abstractmethod
    def delete(self, index: int | Iterable[int]) -> None: ...

    @abstractmethod
    def clear(self) -> None: ...

    @abstractmethod
    def size(self) -> int: ...

    @abstractmethod
    def export(self, file_path: str | None = None, to_mem: bool = False) -> list[Msg] | None: ...

    @abstractmethod
    def load(self, memories: str | Memories, overwrite: bool = False) -> None: ...


class TemporaryMemory(MemoryBase):
    """Messages held in this process, in the order they were added."""

    def __init__(self, config: dict[str, Any] | None = None, embedding_model: Any = None) -> None:
        super().__init__(config)
        self.embedding_model = embedding_model
        self._content: list[Msg] = []
        self._ids: set[str] = set()  # kept with the content: 0.1.x rebuilt it on every add

    def add(self, memories: Memories) -> None:
        """Add a Msg or a list of them; None is skipped, and so is a message already held
        (same id: a broadcast heard twice). A dict is read as a Msg; anything else is a
        ValueError, as in 0.1.x."""
        if memories is None:
            return
        items = memories if isinstance(memories, (list, tuple)) else [memories]
        for msg in [_as_msg(item) for item in items]:  # all checked before any is added
            if msg.id not in self._ids:
                self._ids.add(msg.id)
                self._content.append(msg)

    append = add  # the list this memory replaced had append; agents' old code may call it

    def get_memory(
        self,
        recent_n: int | None = None,
        filter_func: Callable[[int, Msg], bool] | None = None,
    ) -> list[Msg]:
        """The messages (a new list): the last ``recent_n`` of them if given, then those for
        which ``filter_func(index, msg)`` is true (the index within that window)."""
        memories = self._content
        if recent_n is not None:
            if recent_n > len(memories):
                logger.warning(
                    "recent_n={} is more than the {} messages in memory", recent_n, len(memories)
                )
            memories = memories[-recent_n:] if recent_n > 0 else []
        if filter_func is not None:
            return [m for i, m in enumerate(memories) if filter_func(i, m)]
        return list(memories)

    def delete(self, index: int | Iterable[int]) -> None:
        """Delete the messages at these indices; an index out of range is skipped with a
        warning, as in 0.1.x."""
        indices = {index} if isinstance(index, int) else set(index)
        if not all(isinstance(i, int) for i in indices):
            raise TypeError(f"delete() takes an int or a list of ints, got {index!r}")
        invalid = sorted(i for i in indices if not 0 <= i < len(self._content))
        if invalid:
            logger.warning("memory.delete: skipping the invalid indices {}", invalid)
        self._content = [m for i, m in enumerate(self._content) if i not in indices]
        self._ids = {m.id for m in self._content}

    def clear(self) -> None:
        self._content, self._ids = [], set()

    def size(self) -> int:
        return len(self._content)

    def export(self, file_path: str | None = None, to_mem: bool = False) -> list[Msg] | None:
        """The messages (``to_mem=True``), or write them as a JSON list to ``file_path``."""
        if to_mem:
            return list(self._content)
        if file_path is None:
            raise ValueError("export() needs a file_path, or to_mem=True")
        with open(file_path, "w", encoding="utf-8") as f:
            json.dump([m.to_dict() for m in self._content], f, ensure_ascii=False)
        return None

    def load(self, memories: str | Memories, overwrite: bool = False) -> None:
        """Add messages from a file :meth:`export` wrote, a JSON string of them, a Msg or a
        list; ``overwrite`` clears the memory first."""
        if isinstance(memories, str):
            text = memories
            if os.path.isfile(memories):
                with open(memories, encoding="utf-8") as f:
                    text = f.read()
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"cannot load memories: not a file nor JSON ({exc})") from None
            memories = [data] if isinstance(data, dict) else data
        if overwrite:
            self.clear()
        self.add(memories)

    # -- read like a list ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._content)

    def __iter__(self) -> Iterator[Msg]:
        return iter(list(self._content))

    @overload
    def __getitem__(self, index: int) -> Msg: ...
    @overload
    def __getitem__(self, index: slice) -> list[Msg]: ...
    def __getitem__(self, index: int | slice) -> Msg | list[Msg]:
        return self._content[index]

    def __repr__(self) -> str:
        return f"TemporaryMemory({len(self._content)} messages)"


def _as_msg(item: Any) -> Msg:
    if isinstance(item, Msg):
        return item
    if isinstance(item, dict):
        try:
            return Msg.from_dict(item)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"cannot add {item!r} to memory: not a message ({exc})") from None
    raise ValueError(f"cannot add a {type(item).__name__} to memory: expected a Msg")
