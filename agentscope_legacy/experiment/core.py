"""``load()`` an experiment file into a validated :class:`Experiment`, and ``run()`` it."""

from __future__ import annotations

import contextlib
import copy
import os
import random
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import check_nesting, value_problems
from ..errors import ConfigError
from ..message import Msg
from ..monitor import write_atomic
from . import agent_specs
from .checks import ModelSources, check, class_search_path
from .document import Document, apply_overrides, read_document, substitute_vars
from .runner import Player, Progress, RunContext, Transcript
from .schema import schema_issues
from .steps import Sequential, parse_pipeline

Overrides = Mapping[str, Any] | Iterable[str] | None


@dataclass
class RunResult:
    """What a finished run left: its directory, every message in order, the last one, usage."""

    run_dir: Path | None
    messages: list[Msg]
    final: Msg | None
    usage: list[dict[str, Any]] = field(default_factory=list)
    #: A replayed run's record (``replay.Recording``: calls answered, sent, unused).
    replay: Any = None


@dataclass
class Experiment:
    """A validated experiment: agents, pipeline and run settings, ready to run.

    Build it with :func:`load`; nothing is called and no model is loaded until :meth:`run`.
    """

    document: Document
    models: ModelSources
    pipeline: Sequential
    #: The overrides it was loaded with, as ``path=value`` strings (kept in ``record.json``).
    overrides: list[str] = field(default_factory=list)
    #: The ``run.save_dir`` that ``experiment.yaml`` records, when the run directory is made
    #: elsewhere and moved (a sweep's run is made in a work directory): None, the one used.
    recorded_save_dir: str | None = None

    @property
    def name(self) -> str:
        run = self.document.data.get("run") or {}
        stem = Path(self.document.file).stem if self.document.file else "experiment"
        return str(run.get("name") or stem)

    @property
    def settings(self) -> dict[str, Any]:
        """The ``run`` section with its defaults filled in."""
        return {
            "save_dir": "./runs",
            "project": self.name,
            "name": self.name,
            "seed": None,
            "logger_level": "WARNING",
            "stream": None,
            "studio": None,
            **(self.document.data.get("run") or {}),
        }

    def plan(self) -> str:
        """What would run, as text (``--dry-run``)."""
        source = f" ({self.document.file})" if self.document.file else ""
        lines = [f"experiment {self.name!r}{source}"]
        for name, spec in self.document.data["agents"].items():
            model = agent_specs.model_config_name(spec)
            line = f"  agent {name}: {spec['class']}" + (f" on {model}" if model else "")
            lines.append(line + (f", speaking with {spec['tts']}" if spec.get("tts") else ""))
        lines.append("  pipeline:")
        lines += ["    " + line for line in self.pipeline.describe()]
        return "\n".join(lines)

    def build_agents(self) -> dict[str, Any]:
        """Instantiate the agents (models load here, once per config name).

        Needs the model configs loaded, which :meth:`run` does through ``init()``.
        """
        from ..models.manager import ModelManager

        agents_spec = self.document.data["agents"]
        stream = self.settings["stream"]
        if stream is not None:  # run.stream switches streaming for every model the run uses
            manager = ModelManager.get_instance()
            for spec in agents_spec.values():
                name = agent_specs.model_config_name(spec)
                model = manager.get_model_by_config_name(name) if name else None
                if model is not None and model.can_stream:
                    model.stream = stream
        search = class_search_path(self.document)
        classes = {}
        for name, spec in agents_spec.items():
            try:  # user modules are imported here, at run, and nowhere before
                classes[name] = agent_specs.resolve_class(spec["class"], search)
            except ValueError as exc:
                where = ("agents", name, "class")
                issue = self.document.issue(where, f"class '{spec['class']}': {exc}")
                raise ConfigError(issue) from exc.__cause__
        return {
            name: classes[name](**agent_specs.agent_kwargs(name, spec, search))
            for name, spec in agents_spec.items()
        }

    def run(
        self,
        quiet: bool = False,
        progress: bool | None = None,
        interactive: bool | None = None,
        play: bool = False,
        replay: str | os.PathLike | None = None,
        replay_missing: str = "error",
    ) -> RunResult:
        """Run the pipeline, streaming each reply to the terminal; return what happened.

        The run directory gets ``transcript.jsonl`` (every message as it is finished),
        ``experiment.yaml`` (this experiment resolved, keys redacted), ``invocations.jsonl``
        and ``usage.txt``; the usage table is printed to stderr at the end, also after an
        error or Ctrl-C (``KeyboardInterrupt`` is re-raised once everything is saved).
        ``quiet`` prints only the final message; ``progress`` defaults to ``not quiet``;
        ``interactive=False`` makes every UserAgent use its scripted inputs even on a terminal.
        Agents with a ``tts`` save each message's audio as ``audio/<message id>.wav`` (the
        transcript line's ``url``); ``play`` plays each through the system player.

        ``replay``: a run directory of this experiment; every model call is answered from its
        record (``agentscope_legacy.replay``), a call it lacks is a ``ReplayMismatchError``
        (``replay_missing="error"``) or goes to the model (``"call"``). Every run writes
        ``record.json`` (which experiment it was), so every run can be replayed.
        """
        from .. import _init, _runtime

        recording = self._open_replay(replay, replay_missing) if replay is not None else None
        settings = self.settings
        if settings["seed"] is not None:
            random.seed(settings["seed"])
        try:
            _init.init(
                model_configs=self.models.sources or None,
                project=settings["project"],
                name=settings["name"],
                save_dir=settings["save_dir"],
                save_api_invoke=True,
                logger_level=settings["logger_level"],
                runtime_id=_run_id(settings["save_dir"], settings["name"]),
                allow_replace=True,  # the experiment's configs win over earlier ones
                studio_url=settings["studio"],
            )
        except ConfigError as exc:  # a run setting: say where the experiment sets it
            raise ConfigError([self._run_issue(i) for i in exc.issues]) from None
        runtime = _runtime.get_runtime()
        run_dir = runtime.run_dir
        self._save_resolved(run_dir)
        if run_dir is not None:
            from ..replay import write_record

            write_record(run_dir, self, self.overrides, recording and recording.run_dir)
        transcript = Transcript(run_dir / "transcript.jsonl" if run_dir else None)
        final: Msg | None = None
        previous = _intercept(recording) if recording is not None else None
        try:
            agents = self.build_agents()
            if interactive is not None:
                for agent in agents.values():
                    if hasattr(agent, "interactive"):
                        agent.interactive = interactive
            ctx = RunContext(
                agents,
                transcript,
                Progress(enabled=not quiet if progress is None else progress),
                self.document.data.get("vars"),
                player=Player() if play else None,
            )
            with _silenced(quiet):
                final = self.pipeline.run(ctx, None)
        finally:
            if recording is not None:
                _intercept(previous)
                _report_replay(recording)
            transcript.close()
            _report_usage(runtime, run_dir)
            if runtime.studio is not None:
                from ..studio import detach

                detach(runtime, "finished" if final is not None else "failed")
        if quiet and final is not None:
            from ..logging import format_msg

            print(format_msg(final, colored=sys.stdout.isatty()))
        usage = runtime.monitor.usage_rows()
        return RunResult(run_dir, transcript.messages, final, usage, recording)

    def _open_replay(self, replay: str | os.PathLike, missing: str) -> Any:
        """The record to answer calls from, checked against this experiment before anything
        runs (another experiment's directory, a sweep's directory: ReplayError)."""
        from ..replay import (
            MISSING_CHOICES,
            Recording,
            ReplayError,
            check_same_experiment,
            run_dirs,
        )

        if missing not in MISSING_CHOICES:
            raise ValueError(f"replay_missing must be 'error' or 'call', not {missing!r}")
        replay_dir = Path(replay)
        found = run_dirs(replay_dir)
        if found != [replay_dir]:
            raise ReplayError(
                f"{replay_dir} holds {len(found)} recorded runs (a sweep): replay them all with "
                "`agentscope-legacy run FILE --replay DIR` or replay.replay_runs()"
            )
        warning = check_same_experiment(replay_dir, self, strict=missing == "error")
        if warning:
            print(f"warning: {warning}", file=sys.stderr, flush=True)
        return Recording(replay_dir, missing=missing)

    def _run_issue(self, issue: Any) -> Any:
        key = {"runtime_id": "name"}.get(issue.field, issue.field)
        if issue.file is not None or key not in ("save_dir", "name", "project", "logger_level"):
            return issue
        return self.document.issue(("run", key), issue.message)

    def _save_resolved(self, run_dir: Path | None) -> None:
        import yaml

        from .._secrets import redact

        if run_dir is None:
            return
        data = copy.deepcopy(self.document.data)
        if self.recorded_save_dir is not None:
            data["run"] = {**(data.get("run") or {}), "save_dir": self.recorded_save_dir}
        if self.models.configs:
            data["model_configs"] = [c.data for c in self.models.configs]
        source = self.document.file or "experiment"
        header = f"# {source}, as run (overrides and variables applied, keys redacted)\n"
        text = yaml.safe_dump(redact(data), sort_keys=False, allow_unicode=True)
        write_atomic(run_dir / "experiment.yaml", header + text)


