"""API keys never leak: not in logs, reprs, exceptions, invocation records, the usage database,
the saved run config or a saved experiment; not as such, nor base64- or URL-encoded.

Every model_type that takes a key gets a unique fake key (from its config for some, from its
environment variable for the others), then runs against its emulator: a success, streamed when
it can, a 401 and a 500 whose bodies echo the key, a 200 whose body echoes it, and for streams
an error event carrying it. Everything the run left and everything printed is then searched.
"""

from __future__ import annotations

import base64
import inspect
import sys
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

import agentscope_legacy
from agentscope_legacy import experiment
from agentscope_legacy.errors import AuthenticationError, ProviderError
from agentscope_legacy.models import load_model_by_config_name
from agentscope_legacy.models.manager import ModelManager, builtin_wrappers
from tests.emulators.base import Fault
from tests.emulators.dashscope_fixtures import shared_dashscope_emulator
from tests.emulators.fixtures import shared_openai_emulator
from tests.emulators.gemini_fixtures import shared_gemini_emulator
from tests.emulators.ollama import shared_ollama_emulator
from tests.emulators.zhipuai import shared_zhipuai_emulator
from tests.test_parity import CHAT_TYPES, HAS_LITELLM

MESSAGES = [{"role": "user", "content": "Say hello."}]


def _openai_base(s: Any) -> dict[str, Any]:
    return {"base_url": s.base_url + "/v1"}


# model_type -> (emulator, config fields, how to call it, whether it streams)
Call = Callable[[Any, bool], Any]
chat_call: Call = lambda model, stream: model(MESSAGES, stream=stream)  # noqa: E731
embed_call: Call = lambda model, stream: model(["one text", "two"])  # noqa: E731
OTHER_TYPES: dict[str, tuple[Callable[[], Any], Callable[[Any], dict[str, Any]], Call]] = {
    "openai_embedding": (
        shared_openai_emulator,
        lambda s: {"model_name": "text-embedding-3-small", **_openai_base(s)},
        embed_call,
    ),
    "openai_dall_e": (
        shared_openai_emulator,
        lambda s: {"model_name": "dall-e-3", **_openai_base(s)},
        lambda model, stream: model("a red pixel"),
    ),
    "post_api_embedding": (
        shared_openai_emulator,
        lambda s: {"api_url": s.base_url + "/v1/embeddings", "json_args": {"model": "e"}},
        embed_call,
    ),
    "dashscope_multimodal": (
        shared_dashscope_emulator,
        lambda s: {"model_name": "qwen-vl-max", "base_url": s.api_base},
        lambda model, stream: model([{"role": "user", "content": [{"text": "hi"}]}], stream=stream),
    ),
    "dashscope_text_embedding": (
        shared_dashscope_emulator,
        lambda s: {"model_name": "text-embedding-v4", "base_url": s.api_base},
        embed_call,
    ),
    "dashscope_multimodal_embedding": (
        shared_dashscope_emulator,
        lambda s: {"model_name": "tongyi-embedding-vision-plus", "base_url": s.api_base},
        embed_call,
    ),
    "dashscope_image_synthesis": (
        shared_dashscope_emulator,
        lambda s: {"model_name": "wanx-v1", "base_url": s.api_base},
        lambda model, stream: model("a red pixel"),
    ),
    "gemini_embedding": (
        shared_gemini_emulator,
        lambda s: {"model_name": "gemini-embedding-001", "base_url": s.base_url},
        embed_call,
    ),
    "zhipuai_embedding": (
        shared_zhipuai_emulator,
        lambda s: {"model_name": "embedding-3", "base_url": s.base_url + "/api/paas/v4"},
        embed_call,
    ),
    "ollama_generate": (
        shared_ollama_emulator,
        lambda s: {"model_name": "llama3.2", "host": s.base_url},
        lambda model, stream: model("Tell a story", stream=stream),
    ),
    "ollama_embedding": (
        shared_ollama_emulator,
        lambda s: {"model_name": "nomic-embed-text", "host": s.base_url},
        embed_call,
    ),
}
TYPES = {
    **{t: (emulator, fields, chat_call) for t, (emulator, fields) in CHAT_TYPES.items()},
    **OTHER_TYPES,
}
# Where the key comes from: the environment for these (one per provider variable), the
# config field for the others.
FROM_ENV = {
    "openai_embedding": "OPENAI_API_KEY",
    "deepseek_chat": "DEEPSEEK_API_KEY",
    "kimi_chat": "MOONSHOT_API_KEY",
    "xai_chat": "XAI_API_KEY",
    "vllm_chat": "VLLM_API_KEY",
    "dashscope_text_embedding": "DASHSCOPE_API_KEY",
    "gemini_chat": "GOOGLE_API_KEY",  # the fallback of GEMINI_API_KEY
    "zhipuai_embedding": "ZHIPUAI_API_KEY",
    "ollama_chat": "OLLAMA_API_KEY",
    "anthropic_chat": "ANTHROPIC_API_KEY",
}


