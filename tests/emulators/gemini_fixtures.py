"""The ``gemini_server`` fixture: one running :class:`GeminiEmulator` per session, cleared per test.

Bind it in a test module by assignment (``gemini_server = gemini_fixtures.gemini_server``).
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Iterator

import pytest

from .fixtures import ensure_no_proxy
from .gemini import GeminiEmulator

__all__ = ["gemini_server", "shared_gemini_emulator"]

_lock = threading.Lock()
_gemini: GeminiEmulator | None = None


def shared_gemini_emulator() -> GeminiEmulator:
    """The session-wide running :class:`GeminiEmulator` (started on first call)."""
    global _gemini
    with _lock:
        if _gemini is None:
            _gemini = GeminiEmulator().start()
            atexit.register(_gemini.stop)
        return _gemini


@pytest.fixture
def gemini_server() -> Iterator[GeminiEmulator]:
    """A running, freshly cleared Gemini emulator (shared across the session)."""
    ensure_no_proxy()
    server = shared_gemini_emulator()
    server.clear()
    yield server
    server.clear()