def load(
    source: str | os.PathLike | Mapping[str, Any],
    overrides: Overrides = None,
    model_configs: str | os.PathLike | Iterable[str | os.PathLike] | None = None,
    tts_configs: str | os.PathLike | Iterable[str | os.PathLike] | None = None,
) -> Experiment:
    """Read, override and validate an experiment; every problem is in one ConfigError.

    ``source`` is a YAML file or a mapping (then relative paths are from the current
    directory). ``overrides`` are ``"path=value"`` strings (values read as YAML, as ``--set``)
    or a ``{path: value}`` mapping. ``model_configs`` replaces the file's ``model_configs``
    (paths relative to the current directory), e.g. to run on other models. An agent's
    ``tts`` is a config of the model configs, else of the ``tts_configs`` files.
    """
    if isinstance(source, Mapping):
        check_nesting(source)  # before any recursive copy or walk
        doc = Document(copy.deepcopy(dict(source)))
    else:
        doc = read_document(source)
    issues: list[Any] = apply_overrides(doc, overrides)
    check_nesting(doc.data, doc.file)  # overrides may nest values too
    bad_values = value_problems(doc.data)  # NaN, lone surrogates, control characters in names
    if bad_values:
        raise ConfigError(sorted(issues + [doc.issue(p, m) for p, m in bad_values], key=_where))
    if model_configs is not None:
        paths = [model_configs] if isinstance(model_configs, (str, os.PathLike)) else model_configs
        doc.data["model_configs"] = [str(Path(p).resolve()) for p in paths]
    refs_left = substitute_vars(doc)
    issues += schema_issues(doc)
    if isinstance(tts_configs, (str, os.PathLike)):
        tts_configs = [tts_configs]
    tts_files = [str(Path(p).resolve()) for p in tts_configs or []]
    models, found = check(doc, refs_left, tts_files)
    issues += found
    if issues:
        raise ConfigError(sorted(issues, key=_where))
    from ..replay import override_strings

    return Experiment(
        doc, models, parse_pipeline(doc.data["pipeline"]), override_strings(overrides)
    )


