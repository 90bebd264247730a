"""Shared test set-up: loopback-only networking, a clean runtime per test, the emulators."""

from __future__ import annotations

import os

# Proxy variables would send loopback calls to the proxy; litellm would fetch its cost map.
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
for _var in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
    os.environ.pop(_var, None)

import pytest  # noqa: E402

from tests.emulators.fixtures import openai_server  # noqa: E402,F401


@pytest.fixture(autouse=True)
def fresh_runtime():
    """Each test starts with no configs loaded and no run directory."""
    from agentscope_legacy import _runtime
    from agentscope_legacy.models.manager import ModelManager

    ModelManager._default = None
    _runtime._runtime = _runtime.Runtime()
    yield
    _runtime._runtime.monitor.close()
    ModelManager._default = None
    _runtime._runtime = _runtime.Runtime()
