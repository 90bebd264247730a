"""``init()`` and the run it describes: run directory, logger, monitor, model registry."""

from __future__ import annotations

import json
import os
import random
import shutil
import string
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._version import __version__
from .monitor import Monitor

# 0.x named the run after the process start, so calling init() twice reuses one directory.
_PROCESS_START = time.strftime("%Y%m%d-%H%M%S")


def _random_code(alphabet: str, length: int = 6) -> str:
    return "".join(random.choices(alphabet, k=length))


@dataclass
class Runtime:
    """The settings of the current run; ``get_runtime()`` returns the active one."""

    project: str = ""
    name: str = ""
    run_id: str = ""
    run_dir: Path | None = None
    logger_level: str = "INFO"
    save_log: bool = False
    save_api_invoke: bool = False
    use_monitor: bool = True
    cache_dir: Path = field(
        default_factory=lambda: Path(
            os.environ.get("AS_HOME_PATH", "~/.cache/agentscope_legacy")
        ).expanduser()
    )
    monitor: Monitor = field(default_factory=Monitor)

    def file_dir(self, kind: str) -> Path:
        """A directory for saved files (images, audio): in the run dir, else the cache dir."""
        directory = (self.run_dir or self.cache_dir) / kind
        directory.mkdir(parents=True, exist_ok=True)
        return directory


_runtime = Runtime()


def get_runtime() -> Runtime:
    return _runtime


def init(
    model_configs: Any = None,
    project: str | None = None,
    name: str | None = None,
    disable_saving: bool = False,
    save_dir: str = "./runs",
    save_log: bool = True,
    save_code: bool = False,
    save_api_invoke: bool = False,
    cache_dir: str | None = None,
    use_monitor: bool = True,
    logger_level: str = "INFO",
    runtime_id: str | None = None,
    agent_configs: Any = None,
    studio_url: str | None = None,
    allow_replace: bool = False,
    budget: dict[str, Any] | None = None,
) -> list[Any]:
    """Start a run: load model configs, set up the run directory, logging and usage records.

    ``budget`` limits the whole run (every config together): ``{max_calls, max_tokens,
    max_cost, prompt_price, completion_price}`` (prices per million tokens); a call that would
    start past a limit raises QuotaExceededError. Returns the agents built from
    ``agent_configs`` (``[]`` without), as 0.1.x did.
    """
    global _runtime
    from loguru import logger

    from .logging import setup_logger
    from .models.manager import ModelManager
    from .monitor import Budget

    run_budget = Budget.parse(budget)  # a ConfigError before anything is set up

    project = project or _random_code(string.ascii_letters + string.digits)
    name = name or _random_code(string.ascii_lowercase + string.digits)
    run_id = runtime_id or f"run_{_PROCESS_START}_{name}"
    run_dir = None if disable_saving else Path(save_dir, run_id).resolve()
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
    if disable_saving:
        save_log = save_api_invoke = use_monitor = save_code = False

    _runtime.monitor.close()
    runtime = Runtime(
        project=project,
        name=name,
        run_id=run_id,
        run_dir=run_dir,
        logger_level=logger_level,
        save_log=save_log,
        save_api_invoke=save_api_invoke,
        use_monitor=use_monitor,
        monitor=Monitor(
            run_dir, use_monitor=use_monitor, save_api_invoke=save_api_invoke, budget=run_budget
        ),
    )
    if cache_dir:
        runtime.cache_dir = Path(cache_dir).expanduser()
    _runtime = runtime
    setup_logger(run_dir, logger_level, save_log)
    if studio_url:
        logger.warning("studio_url is not supported by agentscope_legacy and is ignored")

    manager = ModelManager.get_instance()
    if model_configs is not None:
        manager.load_model_configs(model_configs, allow_replace=allow_replace)
    if run_dir is not None:
        if save_code:
            code_dir = run_dir / "code"
            code_dir.mkdir(exist_ok=True)
            for path in Path.cwd().glob("*.py"):
                shutil.copy2(path, code_dir / path.name)
        _save_state(runtime, manager)
    return _build_agents(agent_configs)


def _save_state(runtime: Runtime, manager: Any) -> None:
    from ._secrets import redact

    state = {
        "project": runtime.project,
        "name": runtime.name,
        "run_id": runtime.run_id,
        "pid": os.getpid(),
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%S"),
        "agentscope_legacy_version": __version__,
        "logger": {"level": runtime.logger_level},
        "monitor": {
            "use_monitor": runtime.use_monitor,
            "save_api_invoke": runtime.save_api_invoke,
            "budget": asdict(runtime.monitor.budget) if runtime.monitor.budget else None,
        },
        "model": redact(manager.state_dict()),
    }
    path = runtime.run_dir / ".config"  # type: ignore[operator]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)  # atomic: a crash never leaves half a file


def _build_agents(agent_configs: Any) -> list[Any]:
    if not agent_configs:
        return []
    from . import agents

    if isinstance(agent_configs, str):
        with open(agent_configs, encoding="utf-8") as fh:
            agent_configs = json.load(fh)
    if isinstance(agent_configs, dict):
        agent_configs = [agent_configs]
    built = []
    for config in agent_configs:
        cls = getattr(agents, config["class"], None)
        if cls is None:
            raise ValueError(f"unknown agent class {config['class']!r}")
        built.append(cls(**config.get("args", {})))
    return built


def print_llm_usage() -> list[dict[str, Any]]:
    """Log the usage table of this run and return its rows."""
    from loguru import logger

    monitor = _runtime.monitor
    logger.info("LLM usage:\n{}", monitor.usage_table())
    return monitor.usage_rows()
