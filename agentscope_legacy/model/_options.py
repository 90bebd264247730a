"""``GenerateOptions``: the common generation options, translated for each provider.

::

    opts = GenerateOptions(temperature=0.2, max_tokens=256, stop=["\\n\\n"], thinking_budget=1024)
    wrapper(prompt, options=opts)                     # a 0.x wrapper call
    await chat_model(messages, options=opts)           # a chat model call
    {"config_name": "x", "model_type": "ollama_chat", "generate_args": opts}   # a dict config
    GenerateOptions.from_dict({"temperature": 0.2})   # from data; unknown keys: ConfigError

In a YAML/JSON config, the common options go in ``generate_options`` (beside the provider's
own ``generate_args``, which win)::

    - config_name: llama
      model_type: ollama_chat
      generate_options: {max_tokens: 64, temperature: 0.2}   # sent as options.num_predict...

Each provider gets its own argument names (Ollama's ``num_predict``, Anthropic's
``stop_sequences``, Gemini's ``max_output_tokens``...). An option the provider has no
equivalent for is dropped with a warning, once per provider and option. Provider-native
arguments still work beside them: a call's options override the config's ``generate_args``,
and a call's own keyword arguments override its options.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from loguru import logger

from ..errors import ConfigError, ConfigIssue

#: How one option reaches a provider: its argument name, a function of the value giving the
#: arguments, or None (the provider has no such option).
Rule = str | Callable[[Any], dict[str, Any]] | None

_OPENAI: dict[str, Rule] = {
    "temperature": "temperature",
    "top_p": "top_p",
    "max_tokens": "max_tokens",
    "seed": "seed",
    "stop": "stop",
    "tool_choice": "tool_choice",
    "parallel_tool_calls": "parallel_tool_calls",
    "thinking_budget": None,  # reasoning models take an effort, not a budget of tokens
}


def _anthropic_parallel(value: bool) -> dict[str, Any]:
    # Anthropic says it inside tool_choice; the wrapper passes an Anthropic-shaped dict through.
    return {} if value else {"tool_choice": {"type": "auto", "disable_parallel_tool_use": True}}


#: Per provider (a wrapper's ``provider``). Not listed: the common names go through unchanged
#: (custom wrappers and chat models take them as they are).
RULES: dict[str, dict[str, Rule]] = {
    "openai": _OPENAI,
    "deepseek": _OPENAI,
    "moonshot": _OPENAI,
    "xai": _OPENAI,
    "vllm": _OPENAI,
    "litellm": _OPENAI,
    "anthropic": {
        "temperature": "temperature",
        "top_p": "top_p",
        "max_tokens": "max_tokens",
        "seed": None,
        "stop": lambda v: {"stop_sequences": [v] if isinstance(v, str) else list(v)},
        "tool_choice": "tool_choice",
        "parallel_tool_calls": _anthropic_parallel,
        "thinking_budget": lambda v: {"thinking": {"type": "enabled", "budget_tokens": v}},
    },
    "dashscope": {
        **_OPENAI,
        "thinking_budget": lambda v: {"enable_thinking": True, "thinking_budget": v},
    },
    "gemini": {
        "temperature": "temperature",
        "top_p": "top_p",
        "max_tokens": "max_output_tokens",
        "seed": "seed",
        "stop": lambda v: {"stop_sequences": [v] if isinstance(v, str) else list(v)},
        "tool_choice": "tool_choice",
        "parallel_tool_calls": None,
        "thinking_budget": "thinking_budget",
    },
    "ollama": {  # option names the wrapper moves into Ollama's `options`
        "temperature": "temperature",
        "top_p": "top_p",
        "max_tokens": "num_predict",
        "seed": "seed",
        "stop": lambda v: {"stop": [v] if isinstance(v, str) else list(v)},
        "tool_choice": "tool_choice",
        "parallel_tool_calls": None,
        "thinking_budget": None,  # Ollama's `think` is on or off
    },
    "llamacpp": {**_OPENAI, "parallel_tool_calls": None},
    "zhipuai": {**_OPENAI, "seed": None, "parallel_tool_calls": None},
}

_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


@dataclass(frozen=True)
class GenerateOptions:
    """Common options of a chat call; ``None`` leaves the provider's default."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    #: ``"auto"``, ``"none"``, ``"required"`` or a tool's name.
    tool_choice: str | None = None
    parallel_tool_calls: bool | None = None
    #: Tokens a reasoning model may think for (Anthropic, Gemini, DashScope).
    thinking_budget: int | None = None

    def __post_init__(self) -> None:
        problems = [
            ConfigIssue(f"expected {kind}, got {type(value).__name__} {value!r}", field=name)
            for name, kind, value in self._typed()
            if value is not None and not _is(value, kind)
        ]
        if problems:
            raise ConfigError(problems)

    def _typed(self) -> list[tuple[str, str, Any]]:
        kinds = {
            "temperature": "number",
            "top_p": "number",
            "max_tokens": "integer",
            "seed": "integer",
            "stop": "string or list of strings",
            "tool_choice": "string",
            "parallel_tool_calls": "boolean",
            "thinking_budget": "integer",
        }
        return [(f.name, kinds[f.name], getattr(self, f.name)) for f in fields(self)]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | GenerateOptions) -> GenerateOptions:
        """Options from a mapping; an unknown key is a ConfigError naming it (did-you-mean)."""
        if isinstance(data, GenerateOptions):
            return data
        known = [f.name for f in fields(cls)]
        unknown = [key for key in data if key not in known]
        if unknown:
            raise ConfigError(
                [
                    ConfigIssue(f"unknown generate option{_did_you_mean(key, known)}", field=key)
                    for key in unknown
                ]
            )
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        """The options that are set, under their common names."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {name: value for name, value in values.items() if value is not None}

    def for_provider(self, provider: str) -> dict[str, Any]:
        """The options as ``provider``'s arguments; one it lacks warns (once) and is dropped."""
        rules = RULES.get(provider)
        if rules is None:
            return self.to_dict()
        kwargs: dict[str, Any] = {}
        for name, value in self.to_dict().items():
            rule = rules.get(name)
            if rule is None:
                _warn_once(provider, name)
            elif isinstance(rule, str):
                kwargs[rule] = value
            else:
                kwargs.update(rule(value))
        if provider == "anthropic" and self.parallel_tool_calls is False and self.tool_choice:
            # Both live in Anthropic's tool_choice: keep the choice, add the flag to it.
            from ..models.anthropic._messages import tool_choice_to_anthropic

            choice = tool_choice_to_anthropic(self.tool_choice)
            kwargs["tool_choice"] = {**choice, "disable_parallel_tool_use": True}
        return kwargs

    def for_wrapper(self, wrapper: Any) -> dict[str, Any]:
        """The options as arguments of a 0.x wrapper (instance or class) of any provider."""
        return self.for_provider(str(getattr(wrapper, "provider", "custom")))


