"""Experiments end to end on the loopback OpenAI emulator: every example, the CLI and the
Python API, overrides, run-directory artefacts, quiet/progress output, dry runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentscope_legacy.agents import AgentBase
from agentscope_legacy.cli import main
from agentscope_legacy.errors import ConfigError
from agentscope_legacy.experiment import RunResult, load
from agentscope_legacy.message import Msg
from agentscope_legacy.models.manager import ModelManager

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.yaml") if p.name != "model_configs.yaml")
EMULATOR_MODELS = str(ROOT / "tests/data/experiments/emulator_models.yaml")
KEY = "sk-test-experiment-0001"  # the key in emulator_models.yaml: must never be saved


def _text(content: str | list | None) -> str:
    """A message's text: a string, or 0.1.6's list of text parts."""
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


def scripted_reply(body: dict) -> dict:
    """Plausible replies per agent, chosen from the system prompt."""
    messages = body["messages"]
    system = _text(messages[0]["content"]) if messages[0]["role"] == "system" else ""
    last = _text(messages[-1]["content"]).splitlines()[-1]  # the newest history line
    if "judge" in system:
        return {"text": 'My verdict:\n```json\n{"verdict": "stop", "reason": "Alice"}\n```'}
    if "fact about" in system:
        return {"text": "The Moon is 384400 km away." if "Moon" in last else "Bees dance."}
    if "check facts" in system:
        return {"text": "That is right."}
    if "assistant" in system:
        return {"text": "Paris." if "France" in last else "Rome."}
    return {"text": "I agree, mostly."}


@pytest.fixture
def emu(openai_server, monkeypatch):
    monkeypatch.setenv("EMULATOR_URL", openai_server.base_url + "/v1")
    openai_server.set_reply_fn(scripted_reply)
    return openai_server


def run_cli(path, tmp_path, *extra: str) -> int:
    args = ["run", str(path), "-m", EMULATOR_MODELS, "--set", f"run.save_dir={tmp_path}"]
    return main([*args, "--no-input", *extra])


def the_run_dir(tmp_path: Path) -> Path:
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    return run_dir


def transcript(run_dir: Path) -> list[Msg]:
    lines = (run_dir / "transcript.jsonl").read_text().splitlines()
    return [Msg.from_json(line) for line in lines]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_runs_on_the_emulator(example, emu, tmp_path, capsys):
    assert run_cli(example, tmp_path) == 0
    out, err = capsys.readouterr()
    run_dir = the_run_dir(tmp_path)
    messages = transcript(run_dir)
    assert messages, "the transcript holds the run's messages"
    # Every message was printed, in transcript order, one "name: text" line each.
    printed = [line for line in out.splitlines() if ": " in line]
    position = 0
    for msg in messages:
        first_line = f"{msg.name}: {msg.content.splitlines()[0]}"
        position = printed.index(first_line, position) + 1
    calls = len(emu.requests)
    assert calls > 0
    invocations = (run_dir / "invocations.jsonl").read_text().splitlines()
    assert len(invocations) == calls
    table = (run_dir / "usage.txt").read_text()
    header, *rows = table.splitlines()
    assert header.startswith("config_name")
    assert sum(int(row.split()[2]) for row in rows) == calls  # one row per config
    assert table.strip() in err  # the usage table is printed too
    resolved = (run_dir / "experiment.yaml").read_text()
    assert "pipeline:" in resolved and "'***'" in resolved
    for name in run_dir.iterdir():
        if name.is_file() and name.suffix != ".db":
            assert KEY not in name.read_text(errors="replace"), name


def test_debate_stops_on_the_judges_verdict(emu, tmp_path):
    assert run_cli(ROOT / "examples/debate.yaml", tmp_path, "--set", "rounds=4") == 0
    messages = transcript(the_run_dir(tmp_path))
    assert [m.name for m in messages] == ["moderator", "alice", "bob", "judge"]
    verdict = {"verdict": "stop", "reason": "Alice"}
    assert messages[-1].metadata == {**verdict, "structured_output": verdict}
    # The msghub: bob heard the moderator and alice.
    bob_prompt = emu.requests[1].json["messages"][-1]["content"]
    assert "moderator: Debate topic" in bob_prompt and "alice: I agree" in bob_prompt


def test_debate_runs_all_rounds_while_the_judge_says_continue(emu, tmp_path, capsys):
    emu.set_reply_fn(
        lambda body: (
            {"text": '{"verdict": "continue"}'}
            if "judge" in body["messages"][0]["content"]
            else {"text": "Point taken."}
        )
    )
    args = ("--set", "rounds=3", "--set", "topic=Tea beats coffee.")
    assert run_cli(ROOT / "examples/debate.yaml", tmp_path, *args) == 0
    messages = transcript(the_run_dir(tmp_path))
    assert len(messages) == 1 + 3 * 3
    assert messages[0].content == "Debate topic: Tea beats coffee."
    err = capsys.readouterr().err
    assert "[round 3/3] judge" in err and "[round 4/3]" not in err


def test_topics_takes_both_branches(emu, tmp_path):
    assert run_cli(ROOT / "examples/topics.yaml", tmp_path) == 0
    names = [(m.name, m.content) for m in transcript(the_run_dir(tmp_path))]
    assert names == [
        ("editor", "Topic: the Moon"),
        ("writer", "The Moon is 384400 km away."),
        ("checker", "That is right."),
        ("editor", "Topic: honey bees"),
        ("writer", "Bees dance."),
        ("editor", "No numbers to check in the fact about honey bees."),
    ]


def test_a_run_that_needs_more_user_input_fails_clearly(emu, tmp_path, capsys):
    rc = run_cli(ROOT / "examples/conversation.yaml", tmp_path, "--set", "turns=3")
    assert rc == 1
    err = capsys.readouterr().err
    assert "UserAgent 'user' needs input" in err and "not interactive" in err
    assert "config_name" in err  # the usage table is still printed
    assert [m.content for m in transcript(the_run_dir(tmp_path))] == [
        "Hi! What is the capital of France?",
        "Paris.",
        "Thanks. And of Italy?",
        "Rome.",
    ]


def test_python_api_load_and_run(emu, tmp_path, capsys):
    experiment = load(
        ROOT / "examples/debate.yaml",
        overrides={"rounds": 1, "run.save_dir": str(tmp_path)},
        model_configs=EMULATOR_MODELS,
    )
    result = experiment.run()
    assert isinstance(result, RunResult)
    assert result.run_dir == the_run_dir(tmp_path)
    assert result.final is result.messages[-1] and result.final.name == "judge"
    calls = {row["config_name"]: row["calls"] for row in result.usage}
    assert calls == {"local": 2, "local-judge": 1}  # the debaters share one config
    assert "judge: My verdict:" in capsys.readouterr().out


def test_quiet_prints_only_the_final_message(emu, tmp_path, capsys):
    assert run_cli(ROOT / "examples/debate.yaml", tmp_path, "--quiet") == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "judge: My verdict:"
    assert "alice" not in out and "[round" not in err


class Shouter(AgentBase):
    """A user class, named by import path in experiment files."""

    def __init__(self, name: str, volume: int = 1) -> None:
        super().__init__(name)
        self.volume = volume

    def reply(self, x=None, **kwargs):
        msg = Msg(self.name, (x.content if x else "hey").upper() + "!" * self.volume, "assistant")
        self.speak(msg)
        return msg


def inline(**changes) -> dict:
    """A small experiment as a dict, on the emulator."""
    doc = {
        "vars": {"people": [{"name": "Ann"}, {"name": "Bo"}]},
        "model_configs": [
            {
                "config_name": "emu",
                "model_type": "openai_chat",
                "model_name": "m",
                "base_url": "${EMULATOR_URL}",
                "api_key": "sk-inline-secret-42",
                "stream": False,
                "max_retries": 0,
            }
        ],
        "agents": {
            "shout": {"class": "tests.test_experiment.Shouter", "volume": 2},
            "bot": {"class": "DialogAgent", "model": "emu", "sys_prompt": "Be brief."},
        },
        "pipeline": [
            {"say": "first"},
            "shout",
            {
                "for_each": {
                    "items": "{{people}}",
                    "as": "person",
                    "steps": [{"say": {"content": "Hi {{person.name}}", "name": "mc"}}, "bot"],
                }
            },
        ],
    }
    doc.update(changes)
    return doc


def test_user_classes_for_each_items_and_progress(emu, tmp_path, capsys):
    result = load(inline(run={"save_dir": str(tmp_path), "name": "mini"})).run()
    assert [(m.name, m.content) for m in result.messages] == [
        ("host", "first"),
        ("shout", "FIRST!!"),
        ("mc", "Hi Ann"),
        ("bot", "I agree, mostly."),
        ("mc", "Hi Bo"),
        ("bot", "I agree, mostly."),
    ]
    err = capsys.readouterr().err
    assert "[step 2/3] shout" in err and "[step 3/3 · person 2/2] bot" in err
    resolved = (result.run_dir / "experiment.yaml").read_text()
    assert "sk-inline-secret-42" not in resolved and "api_key: '***'" in resolved
    assert result.run_dir.name.startswith("run_") and result.run_dir.name.endswith("_mini")
    again = load(inline(run={"save_dir": str(tmp_path), "name": "mini"})).run()
    assert again.run_dir != result.run_dir  # a second run never appends to the first


def test_run_stream_switches_streaming_for_every_model(emu, tmp_path):
    load(inline(run={"save_dir": str(tmp_path), "stream": True})).run()
    assert {r.json["stream"] for r in emu.requests} == {True}
    emu.clear()
    emu.set_reply_fn(scripted_reply)
    debate = load(
        ROOT / "examples/debate.yaml",
        overrides=["run.stream=false", f"run.save_dir={tmp_path}"],
        model_configs=EMULATOR_MODELS,
    )
    debate.run()
    assert {r.json.get("stream", False) for r in emu.requests} == {False}


def test_each_model_config_is_built_once(emu, tmp_path, monkeypatch):
    built = []
    original = ModelManager._build
    monkeypatch.setattr(
        ModelManager, "_build", lambda self, name: built.append(name) or original(self, name)
    )
    assert run_cli(ROOT / "examples/debate.yaml", tmp_path, "--set", "rounds=2") == 0
    assert built == ["local", "local-judge"]  # three agents, two configs, one wrapper each


def test_provider_error_stops_the_run_with_everything_saved(emu, tmp_path, capsys):
    from tests.emulators.base import Fault

    emu.add_fault(Fault(status=500, times=10), "/v1/chat")
    # Not streamed: a failed stream *opening* is not recorded by the wrapper base (yet).
    assert run_cli(ROOT / "examples/debate.yaml", tmp_path, "--set", "run.stream=false") == 1
    err = capsys.readouterr().err
    assert "error:" in err and "status=500" in err and "config_name" in err
    run_dir = the_run_dir(tmp_path)
    assert [m.name for m in transcript(run_dir)] == ["moderator"]
    (record,) = [json.loads(line) for line in (run_dir / "invocations.jsonl").open()]
    assert record["status"] == "error" and "500" in record["error"]
    assert "  1      1  " in (run_dir / "usage.txt").read_text()  # one call, one failure


def test_dry_run_validates_and_builds_nothing(emu, tmp_path, capsys, monkeypatch):
    from agentscope_legacy.models.llamacpp import LlamaCppChatWrapper

    def no_model(*args, **kwargs):
        raise AssertionError("a dry run must not load a model")

    monkeypatch.setattr(LlamaCppChatWrapper, "__init__", no_model)
    for example in EXAMPLES:  # on their own model configs: the local GGUF
        rc = main(["run", str(example), "--dry-run", "--set", f"run.save_dir={tmp_path}"])
        assert rc == 0
    out = capsys.readouterr().out
    assert "loop at most 2 rounds, until metadata.verdict equals 'stop'" in out
    assert "ok: " in out and "dry run" in out
    assert emu.requests == [] and list(tmp_path.iterdir()) == []


def test_dry_run_reports_invalid_files_with_exit_code_1(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("agents: {}\npipeline: []\n")
    assert main(["run", str(bad), "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert f"error: {bad}:1: agents: expected a non-empty mapping" in err
    assert f"error: {bad}:2: pipeline: expected at least 1 item(s)" in err
    assert "2 error(s)" in err


def test_load_raises_one_config_error_for_a_dict(emu):
    with pytest.raises(ConfigError) as info:
        load(inline(pipeline=["nobody"]))
    assert str(info.value.issues[0]) == ("pipeline[0]: unknown agent 'nobody' (agents: shout, bot)")


def test_transcript_holds_what_was_printed_in_order(emu, tmp_path):
    result = load(inline(run={"save_dir": str(tmp_path)})).run()
    chat = [json.loads(line) for line in (result.run_dir / "logging.chat").open()]
    assert [(m["name"], m["content"]) for m in chat] == [
        (m.name, m.content) for m in transcript(result.run_dir)
    ]
