"""The ``agentscope-legacy`` command: ``validate``, ``models`` and ``chat`` (against the emulator).

Everything runs in-process through ``cli.main`` except one subprocess run of the installed
console script, which proves the entry point itself works.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from loguru import logger

from agentscope_legacy.cli import main
from agentscope_legacy.models.manager import ModelManager
from tests.emulators import Fault

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "configs" / "model_configs.yaml"
DATA = Path(__file__).parent / "data" / "configs"
KEY = "sk-test-cli-7f3a9c2e41"
SYSTEM = "You are a helpful assistant."  # the default --system prompt


@pytest.fixture(autouse=True)
def restore_loguru():
    """``chat`` points loguru at the sys.stderr of the moment (capsys's): undo that after."""
    yield
    logger.remove()
    logger.add(lambda message: sys.stderr.write(message), level="WARNING")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def line_of(path: Path, text: str) -> int:
    """The 1-based line of the first line of ``path`` containing ``text``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


# -- validate ----------------------------------------------------------------------------------
def test_validate_the_example_file(capsys, monkeypatch):
    for var in (
        "OPENAI_API_KEY",
        "LOCAL_MODEL_NAME",
        "LOCAL_BASE_URL",
        "POST_API_URL",
        "POST_API_KEY",
        "POST_API_EMBEDDING_URL",
    ):
        monkeypatch.delenv(var, raising=False)
    count = len(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")))
    code, out, err = run(capsys, "validate", str(EXAMPLE))
    assert code == 0
    assert out == f"ok: {count} config(s) in 1 file(s)\n"
    # Unset variables are notes, located, and do not fail validation.
    key_line = line_of(EXAMPLE, "${OPENAI_API_KEY}")
    assert (
        f"note: {EXAMPLE}:{key_line}: config 'gpt-4o-mini', field 'api_key': "
        "environment variable OPENAI_API_KEY is not set"
    ) in err.splitlines()
    assert "error" not in err
    assert ModelManager.get_instance().config_names == []  # validation registers nothing


def test_validate_prints_no_notes_when_variables_are_set(capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    code, out, err = run(capsys, "validate", str(EXAMPLE))
    assert code == 0 and out.startswith("ok: ")
    assert "note:" not in err


def test_validate_a_broken_file_reports_each_problem_with_its_location(capsys):
    path = DATA / "broken.yaml"
    code, out, err = run(capsys, "validate", str(path))
    assert code == 1
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == (
        f"error: {path}:4: config 'x', field 'stream': expected boolean, got string 'yes'"
    )
    assert lines[1].startswith(
        f"error: {path}:6: config 'y', field 'model_type': unknown "
        "model_type 'openai_caht'; did you mean 'openai_chat'?"
    )
    assert lines[-1] == "2 error(s) in 1 file(s)"
    assert len(lines) == 3


def test_validate_several_files_at_once(capsys, tmp_path):
    code, out, err = run(capsys, "validate", str(EXAMPLE), str(DATA / "listing.yaml"))
    assert code == 0, err
    count = len(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))) + 3
    assert out == f"ok: {count} config(s) in 2 file(s)\n"

    bad_json = tmp_path / "bad.json"
    bad_json.write_text(
        '[\n  {"config_name": "j",\n   "model_type": "openai_chat",\n   "max_retries": -1}\n]\n'
    )
    missing = tmp_path / "missing.yaml"
    code, out, err = run(
        capsys,
        "validate",
        str(DATA / "broken.yaml"),
        str(bad_json),
        str(missing),
        str(DATA / "basic.yaml"),
    )
    assert code == 1 and out == ""
    assert f"error: {DATA / 'broken.yaml'}:4: config 'x'" in err
    assert (
        f"error: {bad_json}:4: config 'j', field 'max_retries': expected a value >= 0, got -1"
    ) in err.splitlines()
    assert f"error: {missing}: config: file not found" in err.splitlines()
    assert err.splitlines()[-1] == "4 error(s) in 4 file(s)"


def test_validate_reports_a_config_name_defined_in_two_files(capsys, tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text("- config_name: local\n  model_type: openai_chat\n")
    code, _, err = run(capsys, "validate", str(DATA / "basic.yaml"), str(other))
    assert code == 1
    assert f"error: {other}:1: config 'local', field 'config_name': duplicate config_name" in err
    other.write_text("- config_name: local\n  model_type: openai_chat\n  replace: true\n")
    assert run(capsys, "validate", str(DATA / "basic.yaml"), str(other))[0] == 0


def test_a_command_is_required():
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2


# -- models ------------------------------------------------------------------------------------
def test_models_prints_an_aligned_table(capsys):
    code, out, err = run(capsys, "models", str(DATA / "listing.yaml"))
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert [line.split() for line in lines] == [
        ["config_name", "model_type", "model_name", "stream"],
        ["fast", "openai_chat", "gpt-4o-mini", "True"],
        ["embed", "openai_embedding", "text-embedding-3-small", "False"],
        ["unnamed", "post_api_chat", "unnamed", "False"],  # model_name defaults to config_name
    ]
    header = lines[0]
    for line in lines[1:]:
        cells = line.split()
        for column, cell in zip(("model_type", "model_name", "stream"), cells[1:], strict=True):
            assert line.index(cell, len(cells[0])) == header.index(column)


def test_models_on_a_broken_file_lists_what_it_can_and_fails(capsys):
    code, out, err = run(capsys, "models", str(DATA / "broken.yaml"))
    assert code == 1
    assert [line.split()[0] for line in out.splitlines()] == ["config_name", "x", "y", "fine"]
    assert f"error: {DATA / 'broken.yaml'}:4: config 'x', field 'stream'" in err


# -- chat --------------------------------------------------------------------------------------
@pytest.fixture
def chat_file(tmp_path, openai_server) -> Path:
    path = tmp_path / "chat.yaml"
    path.write_text(
        "- config_name: emu\n"
        "  model_type: openai_chat\n"
        "  model_name: emu-model\n"
        f"  base_url: {openai_server.base_url}/v1\n"
        f"  api_key: {KEY}\n"
        "  stream: true\n"
        "  max_retries: 0\n",
        encoding="utf-8",
    )
    return path


def test_chat_once_streams_one_reply(capsys, chat_file, openai_server):
    code, out, err = run(capsys, "chat", "-m", str(chat_file), "-c", "emu", "--once", "Hi")
    assert code == 0, err
    assert "emu: Hello!" in out.splitlines()
    [request] = openai_server.requests
    assert request.path == "/v1/chat/completions"
    assert request.json["stream"] is True
    assert request.json["model"] == "emu-model"
    assert request.json["messages"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Hi"},
    ]
    assert request.headers["authorization"] == f"Bearer {KEY}"


def test_chat_once_without_streaming(capsys, chat_file, openai_server):
    code, out, err = run(
        capsys, "chat", "-m", str(chat_file), "-c", "emu", "--once", "Hi", "--no-stream"
    )
    assert code == 0, err
    assert "emu: Hello!" in out.splitlines()
    [request] = openai_server.requests
    assert request.json.get("stream") is not True
    assert "stream_options" not in request.json
    assert request.json["messages"][-1] == {"role": "user", "content": "Hi"}


def test_chat_name_and_system_prompt_options(capsys, chat_file, openai_server):
    openai_server.set_reply(text="Short answer.")
    code, out, _ = run(
        capsys,
        "chat",
        "-m",
        str(chat_file),
        "-c",
        "emu",
        "--once",
        "Hi",
        "--name",
        "Bot",
        "--system",
        "Be brief.",
    )
    assert code == 0
    assert "Bot: Short answer." in out.splitlines()
    assert openai_server.requests[0].json["messages"][0] == {
        "role": "system",
        "content": "Be brief.",
    }


def test_chat_with_an_unknown_config_name_fails_clearly(capsys, chat_file, openai_server):
    code, out, err = run(capsys, "chat", "-m", str(chat_file), "-c", "emx", "--once", "Hi")
    assert code == 1
    assert out == ""
    assert err.startswith("error: ")
    assert "cannot find config_name 'emx'" in err and "did you mean 'emu'?" in err
    assert openai_server.requests == []


def test_chat_with_a_broken_config_file_fails_with_its_location(capsys):
    path = DATA / "broken.yaml"
    code, out, err = run(capsys, "chat", "-m", str(path), "-c", "fine", "--once", "Hi")
    assert code == 1 and out == ""
    assert f"{path}:4: config 'x', field 'stream'" in err


def test_chat_reports_a_401_without_leaking_the_key(capsys, chat_file, openai_server):
    # Like the real API, the emulator's message echoes the key it was given.
    openai_server.add_fault(Fault(status=401, message=f"Incorrect API key provided: {KEY}"))
    code, out, err = run(capsys, "chat", "-m", str(chat_file), "-c", "emu", "--once", "Hi")
    assert code == 1
    assert "error: " in err and "401" in err
    assert "Incorrect API key provided" in err
    assert KEY not in out + err
    assert len(openai_server.requests) == 1  # authentication errors are not retried


def test_interactive_chat_keeps_the_conversation(capsys, monkeypatch, chat_file, openai_server):
    openai_server.set_reply_fn(lambda body: {"text": f"Reply {len(body['messages']) // 2}."})
    monkeypatch.setattr(sys, "stdin", io.StringIO("Hi\nHow are you?\nexit\n"))
    code, out, err = run(capsys, "chat", "-m", str(chat_file), "-c", "emu")
    assert code == 0, err
    assert out.count("emu: Reply 1.") == 1 and out.count("emu: Reply 2.") == 1
    assert out.index("Reply 1.") < out.index("Reply 2.")
    first, second = openai_server.requests
    assert [m["role"] for m in first.json["messages"]] == ["system", "user"]
    assert second.json["messages"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Reply 1."},
        {"role": "user", "content": "How are you?"},
    ]


def test_interactive_chat_skips_blank_lines_and_ends_at_eof(
    capsys, monkeypatch, chat_file, openai_server
):
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n   \nHi\n"))
    code, out, _ = run(capsys, "chat", "-m", str(chat_file), "-c", "emu", "--no-stream")
    assert code == 0
    assert out.count("emu: Hello!") == 1
    assert len(openai_server.requests) == 1


def test_interactive_chat_drops_a_failed_turn_and_goes_on(
    capsys, monkeypatch, chat_file, openai_server
):
    openai_server.add_fault(Fault(status=400, message="bad request"))
    monkeypatch.setattr(sys, "stdin", io.StringIO("Hi\nAgain\nquit\n"))
    code, out, err = run(capsys, "chat", "-m", str(chat_file), "-c", "emu")
    assert code == 1  # a turn failed
    assert "bad request" in err
    assert out.count("emu: Hello!") == 1
    failed, second = openai_server.requests
    assert second.json["messages"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Again"},  # the failed "Hi" is not in the history
    ]


def test_chat_usage_prints_the_usage_table_at_the_end(capsys, chat_file, openai_server):
    code, out, err = run(
        capsys, "chat", "-m", str(chat_file), "-c", "emu", "--once", "Hi", "--usage"
    )
    assert code == 0, err
    assert "emu: Hello!" in out.splitlines()
    lines = err.splitlines()
    start = lines.index("LLM usage:")
    header, row = lines[start + 1].split(), lines[start + 2].split()
    values = dict(zip(header, row, strict=True))
    assert values["config_name"] == "emu" and values["calls"] == "1"
    assert int(values["prompt_tokens"]) > 0 and int(values["completion_tokens"]) > 0
    assert values["mean_latency"].endswith("s")


def test_interactive_chat_usage_counts_every_turn_and_survives_ctrl_c(
    capsys, monkeypatch, chat_file, openai_server
):
    answers = iter(["Hi", "Again"])

    def typed(prompt: str = "") -> str:
        answer = next(answers, None)
        if answer is None:
            raise KeyboardInterrupt
        return answer

    monkeypatch.setattr("builtins.input", typed)
    code, _, err = run(capsys, "chat", "-m", str(chat_file), "-c", "emu", "--usage")
    assert code == 130
    lines = err.splitlines()
    start = lines.index("LLM usage:")
    values = dict(zip(lines[start + 1].split(), lines[start + 2].split(), strict=True))
    assert values["calls"] == "2"


def test_chat_without_usage_prints_no_table(capsys, chat_file, openai_server):
    code, _, err = run(capsys, "chat", "-m", str(chat_file), "-c", "emu", "--once", "Hi")
    assert code == 0 and "LLM usage" not in err


# -- the installed console script --------------------------------------------------------------
def test_the_console_script_runs():
    script = Path(sys.executable).parent / "agentscope-legacy"
    assert script.is_file(), f"console script not installed at {script}"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: agentscope-legacy")
    for command in ("chat", "validate", "models"):
        assert command in result.stdout
