"""``AgentBase``: a name, an optional model, a memory, an audience, and ``speak``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from types import GeneratorType
from typing import Any

from ..logging import log_deltas, log_msg, log_stream_msg, save_msg
from ..message import Msg
from ..models.response import ModelResponse


class AgentBase:
    """An agent with a name, an optional system prompt and model, a memory and an audience.

    ``agent(x)`` runs :meth:`reply` and lets every agent in its audience observe the result
    (that is how ``msghub`` broadcasts).
    """

    def __init__(
        self,
        name: str,
        sys_prompt: str | None = None,
        model_config_name: str | None = None,
        use_memory: bool = True,
    ) -> None:
        self.name = name
        self.sys_prompt = sys_prompt
        self.model_config_name = model_config_name
        self.model = None
        if model_config_name is not None:
            from ..models import load_model_by_config_name

            self.model = load_model_by_config_name(model_config_name)
        self.memory: list[Msg] | None = [] if use_memory else None
        self._audience: list[AgentBase] = []
        self._reply_id = ""

    def __call__(self, x: Msg | Sequence[Msg] | None = None, **kwargs: Any) -> Msg:
        self._reply_id = uuid.uuid4().hex
        msg = self.reply(x, **kwargs)
        for agent in self._audience:
            agent.observe(msg)
        return msg

    def reply(self, x: Msg | Sequence[Msg] | None = None, **kwargs: Any) -> Msg:
        raise NotImplementedError(f"{type(self).__name__} must implement reply()")

    def observe(self, x: Msg | Sequence[Msg] | None) -> None:
        if self.memory is None or x is None:
            return
        for msg in [x] if isinstance(x, Msg) else list(x):
            if not isinstance(msg, Msg):
                raise TypeError(f"observe expects Msg objects, got {type(msg).__name__}")
            if all(m.id != msg.id for m in self.memory[-8:]):  # cheap dedup of re-broadcasts
                self.memory.append(msg)

    def reset_audience(self, audience: Sequence[AgentBase]) -> None:
        self._audience = [a for a in audience if a is not self]

    def clear_audience(self) -> None:
        self._audience = []

    def speak(self, content: str | Msg | ModelResponse | Iterator[tuple[bool, str]]) -> str | None:
        """Print a message, a ``ModelResponse`` or a ``(last, text)`` stream as it arrives.

        Returns the text spoken. A stream shares one message id for all its chunks.
        """
        if isinstance(content, str):
            log_msg(Msg(self.name, content, "assistant"))
            return content
        if isinstance(content, Msg):
            log_msg(content)
            return content.get_text_content()
        if isinstance(content, ModelResponse):
            if content.is_stream and not content.is_stream_exhausted:
                return self._speak_deltas(content)
            content = content.text or ""
            log_msg(Msg(self.name, content, "assistant"))
            return content
        if isinstance(content, (GeneratorType, Iterator)):
            msg = Msg(self.name, "", "assistant")
            try:
                for last, text in content:
                    msg.content = text
                    log_stream_msg(msg, last=last)
            finally:
                close = getattr(content, "close", None)
                if close is not None:
                    close()  # an interrupted generator releases its stream now, not at GC
            return msg.content
        raise TypeError(f"speak() cannot print a {type(content).__name__}")

    def _speak_deltas(self, response: ModelResponse) -> str:
        # Printing deltas directly avoids re-slicing the accumulated text for every chunk.
        try:
            log_deltas(self.name, response.deltas or ())
        except BaseException:
            response.close()  # Ctrl-C mid-stream: release the connection, record the call
            raise
        text = response.text or ""
        save_msg(Msg(self.name, text, "assistant"))
        return text
