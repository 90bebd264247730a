"""The model registry: ``model_type`` → wrapper class, and ``config_name`` → validated config.

``ModelManager`` keeps both. The process has a default manager (what ``init``,
``read_model_configs`` and ``load_model_by_config_name`` use; ``ModelManager.get_instance()``
returns it, as in 0.1.x), and independent managers can be built for isolation.

One file over ~400 lines on purpose: the registry and the validation of every config against
its wrapper's schema (with the did-you-mean and field-level messages) are one job of
``ModelManager``, done before any wrapper is built.
"""

from __future__ import annotations

import copy
import difflib
import threading
import warnings
from collections.abc import Iterable
from importlib import import_module
from typing import Any

from loguru import logger

from ..config import ConfigSource, ModelConfig, read_configs
from ..errors import ConfigError, ConfigIssue
from ..monitor import budget_problems
from ._base import ModelWrapperBase
from ._legacy_types import renamed_hint
from ._pool_config import build_pool, pool_issues


def builtin_wrappers() -> dict[str, type[ModelWrapperBase]]:
    """Every built-in wrapper class by model_type. The one place where they are listed.

    Provider modules import their SDK lazily, so importing them here costs no SDK import.
    """
    from .anthropic import AnthropicChatWrapper
    from .dashscope import (
        DashScopeChatWrapper,
        DashScopeImageSynthesisWrapper,
        DashScopeMultiModalEmbeddingWrapper,
        DashScopeMultiModalWrapper,
        DashScopeTextEmbeddingWrapper,
    )
    from .gemini import GeminiChatWrapper, GeminiEmbeddingWrapper
    from .litellm import LiteLLMChatWrapper
    from .llamacpp import LlamaCppChatWrapper
    from .local_embedding import LocalEmbeddingWrapper
    from .ollama import OllamaChatWrapper, OllamaEmbeddingWrapper, OllamaGenerationWrapper
    from .openai import OpenAIChatWrapper, OpenAIDALLEWrapper, OpenAIEmbeddingWrapper
    from .openai_compatible import (
        DeepSeekChatWrapper,
        KimiChatWrapper,
        VLLMChatWrapper,
        XAIChatWrapper,
        YiChatWrapper,
    )
    from .post_api import PostAPIChatWrapper, PostAPIEmbeddingWrapper
    from .zhipuai import ZhipuAIChatWrapper, ZhipuAIEmbeddingWrapper

    classes: list[type[ModelWrapperBase]] = [
        OpenAIChatWrapper,
        OpenAIEmbeddingWrapper,
        OpenAIDALLEWrapper,
        DeepSeekChatWrapper,
        KimiChatWrapper,
        XAIChatWrapper,
        VLLMChatWrapper,
        YiChatWrapper,
        PostAPIChatWrapper,
        PostAPIEmbeddingWrapper,
        LlamaCppChatWrapper,
        LocalEmbeddingWrapper,
        DashScopeChatWrapper,
        DashScopeMultiModalWrapper,
        DashScopeTextEmbeddingWrapper,
        DashScopeMultiModalEmbeddingWrapper,
        DashScopeImageSynthesisWrapper,
        GeminiChatWrapper,
        GeminiEmbeddingWrapper,
        ZhipuAIChatWrapper,
        ZhipuAIEmbeddingWrapper,
        OllamaChatWrapper,
        OllamaGenerationWrapper,
        OllamaEmbeddingWrapper,
        LiteLLMChatWrapper,
        AnthropicChatWrapper,
    ]
    classes += plugin_wrappers()
    return {cls.model_type: cls for cls in classes}


#: Modules of higher layers that add model types: each has ``wrapper_classes()``. Named, not
#: imported here (this layer may not import upward); imported when a manager is built, and
#: none imports an SDK. ``agentscope_legacy.tts._legacy``: the TTS types (``local_tts``...).
PLUGIN_MODULES: tuple[str, ...] = ("agentscope_legacy.tts._legacy",)
#: The module resolving names that are no loaded config (``"provider:model"`` strings):
#: ``resolve_wrapper(name, manager)`` and ``unresolved_hint(name)``, in the newer layer's
#: ``ModelRegistry``. Named, not imported, for the same reason.
RESOLVER_MODULE = "agentscope_legacy.model._registry"
#: The module translating the common generation options (``GenerateOptions``) per provider.
OPTIONS_MODULE = "agentscope_legacy.model._options"


