"""``EmbeddingCache``: vectors on disk, keyed by model identity and text.

Layout, under ``directory`` (default: ``<runtime cache dir>/embeddings``)::

    <model id>/identity.json          what the model id stands for (provider, model, args)
    <model id>/<ab>/<text sha256>     one entry: a 12-byte header and float32 little-endian

The model id is the first 24 hex digits of the SHA-256 of the identity as canonical JSON, so a
different provider, model, endpoint, dimension count or vector-changing argument (Gemini's
``task_type``, DashScope's ``text_type``) never shares entries. An entry's header holds a magic
number, the vector length and a CRC-32 of the entry's key and payload.

Why one file per entry rather than SQLite: an entry is written to a temporary file in its final
directory and moved into place with ``os.replace``, which is atomic, so readers never see half an
entry and any number of threads or processes may write at once with no lock (two writers of one
entry write the same vector; the last rename wins). Damage stays local: a torn, truncated or
foreign file fails the length or checksum test, is treated as a miss and rewritten by the next
call that fetches it, where a damaged SQLite page can make the whole database unreadable. The
checksum also makes an ``fsync`` per entry unnecessary: what a power loss leaves behind is
detected, not trusted. The costs, a few KiB of file-system overhead per entry and one ``open``
per look-up, are small next to a network round trip.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import sys
import tempfile
import zlib
from array import array
from pathlib import Path
from typing import Any

from loguru import logger

_MAGIC = b"ASE1"
_HEADER = struct.Struct("<4sII")  # magic, vector length, crc32(key digest + payload)
_MODEL_ID_HEX = 24


def _canonical(value: Any) -> Any:
    """A JSON-able form of an argument value (pydantic models and the like included)."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(exclude_none=True, mode="json")
    return repr(value)


def identity_json(identity: dict[str, Any]) -> str:
    return json.dumps(identity, sort_keys=True, ensure_ascii=False, default=_canonical)


class EmbeddingCacheBase:
    """What an embedding model needs from a cache. Look-ups return ``None`` for a miss."""

    def get_many(self, identity: dict[str, Any], texts: list[str]) -> list[list[float] | None]:
        raise NotImplementedError

    def put_many(
        self, identity: dict[str, Any], texts: list[str], vectors: list[list[float]]
    ) -> list[list[float]]:
        """Store the vectors; returns them exactly as a later look-up will (e.g. as float32)."""
        raise NotImplementedError

    def clear(self) -> None:
        raise NotImplementedError


class EmbeddingCache(EmbeddingCacheBase):
    """Float32 vectors on disk, one checksummed file per (model identity, text).

    Args:
        directory: where entries live; ``None`` uses ``<runtime cache dir>/embeddings``,
            resolved at each use (so it follows ``init(cache_dir=...)``).

    Failing to read or write the cache (permissions, a full disk) never fails a call: it is
    logged and the call goes on as a miss.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self._directory = Path(directory).expanduser() if directory is not None else None

    @property
    def directory(self) -> Path:
        if self._directory is not None:
            return self._directory
        from .._runtime import get_runtime

        return get_runtime().cache_dir / "embeddings"

    def __repr__(self) -> str:
        return f"EmbeddingCache(directory={str(self.directory)!r})"

    # -- keys ------------------------------------------------------------------------------
    def model_dir(self, identity: dict[str, Any]) -> Path:
        digest = hashlib.sha256(identity_json(identity).encode("utf-8")).hexdigest()
        return self.directory / digest[:_MODEL_ID_HEX]

    @staticmethod
    def _entry(model_dir: Path, text: str) -> tuple[Path, bytes]:
        digest = hashlib.sha256(text.encode("utf-8")).digest()
        name = digest.hex()
        return model_dir / name[:2] / name, model_dir.name.encode("ascii") + digest

    # -- reading ---------------------------------------------------------------------------
    def get_many(self, identity: dict[str, Any], texts: list[str]) -> list[list[float] | None]:
        model_dir = self.model_dir(identity)
        return [self._read(*self._entry(model_dir, text)) for text in texts]

    def _read(self, path: Path, key: bytes) -> list[float] | None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.warning("embedding cache: cannot read {}: {}", path, exc)
            return None
        if len(data) >= _HEADER.size:
            magic, length, crc = _HEADER.unpack_from(data)
            payload = data[_HEADER.size :]
            if magic == _MAGIC and len(payload) == 4 * length and crc == zlib.crc32(key + payload):
                vector = array("f")
                vector.frombytes(payload)
                if sys.byteorder == "big":  # pragma: no cover
                    vector.byteswap()
                return vector.tolist()
        logger.warning("embedding cache: ignoring a corrupted entry {}", path)
        return None

    # -- writing ---------------------------------------------------------------------------
    def put_many(
        self, identity: dict[str, Any], texts: list[str], vectors: list[list[float]]
    ) -> list[list[float]]:
        model_dir = self.model_dir(identity)
        stored = []
        try:
            self._describe(model_dir, identity)
        except OSError as exc:
            logger.warning("embedding cache: cannot write to {}: {}", model_dir, exc)
        for text, vector in zip(texts, vectors, strict=True):
            values = array("f", vector)
            stored.append(values.tolist())
            if sys.byteorder == "big":  # pragma: no cover
                values.byteswap()
            payload = values.tobytes()
            path, key = self._entry(model_dir, text)
            header = _HEADER.pack(_MAGIC, len(values), zlib.crc32(key + payload))
            try:
                _atomic_write(path, header + payload)
            except OSError as exc:
                logger.warning("embedding cache: cannot write {}: {}", path, exc)
        return stored

    def _describe(self, model_dir: Path, identity: dict[str, Any]) -> None:
        path = model_dir / "identity.json"
        if not path.is_file():
            text = json.dumps(json.loads(identity_json(identity)), indent=2, ensure_ascii=False)
            _atomic_write(path, text.encode("utf-8"))

    def clear(self) -> None:
        """Remove every entry under the cache directory."""
        shutil.rmtree(self.directory, ignore_errors=True)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


__all__ = ["EmbeddingCache", "EmbeddingCacheBase"]
