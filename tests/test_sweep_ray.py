"""``sweep --executor ray`` on a local Ray (2 CPUs) started by the tests: runs as Ray tasks,
run directories gathered from the workers, keys through the runtime env only, a killed
worker retried once; and a small sweep on the local model (slow)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from agentscope_legacy.cli import main
from tests.test_sweep import EXPERIMENT, KILLER, records_of, sweep_dir_of

ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")
ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # a Ray start takes seconds

SECRET_KEY = "sk-sweep-ray-secret-4c1d7e"
KEYED_MODELS = """\
- config_name: local
  model_type: openai_chat
  model_name: emulated-local
  base_url: ${EMULATOR_URL}
  api_key: ${SWEEP_RAY_KEY}
  stream: true
  max_retries: 0
"""


@pytest.fixture(scope="module")
def local_ray():
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def exp(tmp_path, openai_server, monkeypatch):
    monkeypatch.setenv("EMULATOR_URL", openai_server.base_url + "/v1")
    monkeypatch.setenv("SWEEP_RAY_KEY", SECRET_KEY)
    openai_server.set_reply(text="I agree with you.")
    (tmp_path / "models.yaml").write_text(KEYED_MODELS)
    file = tmp_path / "exp.yaml"
    file.write_text(EXPERIMENT.replace(str(ROOT / "tests/data/experiments/emulator_models.yaml"),
                                       str(tmp_path / "models.yaml"))
                    .replace("run: {name: pingpong}",
                             f"run: {{name: pingpong, save_dir: {tmp_path / 'runs'}}}"))
    return file


def test_ray_runs_each_point_as_a_task_and_gathers_its_directory(local_ray, exp, openai_server,
                                                                 tmp_path, capsys):
    rc = main(["sweep", str(exp), "--grid", "rounds=1,2", "--repeat", "2", "--executor", "ray",
               "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 0, err
    directory = sweep_dir_of(tmp_path)
    records = records_of(directory)
    assert [r["metrics"]["messages"] for r in records] == [2, 2, 4, 4]
    assert all(r["status"] == "ok" and r["attempts"] == 1 for r in records)
    for record in records:  # written on the worker, gathered to the sweep directory
        run_dir = directory / record["dir"]
        assert len((run_dir / "transcript.jsonl").read_text().splitlines()) == \
            record["metrics"]["messages"]
        assert (run_dir / "invocations.jsonl").exists() and (run_dir / "usage.txt").exists()
    # The key reached the workers (the server saw it), and is in no file of the sweep nor of
    # Ray's session (its logs: Ray's runtime env would have put it in runtime_env_agent.log).
    assert len(openai_server.requests) == 12
    assert {r.headers.get("authorization") for r in openai_server.requests} == {
        f"Bearer {SECRET_KEY}"}
    session = Path(ray._private.worker._global_node.get_session_dir_path())
    for root in (directory, session):
        for path in root.rglob("*"):
            if path.is_file():
                assert SECRET_KEY.encode() not in path.read_bytes(), path


def test_a_killed_ray_worker_is_retried_once_then_recorded_as_failed(local_ray, exp, tmp_path):
    (tmp_path / "killer.py").write_text(KILLER)
    text = exp.read_text().replace("pipeline:", f"  k: {{class: killer.Killer, marker: "
                                   f"{tmp_path}/m}}\npipeline:")
    exp.write_text(text.replace("steps: [ping, pong]", "steps: [k]"))
    rc = main(["sweep", str(exp), "--grid", "agents.k.always=false,true", "--executor", "ray",
               "--no-progress"])
    assert rc == 1
    survived, killed = records_of(sweep_dir_of(tmp_path))
    assert survived["status"] == "ok" and survived["attempts"] == 2
    assert killed["status"] == "failed" and killed["attempts"] == 2
    assert "the Ray worker was lost" in killed["error"] and "attempt 2 of 2" in killed["error"]


def test_a_small_sweep_on_the_local_model(local_ray, tmp_path, capsys):
    from tests.local_runtimes import ANY_RUNTIME

    if not ANY_RUNTIME:
        pytest.skip("needs the [local] extra")
    file = tmp_path / "exp.yaml"
    file.write_text(
        "model_configs:\n"
        "  - {config_name: local, model_type: llamacpp_chat, n_ctx: 512, n_threads: 1,\n"
        "     generate_args: {max_tokens: 4, temperature: 0.7, seed: 42}}\n"
        "agents:\n  a: {class: DialogAgent, model: local, sys_prompt: Be brief.}\n"
        "pipeline:\n  - say: Name a colour.\n  - a\n"
        "metrics:\n  words: {regex: '\\w'}\n  tokens: usage.completion_tokens\n"
        f"run: {{save_dir: {tmp_path / 'runs'}}}\n")
    rc = main(["sweep", str(file), "--grid", "model_configs[0].generate_args.max_tokens=4,8",
               "--executor", "ray", "--no-progress"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    records = records_of(sweep_dir_of(tmp_path))
    assert [r["status"] for r in records] == ["ok", "ok"]
    assert all(r["metrics"]["words"] is True for r in records)
    assert [r["metrics"]["tokens"] <= n for r, n in zip(records, (4, 8), strict=True)] == [True] * 2
    assert "max_tokens" in out  # the summary names the grid path
    assert json.loads((sweep_dir_of(tmp_path) / "sweep.json").read_text())["grid"]
    assert os.path.isdir(sweep_dir_of(tmp_path) / records[0]["dir"])


@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT")
def test_ctrl_c_stops_a_ray_sweep_and_resume_finishes_it(exp, openai_server, tmp_path):
    import signal
    import subprocess

    from tests.emulators.base import Fault
    from tests.test_sweep import _start, _wait_for_records

    openai_server.add_fault(Fault(delay=0.2, times=100_000), "/v1/chat")
    proc = _start(exp, tmp_path, "--grid", "rounds=1,2,3,4,5,6", "--executor", "ray", "-j", "2")
    try:
        directory = _wait_for_records(tmp_path, proc, 1)
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = (tmp_path / "err").read_text()
    assert rc == 130, err
    assert "interrupted:" in err and "Traceback" not in err
    done = {r["run"] for r in records_of(directory)}
    assert 1 <= len(done) < 6
    # No --executor: the sweep goes on as it ran (sweep.json says how).
    result = subprocess.run([sys.executable, "-m", "agentscope_legacy.cli", "sweep", "--resume",
                             str(directory), "--no-progress"],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert " s on ray (" in result.stderr and "done before)" in result.stderr
    records = records_of(directory)
    assert [r["run"] for r in records] == [f"g00{i}-r00" for i in range(6)]
    assert all(r["status"] == "ok" for r in records)
