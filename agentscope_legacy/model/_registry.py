"""``ModelRegistry``: ``"provider:model"`` strings to models, the quick way beside configs.

::

    model = ModelRegistry.resolve("openai:gpt-4o-mini")      # an OpenAIChatModel
    ModelRegistry.register_factory(r"myprov:.*", lambda model_id: MyChatModel(...))
    load_model_by_config_name("anthropic:claude-sonnet-4-5")  # a 0.x wrapper, no config file

Every provider of :data:`agentscope_legacy.credential.CREDENTIALS` has a built-in pattern
``<provider>:<model>`` (plus a bare ``local``: the bundled local model), built through that
provider's credential (key and base URL from the environment); a custom credential added with
``register_credential`` gets one too. Patterns are regular
expressions matched against the whole id; registrations win over built-ins, and a later
registration over an earlier one, so a user can take over any id.

Like ``ModelManager.get_instance()``, the registrations are process-wide: a string must mean
the same model in an agent, an experiment and the CLI.
"""

from __future__ import annotations

import difflib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..models._base import ModelWrapperBase
    from ..models.manager import ModelManager
    from ._base import ChatModelBase

#: A user factory: the whole model id (``"myprov:my-model"``) to a chat model.
ModelFactory = Callable[[str], "ChatModelBase"]


@dataclass(frozen=True)
class _Entry:
    pattern: re.Pattern[str]
    factory: ModelFactory | None  # None: a built-in provider, built by its credential
    provider: str


class ModelRegistry:
    """Model ids to chat models (newer layer) or wrappers (0.x layer); see the module doc."""

    # Copy-on-write under the lock: resolving reads a tuple that is never changed under it.
    _entries: ClassVar[tuple[_Entry, ...]] = ()
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def register_factory(cls, pattern: str, factory: ModelFactory) -> None:
        """Resolve ids matching ``pattern`` (a regex on the whole id) with ``factory(id)``.

        It wins over the built-in patterns and over earlier registrations.
        """
        if not callable(factory):
            raise TypeError(f"factory must be callable, got {type(factory).__name__}")
        compiled = re.compile(pattern)
        provider = pattern.split(":", 1)[0] if re.fullmatch(r"[\w.-]+:.*", pattern) else pattern
        with cls._lock:
            cls._entries = (_Entry(compiled, factory, provider), *cls._entries)

    @classmethod
    def unregister(cls, pattern: str) -> None:
        """Forget the registrations of ``pattern`` (built-ins stay)."""
        with cls._lock:
            cls._entries = tuple(e for e in cls._entries if e.pattern.pattern != pattern)

    @classmethod
    def clear(cls) -> None:
        """Forget every registration (built-ins stay)."""
        with cls._lock:
            cls._entries = ()

    @classmethod
    def providers(cls) -> list[str]:
        """The providers an id may name: registered ones first, then the built-ins."""
        names = [e.provider for e in cls._entries] + [e.provider for e in _builtins()]
        return list(dict.fromkeys(names))

    @classmethod
    def matches(cls, model_id: str) -> bool:
        """Whether some pattern resolves ``model_id`` (nothing is built)."""
        return cls._match(model_id) is not None

    @classmethod
    def resolve(cls, model_id: str) -> ChatModelBase:
        """The chat model ``model_id`` names; ConfigError (with a did-you-mean) if none."""
        entry = cls._match(model_id)
        if entry is None:
            raise ConfigError(f"unknown model '{model_id}'{unresolved_hint(model_id)}")
        if entry.factory is not None:
            return _built(entry.factory, entry.pattern.pattern, model_id)
        credential, model_name = _credential(model_id, entry)
        return credential.chat_model(model_name)

    @classmethod
    def resolve_wrapper(
        cls, model_id: str, manager: ModelManager | None = None
    ) -> ModelWrapperBase | None:
        """The 0.x wrapper ``model_id`` names (None if no pattern matches).

        A built-in provider's wrapper is built from its credential's ``wrapper_config``,
        validated as a loaded config is (``manager``: the default); a registered factory's
        chat model is used through its own wrapper, or the adapter for a custom model.
        """
        entry = cls._match(model_id)
        if entry is None:
            return None
        if entry.factory is not None:
            return _named(_built(entry.factory, entry.pattern.pattern, model_id).wrapper, model_id)
        from ..config import ModelConfig
        from ..models.manager import ModelManager

        credential, model_name = _credential(model_id, entry)
        if credential.model_type is None:  # a custom credential (register_credential)
            return _named(credential.chat_model(model_name).wrapper, model_id)
        data = credential.wrapper_config(model_name, config_name=model_id)
        return (manager or ModelManager.get_instance()).build_wrapper(ModelConfig(data))

    @classmethod
    def _match(cls, model_id: str) -> _Entry | None:
        if not isinstance(model_id, str):
            return None
        for entry in (*cls._entries, *_builtins()):
            if entry.pattern.fullmatch(model_id):
                return entry
        return None


def _built(factory: ModelFactory, pattern: str, model_id: str) -> ChatModelBase:
    from ._base import ChatModelBase

    model = factory(model_id)
    if not isinstance(model, ChatModelBase):
        raise TypeError(
            f"the factory of {pattern!r} returned a {type(model).__name__} for "
            f"'{model_id}', not a ChatModelBase"
        )
    return model


def _named(wrapper: ModelWrapperBase, model_id: str) -> ModelWrapperBase:
    wrapper.config_name = model_id  # usage rows and errors name what the user wrote
    return wrapper


def _builtins() -> tuple[_Entry, ...]:
    """One entry per credential provider; ``local`` also matches alone."""
    from ..credential import CREDENTIALS

    return tuple(
        _Entry(re.compile(rf"{re.escape(p)}:.+" + ("|local" if p == "local" else "")), None, p)
        for p in CREDENTIALS
    )


def _credential(model_id: str, entry: _Entry) -> tuple[Any, str]:
    """The credential of a built-in id's provider (from the environment), and the model name.

    ``local:<path>`` names a GGUF file and a bare ``local`` the bundled model: the model name
    is then the file's stem, as the local credential's card says.
    """
    from ..credential import credential_for

    _, _, name = model_id.partition(":")
    if entry.provider != "local":
        return credential_for(entry.provider), name
    credential = credential_for("local", model_path=name or None)
    try:
        stem = Path(credential.resolved_path()).stem
    except Exception:  # the bundled model is not installed: the wrapper says so when built
        stem = "local"
    return credential, stem


def unresolved_hint(model_id: str) -> str:
    """What the did-you-mean error of config names adds for an id that matches nothing."""
    providers = ModelRegistry.providers()
    prefix, sep, rest = str(model_id).partition(":")
    hint = ""
    if sep and prefix not in providers:
        close = difflib.get_close_matches(prefix, providers, n=1)
        if close:
            hint = f"; did you mean '{close[0]}:{rest}'?"
    return f"{hint} (or a 'provider:model' string; providers: {', '.join(providers)})"


def resolve_wrapper(model_id: str, manager: Any = None) -> ModelWrapperBase | None:
    """The hook ``ModelManager`` calls for a name that is no loaded config."""
    return ModelRegistry.resolve_wrapper(model_id, manager)


__all__ = ["ModelFactory", "ModelRegistry"]
