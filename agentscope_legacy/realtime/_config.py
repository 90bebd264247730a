"""Realtime model configs (``configs/realtime.yaml``), validated when they are read.

::

    - config_name: openai-realtime
      model_type: openai_realtime          # a key of REALTIME_MODEL_TYPES
      model_name: gpt-4o-realtime-preview
      api_key: ${OPENAI_API_KEY}
      agent_name: Friday                   # the RealtimeAgent that `voice serve` builds
      sys_prompt: You are a helpful assistant named Friday.

    configs = read_realtime_configs("configs/realtime.yaml")   # ConfigError on any problem
    model = configs["openai-realtime"].build()                 # a new model per call

Each config is checked against JSON Schema: the fields every realtime model takes
(:data:`REALTIME_COMMON_PROPERTIES`) plus its class's ``config_schema``, so a typo names the
file, line, config and field, with a did-you-mean. As for chat configs, an unset ``${VAR}``
does not stop the file from loading: building that model raises the ConfigError.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..config import ConfigSource, ModelConfig, read_configs
from ..errors import ConfigError, ConfigIssue
from ..models.manager import did_you_mean
from . import REALTIME_MODEL_TYPES, realtime_model_class
from ._base import RealtimeModelBase

__all__ = [
    "REALTIME_COMMON_PROPERTIES",
    "RealtimeConfig",
    "is_realtime_config",
    "read_realtime_configs",
    "validate_realtime_configs",
]

_TIMEOUT = {"type": "number", "exclusiveMinimum": 0}

#: Fields every realtime config accepts; ``agent_name``/``sys_prompt`` are the agent's, the
#: rest go to the model class (the base's constructor keywords).
REALTIME_COMMON_PROPERTIES: dict[str, Any] = {
    "config_name": {"type": "string", "minLength": 1},
    "model_type": {"type": "string", "minLength": 1},
    "model_name": {"type": "string", "minLength": 1},
    "replace": {"type": "boolean"},
    "api_key": {"type": "string"},
    "voice": {"type": "string", "minLength": 1},
    "connect_timeout": _TIMEOUT,
    "response_timeout": _TIMEOUT,
    "agent_name": {"type": "string", "minLength": 1, "maxLength": 64},
    "sys_prompt": {"type": "string"},
}

#: Fields that are not the model's constructor keywords.
_NOT_MODEL_ARGS = ("config_name", "model_type", "replace", "agent_name", "sys_prompt")
_DEFAULT_AGENT = "Assistant"
_DEFAULT_PROMPT = "You are a helpful assistant. Answer briefly: your answers are spoken."


@dataclass(frozen=True)
class RealtimeConfig:
    """One validated realtime config: ``build()`` makes a new model from it."""

    config: ModelConfig
    model_class: type[RealtimeModelBase]

    @property
    def config_name(self) -> str:
        return str(self.config.config_name)

    @property
    def model_type(self) -> str:
        return str(self.config.model_type)

    @property
    def agent_name(self) -> str:
        return str(self.config.data.get("agent_name") or _DEFAULT_AGENT)

    @property
    def sys_prompt(self) -> str:
        return str(self.config.data.get("sys_prompt", _DEFAULT_PROMPT))

    def build(self) -> RealtimeModelBase:
        """A new, unconnected model (one per session). ConfigError for an unset ``${VAR}``."""
        config = self.config
        if config.missing_env:
            raise ConfigError([
                config.issue(f"environment variable {var} is not set (and has no default)", path)
                for path, var in config.missing_env.items()
            ])
        kwargs = {k: v for k, v in config.data.items() if k not in _NOT_MODEL_ARGS}
        try:
            return self.model_class(**kwargs)
        except ConfigError as exc:
            raise ConfigError([
                config.issue(i.message, i.field) if i.file is None else i for i in exc.issues
            ]) from exc.__cause__
        except (TypeError, ValueError) as exc:
            raise ConfigError(config.issue(f"cannot build {self.model_type}: {exc}")) from exc

    def __repr__(self) -> str:  # ModelConfig's repr redacts the key
        return f"RealtimeConfig({self.config!r})"


def is_realtime_config(config: ModelConfig) -> bool:
    """Whether ``config`` names a realtime model_type (and so is validated here)."""
    return isinstance(config.model_type, str) and config.model_type in REALTIME_MODEL_TYPES


def read_realtime_configs(
    source: ConfigSource | Iterable[ConfigSource],
) -> dict[str, RealtimeConfig]:
    """Read and validate realtime configs: ``{config_name: RealtimeConfig}``.

    Raises one ConfigError listing every problem (unknown model_type or field, wrong type,
    repeated config_name without ``replace: true``).
    """
    configs = read_configs(source)
    issues = validate_realtime_configs(configs)
    seen: dict[str, ModelConfig] = {}
    for config in configs:
        name = config.config_name
        if not isinstance(name, str):
            continue
        if name in seen and not config.data.get("replace"):
            issues.append(config.issue("duplicate config_name; set `replace: true` on the later "
                                       "config to replace it", "config_name"))
        seen[name] = config
    if issues:
        raise ConfigError(issues)
    return {name: RealtimeConfig(config, realtime_model_class(config.model_type))
            for name, config in seen.items()}


def validate_realtime_configs(configs: list[ModelConfig]) -> list[ConfigIssue]:
    """Every problem of ``configs``, each a realtime config (``agentscope-legacy validate``)."""
    issues: list[ConfigIssue] = []
    for config in configs:
        issues.extend(_validate_one(config))
    return issues


def _validate_one(config: ModelConfig) -> list[ConfigIssue]:
    from ..models.manager import _describe, _make_validator  # the chat configs' wording

    data = config.data
    for key in ("config_name", "model_type"):
        if not isinstance(data.get(key), str) or not data[key]:
            message = f"missing required field '{key}'" if key not in data else \
                "expected a non-empty string"
            return [config.issue(message, None if key not in data else key)]
    model_type = data["model_type"]
    if model_type not in REALTIME_MODEL_TYPES:
        valid = sorted(REALTIME_MODEL_TYPES)
        close = difflib.get_close_matches(model_type, valid, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return [config.issue(f"unknown realtime model_type '{model_type}'{hint} "
                             f"Valid types: {', '.join(valid)}", "model_type")]
    try:
        cls = realtime_model_class(model_type)
    except ImportError as exc:  # the class's module is missing or cannot import
        return [config.issue(f"model_type '{model_type}' is not available: {exc}",
                             "model_type")]
    properties = {**REALTIME_COMMON_PROPERTIES, **_own_properties(cls)}
    issues = [
        config.issue(f"unknown field for model_type '{model_type}'"
                     f"{did_you_mean(key, properties)}", str(key))
        for key in data if key not in properties
    ]
    schema = {"type": "object", "properties": properties, "required": ["config_name",
                                                                        "model_type"]}
    issues += [_describe(config, error) for error in _make_validator(schema).iter_errors(data)]
    return issues


def _own_properties(cls: type[RealtimeModelBase]) -> dict[str, Any]:
    """The class's ``config_schema``: its properties, or a schema with ``properties``."""
    own = dict(cls.config_schema or {})
    nested = own.get("properties")
    if isinstance(nested, dict) and all(isinstance(v, dict) for v in nested.values()) \
            and "type" not in nested:
        return dict(nested)
    return own
