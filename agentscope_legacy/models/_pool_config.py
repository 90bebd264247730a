"""Endpoint pools at load time: what a JSON Schema cannot check, and building the pool.

``pool_issues`` runs with the loader's validation (``manager.py``); ``build_pool`` when the
config's wrapper is built: one wrapper per endpoint, each once, in an ``EndpointPool``.
"""

from __future__ import annotations

import difflib
from typing import Any

from .._secrets import redact_urls
from ..errors import ConfigIssue
from ._base import COMMON_PROPERTIES, ENDPOINT_SCHEMA, ModelWrapperBase
from ._pool import Endpoint, EndpointPool


def endpoint_label(base_url: str) -> str:
    """How an endpoint is named in errors, rows and stats: its URL, credentials masked."""
    return redact_urls(base_url)


def pool_issues(config: Any, cls: type[ModelWrapperBase]) -> list[ConfigIssue]:
    """What a JSON Schema cannot say about a pool: the wrapper must take ``base_url`` and
    ``api_key``; ``routing``/``cooldown`` need ``endpoints``; labels must differ."""
    data = config.data
    if "endpoints" not in data:
        return [
            config.issue("only applies with `endpoints` (an endpoint pool)", name)
            for name in ("routing", "cooldown")
            if name in data
        ]
    if not isinstance(data["endpoints"], list):
        return []  # the schema reported it
    properties = cls.json_schema().get("properties", {})
    missing = [name for name in ("base_url", "api_key") if name not in properties]
    if missing:
        return [
            config.issue(
                f"model_type '{cls.model_type}' takes no {' or '.join(missing)}, so it cannot "
                "be served by an endpoint pool",
                "endpoints",
            )
        ]
    seen: dict[str, int] = {}
    # Unknown keys inside the mappings (the loader's did-you-mean covers the top level only).
    issues = _unknown_keys(config, data.get("cooldown"), COMMON_PROPERTIES["cooldown"], "cooldown")
    for i, entry in enumerate(data["endpoints"]):
        issues += _unknown_keys(config, entry, ENDPOINT_SCHEMA, f"endpoints[{i}]")
        if not isinstance(entry, dict) or not isinstance(entry.get("base_url"), str):
            continue  # the schema reported it
        label = endpoint_label(entry["base_url"])
        if label in seen:
            issues.append(
                config.issue(f"the same base_url as endpoints[{seen[label]}]",
                             f"endpoints[{i}].base_url")
            )
        seen.setdefault(label, i)
    return issues


def _unknown_keys(config: Any, value: Any, schema: dict[str, Any], where: str) -> list[ConfigIssue]:
    if not isinstance(value, dict):
        return []
    known = list(schema["properties"])
    issues = []
    for key in value:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f" (known: {', '.join(known)})"
            issues.append(config.issue(f"unknown field{hint}", f"{where}.{key}"))
    return issues


def build_pool(cls: type[ModelWrapperBase], kwargs: dict[str, Any]) -> EndpointPool:
    """One wrapper of ``cls`` per endpoint (an entry's base_url and api_key over the config's
    own), built now and kept, in an EndpointPool."""
    entries = kwargs.pop("endpoints")
    routing = kwargs.pop("routing", "weighted")
    cooldown = kwargs.pop("cooldown", None)
    endpoints = []
    for entry in entries:
        own = dict(kwargs, base_url=entry["base_url"])
        if entry.get("api_key"):
            own["api_key"] = entry["api_key"]
        wrapper = cls(**own)
        label = endpoint_label(entry["base_url"])
        wrapper.pool_endpoint = label  # type: ignore[attr-defined]
        endpoints.append(Endpoint(wrapper, label, entry))
    return EndpointPool(endpoints, routing=routing, cooldown=cooldown)
