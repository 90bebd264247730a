"""Reading model configs from YAML/JSON files, dicts and lists, with locations for errors.

Files are parsed safely (no object tags), duplicate keys are errors, and every config keeps the
file and line it came from so that a problem found later (schema validation, a missing
environment variable at build time) still points at the right place. ``${VAR}`` and
``${VAR:-default}`` in string values are expanded from the environment; ``$${`` is a literal.

One file over ~400 lines on purpose: parsing, size and nesting limits, value checks and
``${VAR}`` expansion all work on the same location-carrying values, and it is one step of the
core's fixed order (tests/test_layers.py).
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import ConfigError, ConfigIssue

ConfigSource = str | os.PathLike | dict | list

_ENV_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class ModelConfig:
    """One model config with where it came from.

    ``missing_env`` maps a field path to an environment variable that was referenced without
    a default and is not set: loading succeeds (an unused config must not fail), building a
    wrapper from it raises a ConfigError naming both.
    """

    data: dict[str, Any]
    file: str | None = None
    line: int | None = None
    key_lines: dict[str, int] = field(default_factory=dict)
    missing_env: dict[str, str] = field(default_factory=dict)

    @property
    def config_name(self) -> Any:
        return self.data.get("config_name")

    @property
    def model_type(self) -> Any:
        return self.data.get("model_type")

    def issue(self, message: str, field: str | None = None) -> ConfigIssue:
        """A ConfigIssue located at this config (at ``field``'s line when known)."""
        top = field.split(".", 1)[0].split("[", 1)[0] if field else None
        line = self.key_lines.get(top, self.line) if top else self.line
        name = self.config_name if isinstance(self.config_name, str) else None
        if name is not None and _UNPRINTABLE.search(name):
            name = repr(name)[1:-1]  # refused at load; never printed raw
        return ConfigIssue(message, file=self.file, line=line, config_name=name, field=field)

    def __repr__(self) -> str:
        from ._secrets import redact

        where = f" from {self.file}:{self.line}" if self.file else ""
        return f"ModelConfig({redact(self.data)!r}{where})"


# -- parsing -----------------------------------------------------------------------------------
def _yaml_loader_class() -> type:
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: ~10x faster

    class LocatingLoader(base):  # type: ignore[misc, valid-type]
        """Safe loader that records mapping lines and rejects duplicate keys."""

    def construct_mapping(loader: Any, node: yaml.MappingNode) -> dict[str, Any]:
        data: dict[Any, Any] = {}
        loader.flatten_mapping(node)
        lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "found an unhashable mapping key", key_node.start_mark
                ) from None
            if key in data:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            data[key] = loader.construct_object(value_node, deep=True)
            if isinstance(key, str):
                lines[key] = key_node.start_mark.line + 1
        loader.locations[id(data)] = (node.start_mark.line + 1, lines)
        return data

    LocatingLoader.add_constructor(
        yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping
    )
    return LocatingLoader


_LOADER: type | None = None
# Far above any real config file (a config has tens of values); bounds the work and the memory
# (about 0.5 kB a value once loaded) an alias-heavy or huge document can cause.
MAX_DOCUMENT_NODES = 250_000
# Bounds on what a file may be, far above any real one, so that a broken or hostile file is a
# ConfigError rather than a crash, a hang or all the memory: nesting deeper than this would
# overflow the stack of the recursive code that walks configs (libyaml's composer recurses in
# C: 100,000 nested brackets crash the interpreter), and files larger than this are refused
# before they are read.
MAX_NESTING = 100
MAX_FILE_BYTES = 8 * 1024 * 1024


def _yaml_error(exc: yaml.YAMLError, file: str) -> ConfigError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    return ConfigError(ConfigIssue(f"invalid YAML: {problem}", file=file, line=line))


def _too_deep(file: str | None, line: int | None = None) -> ConfigError:
    return ConfigError(
        ConfigIssue(f"nested too deeply (more than {MAX_NESTING} levels)", file=file, line=line)
    )


