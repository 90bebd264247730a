"""``CredentialBase``: a provider's auth fields, and what can be built or listed with them."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from .._secrets import redact_urls, register_secret, url_secrets
from ..errors import ProviderError
from . import _cache
from ._card import ModelCard

if TYPE_CHECKING:
    from ..model import ChatModelBase
    from ..models import ModelWrapperBase


class CredentialBase:
    """A provider's auth fields (key, base URL), from which models are listed and built.

    Subclasses set the class attributes and implement :meth:`_fetch_models` (a sync SDK call:
    :meth:`list_models` runs it in a worker thread).

    Args:
        api_key: the key; default: the first set variable of ``api_key_env``.
        base_url: the provider's endpoint; default ``default_base_url`` (the SDK's own when None).
        timeout: seconds for one listing request.
        cache_ttl: seconds a listing is reused from the disk cache (0: never).
    """

    #: The provider's name, as in ``"openai:gpt-4o-mini"`` and the ``CREDENTIALS`` table.
    provider: ClassVar[str] = "custom"
    #: Environment variables consulted for the key, in order.
    api_key_env: ClassVar[tuple[str, ...]] = ()
    default_base_url: ClassVar[str | None] = None
    #: The 0.x chat wrapper's ``model_type`` (:meth:`wrapper_config`).
    model_type: ClassVar[str | None] = None
    #: The wrapper's field for the endpoint (Ollama calls it ``host``).
    base_url_field: ClassVar[str] = "base_url"

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 30.0,
        cache_ttl: float = _cache.DEFAULT_TTL,
    ) -> None:
        key = api_key or next((os.environ[n] for n in self.api_key_env if os.environ.get(n)), None)
        self._api_key = key or None
        self.base_url = base_url or self.default_base_url
        # Masked in every log line and error from now on (a URL may carry a token too).
        for secret in (key, *url_secrets(self.base_url or "")):
            register_secret(secret)
        self.timeout = timeout
        self.cache_ttl = cache_ttl

    @property
    def api_key(self) -> str | None:
        """The key (from the field or the environment); never shown by ``repr`` or ``id``."""
        return self._api_key

    @property
    def id(self) -> str:
        """``provider:base_url#hash`` (credentials in the URL masked): the short hash of the
        key and the URL tells two credentials apart without holding either; it keys the
        listing cache."""
        secret = f"{self._api_key or ''}\0{self.base_url or ''}"
        digest = hashlib.sha256(secret.encode()).hexdigest()[:12]
        return f"{self.provider}:{redact_urls(self.base_url or 'default')}#{digest}"

    def __repr__(self) -> str:
        key = "set" if self._api_key else None
        url = redact_urls(self.base_url) if self.base_url else None
        return f"{type(self).__name__}(base_url={url!r}, api_key={key!r})"

    # -- building ----------------------------------------------------------------------------
    def get_chat_model_class(self) -> type[ChatModelBase]:
        """The newer-layer chat model class of this provider (``agentscope_legacy.model``)."""
        raise NotImplementedError

    def chat_model_kwargs(self) -> dict[str, Any]:
        """The constructor arguments of :meth:`get_chat_model_class` that carry the auth."""
        return {"api_key": self._api_key, "client_args": self._client_args()}

    def _client_args(self) -> dict[str, Any]:
        return {"base_url": self.base_url} if self.base_url else {}

    def chat_model(self, model_name: str, **kwargs: Any) -> ChatModelBase:
        """A chat model of this provider with this credential's key and base URL. A model
        class taking a ``credential`` argument (a custom provider's, as in the reference) gets
        the credential itself."""
        import inspect

        cls = self.get_chat_model_class()
        if "credential" in inspect.signature(cls).parameters:
            return cls(credential=self, model_name=model_name, **kwargs)
        args = self.chat_model_kwargs()
        for key, value in kwargs.items():  # merge client_args rather than replace them
            args[key] = {**args[key], **value} if isinstance(args.get(key), dict) else value
        return cls(model_name=model_name, **args)

    def wrapper_config(self, model_name: str, **fields: Any) -> dict[str, Any]:
        """A 0.x model config (``model_type`` and auth fields) for ``agentscope_legacy.models``;
        ``fields`` add or override config fields (``config_name`` defaults to
        ``provider:model_name``)."""
        if self.model_type is None:
            raise NotImplementedError(f"{type(self).__name__} has no 0.x wrapper")
        config: dict[str, Any] = {
            "config_name": f"{self.provider}:{model_name}",
            "model_type": self.model_type,
            "model_name": model_name,
        }
        if self._api_key:
            config["api_key"] = self._api_key
        # Only a base URL of the user's: the wrappers of OpenAI-compatible services read any
        # base URL as a self-hosted server that needs no key, so writing the default one would
        # let a missing key go unnoticed.
        if self.base_url and self.base_url != self.default_base_url:
            config[self.base_url_field] = self.base_url
        config.update(fields)
        return config

    @contextmanager
    def _wrapper(self, **fields: Any) -> Iterator[ModelWrapperBase]:
        """A 0.x wrapper whose SDK client (key, base URL, timeout, redirect guard) a listing
        reuses (its model name is never called); its connections are closed afterwards."""
        from ..models.manager import builtin_wrappers

        config = self.wrapper_config("-", timeout=self.timeout, max_retries=0, **fields)
        cls = builtin_wrappers()[config.pop("model_type")]
        with closing_client(cls(**config)) as wrapper:
            yield wrapper

    # -- listing -----------------------------------------------------------------------------
    async def list_models(self, *, refresh: bool = False) -> list[ModelCard]:
        """The provider's models, from the disk cache when fresh (``refresh=True``: fetched).

        Raises:
            AuthenticationError: the key was refused (``status`` 401/403).
            ProviderConnectionError: the provider could not be reached.
            ResponseFormatError: the listing was not in the provider's shape.
        """
        return await asyncio.to_thread(self.list_models_sync, refresh=refresh)

    def list_models_sync(self, *, refresh: bool = False) -> list[ModelCard]:
        """:meth:`list_models`, blocking."""
        if not refresh and self.cache_ttl > 0:
            cached = _cache.load(self.id, self.cache_ttl)
            if cached is not None:
                return cached
        cards = self._fetch_models()
        if self.cache_ttl > 0:
            _cache.store(self.id, cards)
        return cards

    def _fetch_models(self) -> list[ModelCard]:
        """Ask the provider (no cache); subclasses implement it with their SDK."""
        raise NotImplementedError

    @contextmanager
    def _translated(self, wrapper: ModelWrapperBase) -> Iterator[None]:
        """SDK exceptions as the wrappers' typed errors (the wrapper knows its SDK's)."""
        try:
            yield
        except ProviderError as exc:
            exc.provider = exc.provider or self.provider
            raise
        except Exception as exc:
            error = wrapper._translate_error(exc)
            if error is None:
                raise
            error.provider = self.provider
            raise error from exc


@contextmanager
def closing_client(wrapper: ModelWrapperBase) -> Iterator[ModelWrapperBase]:
    """``wrapper``, its SDK client closed on exit (a listing is one call: no pool to keep)."""
    try:
        yield wrapper
    finally:
        close = getattr(getattr(wrapper, "client", None), "close", None)
        if callable(close):
            close()


class MalformedEntry(ValueError):
    """One listing entry that is not in the provider's shape (skipped with a warning)."""


def collect_cards(provider: str, entries: Any, parse: Any) -> list[ModelCard]:
    """``parse(entry)`` for every entry; a malformed one is skipped with a warning, so that
    one odd model does not hide the others."""
    from loguru import logger

    cards = []
    for entry in entries:
        try:
            cards.append(parse(entry))
        except (MalformedEntry, KeyError, TypeError, ValueError, AttributeError) as exc:
            logger.warning("{}: skipped a malformed model entry ({})", provider, exc)
    return cards


def as_json(entry: Any) -> dict[str, Any]:
    """An SDK object (pydantic) or a dict as plain JSON data for ``ModelCard.raw``."""
    if isinstance(entry, dict):
        return entry
    dump = getattr(entry, "model_dump", None) or getattr(entry, "to_dict", None)
    if dump is None:
        raise MalformedEntry(f"not an object: {type(entry).__name__}")
    try:  # an entry of the wrong types is reported by collect_cards, not as a warning here
        return dump(mode="json", exclude_none=True, warnings=False)
    except TypeError:  # an SDK whose dump takes other arguments
        return dump()


def optional_int(value: Any) -> int | None:
    """A positive int the provider sent, else None (never a guess)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value
