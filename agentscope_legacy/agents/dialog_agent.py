"""``DialogAgent``: replies with its model, given its system prompt and (a window of) memory."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from ..message import Msg
from ..models._format import flatten_msgs, plain_chat_turns
from .agent_base import AgentBase


class DialogAgent(AgentBase):
    """Replies with its model, given its system prompt and memory; streams when configured.

    ``memory_window`` keeps only the last N remembered messages in the prompt, so long
    experiments stay inside a small model's context. ``multi_agent_mode``: ``None`` (the
    default) sends a conversation with one other speaker as plain chat turns and folds one
    with more speakers into the multi-agent history block; ``True`` or ``False`` forces one.
    ``tts`` (a TTS config name or model) speaks each reply aloud as it streams.
    """

    def __init__(
        self,
        name: str,
        sys_prompt: str,
        model_config_name: str,
        use_memory: bool = True,
        multi_agent_mode: bool | None = None,
        memory_window: int | None = None,
        tts: Any = None,
    ) -> None:
        super().__init__(name, sys_prompt, model_config_name, use_memory, tts)
        self.multi_agent_mode = multi_agent_mode
        if memory_window is not None and memory_window < 1:
            raise ValueError(f"memory_window must be >= 1, got {memory_window}")
        self.memory_window = memory_window

    def reply(self, x: Msg | Sequence[Msg] | None = None, **kwargs: Any) -> Msg:
        self._remember(x)
        msg_id = uuid.uuid4().hex  # the printed stream, the audio and the message share it
        text = self._ask(self._history(x), msg_id=msg_id, **kwargs)
        msg = Msg(self.name, text, "assistant", id=msg_id)
        self._remember(msg)
        return msg

    def _history(self, x: Msg | Sequence[Msg] | None) -> Any:
        """The messages the prompt is built from: the memory (windowed), else ``x``."""
        if self.memory is None:
            return x
        # A slice, not get_memory(recent_n=...), which warns while the memory is shorter.
        return self.memory[-self.memory_window :] if self.memory_window else self.memory[:]

    def _ask(
        self, *history: Any, echo: bool = True, msg_id: str | None = None, **kwargs: Any
    ) -> str:
        """Call the model on system prompt + ``history``, speak the reply (unless ``echo`` is
        false), return its text."""
        system = Msg("system", self.sys_prompt, "system") if self.sys_prompt else None
        mode = self.multi_agent_mode
        if mode is None:  # two speakers (this agent and one other): plain chat turns
            mode = not plain_chat_turns(flatten_msgs(*history), self.name)
        prompt = self.model.format(system, *history, multi_agent_mode=mode)
        response = self.model(prompt, **kwargs)
        if echo:
            return self.speak(response, msg_id=msg_id) or ""
        try:
            return response.text or ""
        except BaseException:
            response.close()  # Ctrl-C mid-stream: release the connection, record the call
            raise
