"""The local model's runtimes as a pytest parameter: each test that takes ``runtime`` runs on
xllamacpp and on llama-cpp-python, and skips a runtime that is not installed."""

from __future__ import annotations

import importlib.util

import pytest

from agentscope_legacy.errors import MissingDependencyError
from agentscope_legacy.models._local_runtime import RUNTIMES


def installed(runtime: str) -> bool:
    return importlib.util.find_spec(RUNTIMES[runtime][0]) is not None


def has_bundled_model() -> bool:
    from agentscope_legacy.models.llamacpp import bundled_model_path

    try:
        bundled_model_path()
    except MissingDependencyError:
        return False
    return True


#: ``@pytest.mark.parametrize("runtime", RUNTIME_PARAMS)`` or ``params=`` of a fixture.
RUNTIME_PARAMS = [
    pytest.param(
        name,
        id=name,
        marks=pytest.mark.skipif(
            not installed(name), reason=f"needs {RUNTIMES[name][1]} ([{RUNTIMES[name][2]}])"
        ),
    )
    for name in RUNTIMES
]
ANY_RUNTIME = any(installed(name) for name in RUNTIMES)
