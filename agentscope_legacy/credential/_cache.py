"""The on-disk cache of model listings: one JSON file per credential id, with a TTL.

The file name is a hash of the credential id, and the id itself never holds the key, so no key
reaches the disk. ``AGENTSCOPE_LEGACY_MODELS_CACHE`` moves the directory; by default it is
``models/`` under the runtime's cache directory (``AS_HOME_PATH``, else
``~/.cache/agentscope_legacy``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

from loguru import logger

from ._card import ModelCard

CACHE_ENV = "AGENTSCOPE_LEGACY_MODELS_CACHE"
#: Seconds a listing is reused before it is fetched again.
DEFAULT_TTL = 3600.0


def cache_dir() -> Path:
    """The directory of the listing cache (created on first write)."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    from .._runtime import get_runtime

    return get_runtime().cache_dir / "models"


def cache_path(credential_id: str) -> Path:
    digest = hashlib.sha256(credential_id.encode()).hexdigest()[:24]
    return cache_dir() / f"{digest}.json"


def load(credential_id: str, ttl: float) -> list[ModelCard] | None:
    """The cached cards of ``credential_id`` if younger than ``ttl`` seconds, else None."""
    path = cache_path(credential_id)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("id") != credential_id or time.time() - float(data["fetched_at"]) > ttl:
            return None
        return [ModelCard.from_dict(card) for card in data["cards"]]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        # A broken cache file only costs a fetch.
        logger.debug("ignoring unreadable model cache {}: {}", path, exc)
        return None


def store(credential_id: str, cards: list[ModelCard]) -> None:
    """Write the cards atomically (a concurrent reader sees the old file or the new one)."""
    path = cache_path(credential_id)
    data = {"id": credential_id, "fetched_at": time.time(), "cards": [c.to_dict() for c in cards]}
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".models-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, default=str)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only home must not break listing
        logger.warning("could not write the model cache {}: {}", path, exc)
