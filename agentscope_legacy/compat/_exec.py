"""``agentscope-legacy exec script.py [args]``: run a 0.1.x script unchanged, with the alias."""

from __future__ import annotations

import argparse
import os
import runpy
import sys
from collections.abc import Sequence
from typing import Any


def add_exec_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "exec",
        help="run an AgentScope 0.x script unchanged (import agentscope resolves here)",
        description="Run a Python script as `python script.py args...` would, with "
        "agentscope_legacy.compat installed, so that its `import agentscope` lines resolve to "
        "this project. The script's exit status is passed through.",
    )
    parser.add_argument("script", help="the script to run")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")


def run_script(script: str, args: Sequence[str] = ()) -> int:
    """Run ``script`` as ``__main__`` with ``sys.argv = [script, *args]``; its exit status."""
    from . import install

    if not os.path.isfile(script):
        print(f"agentscope-legacy exec: no such file: {script}", file=sys.stderr)
        return 2
    install()
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [script, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))  # as `python script.py`
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        return _status(exc.code)
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    return 0


def _status(code: Any) -> int:
    """An exit status as the interpreter computes it from ``SystemExit.code``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