def _prescan_yaml(loader: Any, file: str) -> None:
    """Walk the event stream (flat: libyaml's parser does not recurse) and refuse a document
    nested too deeply or with too many values *before* it is composed into objects."""
    depth = values = 0
    while loader.check_event():
        event = loader.get_event()
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_NESTING:
                raise _too_deep(file, event.start_mark.line + 1)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        values += isinstance(event, yaml.NodeEvent)
        if values > MAX_DOCUMENT_NODES:
            raise ConfigError(
                ConfigIssue(f"too many values (over {MAX_DOCUMENT_NODES})", file=file)
            )


def _limit_error(text: str, file: str) -> ConfigError | None:
    """After libyaml refused ``text``: our own limit error if the document breaks one before the
    point where it is invalid, else None.

    libyaml has depth limits of its own (PyYAML 6.0.4: flow nesting over 1,000 levels is a
    ScannerError, raised before the first event) that would hide ours behind its wording. The
    pure-Python parser has none and yields events lazily, so re-scanning with it finds our limit
    at the same place whatever libyaml's version; it runs only for files already refused."""
    try:
        scanner = yaml.SafeLoader(text)  # its reader checks the characters at once
    except yaml.YAMLError:
        return None
    try:
        _prescan_yaml(scanner, file)
    except ConfigError as err:
        return err
    except yaml.YAMLError:
        return None
    finally:
        scanner.dispose()
    return None


def _parse_yaml(text: str, file: str) -> tuple[Any, dict[int, tuple[int, dict[str, int]]]]:
    global _LOADER
    if _LOADER is None:
        _LOADER = _yaml_loader_class()
    scanner = _LOADER(text)
    try:
        _prescan_yaml(scanner, file)
    except yaml.YAMLError as exc:
        raise _limit_error(text, file) or _yaml_error(exc, file) from None
    finally:
        scanner.dispose()
    loader = _LOADER(text)
    loader.locations = {}
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, file) from None
    except RecursionError:  # aliases can nest deeper than the text does
        raise _too_deep(file) from None
    finally:
        loader.dispose()
    check_nesting(data, file)
    if expanded_size(data) > MAX_DOCUMENT_NODES:
        raise ConfigError(
            ConfigIssue(
                f"document too large once YAML aliases are expanded (over {MAX_DOCUMENT_NODES} "
                "values); aliases nested this deeply are refused",
                file=file,
            )
        )
    return data, loader.locations


def parse_yaml_with_locations(
    text: str, file: str
) -> tuple[Any, dict[int, tuple[int, dict[str, int]]]]:
    """Parse YAML safely (duplicate keys are errors) and say where every mapping came from.

    Returns ``(data, locations)`` with ``locations[id(mapping)] = (line, {key: line})`` (lines
    from 1) for every mapping in ``data``; a syntax error is a ConfigError naming file and line.
    """
    return _parse_yaml(text, file)


def config_from_mapping(
    unit: Any,
    file: str | None = None,
    line: int | None = None,
    key_lines: dict[str, int] | None = None,
) -> ModelConfig:
    """A located ModelConfig from one mapping (``${VAR}`` expanded), e.g. one embedded in
    another document whose lines are known."""
    return _make_config(unit, file, line, key_lines or {})


def _parse_json(text: str, file: str) -> Any:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for key, value in pairs:
            if key in data:
                raise ConfigError(ConfigIssue(f"duplicate key {key!r}", file=file))
            data[key] = value
        return data

    try:
        data = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            ConfigIssue(f"invalid JSON: {exc.msg}", file=file, line=exc.lineno)
        ) from None
    except RecursionError:
        raise _too_deep(file) from None
    check_nesting(data, file)
    if expanded_size(data) > MAX_DOCUMENT_NODES:
        raise ConfigError(ConfigIssue(f"too many values (over {MAX_DOCUMENT_NODES})", file=file))
    return data


def _units(data: Any, file: str) -> list[Any]:
    """The list of config units in a parsed file."""
    if isinstance(data, dict) and "model_configs" in data and "config_name" not in data:
        data = data["model_configs"]  # an experiment-style file with a model_configs section
    if data is None:
        return []
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        return data
    raise ConfigError(
        ConfigIssue(
            f"expected a config mapping or a list of them, got {type(data).__name__}", file=file
        )
    )


