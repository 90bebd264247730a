"""``DictDialogAgent``: a dialog agent whose replies are JSON objects checked by a schema.

Where the model holds its output to a schema (a forced function call where the provider has
tools, a JSON grammar on the local llama.cpp model, Ollama's ``format``) the reply comes from
:mod:`agentscope_legacy.models._structured`; other models are asked for JSON in the text,
which is parsed and re-asked for here (0.x's way).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from loguru import logger

from ..errors import ResponseParsingError
from ..message import Msg
from ..models._format import flatten_msgs, plain_chat_turns
from ..models._structured import StructuredOutputError, constrained, structured_metadata
from ._json_reply import find_json_object, format_instruction, schema_problem
from .dialog_agent import DialogAgent

DEFAULT_SCHEMA: dict[str, Any] = {"type": "object"}


class DictDialogAgent(DialogAgent):
    """Replies parsed into a dict: the model is told the JSON shape, its reply is parsed and
    validated against ``schema``, and it is asked again (up to ``max_retries`` times) with the
    problem spelled out when the reply does not parse or validate.

    The parsed dict is the reply's ``metadata``, and also under its ``"structured_output"``
    key (``msg.get_structured_data(cls)``); its content is the reply text (the JSON, from a
    tool call), or the value of ``content_field``. ``use_structured_output`` picks the way:
    None (default) the structured-output path where the model constrains its output, False
    JSON in the text everywhere, True the structured-output path everywhere. After the last
    retry ``on_parse_error="keep"`` returns the text with
    ``metadata={"parse_error": ...}`` (the run goes on, the failure is recorded);
    ``"raise"`` raises :class:`~agentscope_legacy.errors.ResponseParsingError`.
    (0.1.x stored ``max_retries`` but never retried.)
    """

    def __init__(
        self,
        name: str,
        sys_prompt: str,
        model_config_name: str,
        schema: dict[str, Any] | None = None,
        max_retries: int = 3,
        on_parse_error: Literal["raise", "keep"] = "keep",
        content_field: str | None = None,
        use_memory: bool = True,
        memory_window: int | None = None,
        tts: Any = None,
        use_structured_output: bool | None = None,
    ) -> None:
        from jsonschema import Draft202012Validator

        if on_parse_error not in ("raise", "keep"):
            raise ValueError(f"on_parse_error must be 'raise' or 'keep', got {on_parse_error!r}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.schema = schema or DEFAULT_SCHEMA
        Draft202012Validator.check_schema(self.schema)
        self._validator = Draft202012Validator(self.schema)
        super().__init__(name, sys_prompt, model_config_name, use_memory, None, memory_window, tts)
        self.max_retries = max_retries
        self.on_parse_error = on_parse_error
        self.content_field = content_field
        self.instruction = format_instruction(self.schema)
        if use_structured_output is None:
            use_structured_output = constrained(self.model)
        self.use_structured_output = use_structured_output

    def reply(self, x: Msg | Sequence[Msg] | None = None, **kwargs: Any) -> Msg:
        self._remember(x)
        history = self._history(x)
        if self.use_structured_output:
            return self._structured_reply(history, kwargs)
        retry: list[Msg] = []
        problem = ""
        text = ""
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            instruction = Msg("system", self.instruction, "system")
            # Not printed as it streams: only the reply that is kept is spoken, once (a re-asked
            # attempt would otherwise print the agent's lines twice).
            text = self._ask(history, *retry, instruction, echo=False, **kwargs)
            parsed, problem = self.parse(text)
            if parsed is not None:
                return self._answer(parsed, text)
            if attempt + 1 < attempts:
                logger.warning(
                    "{}: the reply could not be used ({}); asking again", self.name, problem
                )
            retry = [
                Msg(self.name, text, "assistant"),
                Msg("system", f"Your reply could not be used: {problem}.", "system"),
            ]
        if self.on_parse_error == "raise":
            raise ResponseParsingError(
                f"{self.name}: no valid JSON reply after {attempts} attempt(s): {problem}", text
            )
        return self._failed(text, problem, attempts)

    def _structured_reply(self, history: Any, kwargs: dict[str, Any]) -> Msg:
        """The reply through the model's structured output (a forced tool call, a grammar)."""
        system = Msg("system", self.sys_prompt, "system") if self.sys_prompt else None
        mode = self.multi_agent_mode
        if mode is None:  # as DialogAgent: two speakers are plain chat turns
            mode = not plain_chat_turns(flatten_msgs(*history), self.name)
        prompt = self.model.format(system, *history, multi_agent_mode=mode)
        try:
            response = self.model(
                prompt,
                structured_model=self.schema,
                max_structured_retries=self.max_retries,
                **kwargs,
            )
        except StructuredOutputError as exc:
            if self.on_parse_error == "raise":
                raise
            said = exc.last_output
            text = said if isinstance(said, str) else json.dumps(said, ensure_ascii=False)
            return self._failed(text, "; ".join(exc.errors), exc.attempts)
        parsed = response.parsed
        return self._answer(parsed, response.text or json.dumps(parsed, ensure_ascii=False))

    def _answer(self, parsed: dict[str, Any], text: str) -> Msg:
        # The parsed keys stay at the top of metadata: 0.x readers and experiment conditions
        # (``metadata.verdict``) use them.
        metadata = structured_metadata(parsed, base=parsed)
        msg = Msg(self.name, self._content(parsed, text), "assistant", metadata=metadata)
        self.speak(msg)
        self._remember(msg)
        return msg

    def _failed(self, text: str, problem: str, attempts: int) -> Msg:
        metadata = {"parse_error": problem, "attempts": attempts}
        msg = Msg(self.name, text, "assistant", metadata=metadata)
        self.speak(msg)
        self._remember(msg)
        return msg

    def parse(self, text: str) -> tuple[dict[str, Any] | None, str]:
        """``(parsed, "")`` for a valid reply, else ``(None, what is wrong)``."""
        try:
            value = find_json_object(text)
        except ValueError as exc:
            return None, str(exc)
        problem = schema_problem(self._validator, value)
        return (None, problem) if problem else (value, "")

    def _content(self, parsed: dict[str, Any], text: str) -> str:
        if self.content_field is None or self.content_field not in parsed:
            return text
        value = parsed[self.content_field]
        return value if isinstance(value, str) else str(value)
