"""Pytest fixtures for the loopback emulators.

Usage: make the fixture visible where pytest looks for it.  In
``tests/conftest.py``::

    from tests.emulators.fixtures import openai_server  # noqa: F401

In a single test module, bind it by assignment instead, because lint flags a
test parameter that shadows an imported name (F811)::

    from tests.emulators import fixtures

    openai_server = fixtures.openai_server

    def test_chat(openai_server):
        openai_server.set_reply(text="Hi there")
        client = OpenAI(api_key="sk-test", base_url=openai_server.base_url + "/v1", max_retries=0)
        ...
        assert openai_server.requests[-1].json["model"] == "gpt-4o-mini"

``openai_server`` is function-scoped but cheap: one emulator is started on
first use and kept running for the whole session (stopped at interpreter
exit); every test gets it freshly ``clear()``-ed (no requests, faults or
scripted reply left over).  Only ``openai_server`` has to be imported: the
shared instance is a plain module global, not a fixture, so the import works
alone.  The fixture also makes sure ``NO_PROXY`` covers loopback, because
proxy variables would otherwise send ``127.0.0.1`` traffic to the proxy.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from .openai_compat import OpenAIEmulator

__all__ = [
    "emulator_fixture",
    "ensure_no_proxy",
    "openai_server",
    "shared_emulator_of",
    "shared_openai_emulator",
]

_LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
_lock = threading.Lock()
S = TypeVar("S")


def ensure_no_proxy() -> None:
    """Add loopback hosts to ``NO_PROXY``/``no_proxy`` (keeping existing entries)."""
    for name in ("NO_PROXY", "no_proxy"):
        entries = [e.strip() for e in os.environ.get(name, "").split(",") if e.strip()]
        missing = [h for h in _LOOPBACK_HOSTS if h not in entries]
        if missing:
            os.environ[name] = ",".join(entries + missing)


_shared: dict[type, Any] = {}


def shared_emulator_of(cls: type[S]) -> Callable[[], S]:
    """A function returning the session-wide running emulator of ``cls`` (started on first
    call, stopped at exit)."""

    def shared() -> S:
        with _lock:
            server = _shared.get(cls)
            if server is None:
                server = _shared[cls] = cls().start()
                atexit.register(server.stop)
            return server

    shared.__name__ = f"shared_{cls.__name__}"
    return shared


def emulator_fixture(cls: type[S], name: str) -> Any:
    """The pytest fixture ``name``: the shared emulator of ``cls``, freshly cleared, cleared
    again after the test. Bind it in a test module by assignment, under the same name."""
    shared = shared_emulator_of(cls)

    @pytest.fixture(name=name)
    def fixture() -> Iterator[S]:
        ensure_no_proxy()
        server = shared()
        server.clear()
        yield server
        server.clear()

    fixture.__doc__ = f"A running, freshly cleared {cls.__name__} (shared across the session)."
    return fixture


shared_openai_emulator = shared_emulator_of(OpenAIEmulator)
openai_server = emulator_fixture(OpenAIEmulator, "openai_server")
