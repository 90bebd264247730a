"""The checks a schema cannot express: names that must exist (agents, model configs, classes,
variables), model configs valid for their wrappers, and conditions that make sense.

Every check runs and reports; nothing stops at the first problem. The checks are defensive
about shapes, because they also run on documents the schema has already rejected.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import ModelConfig, config_from_mapping, read_configs
from ..errors import ConfigError, ConfigIssue
from . import conditions
from .agent_specs import (
    BUILTIN,
    CLASS_PATTERN,
    TOOL_PATTERN,
    find_class,
    find_tool,
    model_config_name,
    resolve_class,
    signature_problems,
)
from .agent_specs import agent_kwargs as make_kwargs
from .document import DocPath, Document, parse_path
from .schema import STEP_KINDS


@dataclass
class ModelSources:
    """The experiment's model configs, read and located, and what ``init()`` loads them from
    (inline mappings as written, files as absolute paths)."""

    configs: list[ModelConfig] = field(default_factory=list)
    sources: list[Any] = field(default_factory=list)
    #: TTS configs of the --tts-configs files not used (named in an unknown-TTS error).
    other_voices: list[str] = field(default_factory=list)


def check(
    doc: Document, refs_left: list[tuple[DocPath, str]], tts_files: list[str] | None = None
) -> tuple[ModelSources, list]:
    """All semantic problems of the document; returns its model configs too.

    An agent's ``tts`` is looked up in the experiment's model configs, then in ``tts_files``;
    the configs used from those files are added to the returned sources.
    """
    models, issues = read_model_configs(doc)
    issues += _add_tts_configs(doc, models, tts_files or [])
    issues += _check_agents(doc, models)
    runtime_scopes: list[tuple[DocPath, set[str]]] = []
    pipeline = doc.data.get("pipeline")
    if isinstance(pipeline, list):
        issues += _check_steps(doc, pipeline, ("pipeline",), set(), runtime_scopes)
    metrics = doc.data.get("metrics")
    for name, metric in (metrics.items() if isinstance(metrics, dict) else ()):
        issues += _check_condition(doc, metric, ("metrics", name))  # a condition's one test
    for path, name in refs_left:
        scope = next((s for p, s in runtime_scopes if path[: len(p)] == p), set())
        if name not in scope:
            issues.append(
                doc.issue(
                    path,
                    f"undefined variable '{name}' (declare it under `vars:`; for_each items "
                    "are only available in `say` texts and announcements inside the loop)",
                )
            )
    return models, issues


def class_search_path(doc: Document) -> list[Path]:
    """Where user agent classes are imported from, besides ``sys.path``."""
    return [doc.base_dir, Path.cwd()]


# -- model configs -----------------------------------------------------------------------------
def read_model_configs(doc: Document) -> tuple[ModelSources, list[ConfigIssue]]:
    from ..models.manager import ModelManager

    entries = doc.data.get("model_configs")
    if entries is None:
        return ModelSources(), []
    listed = isinstance(entries, list)
    entries = entries if listed else [entries]
    models, issues = ModelSources(), []
    inline: dict[int, int] = {}  # id(config) -> index in the document list
    for i, entry in enumerate(entries):
        path: DocPath = ("model_configs", i) if listed else ("model_configs",)
        if isinstance(entry, str):
            file = (doc.base_dir / entry).expanduser().resolve()
            try:
                found = read_configs(str(file))
            except ConfigError as exc:
                issues += [_relocate(doc, path, issue, str(file)) for issue in exc.issues]
                continue
            models.configs += found
            models.sources.append(str(file))
        elif isinstance(entry, dict):
            key_lines = {k: line for k in entry if (line := doc.lines.get((*path, k))) is not None}
            config = config_from_mapping(entry, doc.file, doc.line_of(path), key_lines)
            inline[id(config)] = i
            models.configs.append(config)
            models.sources.append(entry)
    manager = ModelManager.get_instance()  # knows the wrapper classes users registered
    for config in models.configs:
        for issue in manager.validate([config]):
            if id(config) in inline:
                issue = _inline_issue(doc, ("model_configs", inline[id(config)]), issue)
            issues.append(issue)
    seen: dict[str, ModelConfig] = {}
    for config in models.configs:
        name = config.config_name
        if isinstance(name, str) and name in seen and not config.data.get("replace"):
            first = seen[name]
            issues.append(
                config.issue(
                    f"duplicate config_name '{name}' (first defined at {first.file}:{first.line})",
                    "config_name",
                )
            )
        seen[name] = config
    return models, issues


def _relocate(doc: Document, path: DocPath, issue: ConfigIssue, file: str) -> ConfigIssue:
    """A file that cannot be read is a problem of the line that names it."""
    if issue.file == file and issue.line is None:
        return doc.issue(path, f"{issue.message}: {file}")
    return issue


def _inline_issue(doc: Document, path: DocPath, issue: ConfigIssue) -> ConfigIssue:
    try:
        inner = parse_path(issue.field) if issue.field else ()
    except ValueError:
        inner = ()
    who = f"config '{issue.config_name}': " if issue.config_name else ""
    return doc.issue((*path, *inner), who + issue.message)


def _add_tts_configs(doc: Document, models: ModelSources, files: list[str]) -> list[ConfigIssue]:
    """The TTS configs the agents name that the experiment's model configs do not have, from
    ``files`` (validated there, as every model config file is)."""
    from ..models.manager import ModelManager

    agents = doc.data.get("agents")
    agents = agents if isinstance(agents, dict) else {}
    known = {c.config_name for c in models.configs}
    wanted = {
        spec["tts"]
        for spec in agents.values()
        if isinstance(spec, dict) and isinstance(spec.get("tts"), str)
    } - known
    issues: list[ConfigIssue] = []
    for file in files if wanted else []:
        try:
            found = read_configs(file)
        except ConfigError as exc:
            issues += exc.issues
            continue
        for config in found:
            if config.config_name not in wanted:
                models.other_voices.append(str(config.config_name))
            else:
                issues += ModelManager.get_instance().validate([config])
                models.configs.append(config)
                models.sources.append(config.data)
                wanted.discard(config.config_name)
    return issues


# -- agents ------------------------------------------------------------------------------------
def _check_agents(doc: Document, models: ModelSources) -> list[ConfigIssue]:
    agents = doc.data.get("agents")
    if not isinstance(agents, dict):
        return []
    configs = {c.config_name: c for c in models.configs if isinstance(c.config_name, str)}
    issues: list[ConfigIssue] = []
    for name, spec in agents.items():
        if not isinstance(spec, dict):
            continue
        path: DocPath = ("agents", name)
        if "model" in spec and "model_config_name" in spec:
            issues.append(
                doc.issue((*path, "model"), "give `model` or `model_config_name`, not both")
            )
        model = model_config_name(spec)
        if isinstance(model, str):
            key = "model" if "model" in spec else "model_config_name"
            issues += _check_model(doc, (*path, key), model, configs)
        if isinstance(spec.get("tts"), str):
            issues += _check_tts(doc, (*path, "tts"), spec["tts"], configs, models.other_voices)
        cls_name = spec.get("class")
        if not isinstance(cls_name, str) or not re.match(CLASS_PATTERN, cls_name):
            continue  # the schema has said what is expected
        try:  # a user class is found without importing its module: that waits for the run
            cls = (
                resolve_class(cls_name)
                if cls_name in BUILTIN
                else find_class(cls_name, class_search_path(doc))
            )
        except ValueError as exc:
            issues.append(doc.issue((*path, "class"), str(exc)))
            continue
        if cls_name not in BUILTIN:
            for key, problem in signature_problems(cls, make_kwargs(name, spec)):
                if key == "model_config_name" and "model" in spec:
                    key = "model"
                issues.append(doc.issue((*path, key) if key else path, problem))
        if isinstance(spec.get("schema"), dict):
            issues += _check_json_schema(doc, (*path, "schema"), spec["schema"])
        if cls_name == "ReActAgent" and isinstance(spec.get("tools"), list):
            issues += _check_tools(doc, (*path, "tools"), spec["tools"])
    return issues


def _check_tools(doc: Document, path: DocPath, tools: list[Any]) -> list[ConfigIssue]:
    """A ReActAgent's ``tools``: each module and function found without importing it (the
    run imports them); built-ins and malformed entries are the schema's."""
    issues = []
    for i, ref in enumerate(tools):
        if isinstance(ref, str) and not ref.startswith("builtin:") and re.match(TOOL_PATTERN, ref):
            try:
                find_tool(ref, class_search_path(doc))
            except ValueError as exc:
                issues.append(doc.issue((*path, i), f"tool '{ref}': {exc}"))
    return issues