def takes_a_key(cls: type) -> bool:
    """A wrapper with an API key field, or headers that may carry one (post_api)."""
    params = inspect.signature(cls.__init__).parameters
    return "api_key" in params or "headers" in params or cls.api_key_env is not None


def test_every_keyed_model_type_is_covered():
    keyed = {t for t, cls in builtin_wrappers().items() if takes_a_key(cls)}
    assert set(TYPES) == keyed
    assert {"llamacpp_chat"} <= set(builtin_wrappers()) - keyed  # local models: no key


def new_key(model_type: str) -> str:
    # Characters that base64 and URL encoding change, to catch encoded copies too.
    return f"sk-{model_type.replace('_', '-')}-{uuid.uuid4().hex}+/{uuid.uuid4().hex[:8]}="


def variants(key: str) -> dict[str, bytes]:
    """The key and the forms it could take on its way out."""
    raw = key.encode()
    return {
        "plain": raw,
        "base64": base64.b64encode(raw),
        "base64url": base64.urlsafe_b64encode(raw),
        "basic-auth": base64.b64encode(b":" + raw)[4:],  # "user:key" minus the user part
        "url": quote(key, safe="").encode(),
        "url-plus": quote_plus(key).encode(),
    }


def find_leaks(keys: list[str], texts: dict[str, bytes]) -> list[str]:
    leaks = []
    for key in keys:
        for form, needle in variants(key).items():
            for where, data in texts.items():
                if needle in data:
                    leaks.append(f"{form} key of {key.split('-')[1]} in {where}")
    return leaks


def run_dir_files(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}


def describe(err: BaseException) -> str:
    """Everything an exception can show: str, repr, and the traceback with its causes."""
    return "\n".join([str(err), repr(err), *traceback.format_exception(err)])


def config_for(model_type: str, key: str, monkeypatch: Any) -> dict[str, Any]:
    """``model_type`` on its emulator, with ``key`` in the config or the environment."""
    emulator, fields, _ = TYPES[model_type]
    server = emulator()
    config: dict[str, Any] = {
        "config_name": f"secret-{model_type}",
        "model_type": model_type,
        "max_retries": 1,
        "retry_interval": 0.01,
        **fields(server),
    }
    if model_type.startswith("post_api"):
        config["headers"] = {"Authorization": f"Bearer {key}"}
    elif model_type in FROM_ENV:
        monkeypatch.setenv(FROM_ENV[model_type], key)
    else:
        config["api_key"] = key
    return config


def call_with_faults(model_type: str, key: str) -> list[str]:
    """What the responses and errors show after a success and faults that echo the key."""
    emulator, _, call = TYPES[model_type]
    server = emulator()
    model = load_model_by_config_name(f"secret-{model_type}")
    streams = [False, True] if model.can_stream else [False]
    shown = [repr(model), str(model)]
    faults = [
        None,
        Fault(status=401, message=f"invalid key {key}"),
        Fault(status=500, message=f"upstream refused key {key}", times=2),
        Fault(status=200, body={"echo": key, "auth": f"Bearer {key}"}),
    ]
    for stream in streams:
        for fault in faults:
            server.clear()
            if fault is not None:
                server.add_fault(fault)
            try:
                response = call(model, stream)
                shown += [repr(response), str(response.text)]
            except ProviderError as err:
                shown.append(describe(err))
                if fault is not None and fault.status == 401:
                    assert isinstance(err, AuthenticationError), describe(err)
        if stream:
            server.clear()
            server.add_fault(Fault(drop_after=2, stream_error={"message": f"bad key {key}"}))
            try:
                call(model, stream).text  # noqa: B018
            except ProviderError as err:
                shown.append(describe(err))
    return shown


