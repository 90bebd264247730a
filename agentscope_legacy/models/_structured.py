"""Structured output: a forced tool call built from a schema, validated, repaired when invalid.

``structured_model`` is a pydantic ``BaseModel`` subclass or a JSON Schema dict describing an
object. pydantic is never imported here: a model class comes from a program that imported it.

How the output is obtained depends on the wrapper:

* **tool** (every chat wrapper that takes ``tools``/``tool_choice``): one function,
  ``generate_structured_output``, whose parameters are the schema (``$defs`` references
  inlined when they are not recursive), forced with the provider's named ``tool_choice``. GLM
  (zhipuai) accepts only ``tool_choice="auto"``, and Anthropic refuses a forced tool while
  extended thinking is on: there the tool is offered with ``"auto"`` and a user message asks
  for the call.
* **json** (Ollama, llama.cpp and wrappers without tools): a user message asks for a JSON
  object conforming to the schema, also given to the server's own constraint where there is
  one (Ollama ``format``, llama.cpp ``response_format``), and the JSON is read from the text.

The arguments (or the JSON) are validated with ``jsonschema`` and, for a pydantic model, with
the model too. Invalid output is sent back with the validation errors (the assistant's tool call
and a tool result, or the assistant's text and a user message) and the model is asked again, at
most ``max_structured_retries`` times (default 2); then :class:`StructuredOutputError` carries
the last invalid output. A streamed call is consumed to its end before validation.

Where the result is kept: :func:`structured_metadata` puts it under ``"structured_output"``
(the reference's key), in a ``ChatResponse``'s and an agent reply's ``metadata``; a wrapper's
``ModelResponse`` has it as ``parsed``.

One file over ~400 lines on purpose: the schema helpers, the session over its attempts and
the drivers are one feature, and the strategy (tool or json) runs through all three.
"""

from __future__ import annotations

import copy
import inspect
import json
import re
import sys
import time
from collections.abc import Mapping
from typing import Any

import jsonschema
from loguru import logger

from ..errors import ResponseParsingError
from .response import ModelResponse

STRUCTURED_TOOL = "generate_structured_output"
#: The metadata key of the validated output (``Msg.get_structured_data`` reads it).
STRUCTURED_OUTPUT = "structured_output"
DEFAULT_MAX_RETRIES = 2
#: Wrappers that cannot force a named function: JSON in the text, with the server's own schema
#: constraint when it has one (the schema is passed under this keyword).
JSON_MODE: dict[str, Any] = {
    "ollama_chat": lambda schema: {"format": schema},
    "llamacpp_chat": lambda schema: {"response_format": {"type": "json_object", "schema": schema}},
}
_INVALID = object()


class StructuredOutputError(ResponseParsingError):
    """The model gave no valid structured output within the allowed attempts.

    Attributes:
        last_output: the last invalid output (the tool arguments as a dict, or the raw text).
        errors: the validation errors of that output.
        attempts: how many calls were made.
        raw_response: the last ``ModelResponse``.
    """

    def __init__(
        self,
        message: str,
        *,
        last_output: Any,
        errors: list[str],
        attempts: int,
        response: ModelResponse | None,
    ) -> None:
        self.last_output = last_output
        self.errors = errors
        self.attempts = attempts
        super().__init__(message, raw_response=response)


# -- schemas ----------------------------------------------------------------------------------
def resolve_schema(structured_model: Any) -> tuple[dict[str, Any], Any]:
    """``(JSON Schema, pydantic model or None)`` of a ``structured_model``."""
    pydantic = sys.modules.get("pydantic")
    if isinstance(structured_model, type) and pydantic is not None:
        if issubclass(structured_model, pydantic.BaseModel):
            return structured_model.model_json_schema(), structured_model
    if not isinstance(structured_model, Mapping):
        raise TypeError(
            "structured_model must be a pydantic BaseModel subclass or a JSON Schema dict, "
            f"got {structured_model!r:.80}"
        )
    schema = copy.deepcopy(dict(structured_model))
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValueError(f"structured_model is not a valid JSON Schema: {exc.message}") from None
    if schema.get("type", "object") != "object":
        raise ValueError(
            "structured_model must describe a JSON object (the arguments of a function), "
            f"not type {schema.get('type')!r}"
        )
    return schema, None


