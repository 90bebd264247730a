"""Every example in examples/ does what its comments say: on the loopback OpenAI emulator with
scripted replies, and on the real local model (marked ``slow``). Outcomes, never the local
model's wording."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agentscope_legacy.cli import main
from agentscope_legacy.message import Msg

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
EMULATOR_MODELS = str(ROOT / "tests/data/experiments/emulator_models.yaml")


def run(example: str, tmp_path: Path, *extra: str) -> tuple[int, list[Msg]]:
    """Run an example with ``--no-input``; its exit code and transcript."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    args = ["run", str(EXAMPLES / example), "--set", f"run.save_dir={tmp_path}", "--no-input"]
    code = main([*args, *extra])
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    lines = (run_dir / "transcript.jsonl").read_text().splitlines()
    return code, [Msg.from_json(line) for line in lines]


def spoken(out: str, name: str) -> int:
    """How many messages of ``name`` were printed (each starts a line with ``name: ``)."""
    return sum(line.startswith(f"{name}: ") for line in out.splitlines())


# -- on the emulator ---------------------------------------------------------------------------
@pytest.fixture
def emu(openai_server, monkeypatch):
    monkeypatch.setenv("EMULATOR_URL", openai_server.base_url + "/v1")
    return openai_server


def judge_reply(verdicts: list[str], cut_first: bool = False):
    """Debaters agree; the judge answers the next verdict (its first answer cut off, as at a
    too small max_tokens, when ``cut_first``)."""
    state = {"cut": cut_first}

    def reply(body: dict) -> dict:
        if "judge" not in body["messages"][0]["content"]:
            return {"text": "I agree, mostly."}
        if state["cut"]:
            state["cut"] = False
            return {"text": '{"verdict": "sto'}
        return {"text": json.dumps({"verdict": verdicts.pop(0), "reason": "Alice"})}

    return reply


def test_the_debate_stops_on_the_judges_verdict(emu, tmp_path, capsys):
    emu.set_reply_fn(judge_reply(["continue", "stop", "continue"]))
    code, messages = run("debate.yaml", tmp_path, "-m", EMULATOR_MODELS, "--set", "rounds=5")
    out = capsys.readouterr().out
    assert code == 0
    names = [m.name for m in messages]
    assert names == ["moderator"] + ["alice", "bob", "judge"] * 2  # stopped in round 2 of 5
    assert messages[-1].metadata["verdict"] == "stop"
    assert spoken(out, "judge") == 2


def test_a_re_asked_judge_is_printed_once_per_turn(emu, tmp_path, capsys):
    emu.set_reply_fn(judge_reply(["stop"], cut_first=True))
    code, messages = run("debate.yaml", tmp_path, "-m", EMULATOR_MODELS, "--set", "rounds=3")
    out, err = capsys.readouterr()
    assert code == 0
    judge_calls = [r for r in emu.requests if "judge" in r.json["messages"][0]["content"]]
    assert len(judge_calls) == 2  # the cut reply was re-asked once (max_retries: 1)
    assert spoken(out, "judge") == 1  # only the reply that was kept is printed
    assert '"sto' not in out.replace('"stop"', "")
    assert "structured output attempt 1/2 is invalid" in err  # the re-ask is said once
    assert messages[-1].name == "judge" and messages[-1].metadata["verdict"] == "stop"


def test_the_judge_has_room_for_its_whole_verdict():
    """The example's judge config: a JSON grammar for the verdict, and max_tokens above what
    the longest verdict the grammar allows can take (a reply cut off is no verdict)."""
    from agentscope_legacy.experiment import load

    experiment = load(EXAMPLES / "debate.yaml")
    judge = experiment.document.data["agents"]["judge"]
    (config,) = [c for c in experiment.models.configs if c.config_name == judge["model"]]
    args = config.data["generate_args"]
    schema = args["response_format"]["schema"]
    assert args["response_format"]["type"] == "json_object"
    assert schema["properties"]["verdict"] == judge["schema"]["properties"]["verdict"]
    longest = (
        len('{"verdict": "continue", "reason": ""}') + schema["properties"]["reason"]["maxLength"]
    )
    assert args["max_tokens"] >= longest // 2  # well over a token per two characters of JSON


