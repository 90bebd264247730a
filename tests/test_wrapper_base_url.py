"""One way to set the endpoint (issue 13 part 2): every 0.x wrapper takes ``base_url`` and
``api_key`` as plain config fields, whatever its SDK calls them; the old spellings still work,
and two spellings that disagree are one ConfigError naming both.

Every call goes through the provider's real SDK to its loopback emulator.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from agentscope_legacy.errors import ConfigError
from agentscope_legacy.models import load_model_by_config_name, read_model_configs
from agentscope_legacy.models.manager import builtin_wrappers
from agentscope_legacy.models.response import ModelResponse
from tests.test_parity import HAS_LITELLM
from tests.test_secrets import TYPES

#: The wrappers' older names of base_url, replaced by it in the new-spelling configs.
OLD_URL_FIELDS = ("host", "api_base", "api_url")
#: Wrappers that run in process: no endpoint to set.
LOCAL = {"llamacpp_chat", "local_embedding"}


def new_key(model_type: str) -> str:
    key = f"sk-bu-{model_type.replace('_', '-')}-{uuid.uuid4().hex}"
    # ZhipuAI keys are <id>.<secret>.
    return f"{uuid.uuid4().hex[:12]}.{key}" if model_type.startswith("zhipuai") else key


def types() -> list[Any]:
    skip = pytest.mark.skipif(not HAS_LITELLM, reason="litellm is not installed")
    return [pytest.param(t, marks=[skip] if t == "litellm_chat" else []) for t in TYPES]


def config_of(model_type: str, server: Any, **fields: Any) -> dict[str, Any]:
    """``model_type`` on ``server``, its endpoint given as ``base_url``; ``fields`` win."""
    own = dict(TYPES[model_type][1](server))
    for old in OLD_URL_FIELDS:
        if old in own:
            own["base_url"] = own.pop(old)
    return {
        "config_name": f"bu-{model_type}",
        "model_type": model_type,
        "max_retries": 0,
        **own,
        **fields,
    }


def load(config: dict[str, Any]) -> Any:
    read_model_configs([config], clear_existing=True)
    return load_model_by_config_name(config["config_name"])


def call(model_type: str, model: Any) -> ModelResponse:
    return TYPES[model_type][2](model, False)


def answered(model_type: str, server: Any, model: Any) -> ModelResponse:
    """Call ``model``; check the emulator saw the request and the reply is the model's."""
    server.clear()
    response = call(model_type, model)
    assert isinstance(response, ModelResponse)
    assert response.text or response.embedding or response.image_urls, response
    assert server.requests, "the emulator saw no request"
    return response


def sent_key(server: Any, key: str) -> bool:
    return any(key in value for r in server.requests for value in r.headers.values())


@pytest.mark.parametrize("model_type", types())
def test_base_url_and_api_key_reach_the_emulator(model_type):
    server = TYPES[model_type][0]()
    key = new_key(model_type)
    config = config_of(model_type, server, api_key=key)
    assert not set(OLD_URL_FIELDS) & set(config)
    model = load(config)
    answered(model_type, server, model)
    assert model.base_url.rstrip("/") == config["base_url"].rstrip("/")
    assert sent_key(server, key), f"{model_type}: the api_key was not sent"
    server.clear()


def test_every_wrapper_with_an_endpoint_has_both_fields():
    # The 0.x model wrappers (the TTS model types registered beside them are tts/'s).
    missing = {
        t: [f for f in ("base_url", "api_key") if f not in cls.json_schema()["properties"]]
        for t, cls in builtin_wrappers().items()
        if t not in LOCAL and cls.__module__.startswith("agentscope_legacy.models.")
    }
    assert {t: m for t, m in missing.items() if m} == {}
    # And every one of them is called on the wire above.
    assert set(missing) == set(TYPES)