@pytest.fixture
def keys(monkeypatch):
    """A unique key per model_type, placed in its config or its environment variable."""
    configs, keys = [], {}
    for model_type in TYPES:
        if model_type == "litellm_chat" and not HAS_LITELLM:
            continue
        keys[model_type] = new_key(model_type)
        configs.append(config_for(model_type, keys[model_type], monkeypatch))
    return configs, keys


def test_keys_never_leak(keys, tmp_path, capfd):
    configs, by_type = keys
    agentscope_legacy.init(
        model_configs=configs, save_dir=str(tmp_path), save_api_invoke=True, logger_level="DEBUG"
    )
    run_dir = agentscope_legacy.get_runtime().run_dir
    manager = ModelManager.get_instance()
    shown = [repr(manager.get_model_config(c["config_name"])) for c in configs]
    shown.append(str(manager.state_dict()))
    for model_type, key in by_type.items():
        shown += call_with_faults(model_type, key)
    agentscope_legacy.print_llm_usage()
    agentscope_legacy.get_runtime().monitor.close()  # the WAL is checkpointed: all in the db
    out, err = capfd.readouterr()
    texts = run_dir_files(run_dir)
    assert {"logging.log", "invocations.jsonl", "agentscope.db", ".config"} <= set(texts)
    texts.update({"stdout": out.encode(), "stderr": err.encode()})
    texts.update({f"shown[{i}]": s.encode() for i, s in enumerate(shown)})
    # The faults did reach the records and logs (else the search proves nothing).
    records = texts["invocations.jsonl"].decode()
    assert records.count('"status": "error"') >= 3 * len(by_type)
    assert "invalid key ***" in records and "upstream refused key ***" in records
    assert find_leaks(list(by_type.values()), texts) == []


def test_the_key_source_is_named_and_the_key_is_not(keys, tmp_path):
    configs, by_type = keys
    agentscope_legacy.init(model_configs=configs, save_dir=str(tmp_path))
    for model_type, key in by_type.items():
        server = TYPES[model_type][0]()
        server.clear()
        server.add_fault(Fault(status=401, message=f"invalid key {key}"))
        model = load_model_by_config_name(f"secret-{model_type}")
        with pytest.raises(AuthenticationError) as info:
            TYPES[model_type][2](model, False)
        message = str(info.value)
        if model_type.startswith("post_api"):
            source = "the config field `headers.Authorization`"
        elif model_type in FROM_ENV:
            source = f"the environment variable {FROM_ENV[model_type]}"
        else:
            source = "the config field `api_key`"
        assert f"API key from {source}" in message, message
        assert f"secret-{model_type}" in message
        assert key not in describe(info.value)
        server.clear()


def test_an_experiment_saves_no_key(openai_server, tmp_path, monkeypatch, capfd):
    inline_key, env_key = new_key("inline"), new_key("env")
    monkeypatch.setenv("SECRETS_TEST_KEY", env_key)
    openai_server.set_reply(text="Hello there.")
    doc = {
        "model_configs": [
            {
                "config_name": name,
                "model_type": "openai_chat",
                "model_name": "m",
                "base_url": openai_server.base_url + "/v1",
                "api_key": key,
                "stream": stream,
                "max_retries": 0,
            }
            for name, key, stream in (
                ("inline", inline_key, True),
                ("env", "${SECRETS_TEST_KEY}", False),
            )
        ],
        "agents": {
            "a": {"class": "DialogAgent", "model": "inline", "sys_prompt": f"Not {inline_key}"},
            "b": {"class": "DialogAgent", "model": "env", "sys_prompt": "Be brief."},
        },
        "pipeline": ["a", "b"],
        "run": {"save_dir": str(tmp_path), "name": "secrets"},
    }
    result = experiment.load(doc).run(quiet=True)
    assert [m.content for m in result.messages] == ["Hello there.", "Hello there."]
    resolved = (result.run_dir / "experiment.yaml").read_text()
    assert resolved.count("api_key: '***'") == 2
    out, err = capfd.readouterr()
    texts = {**run_dir_files(result.run_dir), "stdout": out.encode(), "stderr": err.encode()}
    assert find_leaks([inline_key, env_key], texts) == []


