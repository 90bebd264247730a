"""speak() and log_stream_msg(): what a person sees on the terminal."""

from __future__ import annotations

import json

import pytest

import agentscope_legacy
from agentscope_legacy.agents import AgentBase
from agentscope_legacy.logging import format_msg, log_stream_msg, name_colour
from agentscope_legacy.message import Msg
from agentscope_legacy.models.response import Delta, ModelResponse


class Echo(AgentBase):
    def reply(self, x=None, **kwargs):
        return x


def stream_of(*texts):
    return ModelResponse(stream=iter([Delta(t) for t in texts]))


def test_speak_string_prints_name_and_text(capsys):
    Echo("Alice").speak("hello")
    assert capsys.readouterr().out == "Alice: hello\n"


def test_speak_model_stream_prints_each_piece_once_on_one_line(capsys):
    text = Echo("Bob").speak(stream_of("Hel", "lo", " world"))
    assert text == "Hello world"
    assert capsys.readouterr().out == "Bob: Hello world\n"


def test_speak_accumulative_generator_prints_only_suffixes(capsys):
    response = stream_of("a", "bc", "def")
    Echo("Carol").speak(response.stream)
    assert capsys.readouterr().out == "Carol: abcdef\n"


def test_one_chunk_stream_does_not_crash(capsys):
    Echo("Dan").speak(stream_of("only").stream)
    Echo("Dan").speak(stream_of("again"))
    assert capsys.readouterr().out == "Dan: only\nDan: again\n"


def test_log_stream_msg_last_on_unseen_id_prints_whole_message(capsys):
    log_stream_msg(Msg("Eve", "complete", "assistant"), last=True)
    assert capsys.readouterr().out == "Eve: complete\n"


def test_log_stream_msg_non_accumulative_text_is_reprinted_not_garbled(capsys):
    msg = Msg("Fay", "abc", "assistant")
    log_stream_msg(msg, last=False)
    msg.content = "xyz"
    log_stream_msg(msg, last=True)
    assert capsys.readouterr().out == "Fay: abc\nFay: xyz\n"


def test_speak_consumed_response_prints_its_text(capsys):
    response = stream_of("done")
    response.text  # noqa: B018
    Echo("Gus").speak(response)
    assert capsys.readouterr().out == "Gus: done\n"


def test_speak_rejects_other_types():
    with pytest.raises(TypeError, match="int"):
        Echo("Hal").speak(3)


def test_colour_only_on_name_and_stable():
    assert name_colour("A") == name_colour("A")
    msg = Msg("A", "B", "assistant")
    assert format_msg(msg, colored=True) == f"{name_colour('A')}A\033[0m: B"
    assert format_msg(msg) == "A: B"


def test_spoken_messages_are_saved_to_the_run_dir(tmp_path, capsys):
    agentscope_legacy.init(save_dir=str(tmp_path), name="speak")
    Echo("Ivy").speak("saved line")
    Echo("Ivy").speak(stream_of("stre", "amed"))
    run_dir = agentscope_legacy.get_runtime().run_dir
    chat = [json.loads(line) for line in (run_dir / "logging.chat").read_text().splitlines()]
    assert [(m["name"], m["content"]) for m in chat] == [("Ivy", "saved line"), ("Ivy", "streamed")]
    assert "Ivy: streamed" in (run_dir / "logging.log").read_text()


def test_msg_json_round_trip():
    msg = Msg("n", [{"type": "text", "text": "t"}], "user", url="a.png", metadata={"k": 1})
    again = Msg.from_json(msg.to_json())
    assert again == msg and again.id == msg.id and again.timestamp == msg.timestamp
    data = msg.to_dict()
    Msg.from_dict(data)
    assert data == msg.to_dict()  # from_dict does not mutate its input
    assert msg.get_text_content() == "t"
    with pytest.raises(ValueError):
        Msg("n", "x", "robot")
