"""The ``gemini_server`` fixture: one running :class:`GeminiEmulator` per session, cleared per test.

Bind it in a test module by assignment (``gemini_server = gemini_fixtures.gemini_server``).
"""

from __future__ import annotations

from .fixtures import emulator_fixture, shared_emulator_of
from .gemini import GeminiEmulator

__all__ = ["gemini_server", "shared_gemini_emulator"]

shared_gemini_emulator = shared_emulator_of(GeminiEmulator)
gemini_server = emulator_fixture(GeminiEmulator, "gemini_server")
