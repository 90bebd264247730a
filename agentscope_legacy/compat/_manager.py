"""``agentscope.manager`` of 0.1.x: ``ASManager``, ``ModelManager``, ``FileManager`` and
``MonitorManager``, each with ``get_instance()``, over this project's one runtime.

0.1.x kept the run's state in these singletons; here the state is the current runtime
(``get_runtime()``) and the model registry, and these are views of it, so old code that asks
a manager for the run directory, the monitor or a model gets this run's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._runtime import get_runtime
from ..models.manager import ModelManager

__all__ = ["ASManager", "FileManager", "ModelManager", "MonitorManager"]


class FileManager:
    """Where the run saves files (0.1.x: ``run_dir``, ``save_image``, ...)."""

    @classmethod
    def get_instance(cls) -> FileManager:
        return cls()

    @property
    def run_dir(self) -> str | None:
        run_dir = get_runtime().run_dir
        return str(run_dir) if run_dir is not None else None

    @property
    def cache_dir(self) -> str:
        return str(get_runtime().cache_dir)

    def dir(self, kind: str) -> Path:
        """A directory of the run (``image``, ``audio``, ...), created on demand."""
        return get_runtime().file_dir(kind)


class MonitorManager:
    """The run's usage monitor (0.1.x: ``MonitorManager.get_instance()``)."""

    @classmethod
    def get_instance(cls) -> Any:
        # The monitor itself: it records usage and prints it (``print_llm_usage``).
        return get_runtime().monitor


class ASManager:
    """The run as a whole: ``model_manager``, ``monitor``, ``file``, ``state_dict()``."""

    @classmethod
    def get_instance(cls) -> ASManager:
        return cls()

    @property
    def model_manager(self) -> ModelManager:
        return ModelManager.get_instance()

    @property
    def monitor(self) -> Any:
        return MonitorManager.get_instance()

    @property
    def file(self) -> FileManager:
        return FileManager()

    @property
    def run_id(self) -> str:
        return get_runtime().run_id

    @property
    def project(self) -> str:
        return get_runtime().project

    @property
    def name(self) -> str:
        return get_runtime().name

    def state_dict(self) -> dict[str, Any]:
        """Project, name, run id and the model configs, with API keys redacted (0.1.x wrote
        them in clear into ``.config``)."""
        runtime = get_runtime()
        return {
            "project": runtime.project,
            "name": runtime.name,
            "run_id": runtime.run_id,
            "file": {"run_dir": FileManager().run_dir},
            "model": self.model_manager.state_dict(),
        }

    def flush(self) -> None:
        """Forget the model configs and registered wrapper classes (0.1.x's ``flush``)."""
        self.model_manager.flush()