class _Recursive(Exception):
    pass


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with local ``$ref``s to ``$defs``/``definitions`` replaced by their targets;
    a recursive schema is returned unchanged (with its ``$defs``)."""
    defs = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    if not defs:
        return schema

    def resolve(node: Any, seen: frozenset[str]) -> Any:
        if isinstance(node, list):
            return [resolve(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(("#/$defs/", "#/definitions/")):
            name = ref.rsplit("/", 1)[1]
            if name in seen or name not in defs:
                raise _Recursive
            target = resolve(defs[name], seen | {name})
            rest = {k: resolve(v, seen) for k, v in node.items() if k != "$ref"}
            return {**target, **rest}
        return {k: resolve(v, seen) for k, v in node.items()}

    root = {k: v for k, v in schema.items() if k not in ("$defs", "definitions")}
    try:
        return resolve(root, frozenset())
    except _Recursive:
        return schema


def structured_tool(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI-style function tool whose arguments are the structured output."""
    description = "Give your answer by calling this function: its arguments are the answer."
    if schema.get("description"):
        description += f" The answer: {schema['description']}"
    return {
        "type": "function",
        "function": {
            "name": STRUCTURED_TOOL,
            "description": description,
            "parameters": inline_refs(schema),
        },
    }


def parse_json_text(text: str) -> Any:
    """The JSON value in a reply: the whole text, a fenced block, or the outermost object."""
    text = text.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.S)
    candidates = [text]
    if fenced:
        candidates.append(fenced.group(1).strip())
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise ValueError("the reply holds no JSON object")


def structured_metadata(data: dict[str, Any], base: Mapping[str, Any] | None = None) -> dict:
    """``base`` (a reply's other metadata) with the validated output under its key."""
    return {**(base or {}), STRUCTURED_OUTPUT: data}


def constrained(wrapper: Any) -> bool:
    """Whether ``wrapper``'s structured output is held to the schema by the model's side: a
    tool call, or a server-side JSON constraint (Ollama ``format``, llama.cpp's grammar)."""
    return _strategy(wrapper, {})[0] == "tool" or getattr(wrapper, "model_type", "") in JSON_MODE


def _json_or_none(text: str) -> Any:
    try:
        return parse_json_text(text) if text else None
    except ValueError:
        return None


