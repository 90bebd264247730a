"""Record and replay on the wire: a run recorded against the loopback OpenAI emulator is
answered again from its record (the emulator then sees no request), streams piece by piece,
usage as recorded; requests the record lacks, other experiments' directories, sweeps."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

import agentscope_legacy
from agentscope_legacy import replay
from agentscope_legacy._secrets import register_secret
from agentscope_legacy.cli import main
from agentscope_legacy.errors import ServerError
from agentscope_legacy.experiment import load
from agentscope_legacy.message import Msg
from agentscope_legacy.models import load_model_by_config_name
from tests.emulators.base import Fault
from tests.test_experiment import EMULATOR_MODELS, KEY, scripted_reply

ROOT = Path(__file__).resolve().parent.parent
DEBATE = ROOT / "examples/debate.yaml"
TOPICS = ROOT / "examples/topics.yaml"
CHUNKS = ["Hel", "lo, ", "wor", "ld", "!"]


@pytest.fixture
def emu(openai_server, monkeypatch):
    monkeypatch.setenv("EMULATOR_URL", openai_server.base_url + "/v1")
    openai_server.set_reply_fn(scripted_reply)
    return openai_server


def run_cli(path: Path, save_dir: Path, *extra: str) -> int:
    args = ["run", str(path), "-m", EMULATOR_MODELS, "--set", f"run.save_dir={save_dir}"]
    return main([*args, "--no-input", *extra])


def only_dir(parent: Path) -> Path:
    (found,) = [p for p in parent.iterdir() if p.is_dir()]
    return found


def messages(run_dir: Path) -> list[tuple]:
    lines = (run_dir / "transcript.jsonl").read_text().splitlines()
    return [(m.name, m.content, m.metadata) for m in map(Msg.from_json, lines)]


def usage_rows(run_dir: Path) -> list[list[str]]:
    return [line.split() for line in (run_dir / "usage.txt").read_text().splitlines()]


# -- experiments from the command line ----------------------------------------------------------
def test_a_replayed_debate_calls_no_model_and_says_the_same(emu, tmp_path, capsys):
    assert run_cli(DEBATE, tmp_path / "a", "--set", "rounds=2") == 0
    recorded = only_dir(tmp_path / "a")
    out_before = capsys.readouterr().out
    calls = len(emu.requests)
    assert calls == 3  # the scripted judge stops after one round
    emu.clear()  # and answers nothing now: "Hello!" to every request
    # The recorded run's --set (rounds=2) comes from its record.json.
    assert run_cli(DEBATE, tmp_path / "b", "--replay", str(recorded)) == 0
    out, err = capsys.readouterr()
    assert emu.requests == []
    replayed = only_dir(tmp_path / "b")
    assert messages(replayed) == messages(recorded)
    assert out == out_before  # printed as it streamed, the same lines
    assert usage_rows(replayed) == usage_rows(recorded)  # tokens and latency as recorded
    assert f"replay: {calls} call(s) answered from {recorded}" in err
    record = json.loads((replayed / "record.json").read_text())
    assert record["replayed_from"] == str(recorded) and record["experiment"] == "debate"
    # A replayed run records its calls again: it can be replayed in turn.
    assert run_cli(DEBATE, tmp_path / "c", "--replay", str(replayed)) == 0
    assert messages(only_dir(tmp_path / "c")) == messages(recorded)
    for path in [*recorded.iterdir(), *replayed.iterdir()]:
        if path.is_file() and path.suffix != ".db":
            assert KEY not in path.read_text(errors="replace"), path


def test_python_api_replay(emu, tmp_path):
    first = load(DEBATE, overrides={"rounds": 1, "run.save_dir": str(tmp_path / "a")},
                 model_configs=EMULATOR_MODELS).run(quiet=True)
    emu.clear()
    again = load(DEBATE, overrides={"rounds": 1, "run.save_dir": str(tmp_path / "b")},
                 model_configs=EMULATOR_MODELS).run(quiet=True, replay=first.run_dir)
    assert emu.requests == []
    assert [m.content for m in again.messages] == [m.content for m in first.messages]
    assert again.final.metadata == first.final.metadata
    for row, before in zip(again.usage, first.usage, strict=True):  # latency: recorded in µs
        assert row == {**before, "mean_latency": pytest.approx(before["mean_latency"], abs=1e-6)}
    assert again.replay.answered == 3 and again.replay.unused == 0


def test_another_experiments_directory_is_refused_before_anything_runs(emu, tmp_path, capsys):
    assert run_cli(TOPICS, tmp_path / "a") == 0
    recorded = only_dir(tmp_path / "a")
    capsys.readouterr()
    emu.clear()
    assert run_cli(DEBATE, tmp_path / "b", "--replay", str(recorded)) == 1
    err = capsys.readouterr().err
    assert f"{recorded} is a record of experiment 'topics'" in err
    assert "not of 'debate'" in err and "replay it with the file that made it" in err
    assert not (tmp_path / "b").exists() and emu.requests == []


def test_a_directory_without_a_record_is_refused(emu, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert run_cli(DEBATE, tmp_path / "b", "--replay", str(tmp_path / "empty")) == 1
    assert "holds no recorded experiment run (a run directory has record.json)" in (
        capsys.readouterr().err
    )


def test_a_changed_experiment_names_the_first_difference(emu, tmp_path, capsys):
    assert run_cli(DEBATE, tmp_path / "a", "--set", "rounds=1") == 0
    recorded = only_dir(tmp_path / "a")
    capsys.readouterr()
    emu.clear()
    emu.set_reply_fn(scripted_reply)
    changed = ("--set", "topic=Tea beats coffee.", "--replay", str(recorded))
    assert run_cli(DEBATE, tmp_path / "b", *changed) == 1
    err = capsys.readouterr().err
    assert "differs from the one recorded" in err
    recorded_topic = "recorded 'Cats are better pets than dogs.'"
    assert f"at vars.topic: {recorded_topic}, now 'Tea beats coffee.'" in err
    assert emu.requests == []
    # --replay-missing call: a warning, then the changed requests go to the model.
    assert run_cli(DEBATE, tmp_path / "c", *changed, "--replay-missing", "call") == 0
    err = capsys.readouterr().err
    assert "warning: experiment 'debate' differs" in err
    assert len(emu.requests) == 3
    assert "replay: 0 call(s) answered" in err and "3 sent to the model" in err
    assert "3 recorded call(s) were not asked" in err


def test_a_sweep_directory_replays_every_run_against_its_own_record(emu, tmp_path, capsys):
    sweep = tmp_path / "sweep"
    emu.set_reply_fn(
        lambda body: {"text": '{"verdict": "continue"}'}
        if "judge" in body["messages"][0]["content"] else {"text": "Point taken."}
    )
    for rounds in (1, 2):
        assert run_cli(DEBATE, sweep, "--set", f"rounds={rounds}") == 0
    recorded = sorted(p for p in sweep.iterdir() if p.is_dir())
    capsys.readouterr()
    emu.clear()
    assert run_cli(DEBATE, tmp_path / "again", "--replay", str(sweep)) == 0
    assert emu.requests == []
    assert "replayed 2 runs of" in capsys.readouterr().err
    replayed = sorted((tmp_path / "again").iterdir(), key=lambda p: json.loads(
        (p / "record.json").read_text())["replayed_from"])
    assert [len(messages(p)) for p in replayed] == [1 + 3, 1 + 3 * 2]
    assert [messages(p) for p in replayed] == [messages(p) for p in recorded]
    # Python: a sweep directory is not one run.
    with pytest.raises(replay.ReplayError, match="holds 2 recorded runs"):
        load(DEBATE, model_configs=EMULATOR_MODELS).run(replay=sweep)


# -- wrappers: streams, usage, mismatches -------------------------------------------------------
@pytest.fixture
def recorded_chat(emu, tmp_path):
    """A streamed and a non-streamed call recorded in a run directory; the wrapper."""
    emu.set_reply(chunks=CHUNKS, prompt_tokens=7, completion_tokens=5)
    agentscope_legacy.init(model_configs=EMULATOR_MODELS, save_dir=str(tmp_path),
                           save_api_invoke=True)
    model = load_model_by_config_name("local")
    streamed = model([{"role": "user", "content": "hi"}], stream=True)
    assert list(streamed.deltas) == CHUNKS
    emu.set_reply(text="A whole reply.", prompt_tokens=3, completion_tokens=4)
    whole = model([{"role": "user", "content": "once more"}], stream=False)
    assert whole.text == "A whole reply."
    run_dir = agentscope_legacy._runtime.get_runtime().run_dir
    agentscope_legacy.init(disable_saving=True)  # the configs stay loaded
    emu.clear()
    return model, run_dir


def test_a_stream_is_replayed_piece_by_piece_with_its_usage(recorded_chat, emu):
    model, run_dir = recorded_chat
    with replay.replaying(run_dir) as recording:
        response = model([{"role": "user", "content": "hi"}], stream=True)
        assert list(response.deltas) == CHUNKS
        assert list(response.stream)[-1] == (True, "".join(CHUNKS))
        whole = model([{"role": "user", "content": "once more"}], stream=False)
    assert emu.requests == [] and recording.answered == 2
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (7, 5)
    assert not response.usage.estimated
    assert whole.text == "A whole reply." and whole.usage.total_tokens == 7
    assert whole.raw["choices"][0]["message"]["content"] == "A whole reply."  # the 0.x raw


def test_a_recorded_stream_answers_a_plain_call_and_the_other_way(recorded_chat, emu):
    model, run_dir = recorded_chat
    with replay.replaying(run_dir):
        assert model([{"role": "user", "content": "hi"}], stream=False).text == "Hello, world!"
        streamed = model([{"role": "user", "content": "once more"}], stream=True)
        assert list(streamed.deltas) == ["A whole reply."]
    assert emu.requests == []


def test_async_calls_are_replayed(recorded_chat, emu):
    model, run_dir = recorded_chat

    async def go() -> tuple[list[str], str | None]:
        streamed = await model.acall([{"role": "user", "content": "hi"}], stream=True)
        pieces = [piece async for piece in streamed.adeltas]
        whole = await model.acall([{"role": "user", "content": "once more"}], stream=False)
        return pieces, whole.text

    with replay.replaying(run_dir):
        assert asyncio.run(go()) == (CHUNKS, "A whole reply.")
    assert emu.requests == []


def test_a_request_not_in_the_record_names_the_first_difference(recorded_chat, emu):
    model, run_dir = recorded_chat
    with replay.replaying(run_dir), pytest.raises(replay.ReplayMismatchError) as caught:
        model([{"role": "user", "content": "hello"}], stream=True)
    err = caught.value
    assert err.config_name == "local" and err.path == "messages[0].content"
    assert (err.recorded, err.now) == ("hi", "hello")
    text = str(err)
    assert "first differs at messages[0].content: recorded 'hi', now 'hello'" in text
    assert "line 1" in text and "--replay-missing call" in text
    assert emu.requests == []


def test_a_changed_generate_arg_is_the_difference(recorded_chat, emu):
    model, run_dir = recorded_chat
    with replay.replaying(run_dir), pytest.raises(replay.ReplayMismatchError) as caught:
        model([{"role": "user", "content": "hi"}], stream=True, temperature=0.5)
    assert caught.value.path == "temperature" and caught.value.now == 0.5


def test_asked_more_often_than_recorded_and_unknown_configs(recorded_chat, emu):
    model, run_dir = recorded_chat
    with replay.replaying(run_dir):
        assert model([{"role": "user", "content": "hi"}], stream=True).text
        with pytest.raises(replay.ReplayMismatchError, match="more often than"):
            model([{"role": "user", "content": "hi"}], stream=True)
        other = load_model_by_config_name("openai-gpt4o")
        with pytest.raises(replay.ReplayMismatchError, match="configs recorded: local"):
            other([{"role": "user", "content": "hi"}])
    assert emu.requests == []


def test_missing_call_sends_what_the_record_lacks_to_the_model(recorded_chat, emu):
    model, run_dir = recorded_chat
    emu.set_reply(text="Live.")
    with replay.replaying(run_dir, missing="call") as recording:
        assert model([{"role": "user", "content": "hi"}], stream=True).text == "Hello, world!"
        assert model([{"role": "user", "content": "new"}], stream=True).text == "Live."
    assert len(emu.requests) == 1 and (recording.answered, recording.sent) == (1, 1)
    assert recording.unused == 1


def test_a_recorded_provider_error_is_raised_again_typed(emu, tmp_path):
    emu.add_fault(Fault(status=500, message="overloaded"), "/v1/chat")
    agentscope_legacy.init(model_configs=EMULATOR_MODELS, save_dir=str(tmp_path),
                           save_api_invoke=True)
    model = load_model_by_config_name("local")
    with pytest.raises(ServerError):
        _ = model([{"role": "user", "content": "hi"}]).text
    run_dir = agentscope_legacy._runtime.get_runtime().run_dir
    emu.clear()
    with replay.replaying(run_dir), pytest.raises(ServerError) as caught:
        model([{"role": "user", "content": "hi"}])
    assert caught.value.status == 500 and caught.value.config_name == "local"
    assert "replayed" in str(caught.value) and emu.requests == []


def test_tool_calls_and_keys_in_a_streamed_reply(emu, tmp_path):
    secret = "sk-replay-secret-000111"
    register_secret(secret)
    emu.set_reply(chunks=["the key ", "sk-replay-", "secret-000111", " leaked"],
                  tool_calls=[{"id": "call_1", "name": "add", "arguments": {"a": 1}}])
    agentscope_legacy.init(model_configs=EMULATOR_MODELS, save_dir=str(tmp_path),
                           save_api_invoke=True)
    model = load_model_by_config_name("local")
    live = model([{"role": "user", "content": "hi"}], stream=True)
    assert live.text == "the key sk-replay-secret-000111 leaked"
    run_dir = agentscope_legacy._runtime.get_runtime().run_dir
    text = (run_dir / "invocations.jsonl").read_text()
    assert secret not in text and "sk-replay-" not in text  # not even split over pieces
    (record,) = [json.loads(line) for line in text.splitlines()]
    assert record["reply"]["chunks"] == ["the key *** leaked"]  # one piece when redacted
    emu.clear()
    with replay.replaying(run_dir):
        again = model([{"role": "user", "content": "hi"}], stream=True)
        assert again.text == "the key *** leaked"
    assert again.tool_calls == live.tool_calls
    assert again.tool_calls[0]["input"] == {"a": 1}


def test_the_request_key_ignores_delivery_and_redacts():
    base = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}
    streamed = {**base, "stream": True, "stream_options": {"include_usage": True}}
    key = replay.request_key(replay.normalise(base))
    assert replay.request_key(replay.normalise(streamed)) == key
    assert replay.request_key(replay.normalise({**base, "temperature": 1})) != key
    assert replay.request_key(replay.normalise({**base, "messages": ({"role": "user",
                                                                      "content": "hi"},)})) == key