def test_the_conversation_follows_its_script(emu, tmp_path, capsys):
    emu.set_reply(text="Paris.")
    code, messages = run("conversation.yaml", tmp_path, "-m", EMULATOR_MODELS)
    assert code == 0
    assert [m.name for m in messages] == ["user", "assistant"] * 2
    assert [m.content for m in messages[::2]] == [
        "Hi! What is the capital of France?",
        "Thanks. And of Italy?",
    ]
    # One user and one assistant: plain chat turns, no multi-agent history block.
    last = emu.requests[-1].json["messages"]
    assert [m["role"] for m in last] == ["system", "user", "assistant", "user"]


def test_topics_checks_only_facts_with_numbers(emu, tmp_path, capsys):
    emu.set_reply_fn(
        lambda body: {
            "text": "The Moon is 384400 km away."
            if "Moon" in body["messages"][-1]["content"]
            else ("That is right." if "check" in body["messages"][0]["content"] else "Bees dance.")
        }
    )
    code, messages = run("topics.yaml", tmp_path, "-m", EMULATOR_MODELS)
    assert code == 0
    assert [m.name for m in messages] == [
        "editor", "writer", "checker", "editor", "writer", "editor",
    ]  # fmt: skip
    assert messages[-1].content == "No numbers to check in the fact about honey bees."


# -- on the local model ------------------------------------------------------------------------
#: The examples recorded on the real local model (tests/data/replay/README.md), replayed by
#: the fast twin of the slow test: the same checks, deterministic, no model loaded.
RECORDED = ROOT / "tests" / "data" / "replay" / "local_examples"


@pytest.mark.parametrize(
    "replayed",
    [pytest.param(False, marks=pytest.mark.slow, id="live"), pytest.param(True, id="replayed")],
)
def test_examples_on_the_local_model(replayed, tmp_path, capsys):
    if not replayed:
        pytest.importorskip("agentscope_legacy.models._local_runtime")

    def run_local(example: str, *extra: str) -> tuple[int, list[Msg]]:
        name = example.removesuffix(".yaml")
        replay = ["--replay", str(RECORDED / name)] if replayed else []
        code, messages = run(example, tmp_path / name, *extra, *replay)
        if replayed:  # exactly what the model said when it was recorded
            lines = (RECORDED / name / "transcript.jsonl").read_text().splitlines()
            recorded = [Msg.from_json(line) for line in lines]
            assert [(m.name, m.content, m.metadata) for m in messages] == [
                (m.name, m.content, m.metadata) for m in recorded
            ]
        return code, messages

    code, messages = run_local("debate.yaml", "--set", "rounds=2")
    out = capsys.readouterr().out
    assert code == 0
    judges = [m for m in messages if m.name == "judge"]
    assert judges and all("parse_error" not in m.metadata for m in judges)  # whole verdicts
    assert all(m.metadata["verdict"] in ("continue", "stop") for m in judges)
    stopped = judges[-1].metadata["verdict"] == "stop"
    assert len(judges) == 2 or (stopped and len(judges) == 1)  # the rule, whichever it was
    assert spoken(out, "judge") == len(judges)

    code, messages = run_local("conversation.yaml")
    assert code == 0 and [m.name for m in messages] == ["user", "assistant"] * 2
    assert all(m.content for m in messages)

    code, messages = run_local("topics.yaml")
    assert code == 0
    for i, msg in enumerate(messages):
        if msg.name == "writer":  # if the fact has a number, the checker speaks, else the editor
            expected = "checker" if re.search("[0-9]", msg.content) else "editor"
            assert messages[i + 1].name == expected