# -- every attribute of a typed error and its chain (issue 11, item 1) -------------------------
def error_texts(err: BaseException) -> dict[str, bytes]:
    """Every text reachable from ``err`` and the exceptions chained to it: args, message,
    body, details, and the HTTP request and response an SDK error holds (body, text,
    headers, URL). Read-only; only exceptions, containers and httpx/requests objects are
    entered."""
    found: dict[str, bytes] = {}
    seen: set[int] = set()

    def visit(obj: Any, path: str, depth: int) -> None:
        if depth > 12 or id(obj) in seen or isinstance(obj, (int, float, bool, type(None))):
            return
        seen.add(id(obj))
        if isinstance(obj, (str, bytes)):
            found[path] = obj.encode("utf-8", "surrogateescape") if isinstance(obj, str) else obj
            return
        if isinstance(obj, dict):
            for k, v in obj.items():
                visit(str(k), f"{path}[key]", depth + 1)
                visit(v, f"{path}[{k!r}]", depth + 1)
            return
        if isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                visit(v, f"{path}[{i}]", depth + 1)
            return
        package = type(obj).__module__.split(".", 1)[0]
        if isinstance(obj, BaseException):
            visit(obj.args, f"{path}.args", depth + 1)
            visit(obj.__cause__, f"{path}.__cause__", depth + 1)
            visit(obj.__context__, f"{path}.__context__", depth + 1)
        elif package.startswith("httpx") or package == "requests":
            for name in ("text", "content", "url"):
                try:
                    value = getattr(obj, name)
                except Exception:  # a streamed response not read: no text to leak
                    continue
                visit(value if isinstance(value, (str, bytes)) else str(value), f"{path}.{name}", 0)
            headers = getattr(obj, "headers", None)
            if headers is not None:
                visit(str(list(headers.items())), f"{path}.headers", 0)
        else:
            return
        for name, value in vars(obj).items():
            visit(value, f"{path}.{name}", depth + 1)

    visit(err, "e", 0)
    return found


def test_typed_errors_keep_no_key_in_any_attribute(keys):
    """A 401 and a 500 whose bodies echo the key: the typed error's ``message`` and ``body``
    and the SDK exception under it (``__cause__.body``, ``__cause__.response.text``, the
    ``httpx.HTTPStatusError`` in its ``__context__``, the request's headers) show no key."""
    configs, by_type = keys
    agentscope_legacy.init(model_configs=configs, disable_saving=True)
    for model_type, key in by_type.items():
        server = TYPES[model_type][0]()
        model = load_model_by_config_name(f"secret-{model_type}")
        for stream in [False, True] if model.can_stream else [False]:
            for fault in (
                Fault(status=401, message=f"invalid key {key}"),
                Fault(status=500, message=f"upstream refused key {key}", times=2),
            ):
                server.clear()
                server.add_fault(fault)
                with pytest.raises(ProviderError) as info:
                    TYPES[model_type][2](model, stream).text  # noqa: B018
                texts = error_texts(info.value)
                assert "e.message" in texts
                if model_type in ("openai_chat", "anthropic_chat", "gemini_chat"):
                    assert any(p.endswith(".response.text") for p in texts)  # walked to it
                assert any(b"***" in text for text in texts.values())
                assert find_leaks([key], texts) == [], (model_type, stream)
        server.clear()


