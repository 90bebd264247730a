"""``agentscope-legacy sweep`` on the local executor against the loopback OpenAI emulator:
grids, repeats and seeds, metrics, results files, bad grids, failed runs, a killed worker,
resume, Ctrl-C and a killed driver."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from agentscope_legacy.cli import main
from agentscope_legacy.errors import ConfigError
from agentscope_legacy.message import Msg
from agentscope_legacy.sweep import parse_grid_option, plan
from agentscope_legacy.sweep.grid import expand
from tests.emulators.base import Fault

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "tests" / "data" / "experiments" / "emulator_models.yaml"
SCRIPT = Path(sys.executable).parent / "agentscope-legacy"

EXPERIMENT = f"""\
model_configs: {MODELS}
vars: {{rounds: 1}}
agents:
  ping: {{class: DialogAgent, model: local, sys_prompt: You are ping., memory_window: 2}}
  pong: {{class: DialogAgent, model: local, sys_prompt: You are pong., memory_window: 2}}
pipeline:
  - loop:
      max_rounds: "{{{{rounds}}}}"
      steps: [ping, pong]
metrics:
  agreed: {{contains: agree}}
  speaker: name
  tokens: usage.total_tokens
  messages: run.messages
run: {{name: pingpong}}
"""

# A model config whose server refuses connections: its runs fail.
DEAD = """\
- config_name: dead
  model_type: openai_chat
  model_name: dead
  base_url: http://127.0.0.1:9/v1
  api_key: sk-test-dead-0001
  max_retries: 0
"""

KILLER = """\
import os, signal
from pathlib import Path
from agentscope_legacy.agents import AgentBase
from agentscope_legacy.message import Msg

class Killer(AgentBase):
    '''Kills its own process: on the first call only, or (always) every time.'''
    def __init__(self, name, marker, always=False):
        super().__init__(name=name)
        self.marker, self.always = Path(f"{marker}-{always}"), always
    def reply(self, x=None, **kwargs):
        if self.always or not self.marker.exists():
            self.marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return Msg(self.name, "survived", "assistant")
