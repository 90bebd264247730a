"""``agentscope-legacy run`` as a user starts it: a real process, Ctrl-C, dry runs; and one
example on the real local model (slow)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentscope_legacy.cli import main
from agentscope_legacy.message import Msg
from tests.emulators.base import Fault

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "experiments"
SCRIPT = Path(sys.executable).parent / "agentscope-legacy"


def wait_for_first_message(runs: Path, proc: subprocess.Popen, timeout: float = 60) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it was interrupted"
        for path in runs.glob("run_*/transcript.jsonl"):
            if path.read_text().count("\n") >= 1:
                return path
        time.sleep(0.02)
    raise AssertionError("no message reached the transcript")


@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT")
def test_ctrl_c_stops_the_run_cleanly(openai_server, tmp_path):
    openai_server.set_reply(text="ping pong " * 4)
    openai_server.add_fault(Fault(delay=0.05, times=100_000), "/v1/chat")  # replies take time
    env = {**os.environ, "EMULATOR_URL": openai_server.base_url + "/v1"}
    runs = tmp_path / "runs"
    command = [str(SCRIPT), "run", str(DATA / "long.yaml"), "--set", f"run.save_dir={runs}"]
    with open(tmp_path / "out", "w") as out, open(tmp_path / "err", "w") as err:
        proc = subprocess.Popen(
            command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=ROOT, env=env
        )
        try:
            transcript = wait_for_first_message(runs, proc)
            proc.send_signal(signal.SIGINT)
            rc = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    stderr = (tmp_path / "err").read_text()
    assert rc == 130, stderr
    messages = [Msg.from_json(line) for line in transcript.read_text().splitlines()]
    assert messages and [m.name for m in messages] == ["ping", "pong"] * (len(messages) // 2) + [
        "ping"
    ] * (len(messages) % 2)
    stdout = (tmp_path / "out").read_text()
    for msg in messages:
        assert f"{msg.name}: {msg.content}" in stdout
    assert "interrupted" in stderr and "LLM usage" in stderr
    table = (transcript.parent / "usage.txt").read_text()
    assert table.splitlines()[0].startswith("config_name") and table.strip() in stderr
    records = [json.loads(line) for line in (transcript.parent / "invocations.jsonl").open()]
    assert len(records) >= len(messages)


def test_dry_run_does_not_import_the_local_model(tmp_path):
    code = (
        "import sys\n"
        "from agentscope_legacy.cli import main\n"
        f"rc = main(['run', {str(ROOT / 'examples/debate.yaml')!r}, '--dry-run'])\n"
        "print('RESULT', rc, bool({'llama_cpp', 'xllamacpp'} & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert "RESULT 0 False" in result.stdout, result.stderr
    assert list(tmp_path.iterdir()) == []  # no run directory


def test_run_help_lists_the_options(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    for option in ("--set", "--dry-run", "--quiet", "--model-configs", "--no-input"):
        assert option in out


#: Runs recorded on the real local model, replayed by the fast twins of the slow tests (how
#: they were made: tests/data/replay/README.md).
REPLAYS = ROOT / "tests" / "data" / "replay"


@pytest.mark.parametrize(
    "replay",
    [
        pytest.param(None, marks=pytest.mark.slow, id="live"),
        pytest.param(REPLAYS / "local_debate_1round", id="replayed"),
    ],
)
def test_debate_on_the_local_model(replay, tmp_path, capsys):
    """On the model itself (slow), and from a committed recording of it: the same run, the
    same checks, deterministic (the recorded transcript exactly), no model loaded."""
    from tests.local_runtimes import ANY_RUNTIME

    if replay is None and not ANY_RUNTIME:
        pytest.skip("needs the [local] extra")
    rc = main(
        [
            "run",
            str(ROOT / "examples/debate.yaml"),
            "--set",
            f"run.save_dir={tmp_path}",
            "--set",
            "rounds=1",
            "--set",
            "agents.judge.max_retries=0",
            "--set",
            "model_configs[0].generate_args.max_tokens=12",
            *(["--replay", str(replay)] if replay else []),
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 0, err
    (run_dir,) = tmp_path.iterdir()
    messages = [Msg.from_json(line) for line in (run_dir / "transcript.jsonl").open()]
    assert [m.name for m in messages] == ["moderator", "alice", "bob", "judge"]
    assert all(m.content for m in messages)
    judge = messages[-1].metadata
    assert "verdict" in judge or "parse_error" in judge  # a 135M model may not manage JSON
    assert "[round 1/1] judge" in err
    usage = (run_dir / "usage.txt").read_text().splitlines()
    calls = {row.split()[0]: row.split()[2] for row in usage[1:]}
    assert calls == {"local": "2", "local-judge": "1"}
    if replay is not None:
        recorded = [Msg.from_json(line) for line in (replay / "transcript.jsonl").open()]
        assert [(m.name, m.content, m.metadata) for m in messages] == [
            (m.name, m.content, m.metadata) for m in recorded
        ]
        assert usage == (replay / "usage.txt").read_text().splitlines()
        assert "replay: 3 call(s) answered" in err


# -- validate on experiment files --------------------------------------------------------------
def test_validate_recognises_the_example_experiments(capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    files = sorted(str(p) for p in (ROOT / "examples").glob("*.yaml"))
    rc = main(["validate", *files])
    out, err = capsys.readouterr()
    assert rc == 0, err
    experiments = [f for f in files if not f.endswith("model_configs.yaml")]
    assert f"and {len(experiments)} experiment(s) in {len(files)} file(s)" in out
    assert "error:" not in err
    # the shared model config file is named once per config, however many experiments use it
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert len(notes) == len(set(notes))
    shared = "model_configs.yaml:"
    assert sum(shared in line and "config 'openai-gpt4o'," in line for line in notes) == 1


def test_validate_reports_experiment_problems_as_run_does(capsys):
    broken = ROOT / "tests" / "data" / "broken" / "experiment_unknown_keys.yaml"
    rc = main(["validate", str(broken)])
    _, err = capsys.readouterr()
    assert rc == 1
    assert "did you mean 'agents'?" in err
    assert "expected a config mapping" not in err and "config_name" not in err
    assert main(["run", str(broken), "--dry-run"]) == 1
    run_err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors and all(line in run_err.splitlines() for line in errors)


def test_validate_mixes_experiments_and_model_config_files(capsys, tmp_path):
    configs = tmp_path / "models.yaml"
    configs.write_text("- config_name: x\n  model_type: openai_chat\n  strem: true\n")
    rc = main(["validate", str(ROOT / "examples" / "conversation.yaml"), str(configs)])
    _, err = capsys.readouterr()
    assert rc == 1
    assert f"{configs}:3: config 'x', field 'strem'" in err and "did you mean 'stream'?" in err
    assert "conversation.yaml" not in err