# -- the log sinks init() installs (issue 11, item 2) ------------------------------------------
def refused_port() -> int:
    """A loopback port nothing listens on."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_logged_exception_shows_no_locals_and_no_key(tmp_path, capfd):
    """``logger.exception()`` after a refused connection, in a frame whose locals hold the
    headers: stderr and ``logging.log`` get the traceback without local values (loguru's
    ``diagnose``), and neither a registered key nor secret-shaped text the registry never saw
    (a key in the failing URL, a Bearer credential, ``X-Api-Key: ...``) in it."""
    import requests
    from loguru import logger

    key, unseen = new_key("logged"), f"tok-unseen-{uuid.uuid4().hex}"
    agentscope_legacy.init(
        model_configs=[{"config_name": "c", "model_type": "openai_chat", "api_key": key}],
        save_dir=str(tmp_path),
    )
    port = refused_port()

    def call() -> None:
        headers = {"Authorization": f"Bearer {key}", "X-Api-Key": unseen, "Accept": "text/x"}
        requests.post(f"http://127.0.0.1:{port}/v1?api_key={unseen}", headers=headers, timeout=2)

    try:
        call()
    except requests.ConnectionError:
        logger.exception(f"call failed; sent Authorization: Bearer {unseen}, X-Api-Key: {unseen}")
    try:
        raise ValueError(f"refused: api_key='{unseen}' at http://user:{unseen}@127.0.0.1/")
    except ValueError:
        logger.opt(exception=True).error("second failure")
    _, err = capfd.readouterr()
    log = (agentscope_legacy.get_runtime().run_dir / "logging.log").read_text()
    for where, text in {"stderr": err, "logging.log": log}.items():
        assert "Traceback" in text and "ConnectionError" in text and "second failure" in text
        assert "api_key=***" in text and "Bearer ***" in text, where
        assert "└" not in text and "'Accept'" not in text, where  # no variable values
        assert find_leaks([key, unseen], {where: text.encode()}) == []


# -- keys in fields not named like secrets (issue 11, item 3) ----------------------------------
def hidden_key_configs(server: Any, keys: dict[str, str]) -> list[dict[str, Any]]:
    """Configs whose keys sit in URL userinfo, a URL query parameter and custom headers."""
    host = server.base_url.split("://", 1)[1]
    return [
        {
            "config_name": "in-userinfo",
            "model_type": "openai_chat",
            "model_name": "m",
            "api_key": "sk-fake-plain-0000",
            "base_url": f"http://user:{keys['userinfo']}@{host}/v1",
            "client_args": {
                "default_headers": {
                    "Ocp-Apim-Subscription-Key": keys["default_header"],
                    "Accept": "application/json",
                }
            },
            "max_retries": 1,
            "retry_interval": 0.01,
        },
        {
            "config_name": "in-query",
            "model_type": "post_api_chat",
            "api_url": f"{server.base_url}/v1/chat/completions?api-version=2024-06-01"
            f"&key={keys['query']}",
            "headers": {"Ocp-Apim-Subscription-Key": keys["header"]},
            "json_args": {"model": "m"},
            "max_retries": 1,
            "retry_interval": 0.01,
        },
        {
            "config_name": "refused",
            "model_type": "post_api_chat",
            "api_url": f"http://127.0.0.1:{refused_port()}/v1?access_token={keys['refused']}",
            "max_retries": 0,
        },
    ]


HIDDEN = ("userinfo", "default_header", "query", "header", "refused")


def test_keys_in_urls_and_headers_never_leak(openai_server, tmp_path, capfd):
    """``base_url: http://user:KEY@host``, ``api_url: ...?key=KEY``, ``access_token=KEY`` and
    ``Ocp-Apim-Subscription-Key`` in ``headers`` / ``client_args.default_headers``: each
    reaches the server, and none reaches ``.config``, ``repr(ModelConfig)``, errors and
    their tracebacks, ``agentscope.db``, ``invocations.jsonl``, the log or stderr."""
    keys = {name: f"sk-{name.replace('_', '-')}-{uuid.uuid4().hex}" for name in HIDDEN}
    configs = hidden_key_configs(openai_server, keys)
    agentscope_legacy.init(
        model_configs=configs, save_dir=str(tmp_path), save_api_invoke=True, logger_level="DEBUG"
    )
    run_dir = agentscope_legacy.get_runtime().run_dir
    manager = ModelManager.get_instance()
    shown = [repr(manager.get_model_config(c["config_name"])) for c in configs]
    everything = " ".join(keys.values())
    for name in ("in-userinfo", "in-query"):
        model = load_model_by_config_name(name)
        assert chat_call(model, False).text
        sent = openai_server.requests[-1]
        assert keys["default_header" if name == "in-userinfo" else "header"] in str(sent.headers)
        if name == "in-query":
            assert f"key={keys['query']}" in sent.path  # the key did reach the server
        for fault in (
            Fault(status=401, message=f"invalid key {everything}"),
            Fault(status=500, message=f"upstream refused key {everything}", times=2),
        ):
            openai_server.clear()
            openai_server.add_fault(fault)
            with pytest.raises(ProviderError) as info:
                chat_call(model, False)
            shown.append(describe(info.value))
            shown += [t.decode("utf-8", "replace") for t in error_texts(info.value).values()]
        openai_server.clear()
    with pytest.raises(ProviderError) as info:  # its URL, with the key, in the SDK's message
        chat_call(load_model_by_config_name("refused"), False)
    shown.append(describe(info.value))
    agentscope_legacy.get_runtime().monitor.close()
    out, err = capfd.readouterr()
    texts = run_dir_files(run_dir)
    assert {"logging.log", "invocations.jsonl", "agentscope.db", ".config"} <= set(texts)
    texts.update({"stdout": out.encode(), "stderr": err.encode()})
    texts.update({f"shown[{i}]": s.encode() for i, s in enumerate(shown)})
    assert texts["invocations.jsonl"].count(b'"status": "error"') >= 5
    saved = texts[".config"].decode()
    # Masked where they were, the rest of the URL and the harmless header kept.
    assert f"http://user:***@{openai_server.base_url.split('://')[1]}/v1" in saved
    assert "?api-version=2024-06-01&key=***" in saved and "access_token=***" in saved
    assert (
        saved.count("'Ocp-Apim-Subscription-Key': '***'")
        + saved.count('"Ocp-Apim-Subscription-Key": "***"')
        == 2
        and "application/json" in saved
    )
    assert "key=***" in shown[1] and "user:***@" in shown[0]
    assert find_leaks(list(keys.values()), texts) == []


def test_an_experiment_saves_no_url_or_header_key(openai_server, tmp_path, capfd):
    keys = {name: f"sk-{name.replace('_', '-')}-{uuid.uuid4().hex}" for name in HIDDEN}
    openai_server.set_reply(text="Hello there.")
    configs = hidden_key_configs(openai_server, keys)[:2]
    doc = {
        "model_configs": configs,
        "agents": {
            "a": {"class": "DialogAgent", "model": "in-userinfo", "sys_prompt": "Be brief."},
            "b": {"class": "DialogAgent", "model": "in-query", "sys_prompt": "Be brief."},
        },
        "pipeline": ["a", "b"],
        "run": {"save_dir": str(tmp_path), "name": "hidden-keys"},
    }
    result = experiment.load(doc).run(quiet=True)
    assert [m.content for m in result.messages] == ["Hello there.", "Hello there."]
    resolved = (result.run_dir / "experiment.yaml").read_text()
    assert "user:***@" in resolved and "&key=***" in resolved
    assert resolved.count("Ocp-Apim-Subscription-Key: '***'") == 2
    out, err = capfd.readouterr()
    texts = {**run_dir_files(result.run_dir), "stdout": out.encode(), "stderr": err.encode()}
    assert find_leaks(list(keys.values()), texts) == []


def test_the_cli_prints_no_url_or_header_key(openai_server, tmp_path, capsys):
    """``chat`` after a 401 that echoes the keys, and ``validate`` of configs whose invalid
    values hold them (the value shown in the error is redacted before it is shortened)."""
    import json

    from loguru import logger

    from agentscope_legacy.cli import main

    keys = {name: f"sk-{name.replace('_', '-')}-{uuid.uuid4().hex}" for name in HIDDEN}
    file = tmp_path / "models.json"
    file.write_text(json.dumps(hidden_key_configs(openai_server, keys)))
    openai_server.add_fault(Fault(status=401, message=f"invalid key {' '.join(keys.values())}"))
    code = main(["chat", "-m", str(file), "-c", "in-query", "--once", "hi", "--no-stream"])
    chat_out, chat_err = capsys.readouterr()
    assert code == 1 and "error:" in chat_err and "invalid key ***" in chat_err
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "- config_name: bad\n  model_type: post_api_chat\n"
        f"  api_url: ftp://user:{keys['userinfo']}@127.0.0.1/x?key={keys['query']}\n"
        "  headers: {Ocp-Apim-Subscription-Key: 12345678}\n"
    )
    assert main(["validate", str(bad)]) == 1
    out, err = capsys.readouterr()
    logger.remove()  # chat pointed loguru at capsys's stderr
    logger.add(lambda message: sys.stderr.write(message))
    assert "api_url" in err and "ftp://user:***@127.0.0.1/x?key=***" in err
    assert "12345678" not in err and "<hidden>" in err
    texts = {
        "chat stdout": chat_out.encode(),
        "chat stderr": chat_err.encode(),
        "stderr": err.encode(),
    }
    assert find_leaks(list(keys.values()), texts) == []
