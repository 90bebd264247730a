"""``init()``: start a run (run directory, logger, monitor, model registry) and 0.x agents."""

from __future__ import annotations

import json
import os
import random
import shutil
import string
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ._runtime import Runtime, get_runtime, set_runtime
from ._version import __version__
from .errors import ConfigError, ConfigIssue
from .monitor import Monitor

# 0.x named the run after the process start, so calling init() twice reuses one directory.
_PROCESS_START = time.strftime("%Y%m%d-%H%M%S")


def _random_code(alphabet: str, length: int = 6) -> str:
    return "".join(random.choices(alphabet, k=length))


def init(
    model_configs: Any = None,
    project: str | None = None,
    name: str | None = None,
    disable_saving: bool = False,
    save_dir: str = "./runs",
    save_log: bool = True,
    save_code: bool = False,
    save_api_invoke: bool | str = False,
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
    start past a limit raises QuotaExceededError. ``save_api_invoke``: true records every call
    in ``invocations.jsonl``; ``"0.x"`` also writes 0.1.x's ``invoke/`` file per call. Returns
    the agents built from ``agent_configs`` (``[]`` without), as 0.1.x did.
    """
    from loguru import logger

    from .logging import setup_logger
    from .models.manager import ModelManager
    from .monitor import Budget

    run_budget = Budget.parse(budget)  # a ConfigError before anything is set up
    if studio_url is not None:
        from .studio import check_url

        studio_url = check_url(studio_url)

    project = project or _random_code(string.ascii_letters + string.digits)
    name = name or _random_code(string.ascii_lowercase + string.digits)
    _check_name("project", project)
    _check_name("name", name)
    if runtime_id is not None:
        _check_name("runtime_id", runtime_id)
    run_id = runtime_id or f"run_{_PROCESS_START}_{name}"
    _check_dir_name("runtime_id" if runtime_id else "name", runtime_id or name, run_id)
    try:
        logger.level(logger_level)
    except (ValueError, TypeError):
        raise ConfigError(
            ConfigIssue(f"unknown logger_level {logger_level!r}", field="logger_level")
        ) from None
    run_dir = None if disable_saving else _run_dir(save_dir, run_id)
    if disable_saving:
        save_log = save_api_invoke = use_monitor = save_code = False

    # Everything that can fail happens before the current run is touched: a failed init()
    # leaves the previous runtime, its logger and its loaded configs as they were.
    manager = ModelManager.get_instance()
    before = manager._configs, manager._models
    loaded: list[str] = []
    if model_configs is not None:
        # The registry's log line waits for this run's logger: the previous sinks (loguru's
        # default one is DEBUG on stderr) must not show it.
        logger.disable("agentscope_legacy.models.manager")
        try:  # all or nothing
            loaded = manager.load_model_configs(
                model_configs, allow_replace=allow_replace, lenient_0x=True
            )
        finally:
            logger.enable("agentscope_legacy.models.manager")
    monitor = None
    try:
        if run_dir is not None:
            try:
                run_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    ConfigIssue(
                        f"cannot create the run directory {run_dir}: {exc.strerror or exc}",
                        field="save_dir",
                    )
                ) from None
        runtime = Runtime(
            project=project,
            name=name,
            run_id=run_id,
            run_dir=run_dir,
            logger_level=logger_level,
            save_log=save_log,
            save_api_invoke=save_api_invoke,
            use_monitor=use_monitor,
            monitor=Monitor(budget=run_budget),  # in memory until the state is saved
        )
        if cache_dir:
            runtime.cache_dir = Path(cache_dir).expanduser()
        if run_dir is not None:
            _save_state(runtime, manager, studio_url)
        monitor = Monitor(
            run_dir, use_monitor=use_monitor, save_api_invoke=save_api_invoke, budget=run_budget
        )
        runtime.monitor = monitor
    except BaseException:
        if monitor is not None:
            monitor.close()
        with manager._lock:
            manager._configs, manager._models = before
        raise

    previous = set_runtime(runtime)
    previous.monitor.close()
    if previous.studio is not None:
        from .studio import detach

        detach(previous)
    setup_logger(run_dir, logger_level, save_log)
    if loaded:
        logger.debug("Loaded model configs: {}", ", ".join(loaded))
    if studio_url:
        from .studio import attach

        attach(studio_url, runtime)  # in the background: a Studio that is down never stops a run
    if run_dir is not None and save_code:
        code_dir = run_dir / "code"
        code_dir.mkdir(exist_ok=True)
        for path in Path.cwd().glob("*.py"):
            shutil.copy2(path, code_dir / path.name)
    return _build_agents(agent_configs)


# The longest file name most file systems take (bytes, once encoded).
_NAME_MAX = 255


def _check_name(field: str, value: Any) -> None:
    """A ConfigError unless ``value`` is text that can be written and printed."""
    from .config import value_problems

    if not isinstance(value, str):
        raise ConfigError(
            ConfigIssue(f"expected a string, got {type(value).__name__}", field=field)
        )
    problems = value_problems({"name": value})
    if problems:
        raise ConfigError(ConfigIssue(problems[0][1], field=field))


def _check_dir_name(field: str, value: str, run_id: str) -> None:
    """The run directory's name is one path component: never a way out of ``save_dir``."""
    shown = repr(value) if len(value) <= 60 else repr(value[:57]) + "..."
    if "/" in value or "\\" in value or run_id in (".", "..") or not run_id.strip():
        raise ConfigError(
            ConfigIssue(
                f"cannot be used as the run directory's name: {shown} (a run directory is "
                "one name inside save_dir: no '/', '\\', '.' or '..')",
                field=field,
            )
        )
    size = len(run_id.encode("utf-8"))
    if size > _NAME_MAX:
        raise ConfigError(
            ConfigIssue(
                f"too long: the run directory's name would be {size} bytes, limit {_NAME_MAX} "
                f"({shown})",
                field=field,
            )
        )


def _run_dir(save_dir: Any, run_id: str) -> Path:
    try:
        root = Path(save_dir).expanduser().resolve()
    except (TypeError, ValueError, OSError) as exc:  # NUL in the path, not a path at all
        raise ConfigError(
            ConfigIssue(f"invalid save_dir {save_dir!r}: {exc}", field="save_dir")
        ) from None
    if root.exists() and not root.is_dir():
        raise ConfigError(
            ConfigIssue(f"save_dir {str(root)!r} exists and is not a directory", field="save_dir")
        )
    run_dir = (root / run_id).resolve()
    if run_dir.parent != root:  # e.g. a symlink named like the run pointing elsewhere
        raise ConfigError(
            ConfigIssue(f"the run directory {run_dir} is outside save_dir {root}", field="name")
        )
    return run_dir


def _save_state(runtime: Runtime, manager: Any, studio_url: str | None = None) -> None:
    from ._secrets import redact, redact_urls, scrub

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
        # Which Studio watched the run; not a secret, but a URL may carry userinfo.
        "studio": {"url": scrub(redact_urls(studio_url)) if studio_url else None},
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
        from .config import read_bounded

        agent_configs = json.loads(read_bounded(agent_configs))  # not a FIFO, not endless
    if isinstance(agent_configs, dict):
        agent_configs = [agent_configs]
    built = []
    for config in agent_configs:
        cls = getattr(agents, config["class"], None)
        if cls is None:
            raise ValueError(f"unknown agent class {config['class']!r}")
        built.append(cls(**config.get("args", {})))
    return built


def print_llm_usage() -> dict[str, list[dict[str, Any]]]:
    """Log the usage table of this run; return 0.1.x's summary, ``{"text_and_embedding":
    [{model_name, times, prompt_tokens, ...}], "image": [...]}`` (per-config rows, with
    failures and latency: ``get_runtime().monitor.usage_rows()``)."""
    return get_runtime().monitor.print_llm_usage()
