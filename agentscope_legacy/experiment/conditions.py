"""The condition language of experiment files: declared tests on the last message.

A condition is a mapping, never code (nothing from a file is ever ``eval``-ed)::

    {contains: agree}                              # on the text content
    {regex: "^(yes|no)\\b", ignore_case: true}
    {field: metadata.verdict, equals: stop}        # a field of the parsed reply
    {field: metadata.score, gte: 7}
    {field: name, in: [judge, host]}
    {field: metadata.verdict, exists: true}
    {all: [...]}  {any: [...]}  {not: {...}}

``field`` is ``content`` (default), ``name``, ``role`` or ``metadata.<key>[.<key>...]``.
A missing field or no message at all is ``None``: every test on it is false except
``exists: false``.

``regex`` runs on the ``regex`` package (the syntax of ``re``) with a time limit, so a pattern
that backtracks catastrophically (``(a|aa)+$`` on a long reply) is a ConfigError naming it
instead of a run that never ends.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from ..message import Msg

COMPARISONS = ("equals", "contains", "regex", "gt", "gte", "lt", "lte", "in", "exists")
COMBINATORS = ("all", "any", "not")
FIELD_PATTERN = r"^(content|name|role|metadata)(\.[^.\s]+)*$"
#: Seconds one ``regex`` test may take (a real one takes microseconds).
REGEX_TIMEOUT = 1.0

_NUMBER = {"type": "number"}
_LIST = {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/condition"}}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "x-expected": "a condition mapping, e.g. {contains: agree} or "
    "{field: metadata.verdict, equals: stop}",
    "minProperties": 1,
    "properties": {
        "field": {
            "type": "string",
            "pattern": FIELD_PATTERN,
            "x-expected": "content, name, role or metadata.<key>",
        },
        "equals": {},
        "contains": {"type": ["string", "number", "boolean"]},
        "regex": {"type": "string"},
        "gt": _NUMBER,
        "gte": _NUMBER,
        "lt": _NUMBER,
        "lte": _NUMBER,
        "in": {"type": "array"},
        "exists": {"type": "boolean"},
        "ignore_case": {"type": "boolean"},
        "all": _LIST,
        "any": _LIST,
        "not": {"$ref": "#/$defs/condition"},
    },
    "additionalProperties": False,
}


def problems(condition: Any, path: tuple = ()) -> list[tuple[tuple, str]]:
    """What the schema cannot say: one test per mapping, valid regexes. ``[(path, message)]``."""
    if not isinstance(condition, Mapping):
        return []
    found: list[tuple[tuple, str]] = []
    tests = [k for k in (*COMPARISONS, *COMBINATORS) if k in condition]
    if len(tests) != 1:
        listed = ", ".join(tests) if tests else "none"
        found.append(
            (
                path,
                f"expected exactly one test ({', '.join(COMPARISONS + COMBINATORS)}); "
                f"found {listed}",
            )
        )
    elif tests[0] in COMBINATORS:
        for key in ("field", "ignore_case"):
            if key in condition:
                found.append(((*path, key), f"'{key}' does not apply to '{tests[0]}'"))
    if isinstance(condition.get("regex"), str):
        import regex

        try:
            regex.compile(condition["regex"])
        except (regex.error, re.error) as exc:
            found.append(((*path, "regex"), f"invalid regular expression: {exc}"))
    for key in ("all", "any"):
        if isinstance(condition.get(key), list):
            for i, item in enumerate(condition[key]):
                found.extend(problems(item, (*path, key, i)))
    if "not" in condition:
        found.extend(problems(condition["not"], (*path, "not")))
    return found


def field_value(msg: Msg | None, field: str = "content") -> Any:
    """The value a condition tests: a Msg attribute or a path into its metadata."""
    if msg is None:
        return None
    head, *keys = field.split(".")
    if head == "content":
        value: Any = msg.get_text_content()
    elif head == "metadata":
        value = msg.metadata
    else:
        value = getattr(msg, head, None)
    for key in keys:
        if isinstance(value, Mapping):
            value = value.get(key)
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return None
    return value


def evaluate(condition: Mapping[str, Any], msg: Msg | None) -> bool:
    """Whether ``condition`` holds for ``msg`` (the last message; ``None`` if there is none)."""
    if "all" in condition:
        return all(evaluate(c, msg) for c in condition["all"])
    if "any" in condition:
        return any(evaluate(c, msg) for c in condition["any"])
    if "not" in condition:
        return not evaluate(condition["not"], msg)
    value = field_value(msg, condition.get("field", "content"))
    fold = bool(condition.get("ignore_case"))
    if "exists" in condition:
        return (value is not None) == bool(condition["exists"])
    if value is None:
        return False
    if "equals" in condition:
        return _fold(value, fold) == _fold(condition["equals"], fold)
    if "contains" in condition:
        if isinstance(value, list):
            return _fold(condition["contains"], fold) in [_fold(v, fold) for v in value]
        return _fold(str(condition["contains"]), fold) in _fold(str(value), fold)
    if "regex" in condition:
        return _search(condition["regex"], str(value), fold)
    if "in" in condition:
        return _fold(value, fold) in [_fold(v, fold) for v in condition["in"]]
    number = _number(value)
    if number is None:
        return False
    for key, test in _ORDER.items():
        if key in condition:
            return bool(test(number, condition[key]))
    raise ValueError(f"not a condition: {dict(condition)!r}")


def _search(pattern: str, text: str, fold: bool) -> bool:
    import regex

    try:
        found = regex.search(pattern, text, regex.IGNORECASE if fold else 0, timeout=REGEX_TIMEOUT)
    except TimeoutError:
        raise ConfigError(
            f"the condition {{regex: {pattern!r}}} took more than {REGEX_TIMEOUT:g} s on a text "
            f"of {len(text):,} characters and was stopped: the pattern backtracks "
            "catastrophically (nested repetition such as (a+)+ or (a|aa)+); rewrite it"
        ) from None
    return found is not None


_ORDER = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


def _fold(value: Any, fold: bool) -> Any:
    return value.casefold() if fold and isinstance(value, str) else value


def _number(value: Any) -> float | None:
    """Numbers, and numeric strings (models often quote them); never booleans."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def describe(condition: Mapping[str, Any]) -> str:
    """A one-line reading of a condition, for ``--dry-run`` plans."""
    if "all" in condition or "any" in condition:
        key = "all" if "all" in condition else "any"
        joiner = " and " if key == "all" else " or "
        return "(" + joiner.join(describe(c) for c in condition[key]) + ")"
    if "not" in condition:
        return f"not {describe(condition['not'])}"
    test = next((k for k in COMPARISONS if k in condition), "?")
    return f"{condition.get('field', 'content')} {test} {condition.get(test)!r}"
