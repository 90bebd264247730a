"""The Studio page in a real browser: headless Debian Chromium (Selenium through
/usr/bin/chromedriver) on the built-in Studio at 127.0.0.1, while ``run --studio`` runs the
debate example against the loopback OpenAI emulator (the real openai SDK, a slow stream): the
page shows a reply before the run ends and sees it grow, then the usage table.

A screenshot is kept under ``$VOICE_TEST_ARTIFACTS`` (default ``tests/artifacts``), as the
voice page's test does. Skips without chromium, chromedriver or selenium.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow
if not (Path("/usr/bin/chromium").exists() and Path("/usr/bin/chromedriver").exists()):
    pytest.skip("needs Debian's chromium and chromium-driver", allow_module_level=True)
pytest.importorskip("selenium")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from tests.emulators.base import StreamReply  # noqa: E402
from tests.emulators.fixtures import ensure_no_proxy  # noqa: E402
from tests.emulators.openai_compat import OpenAIEmulator  # noqa: E402
from tests.test_realtime_browser import CHROMEDRIVER, CHROMIUM, _screenshot  # noqa: E402
from tests.test_studio import Studio  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class SlowOpenAI(OpenAIEmulator):
    """Streams each chunk after a pause, so that a reply visibly grows on the page."""

    chunk_delay = 0.08

    def _chat(self, req: Any) -> Any:
        reply = super()._chat(req)
        if isinstance(reply, StreamReply):
            reply.chunk_delay = self.chunk_delay
        return reply


def _browser() -> Any:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1200,900", "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def test_the_page_shows_a_reply_growing_during_a_run_then_the_usage(tmp_path, monkeypatch):
    from agentscope_legacy._runtime import get_runtime, set_runtime
    from agentscope_legacy.cli import main
    from tests.test_experiment import EMULATOR_MODELS, scripted_reply

    ensure_no_proxy()
    server = SlowOpenAI().start()
    server.set_reply_fn(lambda body: {**scripted_reply(body),
                                      "chunks": list(scripted_reply(body)["text"])})
    monkeypatch.setenv("EMULATOR_URL", server.base_url + "/v1")
    studio = Studio(tmp_path / "runs")
    driver = _browser()
    previous = get_runtime()
    try:
        driver.get(studio.url + "/")
        WebDriverWait(driver, 20).until(
            lambda d: d.find_element(By.ID, "conn").text == "live")
        codes: list[int] = []
        run = threading.Thread(target=lambda: codes.append(main([
            "run", str(ROOT / "examples/debate.yaml"), "-m", EMULATOR_MODELS, "--set",
            f"run.save_dir={tmp_path / 'runs'}", "--no-input", "--studio", studio.url])),
            daemon=True)
        run.start()
        row = WebDriverWait(driver, 20).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#runs tbody tr"))[0]
        row.click()
        # A bubble still growing while the run goes on, then the same bubble longer.
        first = WebDriverWait(driver, 20, poll_frequency=0.05).until(lambda d: next(
            (c for c in d.execute_script("return window.studioTest.chunks")
             if c["last"] is False), None))
        assert run.is_alive(), "the reply showed only after the run ended"
        WebDriverWait(driver, 20, poll_frequency=0.05).until(lambda d: any(
            c["id"] == first["id"] and c["length"] > first["length"]
            for c in d.execute_script("return window.studioTest.chunks")))
        bubble = driver.find_element(By.ID, f"msg-{first['id']}")
        assert bubble.find_element(By.CLASS_NAME, "text").text
        run.join(60)
        assert codes == [0]
        WebDriverWait(driver, 20).until(
            lambda d: d.execute_script("return window.studioTest.usageRows") >= 1)
        rows = driver.find_elements(By.CSS_SELECTOR, "#usage tbody tr")
        assert rows and "emulated-local" in rows[0].text
        # A record pushed live is fetched whole when it is opened.
        (summary, *_) = driver.find_elements(By.CSS_SELECTOR, "#invocations details summary")
        summary.click()
        WebDriverWait(driver, 20).until(lambda d: '"arguments"' in d.find_element(
            By.CSS_SELECTOR, "#invocations details pre").get_attribute("textContent"))
        assert any("/invocations/0" in name for name in driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"))
        WebDriverWait(driver, 20).until(
            lambda d: "finished" in d.find_element(By.CSS_SELECTOR, "#runs tbody").text)
        assert "emulated-local" in driver.find_element(By.CSS_SELECTOR, "#runs tbody").text
        errors = driver.execute_script("return window.studioTest.errors")
        assert errors == []
        _screenshot(driver, "studio")
    except BaseException:
        _screenshot(driver, "studio-failed")
        raise
    finally:
        driver.quit()
        studio.stop()
        server.stop()
        set_runtime(previous).monitor.close()


def _wav(path: Path, seconds: float = 0.6, rate: int = 16000) -> None:
    """A real PCM WAV (a 440 Hz tone), as a run's voice saves ``audio/<message id>.wav``."""
    import math
    import struct
    import wave

    frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                      for i in range(int(seconds * rate)))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)


def test_a_message_with_saved_audio_gets_a_player_that_loads_and_plays(tmp_path):
    import requests

    from agentscope_legacy.message import Msg

    ensure_no_proxy()
    run = tmp_path / "runs" / "run_voiced"
    (run / "audio").mkdir(parents=True)
    (run / ".config").write_text('{"name": "voiced", "timestamp": "2026-01-01 00:00:00"}')
    spoken = Msg("Alice", "Hello, said aloud.", "assistant")
    _wav(run / "audio" / f"{spoken.id}.wav")  # found by id, as a voice saves it
    silent = Msg("Bob", "No voice here.", "assistant")
    (run / "transcript.jsonl").write_text(spoken.to_json() + "\n" + silent.to_json() + "\n")
    studio = Studio(tmp_path / "runs")
    driver = _browser()
    try:
        driver.get(studio.url + "/")
        WebDriverWait(driver, 20).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#runs tbody tr"))[0].click()
        player = WebDriverWait(driver, 20).until(
            lambda d: d.find_element(By.ID, f"msg-{spoken.id}").find_element(By.TAG_NAME,
                                                                              "audio"))
        assert not driver.find_element(By.ID, f"msg-{silent.id}").find_elements(
            By.TAG_NAME, "audio")
        source = player.get_attribute("src")
        answer = requests.get(source, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "audio/wav"
        assert answer.content == (run / "audio" / f"{spoken.id}.wav").read_bytes()
        # The browser decodes it: metadata and data loaded, then it plays.
        driver.execute_script("arguments[0].load()", player)
        WebDriverWait(driver, 20).until(lambda d: d.execute_script(
            "return arguments[0].readyState", player) >= 2)
        duration = driver.execute_script("return arguments[0].duration", player)
        assert duration == pytest.approx(0.6, abs=0.05)
        driver.execute_script("arguments[0].muted = true; arguments[0].play()", player)
        WebDriverWait(driver, 20).until(lambda d: d.execute_script(
            "return arguments[0].currentTime", player) > 0)
        assert driver.execute_script("return arguments[0].error", player) is None
        assert driver.execute_script("return window.studioTest.errors") == []
        _screenshot(driver, "studio-audio")
    except BaseException:
        _screenshot(driver, "studio-audio-failed")
        raise
    finally:
        driver.quit()
        studio.stop()