def plugin_wrappers() -> list[type[ModelWrapperBase]]:
    """The wrapper classes that the ``PLUGIN_MODULES`` contribute."""
    return [cls for name in PLUGIN_MODULES for cls in import_module(name).wrapper_classes()]


# More unknown fields than this in one config are reported as one issue, not one each.
MAX_UNKNOWN_REPORTED = 50

#: Fields that 0.x configs carried and 0.x ignored: loaded with a deprecation warning and
#: dropped, where the wrapper has no such field (every other unknown field stays an error).
IGNORED_0X_FIELDS = {
    "args": "0.0.x agent-style configs carried it; no wrapper read it",
    "max_length": "0.x kept it but never sent it; token limits come from the model",
}


class ModelManager:
    """Wrapper classes by model_type, configs by config_name, and built wrappers."""

    _default: ModelManager | None = None
    _default_lock = threading.Lock()

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.model_wrapper_mapping: dict[str, type[ModelWrapperBase]] = builtin_wrappers()
        self._configs: dict[str, ModelConfig] = {}
        self._models: dict[str, ModelWrapperBase] = {}
        self._validators: dict[type, Any] = {}
        #: Configs loaded before their model_type was registered: validated when built.
        self._deferred: set[str] = set()

    @classmethod
    def get_instance(cls) -> ModelManager:
        """The process-wide default manager (created on first use)."""
        if cls._default is None:
            with cls._default_lock:
                if cls._default is None:
                    cls._default = cls()
        return cls._default

    # -- wrapper classes ---------------------------------------------------------------------
    def register_model_wrapper_class(
        self, model_class: type[ModelWrapperBase], exist_ok: bool = False
    ) -> None:
        """Register a user wrapper class under its ``model_type``."""
        if not isinstance(model_class, type) or not issubclass(model_class, ModelWrapperBase):
            raise TypeError(
                "the model wrapper class must be a subclass of ModelWrapperBase, "
                f"got {model_class!r}"
            )
        model_type = getattr(model_class, "model_type", None)
        if not isinstance(model_type, str) or not model_type:
            raise ValueError(f"{model_class.__name__} must define a string `model_type` attribute")
        with self._lock:
            if model_type in self.model_wrapper_mapping:
                if not exist_ok:
                    raise ValueError(
                        f"model_type '{model_type}' is already registered to "
                        f"{self.model_wrapper_mapping[model_type].__name__}; "
                        "set exist_ok=True to overwrite it"
                    )
                logger.warning(
                    "model_type '{}' is overwritten by {}", model_type, model_class.__name__
                )
            # Copy-on-write: readers iterate a dict that is never mutated under them.
            self.model_wrapper_mapping = {**self.model_wrapper_mapping, model_type: model_class}
            self._validators.pop(model_class, None)

    def wrapper_class(self, model_type: str) -> type[ModelWrapperBase]:
        try:
            return self.model_wrapper_mapping[model_type]
        except KeyError:
            raise ConfigError(self._unknown_type_message(model_type)) from None

    def _unknown_type_message(self, model_type: Any) -> str:
        valid = sorted(self.model_wrapper_mapping)
        close = difflib.get_close_matches(str(model_type), valid, n=1)
        hint = renamed_hint(model_type) or (f"; did you mean '{close[0]}'?" if close else "")
        return f"unknown model_type '{model_type}'{hint} Valid types: {', '.join(valid)}"

    # -- configs -----------------------------------------------------------------------------
    def load_model_configs(
        self,
        model_configs: ConfigSource | Iterable[ConfigSource],
        clear_existing: bool = False,
        allow_replace: bool = False,
        lenient_0x: bool = False,
    ) -> list[str]:
        """Read, validate and register configs; all or nothing. Returns the names loaded.

        A config_name already loaded (or repeated in the input) is an error unless
        ``allow_replace`` is true or the later config says ``replace: true``.

        ``lenient_0x`` (what ``init()`` passes) follows 0.x where old code relies on it: the
        same config loaded again is only a warning, and a ``model_type`` not registered yet is
        checked when its wrapper is built (0.x code registers its class after ``init``).
        """
        configs = read_configs(model_configs)
        for config in configs:
            self._drop_ignored_0x_fields(config)
        issues = self.validate(configs, defer_unknown_types=lenient_0x)
        with self._lock:
            existing = {} if clear_existing else self._configs
            seen: dict[str, ModelConfig] = {}
            for config in configs:
                name = config.config_name
                if not isinstance(name, str):
                    continue
                previous = seen.get(name) or existing.get(name)
                if previous is not None and not (allow_replace or config.data.get("replace")):
                    if lenient_0x and previous.data == config.data:  # init() again: 0.x warned
                        # A Python warning: init() silences this module's log while loading.
                        warnings.warn(
                            f"config_name '{name}' is loaded again unchanged: kept", stacklevel=3
                        )
                        continue
                    where = (
                        f" (first defined at {previous.file}:{previous.line})"
                        if previous.file
                        else ""
                    )
                    issues.append(
                        config.issue(
                            f"duplicate config_name{where}; set `replace: true` on the later "
                            "config to replace it",
                            "config_name",
                        )
                    )
                seen[name] = config
            if issues:
                raise ConfigError(issues)
            # Copy-on-write, as for wrapper classes: readers (state_dict, config_names) iterate
            # without the lock, so the dicts they hold are never changed under them.
            configs = {} if clear_existing else dict(self._configs)
            models = {} if clear_existing else dict(self._models)
            for name, config in seen.items():
                configs[name] = config
                models.pop(name, None)
                if config.model_type in self.model_wrapper_mapping:  # a str: validated
                    self._deferred.discard(name)
                else:
                    self._deferred.add(name)
                    logger.info(
                        "config '{}': model_type '{}' is not registered yet; it is checked "
                        "when the model is built",
                        name,
                        config.model_type,
                    )
            self._configs, self._models = configs, models
        if seen:
            logger.debug("Loaded model configs: {}", ", ".join(seen))
        return list(seen)

    def validate(
        self, configs: list[ModelConfig], defer_unknown_types: bool = False
    ) -> list[ConfigIssue]:
        """Every problem in ``configs``, checked against each wrapper's JSON Schema (a config
        of an unregistered model_type is skipped if ``defer_unknown_types``)."""
        issues: list[ConfigIssue] = []
        for config in configs:
            if defer_unknown_types and _is_str(config.model_type) and _is_str(config.config_name):
                if config.model_type not in self.model_wrapper_mapping:
                    continue
            issues.extend(self._validate_one(config))
        return issues

    def _drop_ignored_0x_fields(self, config: ModelConfig) -> None:
        """Warn about and drop the fields 0.x ignored (``IGNORED_0X_FIELDS``)."""
        model_type = config.model_type if _is_str(config.model_type) else None
        cls = self.model_wrapper_mapping.get(model_type) if model_type else None
        known = cls.json_schema().get("properties", {}) if cls is not None else {}
        for key in [k for k in config.data if k in IGNORED_0X_FIELDS and k not in known]:
            del config.data[key]
            warnings.warn(
                f"config '{config.config_name}': field '{key}' is ignored, as 0.x ignored it "
                f"({IGNORED_0X_FIELDS[key]}); remove it",
                DeprecationWarning,
                stacklevel=4,
            )

    def _validate_one(self, config: ModelConfig) -> list[ConfigIssue]:
        data = config.data
        issues = []
        for key in ("config_name", "model_type"):
            if key not in data:
                issues.append(config.issue(f"missing required field '{key}'"))
            elif not isinstance(data[key], str) or not data[key]:
                issues.append(config.issue("expected a non-empty string", key))
        if issues:
            return issues
        cls = self.model_wrapper_mapping.get(data["model_type"])
        if cls is None:
            return [config.issue(self._unknown_type_message(data["model_type"]), "model_type")]
        if "generate_options" in data or hasattr(data.get("generate_args"), "for_wrapper"):
            issues += _common_options(config, cls)
        validator = self._validators.get(cls)
        if validator is None:
            validator = self._validators[cls] = _make_validator(cls.json_schema())
        schema = validator.schema
        if schema.get("additionalProperties") is False:
            known = list(schema["properties"])
            unknown = [key for key in data if key not in schema["properties"]]
            if len(unknown) > MAX_UNKNOWN_REPORTED:  # a broken file, not typos: say so, fast
                issues.append(
                    config.issue(
                        f"{len(unknown)} unknown fields for model_type '{cls.model_type}' "
                        f"(the first: {', '.join(map(repr, unknown[:5]))})"
                    )
                )
                unknown = []
            for key in unknown:
                hint = did_you_mean(key, known)
                issues.append(
                    config.issue(f"unknown field for model_type '{cls.model_type}'{hint}", str(key))
                )
        for error in validator.iter_errors(data):
            if error.validator == "additionalProperties":
                continue  # reported above with a did-you-mean
            issues.append(_describe(config, error))
        issues += _generate_args_issues(config, cls)
        issues += pool_issues(config, cls)  # endpoints: the wrapper must take base_url/api_key
        if not issues and isinstance(data.get("budget"), dict):  # what a schema cannot say
            issues += [config.issue(m, f) for f, m in budget_problems(data["budget"])]
        return issues

    def get_config_by_name(self, config_name: str) -> dict[str, Any] | None:
        """A copy of the loaded config's data, or None."""
        config = self._configs.get(config_name)
        return copy.deepcopy(config.data) if config is not None else None

    def get_model_config(self, config_name: str) -> ModelConfig | None:
        return self._configs.get(config_name)

    @property
    def config_names(self) -> list[str]:
        return list(self._configs)

    def clear_model_configs(self) -> None:
        with self._lock:
            self._configs, self._models = {}, {}
            self._deferred = set()

    # -- wrappers ----------------------------------------------------------------------------
    def get_model_by_config_name(self, config_name: str, fresh: bool = False) -> ModelWrapperBase:
        """The wrapper for ``config_name``, built once and shared (``fresh=True``: a new one)."""
        if not fresh:
            model = self._models.get(config_name)
            if model is not None:
                return model
        with self._lock:
            if not fresh and config_name in self._models:
                return self._models[config_name]
            model = self._build(config_name)
            if not fresh:
                self._models[config_name] = model
            return model

    def _build(self, config_name: str) -> ModelWrapperBase:
        config = self._configs.get(config_name)
        if config is None:
            # Not a loaded config: a "provider:model" string? A declared config_name always
            # wins over the registry, so a config may pin what a string would mean.
            resolver = import_module(RESOLVER_MODULE)
            model = resolver.resolve_wrapper(config_name, self)
            if model is not None:
                return model
            also = resolver.unresolved_hint(config_name)
            if not self._configs:
                raise ConfigError(
                    f"cannot find '{config_name}': no model configs loaded (call "
                    "agentscope_legacy.init(model_configs=...) or read_model_configs(...) "
                    f"first){also}"
                )
            close = difflib.get_close_matches(config_name, list(self._configs), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                f"cannot find config_name '{config_name}' in the loaded configs{hint} "
                f"(loaded: {', '.join(self._configs)}){also}"
            )
        if config_name in self._deferred:  # its model_type was unknown at load: check now
            issues = self.validate([config])
            if issues:
                raise ConfigError(issues)
            self._deferred.discard(config_name)
        return self._construct(config)

    def build_wrapper(self, config: ModelConfig) -> ModelWrapperBase:
        """A wrapper from a config that is not loaded, validated first as loaded ones are."""
        issues = self.validate([config])
        if issues:
            raise ConfigError(issues)
        return self._construct(config)

    def _construct(self, config: ModelConfig) -> ModelWrapperBase:
        if config.missing_env:
            raise ConfigError(
                [
                    config.issue(
                        f"environment variable {var} is not set (and has no default)", path
                    )
                    for path, var in config.missing_env.items()
                ]
            )
        cls = self.wrapper_class(config.model_type)
        kwargs = {k: v for k, v in config.data.items() if k not in ("model_type", "replace")}
        try:
            if "endpoints" in kwargs:  # one wrapper per endpoint, behind one EndpointPool
                return build_pool(cls, kwargs)
            return cls(**kwargs)
        except ConfigError as exc:
            located = [
                config.issue(i.message, i.field) if i.file is None else i for i in exc.issues
            ]
            raise ConfigError(located) from exc.__cause__

    # -- state (0.1.x compatibility) ---------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        from .._secrets import redact

        return {"model_configs": [redact(c.data) for c in self._configs.values()]}

    def flush(self) -> None:
        """Forget configs, built wrappers and registered user classes."""
        with self._lock:
            self._configs, self._models = {}, {}
            self.model_wrapper_mapping = builtin_wrappers()
            self._validators = {}
            self._deferred = set()