# -- one structured request, over its attempts ------------------------------------------------
class StructuredSession:
    """The state of one structured call: messages so far, attempts, errors, usage."""

    def __init__(
        self,
        wrapper: Any,
        messages: list[dict[str, Any]],
        structured_model: Any,
        max_retries: int = DEFAULT_MAX_RETRIES,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(messages, list) or not all(
            isinstance(m, dict) and "role" in m for m in messages
        ):
            raise ValueError("structured output needs chat messages: a list of dicts with a role")
        if max_retries < 0:
            raise ValueError("max_structured_retries must be >= 0")
        self.schema, self.model = resolve_schema(structured_model)
        self.validator = jsonschema.validators.validator_for(self.schema)(self.schema)
        self.kwargs = dict(kwargs or {})
        for key in ("tools", "tool_choice"):
            if self.kwargs.pop(key, None) is not None:
                logger.warning("{} is ignored when structured_model is given", key)
        self.model_type = getattr(wrapper, "model_type", "")
        self.provider = getattr(wrapper, "provider", "")
        self.mode, self.force = _strategy(wrapper, self.kwargs)
        self.max_retries = max_retries
        self.messages = list(messages)
        self.attempts = 0
        self.errors: list[str] = []
        self.last_output: Any = None
        self.input_tokens = self.output_tokens = 0
        self.started = time.perf_counter()
        if self.mode == "json":
            self.messages.append({"role": "user", "content": self._json_instruction()})
        elif not self.force:
            self.messages.append({"role": "user", "content": self._call_instruction()})

    # -- requests -----------------------------------------------------------------------------
    def call_kwargs(self) -> dict[str, Any]:
        """The kwargs of the next attempt's wrapper call (besides messages and stream)."""
        if self.mode == "tool":
            choice = STRUCTURED_TOOL if self.force else "auto"
            extra = {"tools": [structured_tool(self.schema)], "tool_choice": choice}
        else:
            constraint = JSON_MODE.get(self.model_type)
            extra = constraint(inline_refs(self.schema)) if constraint else {}
        return {**self.kwargs, **extra}

    def _json_instruction(self) -> str:
        schema = json.dumps(inline_refs(self.schema), ensure_ascii=False)
        return (
            "Reply with a JSON object, and nothing else, that conforms to this JSON Schema:\n"
            f"{schema}"
        )

    def _call_instruction(self) -> str:
        return f"Give your answer by calling the function {STRUCTURED_TOOL}."

    # -- replies ------------------------------------------------------------------------------
    @property
    def exhausted(self) -> bool:
        return self.attempts > self.max_retries

    def accept(self, response: ModelResponse) -> Any:
        """The validated output of a finished reply, or ``_INVALID`` (a repair turn is then
        added to the messages)."""
        self.attempts += 1
        if response.usage is not None:
            self.input_tokens += response.usage.prompt_tokens
            self.output_tokens += response.usage.completion_tokens
        if self.mode == "tool":
            output, problems, repair = self._from_tool_call(response)
        else:
            output, problems, repair = self._from_text(response)
        if not problems:
            return output
        self.last_output, self.errors = output, problems
        logger.warning(
            "structured output attempt {}/{} is invalid: {}",
            self.attempts,
            self.max_retries + 1,
            "; ".join(problems),
        )
        self.messages.extend(repair)
        return _INVALID

    def _from_tool_call(self, response: ModelResponse) -> tuple[Any, list[str], list[dict]]:
        text = response.text or ""
        calls = [c for c in response.tool_calls or [] if c.get("name") == STRUCTURED_TOOL]
        if not calls:
            problems = [f"the reply has no call of the function {STRUCTURED_TOOL}"]
            # Some servers ignore tool_choice and answer in the text: its JSON, when valid.
            data = _json_or_none(text)
            if data is not None:
                problems = self.validate(data)
                if not problems:
                    return data, [], []
            return text, problems, self._retell(text, problems)
        call = calls[0]
        if call.get("raw_input") is not None:
            raw = call["raw_input"]
            problems = [f"the arguments are not a JSON object: {raw[:300]!r}"]
            return raw, problems, self._retell(raw, problems)
        data = call.get("input") or {}
        problems = self.validate(data)
        call_id = call.get("id") or "call_structured"
        assistant: dict[str, Any] = {
            # DashScope wants a string here; None keeps Gemini from getting an empty text part.
            "role": "assistant",
            "content": text or ("" if self.provider == "dashscope" else None),
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {
                        "name": STRUCTURED_TOOL,
                        "arguments": json.dumps(data, ensure_ascii=False),
                    },
                }
            ],
        }
        result = {
            "role": "tool",
            "tool_call_id": call_id,
            "name": STRUCTURED_TOOL,
            "content": self._complaint(problems, f"Call {STRUCTURED_TOOL} again"),
        }
        return data, problems, [assistant, result]

    def _from_text(self, response: ModelResponse) -> tuple[Any, list[str], list[dict]]:
        text = response.text or ""
        try:
            data = parse_json_text(text)
        except ValueError as exc:
            problems = [str(exc)]
            return text, problems, self._retell(text, problems)
        problems = self.validate(data)
        if problems:
            return data, problems, self._retell(text, problems)
        return data, problems, []

    def _retell(self, said: str, problems: list[str]) -> list[dict[str, Any]]:
        """The assistant's invalid reply and a user message saying what is wrong."""
        if self.mode == "tool":
            again = f"Give your answer by calling the function {STRUCTURED_TOOL}"
        else:
            again = "Reply again with only the corrected JSON object"
        turns = [{"role": "assistant", "content": said}] if said else []
        return [*turns, {"role": "user", "content": self._complaint(problems, again)}]

    @staticmethod
    def _complaint(problems: list[str], again: str) -> str:
        listed = "\n".join(f"- {p}" for p in problems)
        return f"The output is invalid:\n{listed}\n{again}, fixing these errors."

    def validate(self, data: Any) -> list[str]:
        """Validation errors of ``data`` (jsonschema, then the pydantic model)."""
        if not isinstance(data, dict):
            return [f"the output must be a JSON object, got {type(data).__name__}"]
        errors = sorted(self.validator.iter_errors(data), key=lambda e: list(e.absolute_path))
        problems = [f"{e.json_path}: {e.message}" for e in errors]
        if not problems and self.model is not None:
            try:
                self.model.model_validate(data)
            except Exception as exc:  # pydantic.ValidationError, without importing pydantic
                details = getattr(exc, "errors", None)
                if not callable(details):
                    raise
                problems = [
                    f"$.{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}"
                    for e in details()
                ]
        return problems

    # -- results ------------------------------------------------------------------------------
    def elapsed(self) -> float:
        """Seconds from the first request to now (the last reply, once it is done)."""
        return time.perf_counter() - self.started

    def failure(self, response: ModelResponse | None) -> StructuredOutputError:
        return StructuredOutputError(
            f"no valid structured output after {self.attempts} attempt(s): "
            + "; ".join(self.errors),
            last_output=self.last_output,
            errors=self.errors,
            attempts=self.attempts,
            response=response,
        )


