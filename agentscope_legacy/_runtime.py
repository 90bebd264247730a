"""The current run's state: its directories and its monitor (``get_runtime()``).

A layer of its own between the core and the model wrappers, which read it to record usage and
to find where saved files go; ``init()`` (``agentscope_legacy._init``) sets it up.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .monitor import Monitor


@dataclass
class Runtime:
    """The settings of the current run; ``get_runtime()`` returns the active one."""

    project: str = ""
    name: str = ""
    run_id: str = ""
    run_dir: Path | None = None
    logger_level: str = "INFO"
    save_log: bool = False
    save_api_invoke: bool | str = False
    use_monitor: bool = True
    cache_dir: Path = field(
        default_factory=lambda: Path(
            os.environ.get("AS_HOME_PATH", "~/.cache/agentscope_legacy")
        ).expanduser()
    )
    monitor: Monitor = field(default_factory=Monitor)
    #: Where a UserAgent without ``input_fn`` takes its text, ``(agent, hint) -> str``; the
    #: Studio client sets it (None: the terminal or the agent's script).
    user_input: Callable[[Any, str], str] | None = None
    #: The Studio client of this run (``init(studio_url=...)``), closed by the next init.
    studio: Any = None

    def file_dir(self, kind: str) -> Path:
        """A directory for saved files (images, audio): in the run dir, else the cache dir."""
        directory = (self.run_dir or self.cache_dir) / kind
        directory.mkdir(parents=True, exist_ok=True)
        return directory


_runtime = Runtime()


def get_runtime() -> Runtime:
    return _runtime


def set_runtime(runtime: Runtime) -> Runtime:
    """Make ``runtime`` the current run; returns the one it replaces."""
    global _runtime
    previous, _runtime = _runtime, runtime
    return previous