def _is(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    if kind == "number":
        return isinstance(value, (int, float))
    if kind == "integer":
        return isinstance(value, int)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return False
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    )


def _warn_once(provider: str, option: str) -> None:
    with _warned_lock:
        if (provider, option) in _warned:
            return
        _warned.add((provider, option))
    logger.warning("{} has no '{}' option: it is dropped", provider, option)


def _did_you_mean(key: Any, known: list[str]) -> str:
    close = difflib.get_close_matches(str(key), known, n=1)
    return f"; did you mean '{close[0]}'?" if close else f" (known: {', '.join(known)})"


def as_generate_args(generate_kwargs: Any, wrapper: Any) -> dict[str, Any]:
    """A chat model's ``generate_kwargs`` (a mapping or GenerateOptions) as arguments of
    ``wrapper`` (a class): GenerateOptions are translated for its provider."""
    if isinstance(generate_kwargs, GenerateOptions):
        return generate_kwargs.for_wrapper(wrapper)
    if generate_kwargs is not None and not isinstance(generate_kwargs, Mapping):
        raise TypeError(
            "generate_kwargs must be a mapping or a GenerateOptions, got "
            f"{type(generate_kwargs).__name__}"
        )
    return dict(generate_kwargs or {})


def config_generate_args(options: Any, generate_args: Any, wrapper: Any) -> Any:
    """A config's ``generate_args`` for ``wrapper`` (a class): its ``generate_options`` (a
    mapping or GenerateOptions) translated, under its ``generate_args`` (which may itself be a
    GenerateOptions). ConfigError (the option as ``field``) for an unknown or mistyped one."""
    if isinstance(generate_args, GenerateOptions):
        generate_args = generate_args.for_wrapper(wrapper)
    if options is None:
        return generate_args
    if not isinstance(options, (Mapping, GenerateOptions)):
        raise ConfigError(ConfigIssue(f"expected a mapping, got {type(options).__name__}"))
    translated = GenerateOptions.from_dict(options).for_wrapper(wrapper)
    if isinstance(generate_args, Mapping):
        return {**translated, **generate_args}  # the provider's own arguments win
    return translated if generate_args is None else generate_args  # the schema says what's wrong


__all__ = ["GenerateOptions"]
