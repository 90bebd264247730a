"""The Studio, both sides on the wire: the built-in server under a real uvicorn on 127.0.0.1,
this project's client (``init(studio_url=...)``) pushing to it from runs whose model is the
real openai SDK against the loopback emulator, a 0.1.x-shaped script (plain HTTP pushes and a
socket.io client, as 0.1.6 does), and the server's answers to bad input.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
requests = pytest.importorskip("requests")

import agentscope_legacy  # noqa: E402
from agentscope_legacy._runtime import Runtime, get_runtime, set_runtime  # noqa: E402
from agentscope_legacy._web import bind, uvicorn_options  # noqa: E402
from agentscope_legacy.agents import DialogAgent, UserAgent  # noqa: E402
from agentscope_legacy.errors import ConfigError  # noqa: E402
from agentscope_legacy.message import Msg  # noqa: E402
from agentscope_legacy.studio import StudioError, create_studio_app  # noqa: E402
from tests.emulators.fixtures import emulator_fixture  # noqa: E402
from tests.emulators.openai_compat import OpenAIEmulator  # noqa: E402

openai_server = emulator_fixture(OpenAIEmulator, "openai_server")
KEY = "sk-test-studio-0123456789abcdef"
TIMEOUT = 10.0


class Studio:
    """``create_studio_app(save_dir)`` under uvicorn in a thread, on a free loopback port."""

    def __init__(self, save_dir: Path, port: int = 0, **kwargs: Any) -> None:
        self.app = create_studio_app(save_dir, **kwargs)
        self.requests: list[str] = []  # "METHOD path?query" of every HTTP request, in order

        async def counted(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                query = scope["query_string"].decode()
                self.requests.append(f"{scope['method']} {scope['path']}"
                                     + (f"?{query}" if query else ""))
            await self.app(scope, receive, send)

        sock, _ = bind("127.0.0.1", port)  # as `agentscope-legacy studio` binds
        self.port = sock.getsockname()[1]
        options = {**uvicorn_options("127.0.0.1", self.port), "log_config": None}
        self.server = uvicorn.Server(uvicorn.Config(counted, **options))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       daemon=True)
        self.thread.start()
        deadline = time.monotonic() + TIMEOUT
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def live(self) -> Any:
        return self.app.state.live

    def get(self, path: str) -> Any:
        return requests.get(self.url + path, timeout=TIMEOUT)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return requests.post(self.url + path, json=body, timeout=TIMEOUT, **kwargs)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(TIMEOUT)


def until(predicate: Any, timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def studio(tmp_path):
    served = Studio(tmp_path / "runs")
    yield served
    served.stop()


@pytest.fixture
def fresh_runtime():
    previous = get_runtime()
    yield
    runtime = get_runtime()
    if runtime.studio is not None:
        from agentscope_legacy.studio import detach

        detach(runtime)
    set_runtime(previous).monitor.close()


def model_config(server: OpenAIEmulator) -> dict[str, Any]:
    return {"config_name": "emu", "model_type": "openai_chat", "model_name": "gpt-4o-mini",
            "base_url": server.base_url + "/v1", "api_key": KEY, "stream": True,
            "max_retries": 0}


def start_run(tmp_path: Path, server: OpenAIEmulator, studio_url: str | None,
              name: str = "watched") -> Runtime:
    agentscope_legacy.init(model_configs=[model_config(server)], save_dir=str(tmp_path / "runs"),
                           name=name, runtime_id=f"run_{name}", save_api_invoke=True,
                           allow_replace=True, logger_level="WARNING", studio_url=studio_url)
    return get_runtime()


# -- the client against the built-in Studio ------------------------------------------------------
def test_a_run_streams_into_the_studio_one_bubble_per_reply(
        studio, openai_server, tmp_path, fresh_runtime, capsys):
    text = "Cats sleep sixteen hours a day, and they are proud of it."
    openai_server.set_reply(text=text, chunks=[text[i:i + 4] for i in range(0, len(text), 4)])
    runtime = start_run(tmp_path, openai_server, studio.url)
    agent = DialogAgent("Alice", sys_prompt="You are Alice.", model_config_name="emu")
    reply = agent(Msg("user", "Tell me about cats.", "user"))
    assert reply.content == text
    runtime.studio.flush()
    live = until(lambda: studio.live.runs.get("run_watched"))
    (message,) = live["messages"].values()  # every chunk replaced the same bubble
    assert message["name"] == "Alice" and message["text"] == text and message["last"] is True
    (record,) = until(lambda: live["invocations"])
    assert record["configName"] == "emu" and record["usage"]["total_tokens"] > 0
    # The page's view of the run: the saved files and the pushes, never the key.
    page = studio.get("/api/runs/run_watched")
    assert page.status_code == 200 and KEY not in page.text
    data = page.json()
    assert [m["text"] for m in data["messages"]][-1] == text
    assert data["usage"][0]["calls"] == 1
    assert studio.get("/api/runs/run_watched/usage").json()[0]["calls"] == 1
    whole = studio.get("/api/runs/run_watched/invocations/0")
    assert whole.status_code == 200 and "arguments" in whole.json() and KEY not in whole.text
    assert KEY not in json.dumps(record)
    from agentscope_legacy.studio import detach

    detach(runtime)
    assert until(lambda: live["run"]["status"] == "finished")
    runs = studio.get("/api/runs").json()
    assert [r["id"] for r in runs] == ["run_watched"] and runs[0]["tokens"] > 0


def test_what_goes_together_is_one_trpc_batch_request(studio, openai_server, tmp_path,
                                                      fresh_runtime):
    """registerRun's answer says the built-in Studio takes batches: the end of a reply and
    its invocation then go as one ``/trpc/pushMessage,pushModelInvocation?batch=1``."""
    openai_server.set_reply(text="Short.", chunks=["Sh", "ort."])
    runtime = start_run(tmp_path, openai_server, studio.url, name="batched")
    agent = DialogAgent("Alice", sys_prompt="You are Alice.", model_config_name="emu")
    for _ in range(3):
        agent(Msg("user", "Go.", "user"))
    assert runtime.studio.flush()
    live = studio.live.runs["run_batched"]
    assert [m["text"] for m in live["messages"].values()] == ["Short."] * 3
    assert len(live["invocations"]) == 3
    batches = [r for r in studio.requests if r.endswith("?batch=1")]
    assert batches and all(r.startswith("POST /trpc/") for r in batches)
    assert any(set(r.split()[1][6:-8].split(",")) == {"pushMessage", "pushModelInvocation"}
               for r in batches)
    assert studio.requests[0] == "POST /trpc/registerRun"  # alone: batches come after it
    assert len(studio.requests) < 1 + 2 * 3  # fewer requests than pushes


def test_a_trpc_batch_answers_each_call_in_order(studio):
    url = studio.url + "/trpc/registerRun,pushMessage,noSuchThing,pushMessage?batch=1"
    body = {"0": {"id": "run_b", "status": "running"},
            "1": {"runId": "run_b", "replyId": "m1", "msg": {"id": "m1", "content": "hi"}},
            "2": {},
            "3": {"runId": "run_b", "msg": "not an object"}}
    answer = requests.post(url, json=body, timeout=TIMEOUT)
    assert answer.status_code == 207  # mixed, as tRPC answers
    results = answer.json()
    assert results[:2] == [{"result": {"data": {"ok": True}}}] * 2
    assert [r["error"]["data"]["httpStatus"] for r in results[2:]] == [404, 400]
    assert [m["text"] for m in studio.live.runs["run_b"]["messages"].values()] == ["hi"]
    invocation = {"runId": "run_b", "configName": "emu", "modelName": "m",
                  "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}
    assert studio.post("/trpc/pushModelInvocation", invocation).status_code == 200
    (row,) = studio.get("/api/runs/run_b/usage").json()  # a run with no files: its pushes
    assert (row["config_name"], row["calls"], row["total_tokens"]) == ("emu", 1, 7)
    same = requests.post(studio.url + "/trpc/pushMessage,pushMessage?batch=1",
                         json={"0": body["1"], "1": body["1"]}, timeout=TIMEOUT)
    assert same.status_code == 200 and len(same.json()) == 2
    one = requests.post(studio.url + "/trpc/pushMessage?batch=1", json={"0": body["1"]},
                        timeout=TIMEOUT)  # a batch of one, as tRPC's batch link sends it
    assert one.status_code == 200 and one.json() == [{"result": {"data": {"ok": True}}}]
    assert requests.get(url, timeout=TIMEOUT).status_code == 405
    many = ",".join(["pushMessage"] * 65)
    assert requests.post(f"{studio.url}/trpc/{many}?batch=1", json={},
                         timeout=TIMEOUT).status_code == 413
    assert requests.post(url, data=b"[1]", timeout=TIMEOUT).status_code == 400
    assert requests.post(url, json=body, headers={"Origin": "https://evil.example"},
                         timeout=TIMEOUT).status_code == 403


def test_chunks_coalesce_and_pushing_never_blocks_the_speaker(studio):
    from agentscope_legacy.studio import StudioClient

    client = StudioClient(studio.url, {"id": "run_fast", "name": "fast"}, interval=0.05)
    msg = Msg("Bob", "", "assistant")
    started = time.perf_counter()
    for i in range(2000):
        msg.content += "x"
        client.on_speak(msg, i == 1999)
    spent = time.perf_counter() - started
    client.close()
    live = studio.live.runs["run_fast"]
    (bubble,) = live["messages"].values()
    assert bubble["text"] == "x" * 2000 and bubble["last"] is True
    assert live["run"]["status"] == "finished"
    assert spent < 1.0  # 2,000 chunks are only stored: nothing waited for the Studio


def test_a_user_agent_turn_is_answered_from_the_studio(
        studio, openai_server, tmp_path, fresh_runtime):
    pytest.importorskip("socketio")
    runtime = start_run(tmp_path, openai_server, studio.url, name="asks")
    user = UserAgent("Ann")
    answers: list[Any] = []
    thread = threading.Thread(target=lambda: answers.append(user()), daemon=True)
    thread.start()
    inputs = until(lambda: studio.get("/api/runs/run_asks").json()["inputs"])
    assert inputs[0]["agentName"] == "Ann"
    ok = studio.post("/api/runs/run_asks/input", {"requestId": inputs[0]["requestId"],
                                                  "text": "Hello from the page"})
    assert ok.status_code == 200, ok.text
    thread.join(TIMEOUT)
    assert answers and answers[0].content == "Hello from the page"
    runtime.studio.flush()
    texts = [m["text"] for m in studio.live.runs["run_asks"]["messages"].values()]
    assert texts == ["Hello from the page"]  # the answer is spoken, so the page shows it
    unknown = studio.post("/api/runs/run_asks/input", {"requestId": "nope", "text": "x"})
    assert unknown.status_code == 404


def test_a_studio_that_dies_mid_run_costs_one_warning_and_nothing_in_the_run_dir(
        openai_server, tmp_path, fresh_runtime):
    from loguru import logger

    warnings: list[str] = []
    served = Studio(tmp_path / "runs")
    try:
        runtime = start_run(tmp_path, openai_server, served.url, name="orphan")
        sink = logger.add(lambda m: warnings.append(str(m)), level="WARNING")  # after init's
        agent = DialogAgent("Alice", sys_prompt="You are Alice.", model_config_name="emu")
        agent(Msg("user", "one", "user"))
        runtime.studio.flush()
        assert len(served.live.runs["run_orphan"]["messages"]) == 1
    finally:
        served.stop()
    for turn in ("two", "three"):
        agent(Msg("user", turn, "user"))
    runtime.studio.flush()
    studio_warnings = [w for w in warnings if "Studio" in w]
    assert len(studio_warnings) == 1 and "goes on" in studio_warnings[0]
    chat = (runtime.run_dir / "logging.chat").read_text().splitlines()
    assert len([line for line in chat if '"Alice"' in line]) == 3
    assert len((runtime.run_dir / "invocations.jsonl").read_text().splitlines()) == 3
    with pytest.raises(StudioError):
        UserAgent("Ann")()  # the one place the Studio is needed: a clear error
    logger.remove(sink)


def test_a_studio_that_is_down_from_the_start_never_stops_the_run(
        openai_server, tmp_path, fresh_runtime):
    from loguru import logger

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    runtime = start_run(tmp_path, openai_server, url, name="alone")
    warnings: list[str] = []
    sink = logger.add(lambda m: warnings.append(str(m)), level="WARNING")
    agent = DialogAgent("Alice", sys_prompt="You are Alice.", model_config_name="emu")
    assert agent(Msg("user", "hi", "user")).content == "Hello!"
    runtime.studio.flush()
    logger.remove(sink)
    assert len([w for w in warnings if "not reachable" in w]) <= 1
    assert (runtime.run_dir / "logging.chat").read_text().count('"Alice"') == 1


def test_init_refuses_a_studio_url_that_is_no_url(tmp_path, fresh_runtime):
    with pytest.raises(ConfigError, match="studio_url"):
        agentscope_legacy.init(save_dir=str(tmp_path), studio_url="127.0.0.1:5000")


# -- a 0.1.x script: its own pushes and socket.io ------------------------------------------------
def test_an_unmodified_0_1_x_script_streams_and_gets_its_input(studio):
    socketio = pytest.importorskip("socketio")
    run = {"id": "run_20240101-000000_abc123", "project": "p", "name": "abc123",
           "timestamp": "2024-01-01 00:00:00", "run_dir": "/nowhere", "pid": 1,
           "status": "running"}
    assert studio.post("/trpc/registerRun", run).status_code == 200
    for text in ("Hel", "Hello", "Hello there"):  # 0.1.6's pre-speak hook, per chunk
        body = {"runId": run["id"], "replyId": "r1", "name": "r1", "role": "assistant",
                "msg": {"id": "m1", "name": "Bob", "role": "assistant",
                        "content": [{"type": "text", "text": text}], "metadata": None,
                        "timestamp": "2024-01-01 00:00:01"}}
        assert studio.post("/trpc/pushMessage", body).status_code == 200
    # 0.1.0-0.1.4's route
    old = {"run_id": run["id"], "id": "m2", "name": "Carol", "role": "assistant",
           "content": "Old style", "timestamp": "t", "metadata": None, "url": None}
    assert studio.post("/api/messages/push", old).status_code == 200
    invocation = {"id": "i1", "runId": run["id"], "timestamp": "t", "modelName": "gpt",
                  "modelType": "openai_chat", "configName": "c",
                  "arguments": {"api_key": KEY}, "response": {}, "usage": {"total_tokens": 7}}
    assert studio.post("/trpc/pushModelInvocation", invocation).status_code == 200
    page = studio.get(f"/api/runs/{run['id']}").json()
    assert [(m["name"], m["text"]) for m in page["messages"]] == [
        ("Bob", "Hello there"), ("Carol", "Old style")]
    assert KEY not in json.dumps(page) and page["usage"][0]["total_tokens"] == 7

    got: list[Any] = []
    sio = socketio.Client()
    sio.on("forwardUserInput", lambda rid, blocks, structured: got.append((rid, blocks)),
           namespace="/python")
    sio.connect(studio.url, namespaces=["/python"], auth={"run_id": run["id"]})
    try:
        ask = {"requestId": "q1", "runId": run["id"], "agentId": "a1", "agentName": "User",
               "structuredInput": None}
        assert studio.post("/trpc/requestUserInput", ask).status_code == 200
        assert studio.post(f"/api/runs/{run['id']}/input",
                           {"requestId": "q1", "text": "yes"}).status_code == 200
        until(lambda: got)
        assert got == [("q1", [{"type": "text", "text": "yes"}])]
    finally:
        sio.disconnect()


# -- the server's answers to bad input -----------------------------------------------------------
def test_bad_pushes_get_a_4xx_and_the_server_goes_on(tmp_path):
    served = Studio(tmp_path / "runs", max_push_bytes=4096)
    try:
        url = served.url + "/trpc/pushMessage"
        cases = [
            requests.post(url, data=b"{not json", timeout=TIMEOUT),
            requests.post(url, json=[1, 2], timeout=TIMEOUT),
            requests.post(url, json={"runId": "r", "msg": "text"}, timeout=TIMEOUT),
            requests.post(url, json={"runId": "../x", "msg": {}}, timeout=TIMEOUT),
            requests.post(url, json={"runId": "r", "msg": {"content": "x" * 10000}},
                          timeout=TIMEOUT),
            requests.post(url, json={"runId": "r", "replyId": "a", "msg": {}},
                          headers={"Origin": "https://evil.example"}, timeout=TIMEOUT),
            requests.post(served.url + "/trpc/registerRun", json={"status": "running"},
                          timeout=TIMEOUT),
        ]
        assert [c.status_code for c in cases] == [400, 400, 400, 400, 413, 403, 400]
        ok = requests.post(url, json={"runId": "r", "replyId": "a", "msg": {"content": "hi"}},
                           headers={"Origin": served.url}, timeout=TIMEOUT)
        assert ok.status_code == 200
    finally:
        served.stop()


def test_the_page_reads_only_inside_the_save_directory(tmp_path):
    runs = tmp_path / "runs"
    run = runs / "run_ok"
    (run / "audio").mkdir(parents=True)
    (run / ".config").write_text(json.dumps({"name": "ok", "timestamp": "2024", "pid": -1}))
    (run / "audio" / "m1.wav").write_bytes(b"RIFF....WAVE")
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / ".config").write_text("{}")
    (tmp_path / "secret" / "x.wav").write_bytes(b"secret")
    os.symlink(tmp_path / "secret", runs / "run_link")
    os.symlink(tmp_path / "secret" / "x.wav", run / "audio" / "x.wav")
    served = Studio(runs)
    try:
        assert [r["id"] for r in served.get("/api/runs").json()] == ["run_ok"]
        assert served.get("/api/runs/run_ok/audio/m1.wav").content == b"RIFF....WAVE"
        (run / "transcript.jsonl").write_text(
            Msg("Alice", "spoken", "assistant", url=["audio/m1.wav"]).to_json() + "\n")
        (message,) = served.get("/api/runs/run_ok").json()["messages"]
        assert message["audio"] == "m1.wav"  # the page puts a player on it
        for path in ("/api/runs/run_link", "/api/runs/..", "/api/runs/%2e%2e",
                     "/api/runs/run_ok/audio/x.wav", "/api/runs/run_ok/audio/..%2f.config",
                     "/api/runs/run_link/audio/x.wav", "/api/runs/nope"):
            assert served.get(path).status_code == 404, path
        page = served.get("/")
        assert "default-src 'self'" in page.headers["content-security-policy"]
    finally:
        served.stop()


def test_a_run_with_a_torn_last_line_shows_everything_before_it(tmp_path):
    runs = tmp_path / "runs"
    run = runs / "run_torn"
    run.mkdir(parents=True)
    lines = [Msg("Alice", f"line {i}", "assistant").to_json() for i in range(3)]
    (run / "transcript.jsonl").write_text("\n".join(lines) + '\n{"id": "cut", "na')
    (run / "invocations.jsonl").write_text(
        json.dumps({"config_name": "c", "arguments": {"api_key": KEY}}) + "\n{\"cut")
    served = Studio(runs)
    try:
        data = served.get("/api/runs/run_torn").json()
        assert [m["text"] for m in data["messages"]] == ["line 0", "line 1", "line 2"]
        assert len(data["invocations"]) == 1 and KEY not in json.dumps(data)
    finally:
        served.stop()


# -- the command line ----------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]


def test_studio_command_prints_its_url_and_warns_off_loopback(tmp_path):
    import subprocess
    import sys

    for host, warned in (("127.0.0.1", False), ("0.0.0.0", True)):
        proc = subprocess.Popen(
            [sys.executable, "-m", "agentscope_legacy.cli", "studio", "--save-dir",
             str(tmp_path), "--port", "0", "--host", host],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            url = proc.stdout.readline().strip()
            assert url.startswith(f"http://{host}:") and url.endswith("/")
            port = url.rsplit(":", 1)[1].rstrip("/")
            assert requests.get(f"http://127.0.0.1:{port}/api/runs", timeout=TIMEOUT).json() == []
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=TIMEOUT)
        assert ("warning: --host 0.0.0.0" in err) is warned


def test_run_with_studio_streams_an_experiment_into_it(studio, openai_server, tmp_path,
                                                        monkeypatch, fresh_runtime, capsys):
    from agentscope_legacy.cli import main
    from tests.test_experiment import EMULATOR_MODELS, scripted_reply

    monkeypatch.setenv("EMULATOR_URL", openai_server.base_url + "/v1")
    openai_server.set_reply_fn(scripted_reply)
    code = main(["run", str(ROOT / "examples/debate.yaml"), "-m", EMULATOR_MODELS, "--set",
                 f"run.save_dir={tmp_path / 'runs'}", "--no-input", "--studio", studio.url])
    assert code == 0
    (run_id,) = studio.live.runs
    live = studio.live.runs[run_id]
    assert live["run"]["status"] == "finished"
    speakers = {m["name"] for m in live["messages"].values()}
    assert {"alice", "bob", "judge"} <= speakers
    assert len(live["invocations"]) == len(openai_server.requests)
    page = studio.get(f"/api/runs/{run_id}").json()  # the saved transcript, the saved usage
    assert page["messages"] and page["usage"] and KEY not in json.dumps(page)
    assert "sk-test-experiment-0001" not in json.dumps(page)


# -- the runs list's cost and the saved studio_url -----------------------------------------------
def test_the_runs_list_prices_a_run_from_its_saved_prices(studio, openai_server, tmp_path,
                                                          fresh_runtime):
    agent_args = {"sys_prompt": "You are Alice.", "model_config_name": "emu"}
    # Priced by the run's budget; then the same calls with no price anywhere.
    agentscope_legacy.init(model_configs=[model_config(openai_server)],
                           save_dir=str(tmp_path / "runs"), runtime_id="run_priced",
                           allow_replace=True, logger_level="WARNING",
                           budget={"prompt_price": 2.0, "completion_price": 10.0})
    DialogAgent("Alice", **agent_args)(Msg("user", "hi", "user"))
    priced = get_runtime().monitor.spent_in_run.cost
    start_run(tmp_path, openai_server, None, name="unpriced")
    DialogAgent("Alice", **agent_args)(Msg("user", "hi", "user"))
    get_runtime().monitor.close()
    runs = {r["id"]: r for r in studio.get("/api/runs").json()}
    assert priced > 0 and runs["run_priced"]["cost"] == pytest.approx(priced)
    assert runs["run_unpriced"]["cost"] is None and runs["run_unpriced"]["tokens"] > 0
    usage = studio.get("/api/runs/run_priced").json()["usage"]
    assert usage[0]["cost"] == pytest.approx(priced)
    # What the page polls during a run: the same rows, without messages and records.
    assert studio.get("/api/runs/run_priced/usage").json() == usage
    assert studio.get("/api/runs/run_nothing/usage").status_code == 404
    assert studio.get("/api/runs/..%2Fetc/usage").status_code == 404
    # A config's own prices win over the run's, as the monitor charges them.
    state = json.loads((tmp_path / "runs/run_priced/.config").read_text())
    state["model"]["model_configs"][0]["budget"] = {"prompt_price": 0.0,
                                                    "completion_price": 0.0}
    (tmp_path / "runs/run_priced/.config").write_text(json.dumps(state))
    assert studio.get("/api/runs/run_priced").json()["run"]["cost"] == 0.0
    state["monitor"]["budget"] = {"prompt_price": "free"}  # a bad saved price: no price
    del state["model"]["model_configs"][0]["budget"]
    (tmp_path / "runs/run_priced/.config").write_text(json.dumps(state))
    assert studio.get("/api/runs/run_priced").json()["run"]["cost"] is None


def test_the_run_config_says_which_studio_watched_it(studio, openai_server, tmp_path,
                                                     fresh_runtime):
    runtime = start_run(tmp_path, openai_server, studio.url, name="seen")
    assert json.loads((runtime.run_dir / ".config").read_text())["studio"] == {
        "url": studio.url}
    with socket.socket() as sock:  # nobody listens: the URL is saved all the same
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    secret = "studio-pass-0123456789"
    runtime = start_run(tmp_path, openai_server, f"http://ann:{secret}@127.0.0.1:{port}",
                        name="guarded")
    saved = (runtime.run_dir / ".config").read_text()
    assert secret not in saved
    assert json.loads(saved)["studio"]["url"] == f"http://ann:***@127.0.0.1:{port}"
    runtime = start_run(tmp_path, openai_server, None, name="unwatched")
    assert json.loads((runtime.run_dir / ".config").read_text())["studio"] == {"url": None}


def test_log_deltas_calls_a_first_and_last_listener_twice(capsys: Any) -> None:
    """A listener marked ``speak_pieces = False`` (the Studio client) is called for a reply's
    first piece and its end only and still sees every piece in ``parts``; others, each piece."""
    from agentscope_legacy import logging as aslogging

    every: list[tuple[int, bool]] = []
    ends: list[tuple[int, bool]] = []

    def each(msg: Any, last: bool) -> None:
        every.append((len(msg.parts), last))

    def two(msg: Any, last: bool) -> None:
        ends.append((len(msg.parts), last))

    two.speak_pieces = False  # type: ignore[attr-defined]
    aslogging.speak_listeners.extend([each, two])
    try:
        aslogging.log_deltas("bot", ["a", "b", "c", "d"])
    finally:
        aslogging.speak_listeners.remove(each)
        aslogging.speak_listeners.remove(two)
    assert every == [(1, False), (2, False), (3, False), (4, False), (4, True)]
    assert ends == [(1, False), (4, True)]
    assert "abcd" in capsys.readouterr().out


# -- the page's event stream ---------------------------------------------------------------------
def test_the_event_stream_carries_every_push_and_lets_a_gone_page_go(studio):
    from agentscope_legacy.studio._http import connect, read_response, request_bytes

    events = requests.get(studio.url + "/api/events", stream=True, timeout=TIMEOUT)
    assert events.headers["content-type"].startswith("text/event-stream")
    lines = events.iter_lines()
    assert next(lines) == b": connected"
    until(lambda: studio.live.subscribers)
    # Three pushes in one write (as the client pipelines them): three events, in order.
    bodies = [{"runId": "run_sse", "replyId": "r1", "last": i == 2,
               "msg": {"id": "r1", "name": "Alice", "role": "assistant",
                       "content": "Hello" + "!" * i}} for i in range(3)]
    sock = connect(studio.url, TIMEOUT)
    with sock:
        sock.sendall(b"".join(request_bytes(f"127.0.0.1:{studio.port}", "/trpc/pushMessage",
                                            json.dumps(b).encode()) for b in bodies))
        buffer = bytearray()
        assert [read_response(sock, buffer=buffer)[:2] for _ in bodies] == [
            (200, b'{"ok":true,"batch":true}')] * 3
    got = []
    for line in lines:
        if line.startswith(b"data: "):
            got.append(json.loads(line[6:]))
            if len(got) == 3:
                break
    assert [(e["type"], e["data"]["text"], e["data"]["last"]) for e in got] == [
        ("message", "Hello", False), ("message", "Hello!", False), ("message", "Hello!!", True)]
    # An invocation's event is its summary; the page fetches the whole record by index.
    record = {"runId": "run_sse", "configName": "emu", "modelName": "m",
              "arguments": {"messages": [{"role": "user", "content": "long prompt"}]},
              "response": {"text": "Hello!!"}, "usage": {"total_tokens": 5}}
    assert studio.post("/trpc/pushModelInvocation", record).status_code == 200
    event = next(json.loads(line[6:]) for line in lines if line.startswith(b"data: "))
    assert event["type"] == "invocation" and event["data"]["index"] == 0
    assert "arguments" not in event["data"] and "response" not in event["data"]
    assert event["data"]["configName"] == "emu" and event["data"]["usage"]["total_tokens"] == 5
    whole = studio.get("/api/runs/run_sse/invocations/0").json()
    assert whole["arguments"] == record["arguments"] and whole["response"] == record["response"]
    assert studio.get("/api/runs/run_sse/invocations/1").status_code == 404
    assert studio.get("/api/runs/run_nothing/invocations/0").status_code == 404
    events.close()
    until(lambda: not studio.live.subscribers)  # the server noticed and let it go


def test_a_push_route_takes_only_post(studio):
    answer = studio.get("/trpc/pushMessage")
    assert answer.status_code == 405 and answer.json() == {"detail": "Method Not Allowed"}
    assert studio.get("/api/nothing-here").status_code == 404  # FastAPI's, behind the pushes
