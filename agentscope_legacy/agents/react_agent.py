"""``ReActAgent``: reason (a model call offered the tools), act (run its tool calls), repeat.

The loop is async, over the newer model layer (``ChatModelBase``: ``ChatResponse`` content
blocks with ``tool_use``); ``reply()`` runs it to the end for the 0.x side (pipelines, msghub,
experiments), ``await agent.areply(x)`` from async code. A 0.x config name or wrapper is
accepted as the model too: its wrapper does the provider work either way.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from ..logging import log_msg, log_stream_msg
from ..message import Msg, tool_use_block
from ..model import ChatModelBase, ChatResponse
from ..models._base import ModelWrapperBase
from ..models._structured import STRUCTURED_OUTPUT, structured_metadata
from ..tool import Toolkit
from .agent_base import AgentBase


class ReActAgent(AgentBase):
    """An agent that calls tools until it can answer.

    Each iteration asks ``model`` with the toolkit's schemas; the tool calls of one reply run
    concurrently (several per reply where the provider sends them) and their results are fed
    back. A reply without tool calls is the answer; after ``max_iters`` iterations one last call
    (tools offered but ``tool_choice="none"``) asks for the answer. Tool failures reach the
    model as tool results (see :class:`~agentscope_legacy.tool.Toolkit`), never as exceptions.

    Args:
        name: the agent's name.
        sys_prompt: the system prompt.
        model: a chat model (``agentscope_legacy.model``), or a 0.x config name or wrapper.
        formatter: a formatter (``agentscope_legacy.formatter``) for the model's provider;
            ``None``: the model's ``formatter`` (by default its provider's Chat formatter).
        toolkit: the tools, a :class:`~agentscope_legacy.tool.Toolkit` or a list of functions.
        max_iters: how many reasoning-acting iterations before the answer is asked for.
        use_memory: remember the conversation (with the turn's tool calls and results).
        parallel_tool_calls: sent to providers that take it (OpenAI-shaped ones); ``None``
            leaves the provider's default.
        tool_choice: the first iteration's: ``"required"`` or a tool's name forces a call
            (see :meth:`_forced_call`; small models otherwise answer from memory); later
            iterations are ``"auto"``. ``reply(..., tool_choice=...)`` overrides it.
        tts: a voice for the replies, as :class:`~agentscope_legacy.agents.AgentBase` takes
            it (a TTS config name or model); streamed replies are fed to it as they arrive.
    """

    def __init__(
        self,
        name: str,
        sys_prompt: str,
        model: ChatModelBase | ModelWrapperBase | str,
        formatter: Any = None,
        toolkit: Toolkit | Sequence[Callable[..., Any]] | None = None,
        max_iters: int = 10,
        use_memory: bool = True,
        parallel_tool_calls: bool | None = None,
        tool_choice: str | None = None,
        tts: Any = None,
    ) -> None:
        super().__init__(name, sys_prompt, use_memory=use_memory, tts=tts)
        if isinstance(max_iters, bool) or not isinstance(max_iters, int) or max_iters < 1:
            raise ValueError(f"max_iters must be a positive integer, got {max_iters!r}")
        self.model = chat_model(model)
        # The model's own formatter (its provider's Chat one unless it was given another).
        self.formatter = formatter or self.model.formatter
        self.toolkit = toolkit if isinstance(toolkit, Toolkit) else Toolkit(toolkit or ())
        self.max_iters = max_iters
        self.parallel_tool_calls = parallel_tool_calls
        self.tool_choice = tool_choice

    def reply(
        self, x: Msg | Sequence[Msg] | None = None, structured_model: Any = None, **kwargs: Any
    ) -> Msg:
        """Run :meth:`areply` to its end (in a thread when an event loop runs in this one)."""
        coro = self.areply(x, structured_model=structured_model, **kwargs)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coro).result()

    async def areply(
        self, x: Msg | Sequence[Msg] | None = None, structured_model: Any = None, **kwargs: Any
    ) -> Msg:
        """Answer ``x``, calling tools as the model asks.

        ``structured_model`` (a pydantic model class or a JSON Schema dict): once the loop has
        its answer, one more call returns it as validated data, in the reply's
        ``metadata["structured_output"]``. ``kwargs`` are generation parameters.
        """
        turn: list[Msg] = _as_list(x)  # this turn's messages, remembered at its end
        seen = {m.id for m in turn}
        past = (
            [m for m in self.memory.get_memory() if m.id not in seen]
            if self.memory is not None
            else []
        )
        tools = self.toolkit.get_json_schemas() or None
        if tools and self.parallel_tool_calls is not None:
            kwargs.setdefault("parallel_tool_calls", self.parallel_tool_calls)
        first_choice = kwargs.pop("tool_choice", self.tool_choice)
        first_choice = first_choice if tools else None  # nothing to choose from
        msg: Msg | None = None
        for i in range(self.max_iters):
            msg = await self._reason(past, turn, tools, first_choice if i == 0 else None, kwargs)
            calls = msg.get_content_blocks("tool_use")
            if not calls:
                break
            results = await self.toolkit.call_all(calls)
            self._keep(turn, Msg("system", list(results), "system"), echo=True)
        else:  # every iteration called tools: ask for the answer now
            msg = await self._reason(past, turn, tools, "none" if tools else None, kwargs)
        assert msg is not None
        answer = Msg(self.name, msg.get_text_content() or "", "assistant", id=msg.id)
        turn[-1] = answer  # the answer stands for its raw message (same id)
        if structured_model is not None:
            data = await self._structured(past + turn, structured_model)
            answer.metadata = structured_metadata(data)
        self._remember(turn)
        return answer

    async def _reason(
        self,
        past: list[Msg],
        turn: list[Msg],
        tools: Any,
        tool_choice: str | None,
        kwargs: dict[str, Any],
    ) -> Msg:
        """One model call: the reply as a message (text and tool_use blocks), kept in ``turn``."""
        if tool_choice not in (None, "auto", "none"):
            return await self._forced_call(past, turn, tools, tool_choice)
        prompt = await self._prompt(past + turn, tools)
        msg_id = uuid.uuid4().hex
        res = await self.model(prompt, tools=tools, tool_choice=tool_choice, **kwargs)
        if isinstance(res, ChatResponse):
            final = res
            if _text(res):  # through speak(): its hooks and voice apply
                self.speak(Msg(self.name, _text(res), "assistant", id=msg_id))
        else:
            final = await self._speak_chunks(res, msg_id)
        blocks = [b for b in final.content if b["type"] in ("text", "tool_use")]
        if tool_choice == "none":
            blocks = [b for b in blocks if b["type"] == "text"]
        msg = Msg(self.name, blocks or "", "assistant", id=msg_id)
        calls = msg.get_content_blocks("tool_use")
        self._keep(turn, msg, echo=bool(calls))
        return msg

    async def _forced_call(
        self, past: list[Msg], turn: list[Msg], tools: Any, tool_choice: str
    ) -> Msg:
        """A tool call the model must make, obtained as structured output: a forced function
        call where the provider has one, JSON under the arguments' schema as a grammar on the
        local model (so even a 135M model writes a valid call)."""
        choice = self.model._tool_choice(tool_choice, tools)  # ValueError for an unknown name
        names = list(self.toolkit.tools)
        if choice == "required" and len(names) == 1:
            choice = names[0]
        if choice in self.toolkit:
            schema = self.toolkit.tools[choice].schema["function"]["parameters"]
            name, arguments = choice, await self._structured(past + turn, schema)
        else:  # any of several tools: the name is part of the output
            schema = {
                "type": "object",
                "properties": {"name": {"enum": names}, "arguments": {"type": "object"}},
                "required": ["name", "arguments"],
            }
            data = await self._structured(past + turn, schema)
            name, arguments = data["name"], data["arguments"]
        block = tool_use_block(f"call_{uuid.uuid4().hex[:16]}", name, arguments)
        msg = Msg(self.name, [block], "assistant")
        self._keep(turn, msg, echo=True)
        return msg

    async def _speak_chunks(self, chunks: Any, msg_id: str) -> ChatResponse:
        """Speak a stream of accumulative ChatResponses as it arrives, as ``speak()`` speaks a
        stream: the pre_speak hooks see (and may change) each chunk, the voice hears it, and
        post_speak runs at the end. Returns the last chunk."""
        last: ChatResponse | None = None
        msg = Msg(self.name, "", "assistant", id=msg_id)
        hooked = bool(self._hooks_for("pre_speak"))
        printed, speech, shown = False, None, msg
        try:
            async for chunk in chunks:
                last = chunk
                text = _text(chunk)
                if not text:
                    continue
                if not printed:  # the voice opens on the first text: a bare tool call is silent
                    printed, speech = True, self._speech(msg_id)
                msg.content = text
                if hooked:
                    shown = self._run_replacing("pre_speak", msg, True, chunk.is_last)
                log_stream_msg(shown, last=chunk.is_last)
                if speech is not None:
                    speech.feed(text)
        except BaseException:
            if speech is not None:
                speech.close()
            raise
        if last is None:
            return ChatResponse(content=[])
        if printed:
            if not last.is_last:  # a stream cut short: end the printed line (and save it)
                log_stream_msg(shown, last=True)
            if speech is not None:
                self._save_speech(speech, _text(last))
            self._run_notifying("post_speak")
        return last

    async def _prompt(self, history: list[Msg], tools: Any) -> Any:
        msgs = [Msg("system", self.sys_prompt, "system")] if self.sys_prompt else []
        msgs += history
        return await self.formatter.format(msgs, tools=tools)

    async def _structured(self, history: list[Msg], structured_model: Any) -> dict[str, Any]:
        prompt = await self._prompt(history, None)
        res = await self.model(prompt, structured_model=structured_model)
        if not isinstance(res, ChatResponse):  # streamed: one final response
            res = [chunk async for chunk in res][-1]
        return dict((res.metadata or {}).get(STRUCTURED_OUTPUT) or {})

    def _keep(self, turn: list[Msg], msg: Msg, echo: bool) -> None:
        """Add ``msg`` to the turn; ``echo`` prints its tool calls or results."""
        if echo:
            tool_blocks = [b for b in msg.get_content_blocks() if b["type"] != "text"]
            log_msg(Msg(msg.name, tool_blocks, msg.role, id=msg.id))
        turn.append(msg)


class _WrapperModel(ChatModelBase):
    """A chat model over a given 0.x wrapper (a config name's, in an experiment)."""

    def __init__(self, wrapper: ModelWrapperBase) -> None:
        super().__init__(wrapper.model_name, wrapper.stream)
        self.wrapper = wrapper


def chat_model(model: ChatModelBase | ModelWrapperBase | str) -> ChatModelBase:
    """The chat model ``model`` names: itself, or one over a 0.x wrapper or config name."""
    if isinstance(model, ChatModelBase):
        return model
    if isinstance(model, str):
        from ..models import load_model_by_config_name

        model = load_model_by_config_name(model)
    if isinstance(model, ModelWrapperBase):
        from ..model._adapter import ChatModelWrapper

        if isinstance(model, ChatModelWrapper):  # a custom model ("myprov:m"): the model itself
            return model.model
        return _WrapperModel(model)
    raise TypeError(
        f"model must be a chat model, a 0.x wrapper or a config name, not {type(model).__name__}"
    )


def _as_list(x: Msg | Sequence[Msg] | None) -> list[Msg]:
    return [] if x is None else [x] if isinstance(x, Msg) else list(x)


def _text(res: ChatResponse) -> str:
    return "".join(b["text"] for b in res.content if b["type"] == "text")
