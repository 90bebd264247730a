"""Model listings for the emulators: the entries a provider's ``/models`` endpoint returns.

Each emulator renders :attr:`ModelListing.models` in its provider's shape and paginates it the
provider's way; a test sets the entries exactly as that provider sends them (or a non-list
value for a malformed listing) with :meth:`ModelListing.set_models`, and the key the listing
accepts with ``listing_key`` (a request with another key gets the provider's 401).
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar


class ModelListing:
    """Mixin for a :class:`~tests.emulators.base.LoopbackServer` subclass (listed first)."""

    #: The entries served until a test sets others.
    default_models: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reset_listing()

    def _reset_listing(self) -> None:
        self.models: Any = copy.deepcopy(self.default_models)
        #: The most entries the server sends in one page, whatever the client asks (a test
        #: lowers it to make a short listing span pages).
        self.page_size = 1000
        #: The only key the listing accepts; None: any non-empty key.
        self.listing_key: str | None = None

    def set_models(self, models: Any, *, page_size: int | None = None) -> None:
        """Serve ``models`` (raw entries, in the provider's shape) from now on."""
        self.models = models
        if page_size is not None:
            self.page_size = page_size

    def clear(self) -> None:
        super().clear()  # type: ignore[misc]
        self._reset_listing()

    def key_refused(self, key: str | None) -> bool:
        """Whether the listing answers 401 to ``key``."""
        if not key:
            return True
        return self.listing_key is not None and key != self.listing_key

    def page(self, start: int, limit: int) -> tuple[Any, int | None]:
        """The entries from ``start``, at most ``limit`` (capped by :attr:`page_size`), and the
        index of the next page (None at the end). A malformed listing is returned as is."""
        if not isinstance(self.models, list):
            return self.models, None
        size = max(1, min(limit, self.page_size))
        end = start + size
        return self.models[start:end], end if end < len(self.models) else None
