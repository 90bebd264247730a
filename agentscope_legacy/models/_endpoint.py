"""One spelling of a wrapper's endpoint and key: ``base_url`` and ``api_key``.

Each SDK (and 0.x) names them its own way (``host``, ``api_base``, ``api_url``,
``base_http_api_url``, ``client_args.base_url``...). Wrappers accept those too, through
:func:`one_spelling`; two spellings that disagree are a ConfigError, never a silent choice.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError, ConfigIssue


def one_spelling(
    config_name: str, field: str, value: Any, old: dict[str, Any], *, secret: bool = False
) -> Any:
    """The value of ``field``, else of the one old spelling in ``old`` (``{name: value}``,
    ``None`` meaning not given). Two given spellings with different values are a ConfigError
    naming both (with the values, unless ``secret``)."""
    given = {field: value} if value is not None else {}
    given.update((name, v) for name, v in old.items() if v is not None)
    if not given:
        return None
    names = list(given)
    first = given[names[0]]
    for name in names[1:]:
        if _same(given[name], first):
            continue
        shown = "" if secret else f" ({first!r} and {given[name]!r})"
        raise ConfigError(
            ConfigIssue(
                f"`{names[0]}` and `{name}` are two spellings of one setting and give "
                f"different values{shown}: keep `{field}` only",
                config_name=config_name,
                field=field,
            )
        )
    return first


def _same(a: Any, b: Any) -> bool:
    # "http://h/v1" and "http://h/v1/" name one endpoint.
    if isinstance(a, str) and isinstance(b, str):
        return a.rstrip("/") == b.rstrip("/")
    return bool(a == b)


def endpoint_and_key(
    config_name: str,
    base_url: str | None,
    api_key: str | None,
    *,
    urls: dict[str, Any] | None = None,
    keys: dict[str, Any] | None = None,
) -> tuple[Any, Any]:
    """``(base_url, api_key)`` from the new fields or the old spellings ``urls``/``keys``."""
    return (
        one_spelling(config_name, "base_url", base_url, urls or {}),
        one_spelling(config_name, "api_key", api_key, keys or {}, secret=True),
    )


def popped(args: dict[str, Any], where: str, name: str) -> dict[str, Any]:
    """``{"<where>.<name>": value}``, removed from ``args`` so the SDK is not given it twice."""
    return {f"{where}.{name}": args.pop(name, None)}
