"""0.x compatibility: errors old ``except`` clauses catch, memory, hooks, config repeats,
piped user input and the opt-in ``agentscope`` alias (``agentscope_legacy.compat``)."""

from __future__ import annotations

import pytest

from agentscope_legacy import errors


@pytest.mark.parametrize(
    "cls",
    [
        errors.ProviderError,
        errors.AuthenticationError,
        errors.BadRequestError,
        errors.RateLimitError,
        errors.ServerError,
        errors.ProviderConnectionError,
        errors.ProviderTimeoutError,
        errors.ResponseFormatError,
    ],
)
def test_provider_errors_are_runtime_errors_as_in_0x(cls):
    with pytest.raises(RuntimeError):
        raise cls("boom", provider="openai", status=500)


def test_config_errors_are_value_errors_as_in_0x():
    from agentscope_legacy.models import load_model_by_config_name, read_model_configs

    read_model_configs([], clear_existing=True)
    with pytest.raises(ValueError, match="cannot find"):
        load_model_by_config_name("no-such-config")
