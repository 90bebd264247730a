"""Agent hooks with AgentScope 0.1.3+'s semantics, on objects and on classes.

A hook gets the agent and a deep copy of what it may change; returning something other than
None replaces it for the next hook and the agent:

- ``pre_reply(agent, x)`` -> new input; ``post_reply(agent, msg)`` -> new reply;
- ``pre_speak(agent, msg, stream, last)`` -> the Msg to print (once per chunk of a stream);
- ``pre_observe(agent, x)`` -> new input; ``post_speak(agent)``, ``post_observe(agent)``.

Class hooks (``register_class_hook``) run before object hooks, base classes first. Unlike
0.1.x, an object's hooks are its own: 0.1.x kept them in dicts on the class, so a hook
registered on one agent ran for every agent.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from copy import deepcopy
from typing import Any

HOOK_TYPES = ("pre_reply", "post_reply", "pre_speak", "post_speak", "pre_observe", "post_observe")

Hook = Callable[..., Any]


def _check(hook_type: str) -> None:
    if hook_type not in HOOK_TYPES:
        raise ValueError(f"unknown hook type {hook_type!r}; valid: {', '.join(HOOK_TYPES)}")


class HooksMixin:
    """``register_hook``/``remove_hook``/``clear_hooks`` (and the 0.1.x per-type names such as
    ``register_pre_reply_hook``); ``reply`` and ``observe`` of every subclass run the hooks."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._class_hooks: dict[str, dict[str, Hook]] = {t: {} for t in HOOK_TYPES}
        for name, wrap in (("reply", _hooked_reply), ("observe", _hooked_observe)):
            if name in cls.__dict__ and not getattr(cls.__dict__[name], "_hooked", False):
                setattr(cls, name, wrap(cls.__dict__[name]))

    # -- object hooks ------------------------------------------------------------------------
    def _own_hooks(self) -> dict[str, dict[str, Hook]]:
        return self.__dict__.setdefault("_hooks", {t: {} for t in HOOK_TYPES})

    def register_hook(self, hook_type: str, hook_name: str, hook: Hook) -> None:
        """Add (or replace, by name) a hook of this agent."""
        _check(hook_type)
        if not callable(hook):
            raise TypeError(f"hook {hook_name!r} must be callable, got {type(hook).__name__}")
        self._own_hooks()[hook_type][hook_name] = hook

    def remove_hook(self, hook_type: str, hook_name: str) -> None:
        _check(hook_type)
        if self._own_hooks()[hook_type].pop(hook_name, None) is None:
            raise ValueError(f"no {hook_type} hook named {hook_name!r} on this agent")

    def clear_hooks(self, hook_type: str | None = None) -> None:
        """Remove this agent's hooks of one type, or of every type."""
        for kind in [hook_type] if hook_type is not None else HOOK_TYPES:
            _check(kind)
            self._own_hooks()[kind].clear()

    clear_all_hooks = clear_hooks  # the 0.1.x name

    # -- class hooks -------------------------------------------------------------------------
    @classmethod
    def register_class_hook(cls, hook_type: str, hook_name: str, hook: Hook) -> None:
        """Add a hook run by every agent of this class and its subclasses."""
        _check(hook_type)
        if not callable(hook):
            raise TypeError(f"hook {hook_name!r} must be callable, got {type(hook).__name__}")
        cls._class_hooks[hook_type][hook_name] = hook

    @classmethod
    def remove_class_hook(cls, hook_type: str, hook_name: str) -> None:
        _check(hook_type)
        if cls._class_hooks[hook_type].pop(hook_name, None) is None:
            raise ValueError(f"no {hook_type} class hook named {hook_name!r} on {cls.__name__}")

    @classmethod
    def clear_class_hooks(cls, hook_type: str | None = None) -> None:
        for kind in [hook_type] if hook_type is not None else HOOK_TYPES:
            _check(kind)
            cls._class_hooks[kind].clear()

    def _hooks_for(self, hook_type: str) -> list[Hook]:
        found = [
            hook
            for klass in reversed(type(self).__mro__)
            if "_class_hooks" in klass.__dict__
            for hook in klass.__dict__["_class_hooks"][hook_type].values()
        ]
        return found + list(self._own_hooks()[hook_type].values())

    def _run_replacing(self, hook_type: str, value: Any, *extra: Any) -> Any:
        """Pass ``value`` through the hooks of ``hook_type``; a non-None result replaces it."""
        for hook in self._hooks_for(hook_type):
            result = hook(self, deepcopy(value), *extra)
            if result is not None:
                value = result
        return value

    def _run_notifying(self, hook_type: str) -> None:
        for hook in self._hooks_for(hook_type):
            hook(self)


def _outermost(method: Callable[..., Any], flag: str) -> Callable[..., Any]:
    """Run ``method`` with hooks only in the outermost call, so a subclass's ``reply`` that
    calls ``super().reply()`` runs them once."""

    def decorate(run: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def wrapper(self: HooksMixin, x: Any = None, *args: Any, **kwargs: Any) -> Any:
            if self.__dict__.get(flag):
                return method(self, x, *args, **kwargs)
            self.__dict__[flag] = True
            try:
                return run(self, x, *args, **kwargs)
            finally:
                self.__dict__[flag] = False

        wrapper._hooked = True  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _hooked_reply(reply: Callable[..., Any]) -> Callable[..., Any]:
    @_outermost(reply, "_in_reply")
    def run(self: HooksMixin, x: Any = None, *args: Any, **kwargs: Any) -> Any:
        x = self._run_replacing("pre_reply", x)
        return self._run_replacing("post_reply", reply(self, x, *args, **kwargs))

    return run


def _hooked_observe(observe: Callable[..., Any]) -> Callable[..., Any]:
    @_outermost(observe, "_in_observe")
    def run(self: HooksMixin, x: Any = None, *args: Any, **kwargs: Any) -> Any:
        result = observe(self, self._run_replacing("pre_observe", x), *args, **kwargs)
        self._run_notifying("post_observe")
        return result

    return run


def _named(hook_type: str) -> dict[str, Callable[..., Any]]:
    """0.1.x's per-type methods: ``register_<type>_hook``, ``remove_…``, ``clear_…_hooks``."""

    def register(self: HooksMixin, hook_name: str, hook: Hook) -> None:
        self.register_hook(hook_type, hook_name, hook)

    def remove(self: HooksMixin, hook_name: str) -> None:
        self.remove_hook(hook_type, hook_name)

    def clear(self: HooksMixin) -> None:
        self.clear_hooks(hook_type)

    return {
        f"register_{hook_type}_hook": register,
        f"remove_{hook_type}_hook": remove,
        f"clear_{hook_type}_hooks": clear,
    }


for _type in HOOK_TYPES:
    for _name, _method in _named(_type).items():
        setattr(HooksMixin, _name, _method)