def read_file(path: str | os.PathLike) -> list[ModelConfig]:
    """Parse one YAML or JSON file into located configs (not yet validated)."""
    file = os.fspath(path)
    try:
        raw = read_bounded(file)
    except ConfigError:  # too large, not a regular file: already says what happened
        raise
    except FileNotFoundError:
        raise ConfigError(ConfigIssue("file not found", file=file)) from None
    except OSError as exc:
        raise ConfigError(ConfigIssue(f"cannot read file: {exc.strerror}", file=file)) from None
    except ValueError as exc:  # e.g. "embedded null byte"
        raise ConfigError(ConfigIssue(f"invalid file path: {exc}", file=file)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(ConfigIssue(f"not UTF-8 text (byte {exc.start})", file=file)) from None
    if file.lower().endswith(".json"):
        units = _units(_parse_json(text, file), file)
        try:  # JSON is YAML: a second, YAML parse gives the line of every config
            yaml_data, locations = _parse_yaml(text, file)
            twins = _units(yaml_data, file)
        except ConfigError:
            locations, twins = {}, []
    else:
        yaml_data, locations = _parse_yaml(text, file)
        units = twins = _units(yaml_data, file)
    configs = []
    for i, unit in enumerate(units):
        twin = twins[i] if i < len(twins) else None
        line, key_lines = locations.get(id(twin), (None, {}))
        configs.append(_make_config(unit, file, line, key_lines))
    return configs


def _make_config(unit: Any, file: str | None, line: int | None, key_lines: dict) -> ModelConfig:
    if not isinstance(unit, dict):
        raise ConfigError(
            ConfigIssue(
                f"a model config must be a mapping, got {type(unit).__name__}", file=file, line=line
            )
        )
    check_nesting(unit, file, line)
    missing: dict[str, str] = {}
    data = _expand(unit, "", missing)  # checked once expanded: ${VAR} can bring anything
    config = ModelConfig(data, file, line, dict(key_lines), missing)
    problems = value_problems(data)
    if problems:
        raise ConfigError([config.issue(message, field_path(p)) for p, message in problems])
    _register_secrets(data)
    return config


def _register_secrets(data: dict[str, Any]) -> None:
    """Remember the secrets of a config as soon as it is read (the values of secret fields such
    as ``api_key``, header values, URL userinfo and key-like query parameters: see
    :func:`~agentscope_legacy._secrets.register_config_secrets`), so that they are scrubbed
    from everything even before a wrapper exists (a saved experiment, a log line, a prompt
    that quotes one)."""
    from ._secrets import register_config_secrets

    # A credential entry's name and a config's `credential:` are names, not secrets (their
    # keys look secret-shaped): registered, every later message would mask the name.
    register_config_secrets({k: v for k, v in data.items() if k not in _CREDENTIAL_REFS})


def read_bounded(file: str | os.PathLike) -> bytes:
    """The bytes of a config or experiment file. A ConfigError, before anything is read, for
    what is not a regular file (a named pipe, which would block the read forever; a device
    such as ``/dev/zero``, which never ends; a directory) and for a file over MAX_FILE_BYTES.
    OSError when the file cannot be opened or read.

    The file is opened non-blocking (opening a FIFO for reading otherwise waits for a writer)
    and checked with ``fstat`` on that descriptor, so it cannot be swapped in between."""
    name = os.fspath(file)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(name, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(
                ConfigIssue(f"not a regular file ({_file_kind(info.st_mode)})", file=name)
            )
        if info.st_size > MAX_FILE_BYTES:
            raise ConfigError(_too_large(name, info.st_size))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)  # a file that grew since fstat: still bounded
    finally:
        os.close(fd)
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(_too_large(name, None))
    return raw


def _too_large(file: str, size: int | None) -> ConfigIssue:
    what = f"{size:,} bytes" if size is not None else "over the limit"
    return ConfigIssue(f"file too large: {what}, limit {MAX_FILE_BYTES:,} bytes", file=file)


def _file_kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((kind for test, kind in kinds if test(mode)), "not a file")


# -- values no config or experiment may hold ---------------------------------------------------
# A lone surrogate is not Unicode text: it cannot be written as UTF-8 (the run's files, the
# terminal). Control characters (C0, DEL, C1: terminal escapes start with ESC or CSI) have no
# place in a name, where an error message or a log line would print them raw.
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
#: Keys whose string values are names (printed in errors, logs and file names).
NAME_FIELDS = frozenset(
    {"config_name", "model_type", "model_name", "model", "model_config_name", "name", "class"}
)
MAX_VALUE_PROBLEMS = 20


def value_problems(value: Any) -> list[tuple[tuple[Any, ...], str]]:
    """``[(path, message)]`` for every value no config or experiment may hold: a number that
    is not finite (NaN, infinity: ``.nan``, ``NaN``, ``1e400``), a string or key with a lone
    surrogate, a mapping key or a name (NAME_FIELDS) with control characters. Walked without
    recursion, each shared node once; at most MAX_VALUE_PROBLEMS are reported."""
    found: list[tuple[tuple[Any, ...], str]] = []
    seen: set[int] = set()
    stack: list[tuple[Any, tuple[Any, ...], bool]] = [(value, (), False)]
    while stack and len(found) < MAX_VALUE_PROBLEMS:
        node, path, is_name = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            found.append((path, f"expected a finite number, got {node!r}"))
        elif isinstance(node, str):
            problem = _text_problem(node, is_name)
            if problem:
                found.append((path, problem))
        elif isinstance(node, (dict, list)) and id(node) not in seen:
            seen.add(id(node))
            if isinstance(node, list):
                stack.extend((v, (*path, i), False) for i, v in enumerate(node))
                continue
            for key, item in node.items():
                if isinstance(key, str) and _UNPRINTABLE.search(key):
                    found.append(((*path, repr(key)), _text_problem(key, True)))
                    continue
                stack.append((item, (*path, key), key in NAME_FIELDS))
    found.reverse()
    return found


def _text_problem(text: str, is_name: bool) -> str:
    if _SURROGATE.search(text):
        return (
            f"not valid text: {_preview(text)} contains a lone surrogate, which cannot be "
            "written as UTF-8"
        )
    if is_name and _UNPRINTABLE.search(text):
        return f"control characters are not allowed in a name: {_preview(text)}"
    return ""


def _preview(text: str) -> str:
    shown = repr(text)  # escapes control characters and surrogates
    return shown if len(shown) <= 60 else shown[:57] + "..."


def field_path(path: Iterable[Any]) -> str | None:
    """``("timeout", "read")`` → ``timeout.read``; ``("stop", 0)`` → ``stop[0]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or None


def check_nesting(value: Any, file: str | None = None, line: int | None = None) -> None:
    """A ConfigError if dicts and lists in ``value`` nest deeper than MAX_NESTING (counted
    without recursion; a structure that contains itself is infinitely deep)."""
    deepest: dict[int, int] = {}  # id -> deepest level seen, so shared nodes are walked again
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, (dict, list, tuple)) or deepest.get(id(node), 0) >= depth:
            continue
        if depth > MAX_NESTING:
            raise _too_deep(file, line)
        deepest[id(node)] = depth
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children)


def read_configs(source: ConfigSource | Iterable[ConfigSource]) -> list[ModelConfig]:
    """Located configs from a path, a dict, or a list of paths and dicts (nested once); the
    credential entries among them are merged into the configs naming them
    (:func:`resolve_credentials`)."""
    return resolve_credentials(_read_sources(source))


def _read_sources(source: ConfigSource | Iterable[ConfigSource]) -> list[ModelConfig]:
    if isinstance(source, (str, os.PathLike)):
        return read_file(source)
    if isinstance(source, dict):
        return [_make_config(source, None, None, {})]
    if isinstance(source, (list, tuple)):
        configs: list[ModelConfig] = []
        for item in source:
            if isinstance(item, (str, os.PathLike)):
                configs.extend(read_file(item))
            elif isinstance(item, dict):
                configs.append(_make_config(item, None, None, {}))
            elif isinstance(item, (list, tuple)):
                configs.extend(_read_sources(list(item)))
            else:
                raise ConfigError(
                    f"a model config must be a dict or a file path, got {type(item).__name__}"
                )
        return configs
    raise ConfigError(
        "model_configs must be a file path, a dict, or a list of paths and dicts; "
        f"got {type(source).__name__}"
    )


# -- credentials -------------------------------------------------------------------------------
#: Provider -> (the chat wrapper's model_type, the wrapper's field for the endpoint): what a
#: config naming a credential of that provider gets (agentscope_legacy.credential has a class
#: per provider; register_credential_provider adds one).
CREDENTIAL_PROVIDERS: dict[str, tuple[str, str]] = {
    "openai": ("openai_chat", "base_url"),
    "anthropic": ("anthropic_chat", "base_url"),
    "dashscope": ("dashscope_chat", "base_url"),
    "gemini": ("gemini_chat", "base_url"),
    "ollama": ("ollama_chat", "host"),
    "deepseek": ("deepseek_chat", "base_url"),
    "kimi": ("kimi_chat", "base_url"),
    "xai": ("xai_chat", "base_url"),
    "vllm": ("vllm_chat", "base_url"),
    "local": ("llamacpp_chat", "model_path"),
}
_CREDENTIAL_REFS = ("credential_name", "credential")
CREDENTIAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["credential_name", "provider"],
    "properties": {
        "credential_name": {"type": "string", "minLength": 1},
        "provider": {"type": "string", "minLength": 1},
        "api_key": {"type": ["string", "null"]},
        "base_url": {"type": ["string", "null"]},
        "model_path": {"type": ["string", "null"]},
    },
    "additionalProperties": False,
}


def register_credential_provider(provider: str, model_type: str, url_field: str) -> None:
    """Let credential entries name ``provider`` (a custom provider's wrapper type)."""
    CREDENTIAL_PROVIDERS[provider] = (model_type, url_field)


def is_credential(config: ModelConfig) -> bool:
    """Whether a read unit declares a credential (``credential_name:``) rather than a model."""
    return "credential_name" in config.data and "config_name" not in config.data


def credential_issues(entry: ModelConfig) -> list[ConfigIssue]:
    """Every problem of one credential entry, checked with :data:`CREDENTIAL_SCHEMA`."""
    from jsonschema import Draft202012Validator

    name = entry.data.get("credential_name")
    name = name if isinstance(name, str) else None

    def issue(message: str, key: str | None) -> ConfigIssue:
        line = entry.key_lines.get(key, entry.line) if key else entry.line
        return ConfigIssue(message, file=entry.file, line=line, config_name=name, field=key)

    issues = []
    for error in Draft202012Validator(CREDENTIAL_SCHEMA).iter_errors(entry.data):
        key = next((str(p) for p in error.absolute_path), None)
        if error.validator == "additionalProperties":
            extra = sorted(set(entry.data) - set(CREDENTIAL_SCHEMA["properties"]))
            issues += [
                issue(f"unknown field for a credential{_did_you_mean(k)}", str(k)) for k in extra
            ]
        elif error.validator == "required":
            issues.append(issue(error.message.replace("'", "", 2), None))
        else:  # values are never shown: api_key is a secret
            issues.append(issue(f"expected {error.schema.get('type')}", key))
    provider = entry.data.get("provider")
    if isinstance(provider, str) and provider and provider not in CREDENTIAL_PROVIDERS:
        known = ", ".join(sorted(CREDENTIAL_PROVIDERS))
        issues.append(issue(f"unknown provider '{provider}' (known: {known})", "provider"))
    url_field = CREDENTIAL_PROVIDERS.get(provider, ("", "base_url"))[1] if provider else ""
    for key in ("base_url", "model_path"):
        wanted = "model_path" if url_field == "model_path" else "base_url"
        if entry.data.get(key) is not None and key != wanted and provider in CREDENTIAL_PROVIDERS:
            issues.append(issue(f"provider '{provider}' takes `{wanted}`, not `{key}`", key))
    return issues


def _did_you_mean(key: Any) -> str:
    import difflib

    close = difflib.get_close_matches(str(key), list(CREDENTIAL_SCHEMA["properties"]), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def read_credentials(source: ConfigSource | Iterable[ConfigSource]) -> dict[str, ModelConfig]:
    """The credential entries of ``source`` by ``credential_name``, validated (a ConfigError
    lists every problem of the whole source, configs included)."""
    configs = _read_sources(source)
    resolve_credentials(configs)
    return {c.data["credential_name"]: c for c in configs if is_credential(c)}


def resolve_credentials(configs: list[ModelConfig]) -> list[ModelConfig]:
    """The model configs of ``configs``, each naming ``credential: <credential_name>`` given
    that credential's ``model_type`` (unless it sets one), key and endpoint (unless it sets
    them); the credential entries are dropped. One ConfigError lists every problem."""
    credentials: dict[str, ModelConfig] = {}
    issues: list[ConfigIssue] = []
    models = []
    for config in configs:
        if not is_credential(config):
            models.append(config)
            continue
        problems = credential_issues(config)
        name = config.data.get("credential_name")
        if not problems and name in credentials:
            first = credentials[name]
            where = f" (first defined at {first.file}:{first.line})" if first.file else ""
            problems.append(
                ConfigIssue(
                    f"duplicate credential_name{where}",
                    file=config.file,
                    line=config.line,
                    config_name=name,
                    field="credential_name",
                )
            )
        issues += problems
        if not problems:
            credentials[name] = config
    for config in models:
        if "credential" not in config.data:
            continue
        ref = config.data["credential"]
        entry = credentials.get(ref) if isinstance(ref, str) else None
        if entry is None:
            import difflib

            close = difflib.get_close_matches(str(ref), list(credentials), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            known = f" (declared: {', '.join(credentials)})" if credentials else ""
            issues.append(config.issue(f"unknown credential '{ref}'{hint}{known}", "credential"))
            continue
        model_type, url_field = CREDENTIAL_PROVIDERS[entry.data["provider"]]
        data = {k: v for k, v in config.data.items() if k != "credential"}
        data.setdefault("model_type", model_type)
        source = "model_path" if url_field == "model_path" else "base_url"
        for key, field_name in (("api_key", "api_key"), (source, url_field)):
            if entry.data.get(key) is None or field_name in data:
                continue  # the config's own value wins
            data[field_name] = entry.data[key]
            if key in entry.missing_env:  # building it will need that variable
                config.missing_env.setdefault(field_name, entry.missing_env[key])
        config.data = data
    if issues:
        raise ConfigError(issues)
    return models


# -- environment expansion ---------------------------------------------------------------------
def _expand(
    value: Any, path: str, missing: dict[str, str], memo: dict[int, Any] | None = None
) -> Any:
    # YAML aliases make one object appear in many places; expanding each once (memo) keeps
    # them shared, so a small "billion laughs" file stays small.
    if isinstance(value, str):
        return expand_env(value, path, missing) if "$" in value else value
    if not isinstance(value, (dict, list)):
        return value
    memo = {} if memo is None else memo
    done = memo.get(id(value))
    if done is not None:
        return done
    if isinstance(value, dict):
        result: Any = {}
        memo[id(value)] = result
        for k, v in value.items():
            result[k] = _expand(v, f"{path}.{k}" if path else str(k), missing, memo)
    else:
        result = []
        memo[id(value)] = result
        result.extend(_expand(v, f"{path}[{i}]", missing, memo) for i, v in enumerate(value))
    return result


def expanded_size(value: Any, memo: dict[int, int] | None = None) -> int:
    """Number of nodes ``value`` would have with every YAML alias copied out (computed in time
    linear in the distinct nodes)."""
    if not isinstance(value, (dict, list)):
        return 1
    memo = {} if memo is None else memo
    known = memo.get(id(value))
    if known is not None:
        return known
    memo[id(value)] = 1  # a recursive alias counts once rather than looping
    children = value.values() if isinstance(value, dict) else value
    total = 1 + sum(expanded_size(v, memo) for v in children)
    memo[id(value)] = total
    return total


def expand_env(text: str, path: str = "", missing: dict[str, str] | None = None) -> str:
    """Expand ``${VAR}`` / ``${VAR:-default}``; unset variables without default are noted."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name)
        if value is None or (value == "" and default is not None):
            if default is not None:
                return default
            if missing is not None:
                missing[path] = name
            return ""
        return value

    return _ENV_REF.sub(substitute, text)