def _where(issue: Any) -> tuple[str, int]:
    return (issue.file or "", issue.line or 0)


def _run_id(save_dir: str, name: str) -> str:
    """A fresh run directory name: two runs of one experiment never share a transcript."""
    base = f"run_{time.strftime('%Y%m%d-%H%M%S')}_{name}"
    run_id, n = base, 1
    try:
        while Path(save_dir, run_id).exists():
            n += 1
            run_id = f"{base}-{n}"
    except (OSError, ValueError):  # a path init() refuses, with the reason
        return base
    return run_id


@contextlib.contextmanager
def _silenced(quiet: bool) -> Any:
    if not quiet:
        yield
        return
    with open(os.devnull, "w", encoding="utf-8") as devnull, contextlib.redirect_stdout(devnull):
        yield


def _intercept(recording: Any) -> Any:
    from ..models._base import set_interceptor

    return set_interceptor(recording)


def _report_replay(recording: Any) -> None:
    sent = f", {recording.sent} sent to the model" if recording.missing == "call" else ""
    unused = recording.unused
    left = f"; {unused} recorded call(s) were not asked" if unused else ""
    print(
        f"replay: {recording.answered} call(s) answered from {recording.run_dir}{sent}{left}",
        file=sys.stderr,
        flush=True,
    )


def _report_usage(runtime: Any, run_dir: Path | None) -> None:
    table = runtime.monitor.usage_table()
    if run_dir is not None:
        write_atomic(run_dir / "usage.txt", table + "\n")
    where = f" (saved in {run_dir})" if run_dir else ""
    print(f"LLM usage{where}:\n{table}", file=sys.stderr, flush=True)
