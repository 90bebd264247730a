"""An experiment document: the parsed YAML, where each part of it is, ``--set`` overrides and
``{{var}}`` substitution.

Every problem is an :class:`ExperimentIssue` naming the file, the line and the path inside
the document (``pipeline[2].loop.max_rounds``), so a user can go straight to it.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ConfigIssue

DocPath = tuple[str | int, ...]
SECTIONS = ("description", "vars", "model_configs", "agents", "pipeline", "metrics", "run")
# {{name}} or {{name.key}}: document variables and for_each items. Distinct from ${ENV}.
VAR_REF = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_-]+)*)\s*\}\}")
_PATH_PART = re.compile(r"([^.\[\]=]+)|\[(\d+)\]")
MAX_PATH_PARTS = 100  # config.MAX_NESTING: no value of a document is deeper


class ExperimentIssue(ConfigIssue):
    """A ConfigIssue shown as ``file:line: path: message`` (``field`` is the document path)."""

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        return f"{where}{self.field}: {self.message}" if self.field else where + self.message


def format_path(path: Iterable[str | int]) -> str:
    """``("pipeline", 2, "loop")`` → ``pipeline[2].loop``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


@dataclass
class Document:
    """The experiment mapping, the file it came from and the line of each key and item."""

    data: dict[str, Any]
    file: str | None = None
    base_dir: Path = field(default_factory=Path.cwd)
    lines: dict[DocPath, int] = field(default_factory=dict)

    def line_of(self, path: DocPath) -> int | None:
        """The line of ``path``, else of its nearest located ancestor."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None

    def issue(self, path: DocPath, message: str) -> ExperimentIssue:
        return ExperimentIssue(
            message, file=self.file, line=self.line_of(path), field=format_path(path) or None
        )


def read_document(path: str | os.PathLike) -> Document:
    """Parse an experiment file (safe YAML, duplicate keys rejected) with its lines."""
    from ..config import parse_yaml_with_locations, read_bounded

    file = os.fspath(path)
    try:
        text = read_bounded(file).decode("utf-8-sig")
    except ConfigError:  # too large
        raise
    except FileNotFoundError:
        raise ConfigError(ExperimentIssue("experiment file not found", file=file)) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(ExperimentIssue(f"cannot read the file: {exc}", file=file)) from None
    try:
        data, locations = parse_yaml_with_locations(text, file)
    except ConfigError as exc:
        raise ConfigError([_explain_yaml(i, text) for i in exc.issues]) from None
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise ConfigError(
            ExperimentIssue(f"expected a mapping of {', '.join(SECTIONS)}; got {got}", file=file)
        )
    lines: dict[DocPath, int] = {}
    _collect_lines(data, (), locations, lines)
    return Document(data, file, Path(file).resolve().parent, lines)


def _explain_yaml(issue: ConfigIssue, text: str) -> ExperimentIssue:
    message = issue.message
    lines = text.splitlines()
    # An error at the end of the stream is on the line after the last one.
    line = lines[issue.line - 1] if issue.line and issue.line <= len(lines) else ""
    if "{{" in line and ("unhashable" in message or "mapping" in message):
        message += ' (a value that starts with {{ must be quoted: "{{name}}")'
    return ExperimentIssue(message, file=issue.file, line=issue.line)


def _collect_lines(value: Any, path: DocPath, locations: dict, out: dict[DocPath, int]) -> None:
    if isinstance(value, dict):
        line, key_lines = locations.get(id(value), (None, {}))
        if line is not None:
            out.setdefault(path, line)  # a key's own line wins over its mapping's first line
        for key, key_line in key_lines.items():
            out[(*path, key)] = key_line
        for key, item in value.items():
            _collect_lines(item, (*path, key), locations, out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _collect_lines(item, (*path, i), locations, out)


# -- overrides ---------------------------------------------------------------------------------
def parse_override(text: str) -> tuple[DocPath, Any]:
    """``"agents.judge.model=gpt"`` → ``(("agents", "judge", "model"), "gpt")``.

    The value is read as YAML (``5`` is an int, ``[a, b]`` a list, ``'5'`` a string).
    """
    from ..config import parse_yaml_with_locations

    key, sep, raw = text.partition("=")
    path = parse_path(key)
    if not sep:
        raise ValueError(f"expected PATH=VALUE, got {text!r}")
    if not raw.strip():
        return path, raw
    try:  # the loader of config files: safe, and bounded in depth and size
        value = parse_yaml_with_locations(raw, "--set")[0]
    except ConfigError as exc:
        message = exc.issues[0].message
        if not message.startswith("invalid YAML"):
            raise ValueError(f"the value is refused: {message}") from None
        value = raw  # not YAML: the text as it is
    return path, value


def parse_path(text: str) -> DocPath:
    """``"pipeline[0].loop.max_rounds"`` → ``("pipeline", 0, "loop", "max_rounds")``."""
    parts: list[str | int] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        if text[pos] == "." and parts:
            pos += 1
        match = _PATH_PART.match(text, pos)
        if match is None:
            raise ValueError(f"invalid path {text!r} (expected e.g. agents.judge.model)")
        parts.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        pos = match.end()
        if len(parts) > MAX_PATH_PARTS:  # deeper than any document may nest: stop reading
            raise ValueError(
                f"path too long (over {MAX_PATH_PARTS} parts; documents nest at most "
                f"{MAX_PATH_PARTS} levels)"
            )
    if not parts or not isinstance(parts[0], str):
        raise ValueError(f"invalid path {text!r} (expected e.g. agents.judge.model)")
    return tuple(parts)


def apply_overrides(
    doc: Document, overrides: Mapping[str, Any] | Iterable[str] | None
) -> list[ExperimentIssue]:
    """Set each ``path = value`` in the document; a first part that is not a section names a
    variable in ``vars`` (``rounds=5`` is ``vars.rounds=5``). Returns the problems."""
    if isinstance(overrides, Mapping):  # Python values, used as they are
        items = [(str(k), lambda k=k, v=v: (parse_path(str(k)), v)) for k, v in overrides.items()]
    else:  # "path=value" texts, as from the command line
        items = [(str(t), lambda t=t: parse_override(str(t))) for t in overrides or ()]
    from ..config import _UNPRINTABLE, _text_problem

    issues: list[ExperimentIssue] = []
    for label, parse in items:
        try:
            if _text_problem(label, False):  # a lone surrogate: not text, never parsed
                raise ValueError(_text_problem(label, False))
            path, value = parse()
            _set(doc.data, _target(doc.data, path), copy.deepcopy(value))
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            message = exc.args[0] if exc.args else str(exc)
            shown = repr(label)[1:-1] if _UNPRINTABLE.search(label) else label
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            issues.append(
                ExperimentIssue(f"cannot apply: {message}", file=doc.file, field=f"--set {shown}")
            )
    return issues


def _target(data: dict[str, Any], path: DocPath) -> DocPath:
    head = path[0]
    if head not in SECTIONS:
        variables = data.get("vars")
        if isinstance(variables, dict) and head in variables:
            return ("vars", *path)
        close = difflib.get_close_matches(str(head), [*SECTIONS, *(variables or {})], n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise KeyError(
            f"'{head}' is neither a section ({', '.join(SECTIONS)}) nor a variable declared "
            f"in vars{hint}"
        )
    if len(path) == 3 and head == "agents" and path[2] in ("model", "model_config_name"):
        spec = (data.get("agents") or {}).get(path[1])
        other = "model_config_name" if path[2] == "model" else "model"
        if isinstance(spec, dict) and other in spec and path[2] not in spec:
            return (*path[:2], other)  # `model` and `model_config_name` are one setting
    return path


def _set(data: Any, path: DocPath, value: Any) -> None:
    node = data
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(part, int):
            if not isinstance(node, list):
                raise TypeError(f"{format_path(path[:i]) or 'the document'} is not a list")
            if not -len(node) <= part < len(node):
                where = format_path(path[: i + 1])  # only on error: linear in the path
                raise IndexError(f"{where}: index out of range (the list has {len(node)} items)")
        elif not isinstance(node, dict):
            raise TypeError(f"{format_path(path[:i])} is not a mapping")
        if last:
            node[part] = value
        elif isinstance(node, dict) and part not in node:
            node[part] = {} if isinstance(path[i + 1], str) else []
            node = node[part]
        else:
            node = node[part]


# -- variables ---------------------------------------------------------------------------------
def substitute_vars(doc: Document) -> list[tuple[DocPath, str]]:
    """Replace ``{{name}}`` by ``vars.name`` everywhere but in ``vars``; a string that is only
    a reference takes the variable's value and type (``"{{rounds}}"`` → ``5``).

    Returns the references left (``(path, name)``): for_each items are bound at run time.
    """
    variables = doc.data.get("vars")
    variables = variables if isinstance(variables, dict) else {}
    left: list[tuple[DocPath, str]] = []
    for key in list(doc.data):
        if key != "vars":
            doc.data[key] = _substitute(doc.data[key], (key,), variables, left)
    return left


def _substitute(value: Any, path: DocPath, variables: dict, left: list) -> Any:
    if isinstance(value, str):
        if "{{" not in value:
            return value
        rendered, missing = render(value, variables)
        left.extend((path, name) for name in missing)
        return rendered
    if isinstance(value, dict):
        for key in value:
            value[key] = _substitute(value[key], (*path, key), variables, left)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            value[i] = _substitute(item, (*path, i), variables, left)
    return value


def render(text: str, scope: Mapping[str, Any]) -> tuple[Any, list[str]]:
    """Fill ``{{name}}`` / ``{{name.key}}`` from ``scope``; unknown names are left as written.

    Returns the result (a whole-string reference keeps the value's type) and the names left.
    """
    missing: list[str] = []

    def lookup(match: re.Match[str]) -> tuple[bool, Any]:
        name, keys = match.group(1), match.group(2)
        if name not in scope:
            missing.append(name)
            return False, match.group(0)
        value = scope[name]
        for key in keys.split(".")[1:]:
            value = value.get(key) if isinstance(value, dict) else None
        return True, value

    whole = VAR_REF.fullmatch(text.strip())
    if whole is not None:
        found, value = lookup(whole)
        return (copy.deepcopy(value) if found else text), missing
    rendered = VAR_REF.sub(lambda m: _text(lookup(m)[1]), text)
    return rendered, missing


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: ""}[value]
    return str(value)
