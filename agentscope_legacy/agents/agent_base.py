"""``AgentBase``: a name, an optional model, a memory, an audience, ``speak`` and hooks.

``memory`` is a :class:`~.memory.TemporaryMemory` (0.1.x's API; it also reads like a list).
Hooks (``register_hook``, see ``_hooks``) run around ``reply``, ``speak`` and ``observe``.

An agent with a ``tts`` speaks aloud too: ``speak`` feeds a streamed reply into the TTS as it
arrives (``SpeechStream``: sentence by sentence for plain models, ``push`` for realtime ones),
so the audio starts before the text ends, and saves each message's audio as
``<message id>.wav`` in the run's ``audio`` directory (``audio_files`` maps ids to the files).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import GeneratorType
from typing import Any

from loguru import logger

from ..logging import log_deltas, log_msg, log_stream_msg, save_msg
from ..message import Msg
from ..models.response import ModelResponse
from ._hooks import HooksMixin
from .memory import TemporaryMemory


class AgentBase(HooksMixin):
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
        tts: Any = None,
    ) -> None:
        self.name = name
        self.sys_prompt = sys_prompt
        self.model_config_name = model_config_name
        self.model = None
        if model_config_name is not None:
            from ..models import load_model_by_config_name

            self.model = load_model_by_config_name(model_config_name)
        self.memory: TemporaryMemory | None = TemporaryMemory() if use_memory else None
        self._audience: list[AgentBase] = []
        self._reply_id = ""
        #: What speaks this agent's messages (None: it only prints them); see ``_voice``.
        self.tts = _voice(tts) if tts is not None else None
        #: The WAV file of each message this agent spoke aloud, by message id.
        self.audio_files: dict[str, Path] = {}

    def __call__(self, x: Msg | Sequence[Msg] | None = None, **kwargs: Any) -> Msg:
        self._reply_id = uuid.uuid4().hex
        msg = self.reply(x, **kwargs)
        for agent in self._audience:
            agent.observe(msg)
        return msg

    def reply(self, x: Msg | Sequence[Msg] | None = None, **kwargs: Any) -> Msg:
        raise NotImplementedError(f"{type(self).__name__} must implement reply()")

    def observe(self, x: Msg | Sequence[Msg] | None) -> None:
        """Remember what another agent said (a broadcast); runs the observe hooks."""
        self._remember(x)

    def _remember(self, x: Msg | Sequence[Msg] | None) -> None:
        """Add to memory without the observe hooks: an agent's own input and reply are not
        observations (0.1.x's agents called ``memory.add`` for them)."""
        if self.memory is None or x is None:
            return
        for msg in [x] if isinstance(x, Msg) else list(x):
            if not isinstance(msg, Msg):
                raise TypeError(f"observe expects Msg objects, got {type(msg).__name__}")
        self.memory.add(x)  # a message heard twice (same id) is kept once

    def reset_audience(self, audience: Sequence[AgentBase]) -> None:
        self._audience = [a for a in audience if a is not self]

    def clear_audience(self) -> None:
        self._audience = []

    def speak(
        self,
        content: str | Msg | ModelResponse | Iterator[tuple[bool, str]],
        msg_id: str | None = None,
    ) -> str | None:
        """Print a message, a ``ModelResponse`` or a ``(last, text)`` stream as it arrives.

        Returns the text spoken. A stream shares one message id for all its chunks
        (``msg_id``, when given: the id of the message the caller builds from the text).
        With a ``tts`` the text is also spoken aloud and saved (see the module docstring).
        """
        if isinstance(content, Msg):
            msg_id = content.id
        speech = self._speech(msg_id)
        try:
            text = self._print(content, msg_id, speech)
        except BaseException:
            if speech is not None:
                speech.close()
            raise
        if speech is not None:
            self._save_speech(speech, text or "")
        self._run_notifying("post_speak")
        return text

    def _print(self, content: Any, msg_id: str | None, speech: Any) -> str | None:
        if isinstance(content, str):
            log_msg(
                self._run_replacing(
                    "pre_speak", Msg(self.name, content, "assistant", id=msg_id), False, True
                )
            )
            return content
        if isinstance(content, Msg):
            log_msg(self._run_replacing("pre_speak", content, False, True))
            return content.get_text_content()
        if isinstance(content, ModelResponse):
            if content.is_stream and not content.is_stream_exhausted:
                if self._hooks_for("pre_speak"):  # the hooks see each chunk as a Msg
                    return self._print(content.stream, msg_id, speech)
                return self._speak_deltas(content, msg_id, speech)
            return self._print(content.text or "", msg_id, speech)
        if isinstance(content, (GeneratorType, Iterator)):
            msg = Msg(self.name, "", "assistant", id=msg_id)
            hooked = bool(self._hooks_for("pre_speak"))
            try:
                for last, text in content:
                    msg.content = text
                    shown = self._run_replacing("pre_speak", msg, True, last) if hooked else msg
                    log_stream_msg(shown, last=last)
                    if speech is not None:
                        speech.feed(text)
            finally:
                close = getattr(content, "close", None)
                if close is not None:
                    close()  # an interrupted generator releases its stream now, not at GC
            return msg.content
        raise TypeError(f"speak() cannot print a {type(content).__name__}")

    def _speak_deltas(self, response: ModelResponse, msg_id: str | None, speech: Any) -> str:
        # Printing deltas directly avoids re-slicing the accumulated text for every chunk.
        pieces = response.deltas or ()
        try:
            log_deltas(self.name, _fed(pieces, speech) if speech is not None else pieces)
        except BaseException:
            response.close()  # Ctrl-C mid-stream: release the connection, record the call
            raise
        text = response.text or ""
        save_msg(Msg(self.name, text, "assistant", id=msg_id))
        return text

    def _speech(self, msg_id: str | None) -> Any:
        """A speech stream for one message (None without a ``tts``)."""
        if self.tts is None:
            return None
        return self.tts.speech_stream(msg_id=msg_id or uuid.uuid4().hex, name=self.name)

    def _save_speech(self, speech: Any, text: str) -> None:
        """Finish speaking ``text`` and save it as ``<message id>.wav`` in the run's audio
        directory. A failing voice does not stop the agent: it is logged, the text stands."""
        from .._runtime import get_runtime
        from ..errors import AgentScopeError

        if not text.strip():
            speech.close()
            return
        try:
            result = speech.finish(text)
            path = get_runtime().file_dir("audio") / f"{speech.msg_id}.wav"
            path.write_bytes(result.wav())
        except (AgentScopeError, OSError) as exc:
            logger.warning("{}: the message could not be spoken aloud: {}", self.name, exc)
            return
        self.audio_files[speech.msg_id] = path


def _fed(pieces: Iterable[str], speech: Any) -> Iterator[str]:
    """The text pieces, each also fed (as the text so far) to ``speech`` as it arrives."""
    text = ""
    for piece in pieces:
        text += piece
        speech.feed(text)
        yield piece


def _voice(tts: Any) -> Any:
    """What ``tts=`` names: a TTS config name, a TTS wrapper, or an async TTS model."""
    from ..errors import ConfigError, ConfigIssue
    from ..tts import TTSModelBase
    from ..tts._legacy import TTS_MODEL_TYPES, ModelVoice, TTSWrapper

    if isinstance(tts, str):
        from ..models import load_model_by_config_name

        wrapper = load_model_by_config_name(tts)
        if not isinstance(wrapper, TTSWrapper):
            raise ConfigError(
                ConfigIssue(
                    f"tts '{tts}' is a {wrapper.model_type} config, not a TTS one "
                    f"(TTS types: {', '.join(TTS_MODEL_TYPES)})",
                    config_name=tts,
                    field="model_type",
                )
            )
        return wrapper
    if isinstance(tts, TTSWrapper) or hasattr(tts, "speech_stream"):
        return tts
    if isinstance(tts, TTSModelBase):
        return ModelVoice(tts)
    raise TypeError(
        f"tts must be a TTS config name, a TTS wrapper or a TTSModelBase, not {type(tts).__name__}"
    )