"""


@pytest.fixture
def exp(tmp_path, openai_server, monkeypatch):
    monkeypatch.setenv("EMULATOR_URL", openai_server.base_url + "/v1")
    openai_server.set_reply(text="I agree with you.")
    file = tmp_path / "exp.yaml"
    file.write_text(EXPERIMENT.replace("run: {name: pingpong}",
                                       f"run: {{name: pingpong, save_dir: {tmp_path / 'runs'}}}"))
    return file


def sweep_dir_of(tmp_path: Path) -> Path:
    (found,) = (tmp_path / "runs").glob("sweep_*")
    return found


def records_of(directory: Path) -> list[dict]:
    return [json.loads(line) for line in (directory / "results.jsonl").open()]


# -- the grid --------------------------------------------------------------------------------
def test_grid_values_are_read_as_yaml():
    assert parse_grid_option("rounds=1,2,3") == ("rounds", [1, 2, 3])
    assert parse_grid_option("agents.judge.model=local,gpt-4o-mini") == (
        "agents.judge.model", ["local", "gpt-4o-mini"])
    assert parse_grid_option('topic="Tea, or coffee.",Cats') == (
        "topic", ["Tea, or coffee.", "Cats"])
    assert parse_grid_option("x=a: b,c") == ("x", [{"a": "b"}, "c"])  # YAML, as --set reads it
    assert parse_grid_option("x={a,b") == ("x", ["{a", "b"])  # not YAML: split on commas
    for bad in ("rounds", "=1,2", "rounds="):
        with pytest.raises(ValueError, match="--grid"):
            parse_grid_option(bad)


def test_expand_is_every_combination_times_the_repeats_each_with_its_seed():
    runs = expand({"a": [1, 2], "b": ["x", "y", "z"]}, repeat=2, seed=10,
                  seed_paths=["model_configs[0].generate_args.seed"], fixed={"topic": "t"})
    assert len(runs) == 12 and len({r.run_id for r in runs}) == 12
    assert [r.values for r in runs[:4]] == [{"a": 1, "b": "x"}] * 2 + [{"a": 1, "b": "y"}] * 2
    assert runs[1].run_id == "g000-r01" and runs[1].seed == 11
    assert runs[1].overrides == {"topic": "t", "a": 1, "b": "x", "run.seed": 11,
                                 "model_configs[0].generate_args.seed": 11}


def test_bad_grids_are_rejected_per_point_before_anything_runs(exp, openai_server, tmp_path,
                                                               capsys):
    rc = main(["sweep", str(exp), "--grid", "rounds=1,x,0", "--grid", "roundz=1"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "grid point rounds=1, roundz=1 (and 2 more)" in err
    assert "--grid roundz: cannot apply: 'roundz' is neither a section" in err
    assert "did you mean 'rounds'?" in err
    assert f"grid point rounds=x, roundz=1: {exp}:8: pipeline[0].loop.max_rounds: expected " \
           "integer, got string 'x'" in err
    assert "pipeline[0].loop.max_rounds: expected a value >= 1, got 0" in err
    assert "nothing was run" in err
    assert not (tmp_path / "runs").exists() and openai_server.requests == []
    with pytest.raises(ConfigError, match="unknown model config 'nosuch'"):
        plan(exp, grid={"agents.ping.model": ["local", "nosuch"]})


def test_bad_metrics_are_config_errors_naming_the_line(exp, tmp_path):
    file = tmp_path / "exp.yaml"
    file.write_text(EXPERIMENT.replace("  messages: run.messages\n",
                                       "  messages: run.nothing\n  both: {contains: a, "
                                       "equals: b}\n"))
    with pytest.raises(ConfigError) as info:
        plan(file)
    text = str(info.value)
    assert str(info.value).startswith("2 problems:\n")
    assert f"\n{file}:14: metrics.messages: expected a field (metadata.score" in text
    assert f"\n{file}:15: metrics.both: expected exactly one test" in text


# -- running -----------------------------------------------------------------------------------
def test_a_sweep_runs_every_point_and_collects_its_metrics(exp, openai_server, tmp_path,
                                                           capsys):
    rc = main(["sweep", str(exp), "--grid", "rounds=1,2", "--repeat", "2", "-j", "2",
               "--seed", "5"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    directory = sweep_dir_of(tmp_path)
    records = records_of(directory)
    assert [r["run"] for r in records] == ["g000-r00", "g000-r01", "g001-r00", "g001-r01"]
    assert [(r["values"], r["seed"]) for r in records] == [
        ({"rounds": 1}, 5), ({"rounds": 1}, 6), ({"rounds": 2}, 5), ({"rounds": 2}, 6)]
    assert all(r["status"] == "ok" and r["attempts"] == 1 for r in records)
    assert [r["metrics"]["messages"] for r in records] == [2, 2, 4, 4]
    assert all(r["metrics"]["agreed"] is True and r["metrics"]["speaker"] == "pong"
               for r in records)
    assert [r["usage"]["calls"] for r in records] == [2, 2, 4, 4]
    assert len(openai_server.requests) == 12  # one per message, nothing more
    for record in records:  # each point a normal run with its own directory
        run_dir = directory / record["dir"]
        messages = [Msg.from_json(line) for line in (run_dir / "transcript.jsonl").open()]
        assert len(messages) == record["metrics"]["messages"]
        resolved = (run_dir / "experiment.yaml").read_text()
        assert f"seed: {record['seed']}" in resolved
        # It records where the run is (the sweep directory), not the work dir it was made in.
        assert yaml.safe_load(resolved)["run"]["save_dir"] == str(directory)
        assert ".work" not in resolved
    rows = list(csv.DictReader((directory / "results.csv").open()))
    assert [(r["run"], r["rounds"], r["messages"], r["agreed"]) for r in rows] == [
        ("g000-r00", "1", "2", "true"), ("g000-r01", "1", "2", "true"),
        ("g001-r00", "2", "4", "true"), ("g001-r01", "2", "4", "true")]
    summary = (directory / "summary.txt").read_text()
    assert summary.splitlines()[0].split() == ["rounds", "ok", "failed", "seconds", "agreed",
                                               "speaker", "tokens", "messages"]
    assert summary.strip() in out
    line = summary.splitlines()[2].split()
    assert line[:3] == ["2", "2", "0"] and line[-3:] == ["4", "±", "0"]
    assert "pong (2/2)" in summary
    manifest = json.loads((directory / "sweep.json").read_text())
    assert manifest["grid"] == {"rounds": [1, 2]} and len(manifest["runs"]) == 4
    assert "4/4 done, 0 failed" in err and "sweep: 4 ok, 0 failed" in err
    assert not (directory / ".work").exists()


def test_a_failed_run_is_recorded_with_its_error_and_the_sweep_goes_on(exp, openai_server,
                                                                        tmp_path, capsys):
    dead = tmp_path / "dead.yaml"
    dead.write_text(DEAD)
    text = exp.read_text().replace(f"model_configs: {MODELS}",
                                   f"model_configs: [{MODELS}, {dead}]")
    exp.write_text(text)
    rc = main(["sweep", str(exp), "--grid", "agents.ping.model=dead,local", "-j", "2",
               "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1
    failed, ok = records_of(sweep_dir_of(tmp_path))
    assert failed["status"] == "failed" and failed["values"] == {"agents.ping.model": "dead"}
    assert failed["error"].startswith("ProviderConnectionError") or "onnect" in failed["error"]
    assert "sk-test-dead-0001" not in json.dumps(failed)
    assert ok["status"] == "ok" and ok["metrics"]["messages"] == 2
    assert f"failed: g000-r00: {failed['error']}" in err
    summary = (sweep_dir_of(tmp_path) / "summary.txt").read_text().splitlines()
    assert summary[1].split()[:3] == ["dead", "0", "1"]


def test_a_worker_killed_mid_run_is_run_again_once_then_recorded_as_failed(exp, tmp_path):
    (tmp_path / "killer.py").write_text(KILLER)
    exp.write_text(EXPERIMENT.replace(
        "pipeline:", f"  k: {{class: killer.Killer, marker: {tmp_path}/m}}\npipeline:").replace(
        "steps: [ping, pong]", "steps: [k]").replace(
        "run: {name: pingpong}", f"run: {{name: pingpong, save_dir: {tmp_path / 'runs'}}}"))
    rc = main(["sweep", str(exp), "--grid", "agents.k.always=false,true", "-j", "2",
               "--no-progress"])
    assert rc == 1
    records = {r["run"]: r for r in records_of(sweep_dir_of(tmp_path))}
    assert set(records) == {"g000-r00", "g001-r00"}
    for record in records.values():
        if record["values"]["agents.k.always"]:
            assert record["status"] == "failed" and record["attempts"] == 2
            assert "the worker process died" in record["error"] and "attempt 2 of 2" in \
                record["error"]
        else:  # killed once, then it ran
            assert record["status"] == "ok" and record["attempts"] == 2, record
            assert record["metrics"]["messages"] == 1


def test_resume_runs_only_what_is_not_finished(exp, openai_server, tmp_path, capsys):
    assert main(["sweep", str(exp), "--grid", "rounds=1,2", "-j", "2"]) == 0
    directory = sweep_dir_of(tmp_path)
    lines = (directory / "results.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    # As if the driver died after the first run: its record is there, the second's is not,
    # and half of a line was written.
    (directory / "results.jsonl").write_text(lines[0] + "\n" + lines[1][:20])
    openai_server.clear()
    openai_server.set_reply(text="I agree with you.")
    rc = main(["sweep", "--resume", str(directory)])
    err = capsys.readouterr().err
    assert rc == 0, err
    records = records_of(directory)
    assert [r["run"] for r in records] == ["g000-r00", "g001-r00"]
    assert records[0] == first  # kept, not run again
    assert len(openai_server.requests) == 4  # only rounds=2 ran
    assert " s on local (1 done before)" in err
    assert json.loads((directory / "sweep.json").read_text())["executor"] == {
        "kind": "local", "address": None}
    # The same command line resumes too; another sweep's does not.
    assert main(["sweep", str(exp), "--grid", "rounds=1,2", "--resume", str(directory)]) == 0
    assert main(["sweep", str(exp), "--grid", "rounds=1,3", "--resume", str(directory)]) == 1
    err = capsys.readouterr().err
    assert "this directory holds another sweep: run g001-r00" in err
    assert main(["sweep", "--resume", str(tmp_path)]) == 1
    assert "not a sweep directory (no sweep.json)" in capsys.readouterr().err


def _start(exp: Path, tmp_path: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ}
    return subprocess.Popen([str(SCRIPT), "sweep", str(exp), *args], cwd=tmp_path, env=env,
                            stdout=open(tmp_path / "out", "w"), stderr=open(tmp_path / "err", "w"),
                            stdin=subprocess.DEVNULL)


def _wait_for_records(tmp_path: Path, proc: subprocess.Popen, n: int) -> Path:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, (tmp_path / "err").read_text()
        found = list((tmp_path / "runs").glob("sweep_*/results.jsonl"))
        if found and found[0].read_text().count("\n") >= n:
            return found[0].parent
        time.sleep(0.05)
    raise AssertionError("no run finished")


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    return [int(p) for p in out.split()]


@pytest.mark.skipif(os.name != "posix", reason="sends signals")
def test_ctrl_c_stops_the_sweep_cleanly_and_resume_finishes_it(exp, openai_server, tmp_path):
    openai_server.add_fault(Fault(delay=0.3, times=100_000), "/v1/chat")  # runs take time
    proc = _start(exp, tmp_path, "--grid", "rounds=1,2,3,4,5,6", "-j", "2")
    try:
        directory = _wait_for_records(tmp_path, proc, 1)
        workers = _children(proc.pid)
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = (tmp_path / "err").read_text()
    assert rc == 130, err
    assert f"finish with: agentscope-legacy sweep --resume {directory}" in err
    assert "Traceback" not in err
    done = records_of(directory)
    assert 1 <= len(done) < 6 and all(r["status"] == "ok" for r in done)
    assert (directory / "summary.txt").exists() and not (directory / ".work").exists()
    time.sleep(0.5)
    assert [p for p in workers if Path(f"/proc/{p}").exists()
            and "zombie" not in Path(f"/proc/{p}/status").read_text()] == []
    openai_server.clear()
    openai_server.set_reply(text="I agree with you.")
    assert main(["sweep", "--resume", str(directory), "--no-progress"]) == 0
    records = records_of(directory)
    assert [r["run"] for r in records] == [f"g00{i}-r00" for i in range(6)]
    assert records[: len(done)] == done or {r["run"] for r in done} <= {r["run"] for r in records}
    assert sorted(p.name for p in directory.glob("g*")) == [r["run"] for r in records]


@pytest.mark.skipif(os.name != "posix", reason="sends signals")
def test_a_killed_driver_leaves_a_sweep_that_resume_finishes(exp, openai_server, tmp_path):
    openai_server.add_fault(Fault(delay=0.3, times=100_000), "/v1/chat")
    proc = _start(exp, tmp_path, "--grid", "rounds=1,2,3,4", "-j", "2")
    try:
        directory = _wait_for_records(tmp_path, proc, 1)
        workers = _children(proc.pid)
        proc.kill()  # SIGKILL: nothing is saved on the way out
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    for pid in workers:  # the orphaned workers finish their run and see the driver gone
        deadline = time.monotonic() + 30
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    openai_server.clear()
    openai_server.set_reply(text="I agree with you.")
    before = {r["run"] for r in records_of(directory)}
    assert main(["sweep", "--resume", str(directory), "--no-progress"]) == 0
    records = records_of(directory)
    assert [r["run"] for r in records] == [f"g00{i}-r00" for i in range(4)]
    assert all(r["status"] == "ok" for r in records)
    assert len(openai_server.requests) == 2 * sum(
        int(r["values"]["rounds"]) for r in records if r["run"] not in before)
    for record in records:
        assert (directory / record["dir"] / "transcript.jsonl").exists()
    assert not (directory / ".work").exists()


def test_sweep_file(exp, openai_server, tmp_path):
    (tmp_path / "sweep.yaml").write_text("experiment: exp.yaml\ngrid: {rounds: [1, 2]}\n"
                                         "repeat: 2\nseed: 3\nset: {vars.rounds: 1}\n")
    sweep = plan(tmp_path / "sweep.yaml", grid={"rounds": [2]})  # a flag wins over the file
    assert [r.values for r in sweep.runs] == [{"rounds": 2}] * 2
    assert [r.seed for r in sweep.runs] == [3, 4] and sweep.experiment == str(exp)
    (tmp_path / "bad.yaml").write_text("experiment: exp.yaml\nrepeats: 2\n")
    with pytest.raises(ConfigError, match="repeats"):
        plan(tmp_path / "bad.yaml")


def test_sweep_help_lists_the_options(capsys):
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    out = capsys.readouterr().out
    for option in ("--grid", "--repeat", "--jobs", "--executor", "--address", "--resume"):
        assert option in out


def test_ray_is_imported_only_by_the_ray_executor(exp, tmp_path):
    code = (
        "import sys\n"
        "from agentscope_legacy.cli import main\n"
        f"rc = main(['sweep', {str(exp)!r}, '--grid', 'rounds=1,2', '-j', '1', "
        "'--no-progress'])\n"
        "print('RESULT', rc, 'ray' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    assert "RESULT 0 False" in result.stdout, result.stderr