def _check_model(
    doc: Document, path: DocPath, name: str, configs: dict[str, ModelConfig]
) -> list[ConfigIssue]:
    config = configs.get(name)
    if config is None:
        from ..model._registry import ModelRegistry, unresolved_hint

        if ModelRegistry.matches(name):  # a "provider:model" string; a declared config wins
            return []
        close = difflib.get_close_matches(name, list(configs), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        known = ", ".join(configs) or "none: add a `model_configs` section"
        also = unresolved_hint(name)
        return [doc.issue(path, f"unknown model config '{name}'{hint} (known: {known}){also}")]
    return [
        doc.issue(
            path,
            f"model config '{name}' needs the environment variable {var} (for {field}), which "
            "is not set; set it or choose another model",
        )
        for field, var in config.missing_env.items()
    ]


def _check_tts(
    doc: Document, path: DocPath, name: str, configs: dict[str, ModelConfig], others: list[str]
) -> list[ConfigIssue]:
    from ..models.manager import ModelManager
    from ..tts._legacy import TTS_MODEL_TYPES, TTSWrapper

    wrappers = ModelManager.get_instance().model_wrapper_mapping  # user TTS types count too

    def is_tts(config: ModelConfig) -> bool:
        cls = wrappers.get(config.model_type) if isinstance(config.model_type, str) else None
        return isinstance(cls, type) and issubclass(cls, TTSWrapper)

    voices = [n for n, c in configs.items() if is_tts(c)]
    voices += [n for n in others if n not in voices]
    config = configs.get(name)
    if config is None:
        close = difflib.get_close_matches(name, voices, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        known = ", ".join(voices) or "none"
        return [
            doc.issue(
                path,
                f"unknown TTS config '{name}'{hint} (TTS configs: {known}; they come from "
                "`model_configs` or from the --tts-configs file)",
            )
        ]
    if not is_tts(config):
        return [
            doc.issue(
                path,
                f"config '{name}' is a {config.model_type} config, not a TTS one "
                f"(TTS types: {', '.join(TTS_MODEL_TYPES)})",
            )
        ]
    return _check_model(doc, path, name, configs)


def _check_json_schema(doc: Document, path: DocPath, schema: dict) -> list[ConfigIssue]:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return [doc.issue((*path, *exc.absolute_path), f"not a valid JSON Schema: {exc.message}")]
    return []


# -- pipeline ----------------------------------------------------------------------------------
def _check_steps(
    doc: Document, steps: list, path: DocPath, scope: set[str], scopes: list
) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for i, step in enumerate(steps):
        issues += _check_step(doc, step, (*path, i), scope, scopes)
    return issues


def _check_step(
    doc: Document, step: Any, path: DocPath, scope: set[str], scopes: list
) -> list[ConfigIssue]:
    if isinstance(step, str):
        return _check_agent_name(doc, path, step)
    if not isinstance(step, dict):
        return []
    issues: list[ConfigIssue] = []
    kinds = [k for k in STEP_KINDS if k in step]
    known = {*STEP_KINDS, "then", "else"}
    if len(kinds) != 1 and set(step) <= known and step:
        found = ", ".join(kinds) if kinds else "none"
        issues.append(
            doc.issue(path, f"a step has exactly one of {', '.join(STEP_KINDS)}; found {found}")
        )
    body = step.get("sequential")
    if isinstance(body, list):
        issues += _check_steps(doc, body, (*path, "sequential"), scope, scopes)
    hub = step.get("msghub")
    if isinstance(hub, dict):
        names = hub.get("participants")
        for j, name in enumerate(names if isinstance(names, list) else []):
            where = (*path, "msghub", "participants", j)
            if isinstance(name, str):
                issues += _check_agent_name(doc, where, name)
            if names.index(name) != j:
                issues.append(doc.issue(where, f"'{name}' is listed twice"))
        if "announcement" in hub:
            scopes.append(((*path, "msghub", "announcement"), scope))
        issues += _check_body(doc, hub, (*path, "msghub"), scope, scopes)
    loop = step.get("loop")
    if isinstance(loop, dict):
        issues += _check_condition(doc, loop.get("until"), (*path, "loop", "until"))
        issues += _check_body(doc, loop, (*path, "loop"), scope, scopes)
    if "if" in step:
        issues += _check_condition(doc, step["if"], (*path, "if"))
        for key in ("then", "else"):
            if isinstance(step.get(key), list):
                issues += _check_steps(doc, step[key], (*path, key), scope, scopes)
    each = step.get("for_each")
    if isinstance(each, dict):
        var = each.get("as", "item")
        inner = scope | {var} if isinstance(var, str) else scope
        issues += _check_body(doc, each, (*path, "for_each"), inner, scopes)
    if "say" in step:
        scopes.append(((*path, "say"), scope))
    return issues


def _check_body(
    doc: Document, spec: dict, path: DocPath, scope: set[str], scopes: list
) -> list[ConfigIssue]:
    body = spec.get("steps")
    return (
        _check_steps(doc, body, (*path, "steps"), scope, scopes) if isinstance(body, list) else []
    )


def _check_agent_name(doc: Document, path: DocPath, name: str) -> list[ConfigIssue]:
    agents = doc.data.get("agents")
    agents = agents if isinstance(agents, dict) else {}
    if name in agents:
        return []
    close = difflib.get_close_matches(name, list(agents), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return [doc.issue(path, f"unknown agent '{name}'{hint} (agents: {', '.join(agents)})")]


def _check_condition(doc: Document, condition: Any, path: DocPath) -> list[ConfigIssue]:
    return [doc.issue(p, message) for p, message in conditions.problems(condition, path)]
