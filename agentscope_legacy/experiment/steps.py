"""Pipeline steps of an experiment file, parsed from the (validated) document and run.

Every step takes the last message ``x`` and returns the new last message, like a 0.x
operator. Messages go through the :class:`~.runner.RunContext`, which prints them, writes the
transcript and shows progress.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..message import Msg
from ..msghub import msghub
from ..pipelines import sequentialpipeline
from . import conditions

if TYPE_CHECKING:
    from .runner import RunContext

X = Msg | None


class Step(Protocol):
    def run(self, ctx: RunContext, x: X) -> X: ...

    def describe(self) -> list[str]: ...


@dataclass
class AgentStep:
    """A named agent replies to ``x``."""

    name: str

    def run(self, ctx: RunContext, x: X) -> X:
        ctx.progress.show(self.name)
        msg = ctx.agents[self.name](x)
        ctx.record(msg)
        return msg if msg is not None else x

    def describe(self) -> list[str]:
        return [self.name]


@dataclass
class Sequential:
    """Steps one after another; ``label`` numbers them in the progress line (top level)."""

    steps: list[Step]
    label: str | None = None

    def run(self, ctx: RunContext, x: X) -> X:
        if self.label is None or len(self.steps) == 1:  # "step 1/1" says nothing
            return sequentialpipeline([_bind(s, ctx) for s in self.steps], x)
        for i, step in enumerate(self.steps, 1):
            with ctx.progress.level(self.label, i, len(self.steps)):
                x = step.run(ctx, x)
        return x

    def describe(self) -> list[str]:
        return [line for step in self.steps for line in step.describe()]


@dataclass
class Say:
    """A message from outside the agents (a host, a moderator): printed, recorded, heard by
    the current msghub, and passed on as ``x``."""

    spec: dict[str, Any]

    def run(self, ctx: RunContext, x: X) -> X:
        msg = ctx.message(self.spec)
        ctx.say(msg)
        return msg

    def describe(self) -> list[str]:
        return [f"say ({self.spec.get('name', 'host')}): {_short(self.spec['content'])}"]


@dataclass
class Hub:
    """A msghub: each participant's reply is observed by the others."""

    participants: list[str]
    body: Sequential
    announcement: dict[str, Any] | None = None
    broadcast: bool = True

    def run(self, ctx: RunContext, x: X) -> X:
        agents = [ctx.agents[name] for name in self.participants]
        with msghub(agents, broadcast=self.broadcast) as hub:
            ctx.hubs.append(hub)
            try:
                if self.announcement is not None:
                    x = ctx.message(self.announcement)
                    ctx.say(x)
                return self.body.run(ctx, x)
            finally:
                ctx.hubs.pop()

    def describe(self) -> list[str]:
        head = f"msghub [{', '.join(self.participants)}]"
        if not self.broadcast:
            head += " (no automatic broadcast)"
        lines = [head]
        if self.announcement is not None:
            lines.append(f"  announcement: {_short(self.announcement['content'])}")
        return lines + _indent(self.body.describe())


@dataclass
class Loop:
    """The body repeated up to ``max_rounds`` times, or until ``until`` holds for the last
    message of a round."""

    body: Sequential
    max_rounds: int | None = None
    until: dict[str, Any] | None = None

    def run(self, ctx: RunContext, x: X) -> X:
        limit = self.max_rounds if self.max_rounds is not None else math.inf
        round_ = 0
        while round_ < limit:
            round_ += 1
            with ctx.progress.level("round", round_, self.max_rounds):
                x = self.body.run(ctx, x)
            if self.until is not None and conditions.evaluate(self.until, x):
                break
        return x

    def describe(self) -> list[str]:
        parts = [f"at most {self.max_rounds} rounds"] if self.max_rounds else []
        if self.until is not None:
            parts.append(f"until {conditions.describe(self.until)}")
        return [f"loop {', '.join(parts)}"] + _indent(self.body.describe())


@dataclass
class IfElse:
    """``then`` when the condition holds for ``x``, else ``else`` (or nothing)."""

    condition: dict[str, Any]
    then: Sequential
    otherwise: Sequential | None = None

    def run(self, ctx: RunContext, x: X) -> X:
        branch = self.then if conditions.evaluate(self.condition, x) else self.otherwise
        return branch.run(ctx, x) if branch is not None else x

    def describe(self) -> list[str]:
        lines = [f"if {conditions.describe(self.condition)}"] + _indent(self.then.describe())
        if self.otherwise is not None:
            lines += ["else"] + _indent(self.otherwise.describe())
        return lines


@dataclass
class ForEach:
    """The body once per item, with the item bound to ``{{<as>}}`` in ``say`` texts."""

    items: list[Any]
    body: Sequential
    var: str = "item"

    def run(self, ctx: RunContext, x: X) -> X:
        for i, item in enumerate(self.items, 1):
            with ctx.progress.level(self.var, i, len(self.items)), ctx.bind(self.var, item):
                x = self.body.run(ctx, x)
        return x

    def describe(self) -> list[str]:
        return [f"for each {self.var} in {_short(self.items)}"] + _indent(self.body.describe())


# -- parsing -----------------------------------------------------------------------------------
def parse_pipeline(data: list[Any]) -> Sequential:
    """The top-level step list; its steps are numbered in the progress line."""
    return Sequential([parse_step(item) for item in data], label="step")


def parse_steps(data: list[Any]) -> Sequential:
    return Sequential([parse_step(item) for item in data])


def parse_step(item: Any) -> Step:
    if isinstance(item, str):
        return AgentStep(item)
    if "sequential" in item:
        return parse_steps(item["sequential"])
    if "msghub" in item:
        spec = item["msghub"]
        return Hub(
            list(spec["participants"]),
            parse_steps(spec["steps"]),
            _message(spec.get("announcement")),
            spec.get("broadcast", True),
        )
    if "loop" in item:
        spec = item["loop"]
        return Loop(parse_steps(spec["steps"]), spec.get("max_rounds"), spec.get("until"))
    if "if" in item:
        otherwise = parse_steps(item["else"]) if "else" in item else None
        return IfElse(item["if"], parse_steps(item["then"]), otherwise)
    if "for_each" in item:
        spec = item["for_each"]
        return ForEach(list(spec["items"]), parse_steps(spec["steps"]), spec.get("as", "item"))
    if "say" in item:
        return Say(_message(item["say"]))
    raise ValueError(f"not a step: {item!r}")  # unreachable after validation


def _message(spec: Any) -> dict[str, Any] | None:
    if spec is None:
        return None
    return {"content": spec} if isinstance(spec, str) else dict(spec)


def _bind(step: Step, ctx: RunContext) -> Callable[[X], X]:
    return lambda x: step.run(ctx, x)


def _indent(lines: list[str]) -> list[str]:
    return ["  " + line for line in lines]


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."
