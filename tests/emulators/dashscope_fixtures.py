"""The ``dashscope_server`` pytest fixture: a shared, freshly cleared DashScope emulator.

Bind it in a test module by assignment (see :mod:`tests.emulators.fixtures`)::

    from tests.emulators import dashscope_fixtures

    dashscope_server = dashscope_fixtures.dashscope_server
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Iterator

import pytest

from .dashscope import DashScopeEmulator
from .fixtures import ensure_no_proxy

__all__ = ["dashscope_server", "shared_dashscope_emulator"]

_lock = threading.Lock()
_server: DashScopeEmulator | None = None


def shared_dashscope_emulator() -> DashScopeEmulator:
    """The session-wide running :class:`DashScopeEmulator` (started on first call)."""
    global _server
    with _lock:
        if _server is None:
            _server = DashScopeEmulator().start()
            atexit.register(_server.stop)
        return _server


@pytest.fixture
def dashscope_server() -> Iterator[DashScopeEmulator]:
    """A running, freshly cleared DashScope emulator (shared across the session)."""
    ensure_no_proxy()
    server = shared_dashscope_emulator()
    server.clear()
    yield server
    server.clear()
