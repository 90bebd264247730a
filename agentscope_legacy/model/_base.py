"""``ChatModelBase``: an async chat model over one legacy provider wrapper.

The wrapper (``agentscope_legacy.models``) builds the request, calls the provider's SDK (its
async client where there is one), parses the reply, retries transient failures and records
usage; the ChatModel turns its ``ModelResponse`` into :class:`ChatResponse` objects. ``Msg``
lists are formatted first by the model's own formatter (``_formatting``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from loguru import logger

from ..message import Msg
from ..models._base import ModelWrapperBase
from ..models._structured import DEFAULT_MAX_RETRIES, run_structured, structured_metadata
from ..models.response import ModelResponse
from ._formatting import check_formatter, default_formatter, msgs_of
from ._options import GenerateOptions
from ._response import (
    ChatResponse,
    ChatUsage,
    ChunkClock,
    chat_response,
    content_blocks,
    usage_of,
)
from ._stream import StreamAttribute

_NAMED_CHOICES = {"auto": "auto", "none": "none", "any": "required", "required": "required"}


class ChatModelBase:
    """The interface of every chat model: ``await model(messages, tools, tool_choice)``.

    ``messages`` are formatted messages, in the provider's own shape (a formatter's output),
    or ``Msg`` objects, which the model's ``formatter`` formats first (by default its
    provider's Chat formatter; pass ``formatter=`` a MultiAgent one for multi-agent prompts).
    ``tools`` are JSON schemas of functions (``{"type": "function", "function": {...}}``);
    ``tool_choice`` is ``"auto"``, ``"none"``, ``"any"``/``"required"`` or the name of one of
    ``tools``. Other keyword arguments are generation parameters for the provider (they
    override the model's ``generate_kwargs``).

    Without streaming the call returns a :class:`ChatResponse`. With ``stream=True`` it returns
    an async generator of accumulative ChatResponses: each holds the whole reply so far, and
    the last one (``is_last=True``) the whole reply, with its usage.

    ``structured_model`` (a pydantic model class or a JSON Schema dict) asks for structured
    output: see :mod:`agentscope_legacy.models._structured`. The ChatResponse then carries
    the validated output (a dict) in ``metadata["structured_output"]``; its usage counts every
    attempt. Streamed, the generator yields that one final ChatResponse only (attempts are
    read to their end, then validated, before anything is yielded).

    ``model.stream(messages, tools=None, options=None)`` (the reference's Java API) returns the
    async generator of accumulative ChatResponses whatever the ``stream`` flag; ``options`` is
    a :class:`GenerateOptions` (or a mapping of its fields). Read as a value, ``model.stream``
    is still the flag (see :mod:`._stream`).
    """

    #: The streaming flag, also callable as ``model.stream(messages, tools, options)``.
    stream = StreamAttribute()

    #: The legacy wrapper doing the provider work; set by the subclass's constructor, or (a
    #: custom model implementing only ``_generate``) the adapter, built on first use.
    wrapper: ModelWrapperBase
    #: How many times invalid structured output is sent back for repair.
    max_structured_retries: int = DEFAULT_MAX_RETRIES

    def __init__(self, model_name: str, stream: bool, formatter: Any = None) -> None:
        self.model_name = model_name
        self.stream = stream
        self.formatter = formatter

    @property
    def formatter(self) -> Any:
        """The formatter of ``Msg`` inputs; by default the provider's Chat formatter."""
        current = self.__dict__.get("_formatter")
        if current is None:
            try:  # built on first use: the subclass sets ``wrapper`` after __init__
                model_type = str(self.wrapper.model_type)
            except AttributeError:
                model_type = ""
            current = self.__dict__["_formatter"] = default_formatter(model_type)
        return current

    @formatter.setter
    def formatter(self, value: Any) -> None:
        self.__dict__["_formatter"] = check_formatter(value)

    def _generate(
        self, messages: list[dict[str, Any]], **kwargs: Any
    ) -> AsyncIterator[ChatResponse]:
        """A custom provider's one call: an async generator of accumulative ChatResponses.

        Implement this instead of holding a legacy wrapper (the reference's ``doStream``):
        yield the reply so far as it arrives (or once, whole), the last one with its usage.
        ``kwargs`` hold ``tools``, ``tool_choice`` and generation parameters when given. The
        model then gets :class:`~agentscope_legacy.model._adapter.ChatModelWrapper` as its
        ``wrapper``, and with it budgets, records and use by agents and experiments. Raise
        the typed errors of :mod:`agentscope_legacy.errors` (or define ``_translate_error``)
        for retries and error handling to apply.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement _generate")

    def __getattr__(self, name: str) -> Any:
        # Reached only when ``wrapper`` was never set: a custom model implementing _generate.
        # Adapting here (not in __call__) serves every reader of ``model.wrapper`` alike.
        if name == "wrapper" and type(self)._generate is not ChatModelBase._generate:
            from ._adapter import ChatModelWrapper

            wrapper = self.__dict__["wrapper"] = ChatModelWrapper(self)
            return wrapper
        hint = " (set it in __init__, or implement _generate)" if name == "wrapper" else ""
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}{hint}")

    async def __call__(
        self,
        messages: list[dict[str, Any]] | list[Msg] | Msg,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | None = None,
        structured_model: Any = None,
        **kwargs: Any,
    ) -> ChatResponse | AsyncGenerator[ChatResponse, None]:
        stream = bool(kwargs.pop("stream", self.stream))
        msgs = msgs_of(messages)
        if msgs is not None:
            extra = {"tools": tools} if tools else {}  # a counting formatter counts them
            messages = await self.formatter.format(msgs, **extra)
        if structured_model is not None:
            kwargs.update(tools=tools, tool_choice=tool_choice)  # ignored, with a warning
            return await self._structured(messages, structured_model, stream, kwargs)
        if tools:
            kwargs["tools"] = tools
            if tool_choice is not None:
                kwargs["tool_choice"] = self._tool_choice(tool_choice, tools)
        elif tool_choice is not None:
            logger.warning("tool_choice={!r} is ignored: no tools were given", tool_choice)
        clock = ChunkClock()
        response = await self.wrapper.acall(messages, stream=stream, **kwargs)
        if not stream:
            return chat_response(response, usage=usage_of(response, clock.elapsed()))
        return _chunks(response, clock)

    async def _stream_reply(
        self, messages: Any, tools: Any, options: Any, kwargs: dict[str, Any]
    ) -> AsyncGenerator[ChatResponse, None]:
        # Behind ``model.stream(...)``: a plain async generator, so no ``await`` is needed.
        if options is not None:
            kwargs["options"] = GenerateOptions.from_dict(options)
        kwargs["stream"] = True
        generator = await self(messages, tools=tools, **kwargs)
        try:
            async for chunk in generator:
                yield chunk
        finally:
            await generator.aclose()  # stopping early cancels the reply

    @staticmethod
    def _tool_choice(choice: str, tools: list[dict[str, Any]] | None) -> str:
        if not isinstance(choice, str):
            raise TypeError(f"tool_choice must be a str, got {type(choice).__name__}")
        if choice in _NAMED_CHOICES:
            return _NAMED_CHOICES[choice]
        names = [(t.get("function") or t).get("name") for t in tools or []]
        if choice not in names:
            raise ValueError(
                f"tool_choice {choice!r} is neither 'auto', 'none', 'any', 'required' nor the "
                f"name of one of the tools ({', '.join(map(str, names)) or 'none given'})"
            )
        return choice

    async def _structured(
        self,
        messages: list[dict[str, Any]],
        structured_model: Any,
        stream: bool,
        kwargs: dict[str, Any],
    ) -> ChatResponse | AsyncGenerator[ChatResponse, None]:
        retries = kwargs.pop("max_structured_retries", self.max_structured_retries)
        response, session = await run_structured(
            self.wrapper,
            messages,
            structured_model,
            stream=stream,
            max_retries=retries,
            kwargs=kwargs,
        )
        usage = ChatUsage(session.input_tokens, session.output_tokens, session.elapsed())
        reply = chat_response(response, metadata=structured_metadata(response.parsed), usage=usage)
        return _one(reply) if stream else reply

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_name={self.model_name!r}, stream={self.stream})"


async def _chunks(response: ModelResponse, clock: ChunkClock) -> AsyncGenerator[ChatResponse, None]:
    first: ChatResponse | None = None
    try:
        async for last, (text, reasoning, calls) in response.aupdates():
            chunk = ChatResponse(
                content=content_blocks(text, reasoning, calls, final=last),
                usage=usage_of(response, clock.elapsed()),
                is_last=last,
            )
            if first is None:
                first = chunk
            else:  # the chunks of one reply share its id and creation time
                chunk.id, chunk.created_at = first.id, first.created_at
            yield chunk
    finally:
        await response.aclose()  # a consumer that stops early cancels the reply


async def _one(reply: ChatResponse) -> AsyncGenerator[ChatResponse, None]:
    yield reply