def _put(config: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for name in parents:
        config = config.setdefault(name, {})
    config[last] = value


def _bearer(key: str) -> str:
    return f"Bearer {key}"


# model_type -> the old spellings of base_url it accepts (paths into the config).
OLD_URLS = {
    "openai_chat": ["client_args.base_url"],
    "openai_embedding": ["client_args.base_url"],
    "anthropic_chat": ["client_args.base_url", "client_kwargs.base_url"],
    "zhipuai_chat": ["client_args.base_url"],
    "gemini_chat": ["client_args.base_url", "client_args.http_options.base_url"],
    "dashscope_chat": ["base_http_api_url", "base_address"],
    "dashscope_text_embedding": ["base_http_api_url"],
    "ollama_chat": ["host", "client_args.host"],
    "ollama_embedding": ["host"],
    "litellm_chat": ["api_base"],
    "post_api_chat": ["api_url"],
    "post_api_embedding": ["api_url"],
}
# model_type -> the old spellings of api_key (and how the key is written there).
OLD_KEYS = {
    "openai_chat": [("client_args.api_key", str)],
    "anthropic_chat": [("client_args.api_key", str), ("client_kwargs.api_key", str)],
    "zhipuai_chat": [("client_args.api_key", str)],
    "gemini_chat": [("client_args.api_key", str)],
    "post_api_chat": [("headers.Authorization", _bearer)],
}


def _old_url_cases() -> list[Any]:
    return [
        pytest.param(t, path, id=f"{t}-{path}", marks=p.marks)
        for p in types()
        for t in [p.values[0]]
        for path in OLD_URLS.get(t, [])
    ]


def _old_key_cases() -> list[Any]:
    return [
        pytest.param(t, path, write, id=f"{t}-{path}", marks=p.marks)
        for p in types()
        for t in [p.values[0]]
        for path, write in OLD_KEYS.get(t, [])
    ]


@pytest.mark.parametrize(("model_type", "path"), _old_url_cases())
def test_old_spellings_of_base_url_still_work(model_type, path):
    server = TYPES[model_type][0]()
    config = config_of(model_type, server, api_key=new_key(model_type))
    _put(config, path, config.pop("base_url"))
    answered(model_type, server, load(config))
    server.clear()


@pytest.mark.parametrize(("model_type", "path", "write"), _old_key_cases())
def test_old_spellings_of_api_key_still_work(model_type, path, write):
    server = TYPES[model_type][0]()
    key = new_key(model_type)
    config = config_of(model_type, server)
    _put(config, path, write(key))
    answered(model_type, server, load(config))
    assert sent_key(server, key)
    server.clear()


@pytest.mark.parametrize(("model_type", "path"), _old_url_cases())
def test_two_spellings_of_base_url_that_disagree_are_a_config_error(model_type, path):
    server = TYPES[model_type][0]()
    config = config_of(model_type, server, api_key=new_key(model_type))
    _put(config, path, "http://127.0.0.1:9/elsewhere")
    with pytest.raises(ConfigError) as info:
        load(config)
    (issue,) = info.value.issues
    assert (issue.config_name, issue.field) == (config["config_name"], "base_url")
    assert "`base_url`" in issue.message and f"`{path}`" in issue.message
    assert "http://127.0.0.1:9/elsewhere" in issue.message  # URLs are shown, keys never


@pytest.mark.parametrize(("model_type", "path"), _old_url_cases())
def test_two_spellings_of_one_base_url_are_fine(model_type, path):
    server = TYPES[model_type][0]()
    config = config_of(model_type, server, api_key=new_key(model_type))
    _put(config, path, config["base_url"] + "/")  # a trailing slash names the same endpoint
    answered(model_type, server, load(config))
    server.clear()


@pytest.mark.parametrize(("model_type", "path", "write"), _old_key_cases())
def test_two_keys_that_disagree_are_a_config_error_that_shows_neither(model_type, path, write):
    server = TYPES[model_type][0]()
    key, other = new_key(model_type), new_key(model_type)
    config = config_of(model_type, server, api_key=key)
    _put(config, path, write(other))
    with pytest.raises(ConfigError) as info:
        load(config)
    (issue,) = info.value.issues
    assert (issue.config_name, issue.field) == (config["config_name"], "api_key")
    assert "`api_key`" in issue.message and f"`{path}`" in issue.message
    text = f"{info.value}\n{info.value!r}"
    assert key not in text and other not in text


def test_post_api_without_any_url_is_a_config_error_naming_base_url():
    with pytest.raises(ConfigError) as info:
        load({"config_name": "p", "model_type": "post_api_chat"})
    (issue,) = info.value.issues
    assert (issue.config_name, issue.field) == ("p", "base_url")
    assert "api_url" in issue.message  # the 0.x name is mentioned too
