"""Keeping API keys out of logs, reprs, errors and saved files.

Two mechanisms, because either alone leaks: values under secret-looking keys are masked when a
structure is saved (:func:`redact`), and every key value the runtime has seen is remembered so
that any text can be scrubbed of it (:func:`scrub`), wherever the text came from.
"""

from __future__ import annotations

import functools
import re
import threading
from typing import Any

MASK = "***"
_SECRET_KEY = re.compile(
    r"api[_-]?key|apikey|secret|password|passwd|authorization|credential|access[_-]?key"
    r"|(^|[_-])token$",  # "auth_token", but not "max_tokens"
    re.IGNORECASE,
)
# Values shorter than this are not registered: masking "a" everywhere would garble text.
_MIN_SECRET_LEN = 6

_lock = threading.Lock()
_known: set[str] = set()
_pattern: re.Pattern[str] | None = None


def is_secret_key(key: object) -> bool:
    """Whether a mapping key names a secret (api_key, Authorization, x-api-key, ...)."""
    return isinstance(key, str) and _secret_key_name(key)


@functools.lru_cache(maxsize=4096)
def _secret_key_name(key: str) -> bool:
    # Records repeat the same few keys ("role", "content", ...): match each name once.
    return _SECRET_KEY.search(key) is not None


def register_secret(value: object) -> None:
    """Remember a secret value so that :func:`scrub` masks it from now on."""
    global _pattern
    if not isinstance(value, str) or len(value) < _MIN_SECRET_LEN:
        return
    candidates = {value}
    if value.lower().startswith("bearer "):
        candidates.add(value[7:].strip())
    with _lock:
        new = {c for c in candidates if len(c) >= _MIN_SECRET_LEN} - _known
        if not new:
            return
        _known.update(new)
        # Longest first so that a key containing another key is masked whole.
        alternatives = sorted(_known, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in alternatives))


def scrub(text: str) -> str:
    """Replace every known secret value in ``text`` by ``***``."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def scrub_exception(exc: BaseException | None) -> None:
    """Scrub known secrets, in place, from ``exc`` and the exceptions linked to it.

    A provider error keeps the SDK's exception as its ``__cause__``, and a traceback prints
    that exception too: its text (``args`` and the string attributes its ``__str__`` may use,
    such as ``message`` or ``error``) must be as clean as the typed error's own. Linked means
    chained (``__cause__``, ``__context__``) or held in an attribute (litellm's
    ``original_exception``).
    """
    pending = [exc]
    seen: set[int] = set()
    while pending and len(seen) < 32:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        pending += [current.__cause__, current.__context__]
        try:
            current.args = tuple(scrub(a) if isinstance(a, str) else a for a in current.args)
            for name, value in list(vars(current).items()):
                if isinstance(value, str):
                    setattr(current, name, scrub(value))
                elif isinstance(value, BaseException):
                    pending.append(value)
        except Exception:  # an exception type that refuses new attribute values
            pass


def redact(obj: Any) -> Any:
    """A copy of ``obj`` with secret-named values masked and known secrets scrubbed.

    Used for everything that is saved or printed: invocation records, the saved run config,
    ``repr`` of configs.
    """
    if isinstance(obj, dict):
        return {
            k: (MASK if isinstance(v, str) and v and is_secret_key(k) else redact(v))
            for k, v in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        return [redact(v) for v in obj]
    if isinstance(obj, str):
        return scrub(obj)
    return obj
