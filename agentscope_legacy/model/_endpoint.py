"""One spelling of a model's endpoint in the newer layer: ``base_url`` (beside ``api_key``).

The SDKs name it their own way (Ollama's ``host``, DashScope's ``base_http_api_url`` and the
websocket ``url`` of its realtime classes); those old spellings keep working. Two spellings
given with different values are a ConfigError naming both, as for the 0.x wrappers.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from ..errors import ConfigError, ConfigIssue
from ..models._endpoint import one_spelling

#: Where DashScope serves its HTTP API and its realtime websocket, under one host.
_DASHSCOPE_HTTP_PATH = "/api/v1"
_DASHSCOPE_REALTIME_PATH = "/api-ws/v1/realtime"


def base_url_of(owner: str, base_url: str | None, **old: str | None) -> str | None:
    """``base_url``, else the one old spelling given in ``old`` (``{name: value}``); the 0.x
    wrappers' rule (:func:`~agentscope_legacy.models._endpoint.one_spelling`)."""
    return one_spelling(owner, "base_url", base_url, old)


def dashscope_realtime_url(owner: str, base_url: str | None, url: str | None) -> str | None:
    """The realtime websocket endpoint of a DashScope model from ``base_url`` or ``url``.

    ``url`` (the SDK's) and a ``ws://``/``wss://`` ``base_url`` are the endpoint itself. An
    HTTP ``base_url`` is the API's (``https://<host>/api/v1``, the one the chat and TTS
    models take): its host's realtime endpoint is ``wss://<host>/api-ws/v1/realtime``.
    """
    if base_url is not None:
        base_url = _realtime_endpoint(owner, base_url)
    return base_url_of(owner, base_url, url=url)


def _realtime_endpoint(owner: str, base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme in ("ws", "wss"):
        return base_url
    path = parts.path.rstrip("/")
    if parts.scheme not in ("http", "https") or not path.endswith(_DASHSCOPE_HTTP_PATH):
        raise ConfigError(
            ConfigIssue(
                f"{owner}: base_url {base_url!r} is neither a websocket endpoint (ws:// or "
                f"wss://) nor DashScope's HTTP base (http(s)://<host>{_DASHSCOPE_HTTP_PATH})",
                field="base_url",
            )
        )
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = path[: -len(_DASHSCOPE_HTTP_PATH)] + _DASHSCOPE_REALTIME_PATH
    return urlunsplit((scheme, parts.netloc, path, "", ""))

