"""The ``agentscope-legacy`` command: ``chat``, ``validate``, ``models``, ``run``, ``say``,
``voice serve`` and ``exec`` (a 0.x script).

Imports are deferred to the subcommand that needs them, so ``--help`` stays instant. One file
over 400 lines on purpose: it is the argument parser and one short function per subcommand,
read top to bottom; the work itself lives in the library.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from . import _cli_models

#: Where ``say`` and ``chat --voice`` look for TTS configs by default.
_TTS_CONFIGS = "configs/tts.yaml"
#: Where ``voice serve`` looks for realtime configs by default.
_REALTIME_CONFIGS = "configs/realtime.yaml"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentscope-legacy",
        description="Run declared LLM model configs (AgentScope 0.x style).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    chat = sub.add_parser("chat", help="chat with a configured model, streaming its replies")
    chat.add_argument(
        "--model-configs",
        "-m",
        nargs="+",
        metavar="FILE",
        help="YAML or JSON model config file(s) (none needed for a provider:model string)",
    )
    chat.add_argument(
        "--config-name",
        "-c",
        required=True,
        help="which config to chat with, or a provider:model string (openai:gpt-4o-mini; a "
        "config of that name wins)",
    )
    chat.add_argument("--once", metavar="PROMPT", help="send one prompt, print the reply, exit")
    chat.add_argument("--system", default="You are a helpful assistant.", help="system prompt")
    chat.add_argument("--name", help="the assistant's display name (default: the config name)")
    stream = chat.add_mutually_exclusive_group()
    stream.add_argument(
        "--stream",
        dest="stream",
        action="store_true",
        default=None,
        help="stream replies (default: as the config says)",
    )
    stream.add_argument("--no-stream", dest="stream", action="store_false")
    chat.add_argument("--save-dir", help="save logs, invocations and usage under this directory")
    chat.add_argument(
        "--usage",
        action="store_true",
        help="print the usage table (calls, tokens in and out, mean latency) to stderr at the "
        "end, also after Ctrl-C",
    )
    chat.add_argument(
        "--voice",
        metavar="TTS_CONFIG",
        help="speak each reply with this TTS config (from --model-configs, else from "
        "--voice-configs) and save it as <message id>.wav in the run's audio directory",
    )
    chat.add_argument(
        "--voice-configs",
        metavar="FILE",
        default=None,
        help=f"where --voice's config is when -m does not have it (default: {_TTS_CONFIGS})",
    )

    say = sub.add_parser(
        "say",
        help="speak a text with a TTS config and write the audio to a file",
        description="Synthesise TEXT with a TTS model config and write it (WAV, or raw PCM16 "
        "for a `format: pcm16` config) to --output.",
    )
    say.add_argument("text", metavar="TEXT", help="what to say ('-': read stdin)")
    say.add_argument(
        "--model-configs",
        "-m",
        nargs="+",
        default=[_TTS_CONFIGS],
        metavar="FILE",
        help=f"YAML or JSON config file(s) (default: {_TTS_CONFIGS})",
    )
    say.add_argument("--config-name", "-c", required=True, help="the TTS config to speak with")
    say.add_argument("--output", "-o", default="speech.wav", help="the file to write")

    validate = sub.add_parser(
        "validate",
        help="validate model config and experiment files; exit 1 on errors",
        description="Validate files: experiment files (a mapping with `agents` or `pipeline`) "
        "as `run --dry-run` does, every other file as model configs. Exit 1 on any error.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE")

    models = sub.add_parser(
        "models", help="list the configs in model config files, or a provider's models"
    )
    models.add_argument("files", nargs="*", metavar="FILE")
    _cli_models.add_provider_arguments(models)

    run = sub.add_parser(
        "run",
        help="run a multi-agent experiment file",
        description="Run an experiment file: agents and a pipeline declared in YAML. Exit "
        "codes: 0 done, 1 invalid file or failed run, 130 interrupted (Ctrl-C).",
    )
    run.add_argument("file", metavar="EXPERIMENT", help="the experiment YAML file")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a value before validation, e.g. agents.judge.model=gpt-4o or rounds=5 "
        "(a variable from vars); the value is read as YAML; repeatable",
    )
    run.add_argument(
        "--model-configs",
        "-m",
        action="append",
        metavar="FILE",
        help="use this model config file instead of the experiment's model_configs; repeatable",
    )
    run.add_argument(
        "--tts-configs",
        "-t",
        action="append",
        metavar="FILE",
        help="where an agent's `tts` config is when the experiment's model configs do not "
        f"have it (default: {_TTS_CONFIGS}, if it exists); repeatable",
    )
    run.add_argument(
        "--play",
        action="store_true",
        help="play each spoken message's WAV through aplay, afplay or paplay (the first on "
        "PATH; without one, say so once and go on)",
    )
    run.add_argument(
        "--dry-run", action="store_true", help="validate and show the plan; call no model"
    )
    run.add_argument("--quiet", "-q", action="store_true", help="print only the final message")
    run.add_argument(
        "--no-input",
        action="store_true",
        help="never ask at the terminal: user agents use their scripted inputs",
    )
    run.add_argument("--studio", metavar="URL",
                     help="watch the run in the Studio at URL (sets the experiment's "
                     "run.studio), e.g. http://127.0.0.1:5000")
    run.add_argument(
        "--replay",
        metavar="RUN_DIR",
        help="answer every model call from the record of an earlier run of this experiment "
        "(its run directory; a sweep's directory replays each of its runs), with the "
        "recorded run's --set values applied first; no model is called",
    )
    run.add_argument(
        "--replay-missing",
        choices=("error", "call"),
        default="error",
        help="a request the record lacks: an error naming the first difference (default), "
        "or sent to the model (call)",
    )
    _voice_parser(sub)
    from .compat._exec import add_exec_parser

    add_exec_parser(sub)
    from .studio._cli import add_studio_parser

    add_studio_parser(sub)
    from .sweep.cli import add_sweep_parser

    add_sweep_parser(sub)
    return parser


def _voice_parser(sub: Any) -> None:
    voice = sub.add_parser("voice", help="realtime voice agents in the browser")
    voice_sub = voice.add_subparsers(dest="voice_command", required=True)
    serve = voice_sub.add_parser(
        "serve",
        help="serve the voice page and its websocket backend (FastAPI under uvicorn)",
        description="Serve the voice page: open the printed URL, press the mic button and "
        "talk to a RealtimeAgent over the realtime config's model (one model per browser "
        "session). Needs the [realtime] extra.",
    )
    serve.add_argument(
        "--model-configs",
        "-m",
        nargs="+",
        default=[_REALTIME_CONFIGS],
        metavar="FILE",
        help=f"realtime config file(s) (default: {_REALTIME_CONFIGS})",
    )
    serve.add_argument("--config-name", "-c", required=True, help="the realtime config")
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to bind (default: 127.0.0.1; anything but loopback serves the "
        "agent to the network: a warning is printed)",
    )
    serve.add_argument("--port", type=int, default=8000, help="default: 8000; 0 picks one")
    serve.add_argument("--name", help="the agent's name (default: the config's agent_name)")
    serve.add_argument("--sys-prompt", help="the agent's system prompt (default: the config's)")
    serve.add_argument("--max-sessions", type=int, default=8, help="open sessions at most")
    serve.add_argument(
        "--idle-timeout", type=float, default=300.0, help="close a session silent this long (s)"
    )
    serve.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="another page origin that may connect (e.g. https://example.org); repeatable",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = {
        "chat": _chat,
        "validate": _validate,
        "models": _models,
        "run": _run,
        "say": _say,
        "voice": _voice_serve,
        "exec": _exec,
        "studio": _studio,
        "sweep": _sweep,
    }[args.command]
    try:
        return handler(args)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130


def _load(files: list[str]) -> tuple[object, list, list]:
    """Parse and validate files with a private manager; returns (manager, configs, issues)."""
    from .config import read_configs
    from .errors import ConfigError
    from .models.manager import ModelManager

    manager = ModelManager()
    configs, issues = [], []
    for file in files:
        try:
            found = read_configs(file)
        except ConfigError as exc:
            issues.extend(exc.issues)
            continue
        configs.extend(found)
    realtime, configs = _split_realtime(configs)
    issues.extend(manager.validate(configs))
    if realtime:
        from .realtime._config import validate_realtime_configs

        issues.extend(validate_realtime_configs(realtime))
        configs += realtime
    seen: dict[str, object] = {}
    for config in configs:
        name = config.config_name
        if isinstance(name, str) and name in seen and not config.data.get("replace"):
            issues.append(config.issue("duplicate config_name", "config_name"))
        seen[name] = config
    return manager, configs, issues


def _split_realtime(configs: list) -> tuple[list, list]:
    """``(realtime configs, the others)``: realtime model types are validated by
    ``realtime._config`` (without the [realtime] extra they are left to the others' check)."""
    try:
        from .realtime import REALTIME_MODEL_TYPES
    except ImportError:
        return [], configs
    realtime = [c for c in configs if isinstance(c.model_type, str)
                and c.model_type in REALTIME_MODEL_TYPES]
    return realtime, [c for c in configs if not any(c is r for r in realtime)]


def _validate(args: argparse.Namespace) -> int:
    experiments = [f for f in args.files if _is_experiment_file(f)]
    _, configs, issues = _load([f for f in args.files if f not in experiments])
    notes = [
        config.issue(f"environment variable {var} is not set", path)
        for config in configs
        for path, var in config.missing_env.items()
    ]
    for file in experiments:
        found, missing = _validate_experiment(file)
        issues += found
        notes += missing
    for issue in issues:
        print(f"error: {issue}", file=sys.stderr)
    shown = set()
    for note in notes:  # a model config file shared by several experiments: once
        key = (os.path.abspath(note.file or ""), note.line, note.field, note.message)
        if key not in shown:
            shown.add(key)
            print(f"note: {note}", file=sys.stderr)
    if issues:
        print(f"{len(issues)} error(s) in {len(args.files)} file(s)", file=sys.stderr)
        return 1
    what = f"{len(configs)} config(s)"
    if experiments:
        what += f" and {len(experiments)} experiment(s)"
    print(f"ok: {what} in {len(args.files)} file(s)")
    return 0


def _is_experiment_file(file: str) -> bool:
    """Whether ``file`` is an experiment (a mapping with ``agents`` or ``pipeline``) rather
    than model configs. A file that cannot be read or parsed is left to the model-config
    path, which reports why."""
    from .config import parse_yaml_with_locations, read_bounded
    from .errors import ConfigError

    if not os.path.isfile(file):
        return False
    try:
        data, _ = parse_yaml_with_locations(read_bounded(file).decode("utf-8-sig"), file)
    except (ConfigError, OSError, ValueError):
        return False
    return (
        isinstance(data, dict)
        and "config_name" not in data
        and ("agents" in data or "pipeline" in data)
    )


def _tts_config_files(given: list[str] | None) -> list[str]:
    """The TTS config files ``run`` reads: those given, else ``configs/tts.yaml`` if present."""
    if given is not None:
        return given
    return [_TTS_CONFIGS] if os.path.isfile(_TTS_CONFIGS) else []


def _validate_experiment(file: str) -> tuple[list, list]:
    """``(issues, notes)`` of one experiment file, validated as ``run --dry-run`` does (with
    the same default TTS config file)."""
    from .errors import ConfigError
    from .experiment import load

    try:
        experiment = load(file, tts_configs=_tts_config_files(None))
    except ConfigError as exc:
        return list(exc.issues), []
    notes = [
        config.issue(f"environment variable {var} is not set", path)
        for config in experiment.models.configs
        for path, var in config.missing_env.items()
    ]
    return [], notes


def _models(args: argparse.Namespace) -> int:
    if args.provider:
        return _cli_models.list_provider_models(args)
    if not args.files:
        print("error: give model config files, or --provider", file=sys.stderr)
        return 2
    _, configs, issues = _load(args.files)
    rows = [("config_name", "model_type", "model_name", "stream")]
    for c in configs:
        rows.append(
            (
                str(c.config_name),
                str(c.model_type),
                str(c.data.get("model_name", c.config_name)),
                str(c.data.get("stream", False)),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip())
    for issue in issues:
        print(f"error: {issue}", file=sys.stderr)
    return 1 if issues else 0


def _chat(args: argparse.Namespace) -> int:
    from . import init
    from ._runtime import get_runtime
    from .errors import AgentScopeError
    from .message import Msg
    from .models import load_model_by_config_name

    try:
        init(
            model_configs=args.model_configs,
            disable_saving=args.save_dir is None,
            save_dir=args.save_dir or "./runs",
            save_api_invoke=args.save_dir is not None,
            logger_level="WARNING",
        )
        model = load_model_by_config_name(args.config_name)
        args.stream = _cli_models.chat_stream_default(args, model)
        voice = _voice(args) if args.voice else None
    except AgentScopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if voice is not None:
        args.speak = voice
    name = args.name or args.config_name
    history = [Msg("system", args.system, "system")] if args.system else []
    prompts = [args.once] if args.once is not None else None
    try:
        return _chat_loop(args, model, name, history, prompts)
    finally:
        if args.usage:
            print(f"LLM usage:\n{get_runtime().monitor.usage_table()}", file=sys.stderr)


def _chat_loop(args: argparse.Namespace, model: Any, name: str, history: list, prompts: Any) -> int:
    from .errors import AgentScopeError
    from .logging import log_deltas, save_msg
    from .message import Msg

    status = 0
    while True:
        if prompts is not None:
            if not prompts:
                break
            prompt = prompts.pop()
        else:
            try:
                prompt = input("User: ")
            except EOFError:
                print()
                break
            if prompt.strip() in ("exit", "quit"):
                break
            if not prompt.strip():
                continue
        history.append(Msg("user", prompt, "user"))
        voice = getattr(args, "speak", None)
        speech = voice.speech_stream(name=name) if voice is not None else None
        try:
            response = model(model.format(history, multi_agent_mode=False), stream=args.stream)
            if response.is_stream:
                pieces = response.deltas or ()
                log_deltas(name, _spoken(pieces, speech) if speech is not None else pieces)
            else:
                print(f"{name}: {response.text}")
        except AgentScopeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            history.pop()
            status = 1
            if speech is not None:
                speech.close()
            if prompts is not None:
                break
            continue
        reply = Msg(name, response.text or "", "assistant", id=speech.msg_id if speech else None)
        save_msg(reply)
        history.append(reply)
        if speech is not None:
            try:
                _save_speech(speech, reply)
            except AgentScopeError as exc:
                print(f"error: voice: {exc}", file=sys.stderr)
                status = 1
    return status


def _spoken(pieces: Any, speech: Any) -> Any:
    """The text pieces, each also fed (as the text so far) to ``speech`` as it arrives."""
    text = ""
    for piece in pieces:
        text += piece
        speech.feed(text)
        yield piece


def _voice(args: argparse.Namespace) -> Any:
    """The TTS wrapper of ``--voice``: from the loaded configs, else from --voice-configs."""
    from .errors import ConfigError
    from .models import load_model_by_config_name, read_model_configs
    from .models.manager import ModelManager

    if args.voice not in ModelManager.get_instance().config_names:
        file = args.voice_configs or _TTS_CONFIGS
        if not os.path.isfile(file):
            raise ConfigError(
                f"--voice {args.voice}: no such config in the -m files, and {file} does not "
                "exist (give the file with --voice-configs)"
            )
        read_model_configs(file)
    wrapper = load_model_by_config_name(args.voice)
    from .tts._legacy import TTSWrapper

    if not isinstance(wrapper, TTSWrapper):
        raise ConfigError(f"--voice {args.voice}: a {wrapper.model_type} config, not a TTS one")
    return wrapper


def _save_speech(speech: Any, msg: Any) -> None:
    """Finish speaking ``msg`` (a streamed reply was spoken sentence by sentence as it came)
    and save it as <msg id>.wav in the run's audio directory."""
    from ._runtime import get_runtime

    if not (msg.content or "").strip():
        speech.close()
        return
    audio = speech.finish(msg.content)
    path = get_runtime().file_dir("audio") / f"{msg.id}.wav"
    path.write_bytes(audio.wav())
    print(f"[audio: {path} ({audio.duration:.1f} s)]", file=sys.stderr)


def _say(args: argparse.Namespace) -> int:
    from . import init
    from .errors import AgentScopeError
    from .models import load_model_by_config_name

    text = sys.stdin.read() if args.text == "-" else args.text
    try:
        init(model_configs=args.model_configs, disable_saving=True, logger_level="WARNING")
        wrapper = load_model_by_config_name(args.config_name)
        from .tts._legacy import TTSWrapper

        if not isinstance(wrapper, TTSWrapper):
            print(
                f"error: config '{args.config_name}' is a {wrapper.model_type} config, "
                "not a TTS one",
                file=sys.stderr,
            )
            return 1
        speech = wrapper(text)
        path = speech.save(args.output)
    except (AgentScopeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    kind = "WAV" if speech.format == "wav" else "raw PCM16"
    print(f"wrote {path} ({kind}, {speech.sample_rate} Hz, {speech.duration:.2f} s)")
    return 0


def _run(args: argparse.Namespace) -> int:
    from .errors import AgentScopeError, ConfigError
    from .experiment import load

    try:
        experiment = load(
            args.file,
            overrides=args.set + ([f"run.studio={args.studio}"] if args.studio else []),
            model_configs=args.model_configs,
            tts_configs=_tts_config_files(args.tts_configs),
        )
    except ConfigError as exc:
        for issue in exc.issues:
            print(f"error: {issue}", file=sys.stderr)
        print(f"{len(exc.issues)} error(s) in {args.file}", file=sys.stderr)
        return 1
    if args.dry_run:
        print(experiment.plan())
        print(f"ok: {args.file} is valid (dry run: no model was called)")
        return 0
    run_kwargs = {
        "quiet": args.quiet,
        "interactive": False if args.no_input else None,
        "play": args.play,
    }
    try:
        if args.replay:
            return _replay(args, run_kwargs)
        experiment.run(**run_kwargs)
    except KeyboardInterrupt:
        print("interrupted: the transcript so far is saved", file=sys.stderr)
        return 130
    except AgentScopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _replay(args: argparse.Namespace, run_kwargs: dict[str, Any]) -> int:
    """``run --replay``: each recorded run under the directory, against its own record."""
    from .errors import ConfigError
    from .replay import replay_runs

    overrides = args.set + ([f"run.studio={args.studio}"] if args.studio else [])
    results = replay_runs(
        args.file,
        args.replay,
        overrides=overrides,
        model_configs=args.model_configs,
        tts_configs=_tts_config_files(args.tts_configs),
        missing=args.replay_missing,
        **run_kwargs,
    )
    failed = [(run_dir, out) for run_dir, out in results if isinstance(out, Exception)]
    for run_dir, exc in failed:
        issues = exc.issues if isinstance(exc, ConfigError) else [exc]
        for issue in issues:
            print(f"error: replay of {run_dir}: {issue}", file=sys.stderr)
    if len(results) > 1:
        print(
            f"replayed {len(results)} runs of {args.replay}: {len(results) - len(failed)} ok, "
            f"{len(failed)} failed",
            file=sys.stderr,
        )
    return 1 if failed else 0


def _studio(args: argparse.Namespace) -> int:
    from .studio._cli import serve_studio

    return serve_studio(args)


def _sweep(args: argparse.Namespace) -> int:
    from .sweep.cli import sweep_command

    return sweep_command(args)


def _exec(args: argparse.Namespace) -> int:
    """``exec``: a 0.x script run unchanged, ``import agentscope`` resolving here."""
    from .compat._exec import run_script

    return run_script(args.script, args.args)


def _voice_serve(args: argparse.Namespace) -> int:
    """``voice serve``: the realtime config's model behind the voice page, under uvicorn."""
    from .errors import AgentScopeError, ConfigError

    try:
        import uvicorn  # noqa: F401  (checked here: the error names the extra)

        from .realtime._config import read_realtime_configs
        from .realtime._server import create_app
    except ImportError as exc:
        print(f"error: voice serve needs `pip install \"agentscope-legacy[realtime]\"` ({exc})",
              file=sys.stderr)
        return 1
    try:
        configs = read_realtime_configs(args.model_configs)
        config = configs.get(args.config_name)
        if config is None:
            raise ConfigError(f"no realtime config named '{args.config_name}' in "
                              f"{', '.join(args.model_configs)} (there are: "
                              f"{', '.join(configs) or 'none'})")
        config.build()  # an unset key variable or a bad field fails now, not per session
        app = create_app(config.build, agent_name=args.name or config.agent_name,
                         sys_prompt=config.sys_prompt if args.sys_prompt is None
                         else args.sys_prompt, max_sessions=args.max_sessions,
                         idle_timeout=args.idle_timeout, allowed_origins=args.allow_origin)
    except (AgentScopeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    from ._web import serve

    return serve(app, args.host, args.port, exposed_warning="serves the agent to the network: "
                 "anyone who can reach it talks to the model (on your key) (and browsers allow "
                 "the microphone only on https or loopback pages)",
                 banner=f"{config.config_name} ({config.model_type}) as "
                 f"{args.name or config.agent_name}; Ctrl-C stops")


if __name__ == "__main__":
    sys.exit(main())
