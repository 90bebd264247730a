"""Realtime voice (reference 004): realtime models over websockets, one event vocabulary.

::

    from agentscope_legacy.agent import RealtimeAgent
    from agentscope_legacy.realtime import ClientEvents, OpenAIRealtimeModel

    agent = RealtimeAgent(name="Friday", sys_prompt="...", model=OpenAIRealtimeModel(
        model_name="gpt-4o-realtime-preview", api_key=os.getenv("OPENAI_API_KEY")))
    await agent.start(outgoing_queue)            # ServerEvents arrive on the queue
    await agent.handle_input(ClientEvents.from_json(data))
    await agent.stop()

``RealtimeModelBase`` (``_base``) does the shared work; each provider is one module that
implements its calls and its parsing. ``LocalRealtimeModel`` runs offline: VAD, faster-whisper,
the local chat model and the local voice. Needs ``pip install "agentscope-legacy[realtime]"``
(pydantic, websockets, fastapi, uvicorn); provider classes are imported on first use and
import their SDK only when they connect.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ._base import RealtimeModelBase as RealtimeModelBase
from ._base import RealtimeSessionError as RealtimeSessionError
from ._events import AudioFormat as AudioFormat
from ._events import ClientEvents as ClientEvents
from ._events import ClientEventType as ClientEventType
from ._events import ModelEvents as ModelEvents
from ._events import ModelEventType as ModelEventType
from ._events import RealtimeEventError as RealtimeEventError
from ._events import ServerEvents as ServerEvents
from ._events import ServerEventType as ServerEventType

#: model_type -> "<module>:<class>" of each realtime model (the configs' registry, ``_config``).
REALTIME_MODEL_TYPES: dict[str, str] = {
    "openai_realtime": "._openai:OpenAIRealtimeModel",
    "dashscope_realtime": "._dashscope:DashScopeRealtimeModel",
    "gemini_realtime": "._gemini:GeminiRealtimeModel",
    "local_realtime": "._local:LocalRealtimeModel",
}

_LAZY = {target.split(":")[1]: target for target in REALTIME_MODEL_TYPES.values()}
_LAZY.update(RealtimeAgent="._agent:RealtimeAgent", ChatRoom="._chatroom:ChatRoom")


def realtime_model_class(model_type: str) -> type[RealtimeModelBase]:
    """The class registered for ``model_type`` (KeyError when there is none)."""
    module, name = REALTIME_MODEL_TYPES[model_type].split(":")
    return getattr(import_module(module, __name__), name)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name].split(":")
        return getattr(import_module(module, __name__), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AudioFormat",
    "ClientEventType",
    "ClientEvents",
    "ModelEventType",
    "ModelEvents",
    "REALTIME_MODEL_TYPES",
    "RealtimeEventError",
    "RealtimeModelBase",
    "RealtimeSessionError",
    "ServerEventType",
    "ServerEvents",
    "realtime_model_class",
    *_LAZY,
]
