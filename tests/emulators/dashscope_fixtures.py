"""The ``dashscope_server`` pytest fixture: a shared, freshly cleared DashScope emulator.

Bind it in a test module by assignment (see :mod:`tests.emulators.fixtures`)::

    from tests.emulators import dashscope_fixtures

    dashscope_server = dashscope_fixtures.dashscope_server
"""

from __future__ import annotations

from .dashscope import DashScopeEmulator
from .fixtures import emulator_fixture, shared_emulator_of

__all__ = ["dashscope_server", "shared_dashscope_emulator"]

shared_dashscope_emulator = shared_emulator_of(DashScopeEmulator)
dashscope_server = emulator_fixture(DashScopeEmulator, "dashscope_server")