def _is_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def did_you_mean(key: Any, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the known name closest to ``key``, else ``""``."""
    close = difflib.get_close_matches(str(key), list(known), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _generate_args_issues(config: ModelConfig, cls: type[ModelWrapperBase]) -> list[ConfigIssue]:
    """Keys of ``generate_args`` the wrapper's provider call does not take (a typo would
    otherwise pass every check and fail at the first call)."""
    accepted = cls.generate_args_keys
    args = config.data.get("generate_args")
    if accepted is None or not isinstance(args, dict):
        return []
    unknown = [key for key in args if key not in accepted]
    if len(unknown) > MAX_UNKNOWN_REPORTED:
        return [
            config.issue(
                f"{len(unknown)} arguments that model_type '{cls.model_type}' does not take",
                "generate_args",
            )
        ]
    extra = f" ({cls.generate_args_hint})" if cls.generate_args_hint else ""
    return [
        config.issue(
            f"model_type '{cls.model_type}' does not take this argument"
            f"{did_you_mean(key, sorted(accepted))}{extra}",
            f"generate_args.{key}",
        )
        for key in unknown
    ]


def _common_options(config: ModelConfig, cls: type[ModelWrapperBase]) -> list[ConfigIssue]:
    """Turn ``generate_options`` (the common options, any provider) and a GenerateOptions given
    as ``generate_args`` into the wrapper's own ``generate_args``, in place: the wrapper and
    its schema see provider arguments only."""
    translate = import_module(OPTIONS_MODULE).config_generate_args
    data = config.data
    options = data.pop("generate_options", None)  # reported here, not as an unknown field
    try:
        data["generate_args"] = translate(options, data.get("generate_args"), cls)
    except ConfigError as exc:
        return [
            config.issue(i.message, "generate_options" + (f".{i.field}" if i.field else ""))
            for i in exc.issues
        ]
    return []


def _make_validator(schema: dict[str, Any]) -> Any:
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _describe(config: ModelConfig, error: Any) -> ConfigIssue:
    """A readable ConfigIssue for a jsonschema error (values of secret fields never shown)."""
    from .._secrets import is_secret_key, is_secret_path, redact

    path = ""
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    schema = error.schema if isinstance(error.schema, dict) else {}
    last = next((p for p in reversed(error.absolute_path) if isinstance(p, str)), "")
    hidden = is_secret_key(last) or is_secret_path(list(error.absolute_path))
    # Redacted under its own name (a headers mapping is masked as one), before it is cut.
    shown = "<hidden>" if hidden else _short(redact({last: error.instance})[last])
    kind = error.validator
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return config.issue(f"missing required field '{missing}'", f"{path}.{missing}".lstrip("."))
    if kind == "type":
        expected = schema.get("type")
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        message = f"expected {expected}, got {_json_type(error.instance)} {shown}"
    elif kind == "enum":
        message = f"expected one of {', '.join(map(repr, schema.get('enum', [])))}, got {shown}"
    elif kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        op = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[
            kind
        ]
        message = f"expected a value {op} {schema.get(kind)}, got {shown}"
    elif kind == "minLength":
        message = "expected a non-empty string"
    elif kind == "oneOf":
        message = f"expected {_one_of_summary(schema)}, got {_json_type(error.instance)} {shown}"
    else:
        message = f"invalid value ({kind}): {shown}"
    return config.issue(message, path or None)


def _one_of_summary(schema: dict[str, Any]) -> str:
    kinds = []
    for option in schema.get("oneOf", []):
        t = option.get("type", "value")
        if t == "object" and "properties" in option:
            t = "a mapping with " + "/".join(option["properties"])
        kinds.append(t)
    return " or ".join(kinds)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
