"""``GeminiTokenCounter``: Gemini's ``countTokens`` API, through the ``google-genai`` SDK."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from typing import Any

from .._secrets import register_secret
from ..errors import ConfigError
from ._base import TokenCounterBase

_CLIENT_KWARGS = ("vertexai", "enterprise", "credentials", "project", "location", "debug_config")


class GeminiTokenCounter(TokenCounterBase):
    """Counts with ``client.models.count_tokens(model=..., contents=...)`` (``totalTokens``).

    Messages may be Gemini-shaped (``{"role", "parts": [...]}``, the Gemini formatters' output) or
    OpenAI-shaped; they become contents with the ``gemini_chat`` wrapper's own conversion
    (:func:`agentscope_legacy.models.gemini.split_system`), tools with ``tools_to_gemini``.

    With a Vertex AI client the system prompt and tools go in the request's ``config``
    (``system_instruction``, ``tools``) and are counted exactly. The Gemini Developer API's
    ``countTokens`` accepts neither through the SDK, so there they are counted as a leading user
    turn: the system parts, then one text part with the JSON of the tool declarations (an
    approximation of their cost).

    Args:
        model_name: e.g. ``"gemini-2.5-flash"``.
        api_key: defaults to ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY``).
        base_url: the API root (``HttpOptions.base_url``).
        client_args: ``HttpOptions`` fields (``api_version``, ``timeout``, ``headers``, ...) and
            the client's own ``vertexai``, ``project``, ``location``, ``credentials``.
    """

    def __init__(
        self,
        model_name: str,
        api_key: str | None = None,
        base_url: str | None = None,
        client_args: dict[str, Any] | None = None,
    ) -> None:
        from ..models.gemini import import_genai

        import_genai()  # a missing SDK is reported now, naming the extra
        self.model_name = model_name
        self.api_key = api_key
        self.base_url = base_url
        self.client_args = dict(client_args or {})
        self._client: Any = None
        self._lock = threading.Lock()
        register_secret(api_key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_name={self.model_name!r})"

    @property
    def client(self) -> Any:
        """The ``genai.Client`` (built on first use)."""
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    @property
    def vertexai(self) -> bool:
        return bool(self.client_args.get("vertexai") or self.client_args.get("enterprise"))

    def _make_client(self) -> Any:
        from ..models.gemini import import_genai

        genai = import_genai()
        options = dict(self.client_args)
        client_kwargs = {k: options.pop(k) for k in _CLIENT_KWARGS if k in options}
        client_kwargs.setdefault("vertexai", False)  # never switched on by the environment
        if self.base_url:
            options["base_url"] = self.base_url
        key = self.api_key or os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY")
        if not key and not self.vertexai:
            raise ConfigError("GeminiTokenCounter: no API key: pass api_key or set GEMINI_API_KEY")
        register_secret(key)
        return genai.Client(
            api_key=key, http_options=genai.types.HttpOptions(**options), **client_kwargs
        )

    def build_request(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """The keyword arguments :meth:`count` passes to ``client.models.count_tokens``."""
        from ..models.gemini import split_system, tools_to_gemini

        system, contents = split_system(messages)
        gemini_tools = tools_to_gemini(tools) if tools else []
        request: dict[str, Any] = {"model": self.model_name, "contents": contents}
        if self.vertexai:
            config: dict[str, Any] = {}
            if system and not contents:  # a lone system prompt is the turn
                request["contents"] = [{"role": "user", "parts": system}]
            elif system:
                config["system_instruction"] = {"parts": system}
            if gemini_tools:
                config["tools"] = gemini_tools
            if config:
                request["config"] = config
            return request
        lead = list(system)
        if gemini_tools:
            lead.append({"text": json.dumps(gemini_tools, ensure_ascii=False)})
        if lead:
            request["contents"] = [{"role": "user", "parts": lead}, *contents]
        return request

    async def count(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
    ) -> int:
        request = self.build_request(messages, tools)
        if not request["contents"]:
            return 0
        result = await asyncio.to_thread(self._count, request)
        return int(result.total_tokens or 0)

    def _count(self, request: dict[str, Any]) -> Any:
        return self.client.models.count_tokens(**request)
