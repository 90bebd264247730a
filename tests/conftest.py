"""Shared test set-up: loopback-only networking, a clean runtime per test, the emulators."""

from __future__ import annotations

import os

# Proxy variables would send loopback calls to the proxy; litellm would fetch its cost map.
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
# Provider variables from the developer's shell must not leak into tests.
for _var in (
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID",
    "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN",
    "DASHSCOPE_API_KEY", "DASHSCOPE_HTTP_BASE_URL",
    "GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_GENAI_API_VERSION", "ZHIPUAI_API_KEY", "ZHIPUAI_BASE_URL", "OLLAMA_HOST",
    "OLLAMA_API_KEY", "DEEPSEEK_API_KEY", "MOONSHOT_API_KEY", "XAI_API_KEY", "VLLM_API_KEY",
):  # fmt: skip
    os.environ.pop(_var, None)

import pytest  # noqa: E402

from tests.emulators.fixtures import openai_server  # noqa: E402,F401

try:  # Property tests: no per-example time limit (hypothesis' default is 200 ms), since a
    # busy CI machine is slow; what they check is behaviour.
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "busy-machine", deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    settings.load_profile("busy-machine")
except ImportError:  # the litellm venv has no hypothesis
    pass


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


@pytest.fixture
def retry_waits():
    """The retry waits the wrappers chose during the test (``tests/retry_log.py``); request it
    after any fixture that calls ``init()``, which replaces loguru's sinks."""
    from tests.retry_log import recording_retry_waits

    with recording_retry_waits() as waits:
        yield waits
