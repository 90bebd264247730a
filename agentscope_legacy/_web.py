"""What the package's two web servers share (the voice backend and the Studio): the page's
security headers, the Origin check, uvicorn's options and serving on a bound socket.

Both run FastAPI under uvicorn; FastAPI and uvicorn are imported where they are used, so this
module costs nothing to import. ``serve`` binds 127.0.0.1 unless told otherwise (another host
gets a warning), binds the socket before uvicorn starts so that the URL it prints is already
listening, and runs uvicorn on it.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from typing import Any
from urllib.parse import urlsplit

__all__ = ["PAGE_HEADERS", "bind", "is_loopback", "origin_allowed", "serve", "uvicorn_options"]

PAGE_HEADERS = {
    # A page loads only its own files and talks only to its own origin (ws: included).
    "Content-Security-Policy": "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def uvicorn_options(host: str = "127.0.0.1", port: int = 8000,
                    max_message_bytes: int = 1 << 20) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config``/``uvicorn.run``: the websocket frame limit, so
    a huge frame is refused (1009) before it is buffered."""
    return {"host": host, "port": port, "ws_max_size": max_message_bytes,
            "ws_ping_interval": 20.0, "ws_ping_timeout": 20.0, "log_level": "warning"}


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def origin_allowed(headers: Any, extra: set[str] = frozenset()) -> bool:  # type: ignore[assignment]
    """No Origin (a script, not a page), the server's own origin, a loopback page, or one of
    ``extra`` (lower-case origins without a trailing slash)."""
    origin = headers.get("origin")
    if origin is None:
        return True
    origin = origin.rstrip("/").lower()
    if origin in extra:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.netloc == (headers.get("host") or "").lower():
        return True
    host = parts.hostname
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> tuple[socket.socket, str]:
    """A listening socket on ``host:port`` (0: any free port) and its ``http://`` URL."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: a reply's headers and body, written apart, are not
    # held back by Nagle waiting for the client's delayed ACK (40 ms per request).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)  # connections made before uvicorn starts wait for it
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    return sock, f"http://{shown}:{sock.getsockname()[1]}/"


def serve(app: Any, host: str, port: int, *, exposed_warning: str, banner: str = "",
          **options: Any) -> int:
    """Serve ``app`` under uvicorn on ``host:port`` until Ctrl-C; prints the URL to stdout.

    ``exposed_warning`` goes to stderr when ``host`` is not a loopback address; ``banner``
    (if any) to stderr before the URL. Returns 1 (with the reason on stderr) when the port
    cannot be bound, else 0.
    """
    import uvicorn

    if not is_loopback(host):
        print(f"warning: --host {host} {exposed_warning}", file=sys.stderr)
    try:
        sock, url = bind(host, port)
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if banner:
        print(banner, file=sys.stderr)
    print(url, flush=True)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, **{**uvicorn_options(host, port), **options}))
    server.run(sockets=[sock])
    return 0
