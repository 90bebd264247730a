"""``agentscope-legacy studio``: the built-in Studio under uvicorn (the logic of the CLI's
``studio`` subcommand, kept here so that cli.py only wires it)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_studio_parser", "serve_studio"]


def add_studio_parser(sub: Any) -> None:
    studio = sub.add_parser(
        "studio",
        help="serve the Studio page: watch runs live and browse saved ones",
        description="Serve the built-in Studio: the runs found in the save directory, one "
        "run's transcript, live replies, usage, invocation records and audio, and the "
        "/trpc routes that `init(studio_url=...)`, `run --studio URL` and AgentScope 0.1.x "
        "scripts push to. Needs the [studio] extra (FastAPI, uvicorn, python-socketio for "
        "UserAgent input from the page).",
    )
    studio.add_argument("--save-dir", default="./runs",
                        help="the directory the runs are in (default: ./runs)")
    studio.add_argument("--host", default="127.0.0.1",
                        help="the address to bind (default: 127.0.0.1; anything but loopback "
                        "shows every run to the network: a warning is printed)")
    studio.add_argument("--port", type=int, default=5000, help="default: 5000; 0 picks one")
    studio.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                        help="another page origin that may push (e.g. https://example.org); "
                        "repeatable")


def serve_studio(args: argparse.Namespace) -> int:
    try:
        import uvicorn  # noqa: F401  (checked here: the error names the extra)

        from ._server import create_studio_app
    except ImportError as exc:
        print(f"error: studio needs `pip install \"agentscope-legacy[studio]\"` ({exc})",
              file=sys.stderr)
        return 1
    save_dir = Path(args.save_dir).expanduser()
    if save_dir.exists() and not save_dir.is_dir():
        print(f"error: --save-dir {save_dir} is not a directory", file=sys.stderr)
        return 1
    from .._web import serve

    app = create_studio_app(save_dir, allowed_origins=args.allow_origin)
    return serve(app, args.host, args.port,
                 exposed_warning="shows every run under the save directory to the network and "
                 "lets anyone who reaches it push to the Studio and answer its user agents",
                 banner=f"Studio over {save_dir.resolve()}; Ctrl-C stops")