def _strategy(wrapper: Any, kwargs: dict[str, Any]) -> tuple[str, bool]:
    """``(mode, force)``: "tool" or "json", and whether the tool call can be forced."""
    model_type = getattr(wrapper, "model_type", "")
    build = getattr(wrapper, "_build_request", None)
    takes_tools = build is not None and "tool_choice" in inspect.signature(build).parameters
    if model_type in JSON_MODE or not takes_tools:
        return "json", False
    if model_type == "zhipuai_chat":  # GLM accepts only tool_choice="auto"
        return "tool", False
    if getattr(wrapper, "provider", "") == "anthropic":
        thinking = kwargs.get("thinking", getattr(wrapper, "thinking", None))
        if isinstance(thinking, dict) and thinking.get("type") not in (None, "disabled"):
            return "tool", False  # a forced tool is refused while extended thinking is on
    return "tool", True


# -- drivers ----------------------------------------------------------------------------------
def _messages_of(args: tuple[Any, ...]) -> list[dict[str, Any]]:
    if len(args) != 1:
        raise TypeError("a structured call takes exactly one positional argument: the messages")
    return args[0]


def structured_call(
    wrapper: Any,
    *args: Any,
    structured_model: Any = None,
    max_structured_retries: int = DEFAULT_MAX_RETRIES,
    stream: bool | None = None,
    **kwargs: Any,
) -> ModelResponse:
    """``wrapper(messages, structured_model=...)``: the last reply, with ``parsed`` set to the
    validated output (a dict). Raises :class:`StructuredOutputError` after the retries."""
    if structured_model is None:
        return wrapper(*args, stream=stream, **kwargs)
    session = StructuredSession(
        wrapper, _messages_of(args), structured_model, max_structured_retries, kwargs
    )
    while True:
        response = wrapper(session.messages, stream=stream, **session.call_kwargs())
        _ = response.text  # a streamed reply is read to its end
        output = session.accept(response)
        if output is not _INVALID:
            response.parsed = output
            return response
        if session.exhausted:
            raise session.failure(response)


async def run_structured(
    wrapper: Any,
    messages: list[dict[str, Any]],
    structured_model: Any,
    *,
    stream: bool | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    kwargs: dict[str, Any] | None = None,
) -> tuple[ModelResponse, StructuredSession]:
    """The async loop: the validated reply (``parsed`` set) and its session (usage)."""
    session = StructuredSession(wrapper, messages, structured_model, max_retries, kwargs)
    while True:
        response = await wrapper.acall(session.messages, stream=stream, **session.call_kwargs())
        await response.get_text()  # a streamed reply is read to its end
        output = session.accept(response)
        if output is not _INVALID:
            response.parsed = output
            return response, session
        if session.exhausted:
            raise session.failure(response)


async def astructured_call(
    wrapper: Any,
    *args: Any,
    structured_model: Any = None,
    max_structured_retries: int = DEFAULT_MAX_RETRIES,
    stream: bool | None = None,
    **kwargs: Any,
) -> ModelResponse:
    """The async :func:`structured_call` (``await wrapper.acall(..., structured_model=...)``)."""
    if structured_model is None:
        return await wrapper.acall(*args, stream=stream, **kwargs)
    response, _ = await run_structured(
        wrapper,
        _messages_of(args),
        structured_model,
        stream=stream,
        max_retries=max_structured_retries,
        kwargs=kwargs,
    )
    return response
