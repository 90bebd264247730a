"""Keeping API keys out of logs, reprs, errors and saved files.

Two mechanisms, because either alone leaks: values under secret-looking keys are masked when a
structure is saved (:func:`redact`), and every key value the runtime has seen is remembered so
that any text can be scrubbed of it (:func:`scrub`), wherever the text came from.

A secret is not only the value of a field named like one (``api_key``): the userinfo of a URL
(``http://user:KEY@host``), a URL query parameter named like a key, token or signature
(``?key=KEY``, ``&sig=...``) and the value of every header except a few harmless ones
(``Ocp-Apim-Subscription-Key: KEY`` in ``headers`` or ``client_args.default_headers``) are
secrets too: :func:`register_config_secrets` remembers them when a config is loaded, and
:func:`redact` masks them wherever a config is rendered. Log sinks additionally mask
secret-shaped text they were never told about (:func:`scrub_shaped`).
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
# A mapping under a key named like this holds HTTP headers (headers, default_headers, ...).
_HEADERS_KEY = re.compile(r"(^|[_-])headers$", re.IGNORECASE)
# The only header values that are not secrets; every other header may carry a credential
# (Ocp-Apim-Subscription-Key, X-Goog-Api-Key, a custom X-Token, a signed cookie ...).
HARMLESS_HEADERS = frozenset(
    {
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "cache-control",
        "connection",
        "content-encoding",
        "content-length",
        "content-language",
        "content-type",
        "host",
        "keep-alive",
        "origin",
        "pragma",
        "referer",
        "transfer-encoding",
        "user-agent",
        "x-request-id",
    }
)
# URL query parameters that carry a credential: key, api_key, apikey, token, access_token,
# sig, signature, secret, password, auth, code, session ... (matched within the name).
_SECRET_PARAM = re.compile(
    r"key|token|sig|secret|passw|pwd|auth|credential|session|^code$", re.IGNORECASE
)
# A URL inside any text: scheme://[userinfo@]host[...]; stops at spaces and quotes.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")
_AUTH_SCHEME = re.compile(r"(?i)^(?:bearer|basic|token|apikey|api-key|key)\s+(\S+)$")

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
    scheme = _AUTH_SCHEME.match(value.strip())
    if scheme:  # "Bearer KEY", "Basic ...": the credential also appears without its scheme
        candidates.add(scheme.group(1))
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


def scrub_bytes(data: bytes) -> bytes:
    """:func:`scrub` for bytes (a response body), decoded as UTF-8 where it can be."""
    if _pattern is None or not data:
        return data
    text = data.decode("utf-8", errors="surrogateescape")
    cleaned = scrub(text)
    return data if cleaned == text else cleaned.encode("utf-8", errors="surrogateescape")


def scrub_exception(exc: BaseException | None) -> None:
    """Scrub known secrets, in place, from ``exc`` and the exceptions linked to it.

    A provider error keeps the SDK's exception as its ``__cause__``, and a traceback prints
    that exception too: every attribute that holds a server's text must be as clean as the
    typed error's own ``str``. That is the ``args``, every string, bytes, dict or list
    attribute (``message``, ``body``, ``details``, ``partial_text`` ...), and the HTTP
    request and response objects an SDK error carries (``response.text``/``.content``,
    their headers and URL). Linked means chained (``__cause__``, ``__context__``) or held in
    an attribute (litellm's ``original_exception``).
    """
    if _pattern is None:
        return
    pending = [exc]
    seen: set[int] = set()
    while pending and len(seen) < 32:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        pending += [current.__cause__, current.__context__]
        try:
            current.args = tuple(_scrubbed(a) for a in current.args)
        except Exception:  # an exception type that refuses new args
            pass
        for name, value in list(vars(current).items()):
            if isinstance(value, BaseException):
                pending.append(value)
                continue
            try:
                if isinstance(value, (str, bytes, dict, list, tuple)):
                    cleaned = _scrubbed(value)
                    if cleaned is not value:
                        setattr(current, name, cleaned)
                else:
                    _scrub_http(value)
            except Exception:  # a read-only attribute: leave it
                pass


def _scrubbed(value: Any, depth: int = 0) -> Any:
    """``value`` with known secrets scrubbed from every string in it; the same object when
    nothing changed (so that unchanged attributes are not reassigned)."""
    if isinstance(value, str):
        cleaned = scrub(value)
        return value if cleaned == value else cleaned
    if isinstance(value, bytes):
        return scrub_bytes(value)
    if depth > 20 or not isinstance(value, (dict, list, tuple)):
        return value
    if isinstance(value, dict):
        items = {_scrubbed(k, depth + 1): _scrubbed(v, depth + 1) for k, v in value.items()}
        same = len(items) == len(value) and all(
            k in value and value[k] is v for k, v in items.items()
        )
        return value if same else items
    cleaned_items = [_scrubbed(v, depth + 1) for v in value]
    if all(a is b for a, b in zip(cleaned_items, value, strict=True)):
        return value
    return tuple(cleaned_items) if isinstance(value, tuple) else cleaned_items


def _scrub_http(obj: Any) -> None:
    """Scrub an HTTP request or response held by an SDK error (httpx, requests), in place:
    the body a server echoed the key in, the headers and the URL.

    Only these objects are entered: anything else an error holds may be shared with a live
    client (whose own key must stay usable), so it is left alone.
    """
    package = type(obj).__module__.split(".", 1)[0]
    if package.startswith("httpx"):  # httpx, and httpx2 (newer openai and anthropic SDKs)
        package = "httpx"
    elif package != "requests":
        return
    name = type(obj).__name__
    if name not in ("Response", "Request", "PreparedRequest"):
        return
    for attr in ("_content", "_text", "body"):  # the cached body (str or bytes)
        value = obj.__dict__.get(attr)
        if isinstance(value, (str, bytes)):
            cleaned = _scrubbed(value)
            if cleaned is not value:
                setattr(obj, attr, cleaned)
    # A read httpx body is also kept as the bytes of a ByteStream (``response.stream``), which
    # a caller can read again (litellm's errors keep such responses).
    stream = obj.__dict__.get("stream")
    if type(stream).__name__ == "ByteStream" and isinstance(
        getattr(stream, "_stream", None), bytes
    ):
        stream._stream = scrub_bytes(stream._stream)
    headers = obj.__dict__.get("headers")
    if headers is not None:
        items = list(headers.multi_items() if hasattr(headers, "multi_items") else headers.items())
        cleaned_items = [(k, _scrubbed(v)) for k, v in items]
        if any(a is not b for (_, a), (_, b) in zip(cleaned_items, items, strict=True)):
            if package == "httpx":
                obj.headers = type(headers)(cleaned_items)
            else:
                for k, v in cleaned_items:
                    headers[k] = v
    url = obj.__dict__.get("url")
    if url is not None and scrub(str(url)) != str(url):
        obj.url = type(url)(scrub(str(url))) if package == "httpx" else scrub(str(url))
    if name == "Response":  # the request it answered
        request = obj.__dict__.get("_request" if package == "httpx" else "request")
        if request is not None and request is not obj:
            _scrub_http(request)


# -- secrets in fields not named like secrets -------------------------------------------------
def is_header_mapping_key(key: object) -> bool:
    """Whether a mapping key names HTTP headers (``headers``, ``default_headers``, ...)."""
    return isinstance(key, str) and _HEADERS_KEY.search(key) is not None


def is_secret_header(name: object) -> bool:
    """Whether a header's value is to be treated as a secret: all but a short allow-list."""
    return isinstance(name, str) and name.strip().lower() not in HARMLESS_HEADERS


def is_secret_path(path: list[Any]) -> bool:
    """Whether the value at ``path`` (a list of keys and indices into a config) is a secret:
    a secret-named field, or a header outside the allow-list in a ``*headers`` mapping."""
    if not path:
        return False
    parent = path[-2] if len(path) > 1 else None
    return is_secret_key(path[-1]) or (is_header_mapping_key(parent) and is_secret_header(path[-1]))


def url_secrets(text: str) -> list[str]:
    """The credentials in the URLs inside ``text``: userinfo (the password, or the whole
    userinfo when it is a bare token) and the values of query parameters named like keys,
    tokens or signatures; each as written and percent-decoded."""
    from urllib.parse import unquote

    found: list[str] = []
    if "://" not in text:
        return found
    for match in _URL.finditer(text):
        for start, end in _url_secret_spans(match.group(0)):
            raw = match.group(0)[start:end]
            found += [raw, unquote(raw), unquote(raw.replace("+", " "))]
    return found


def _url_secret_spans(url: str) -> list[tuple[int, int]]:
    """Where the credentials sit in one URL, as (start, end) offsets."""
    spans: list[tuple[int, int]] = []
    rest = url.index("://") + 3
    authority_end = len(url)
    for stop in "/?#":
        position = url.find(stop, rest)
        if position != -1:
            authority_end = min(authority_end, position)
    at = url.rfind("@", rest, authority_end)
    if at != -1:
        colon = url.find(":", rest, at)
        start = colon + 1 if colon != -1 else rest
        if at > start:
            spans.append((start, at))
    query = url.find("?", authority_end)
    if query != -1:
        end = url.find("#", query)
        end = len(url) if end == -1 else end
        position = query + 1
        for part in url[query + 1 : end].split("&"):
            name, sep, _ = part.partition("=")
            if sep and _SECRET_PARAM.search(name) and len(part) > len(name) + 1:
                spans.append((position + len(name) + 1, position + len(part)))
            position += len(part) + 1
    return spans


def redact_urls(text: str) -> str:
    """``text`` with the credentials of every URL in it (userinfo, key-like query parameters)
    replaced by ``***``; everything else kept as written."""
    if "://" not in text:
        return text

    def mask(match: re.Match[str]) -> str:
        url = match.group(0)
        for start, end in sorted(_url_secret_spans(url), reverse=True):
            url = url[:start] + MASK + url[end:]
        return url

    return _URL.sub(mask, text)


def register_config_secrets(data: Any) -> None:
    """Remember every secret a config holds, so that :func:`scrub` masks it from now on:
    values of secret-named fields (``api_key``, ``headers.Authorization``), every header value
    outside :data:`HARMLESS_HEADERS` in a ``*headers`` mapping, and the credentials of every
    URL (``base_url: http://user:KEY@host``, ``api_url: ...?key=KEY``)."""
    stack: list[tuple[Any, bool]] = [(data, False)]
    seen: set[int] = set()
    while stack:
        node, in_headers = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            if isinstance(value, str):
                if is_secret_key(key) or (in_headers and is_secret_header(key)):
                    register_secret(value)
                for secret in url_secrets(value):
                    register_secret(secret)
            elif isinstance(value, (dict, list)):
                stack.append((value, is_header_mapping_key(key) and isinstance(value, dict)))


# -- log text ---------------------------------------------------------------------------------
# "api_key='...'", "Authorization: Bearer ...", "X-Subscription-Key=...", "?api_key=..." in any
# text: a name and its separator, then (checked only after a secret-named name) the value.
_ASSIGNED_NAME = re.compile(r"(?P<name>[A-Za-z][\w-]*)['\"]?\s*[:=]\s*['\"]?")
_ASSIGNED_VALUE = re.compile(
    r"(?:(?:bearer|basic|token)\s+)?"
    r"(?P<value>(?!(?:bearer|basic|token)\s)[^\s'\",;&)}\]*]{6,})",  # not "Bearer ***" again
    re.IGNORECASE,
)
_KEY_NAME = re.compile(r"(^|[_-])key$", re.IGNORECASE)  # X-Subscription-Key, key
_SCHEMED = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_KEY_SHAPED = re.compile(r"\bsk-[A-Za-z0-9_+/=-]{16,}")


def _mask_assignments(text: str) -> str:
    pieces, position = [], 0
    for name in _ASSIGNED_NAME.finditer(text):
        if name.start() < position:  # inside a value already masked
            continue
        if not (is_secret_key(name["name"]) or _KEY_NAME.search(name["name"])):
            continue
        value = _ASSIGNED_VALUE.match(text, name.end())
        if value is not None:
            pieces += [text[position : value.start("value")], MASK]
            position = value.end()
    return "".join(pieces) + text[position:] if pieces else text


def scrub_shaped(text: str) -> str:
    """:func:`scrub`, then mask what merely looks like a secret: the credentials of URLs,
    ``Bearer``/``Basic`` credentials, values assigned to secret-named names
    (``api_key='...'``, ``X-Api-Key: ...``) and ``sk-...`` keys. For log sinks, where a
    traceback may quote a line of source or a header the registry was never told about."""
    text = scrub(text)
    if not text:
        return text
    text = redact_urls(text)
    text = _mask_assignments(text)  # before the schemes: "Authorization: Bearer ***"
    text = _SCHEMED.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return _KEY_SHAPED.sub(MASK, text)


def redact(obj: Any, _headers: bool = False) -> Any:
    """A copy of ``obj`` with secret-named values masked and known secrets scrubbed.

    Used for everything that is saved or printed: invocation records, the saved run config,
    ``repr`` of configs. Also masked whether registered or not: header values outside
    :data:`HARMLESS_HEADERS` in a ``*headers`` mapping and the credentials of URLs.
    """
    if isinstance(obj, dict):
        return {
            k: (
                MASK
                if isinstance(v, str)
                and v
                and (is_secret_key(k) or (_headers and is_secret_header(k)))
                else redact(v, is_header_mapping_key(k) and isinstance(v, dict))
            )
            for k, v in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        return [redact(v) for v in obj]
    if isinstance(obj, str):
        return redact_urls(scrub(obj))
    return obj
