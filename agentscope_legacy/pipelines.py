"""Pipelines of AgentScope 0.x: operators (agents or any ``x -> x`` callable) composed.

Each pipeline exists as a class (built once, called with ``x``) and as a function (run now)::

    x = sequentialpipeline([alice, bob], x)
    x = forlooppipeline([alice, bob], max_loop=3, break_func=lambda m: "bye" in m.content, x=x)

An "operators" argument is one callable or a list of them run in order; an empty list is a
``ValueError`` ("No operators provided."), as in 0.x.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

Operator = Callable[..., Any]
Operators = Operator | Sequence[Operator]

__all__ = [
    "ForLoopPipeline",
    "IfElsePipeline",
    "PipelineBase",
    "SequentialPipeline",
    "SwitchPipeline",
    "WhileLoopPipeline",
    "forlooppipeline",
    "ifelsepipeline",
    "placeholder",
    "sequential_pipeline",
    "sequentialpipeline",
    "switchpipeline",
    "whilelooppipeline",
]


def placeholder(x: Any = None) -> Any:
    """The identity operator: the default ``else`` / ``default`` branch."""
    return x


def _run(operators: Operators, x: Any) -> Any:
    if callable(operators):
        return operators(x)
    if not operators:
        raise ValueError("No operators provided.")
    for operator in operators:
        x = operator(x)
    return x


def _never(*_: Any) -> bool:
    return False


def sequentialpipeline(operators: Operators, x: Any = None) -> Any:
    """Run the operators one after another, each getting the previous one's output."""
    return _run(operators, x)


sequential_pipeline = sequentialpipeline  # the 0.1.3+ name


def ifelsepipeline(
    condition_func: Callable[[Any], bool],
    if_body_operators: Operators,
    else_body_operators: Operators = placeholder,
    x: Any = None,
) -> Any:
    """Run ``if_body_operators`` when ``condition_func(x)`` holds, else the else branch."""
    return _run(if_body_operators if condition_func(x) else else_body_operators, x)


def switchpipeline(
    condition_func: Callable[[Any], Any],
    case_operators: Mapping[Any, Operators],
    default_operators: Operators = placeholder,
    x: Any = None,
) -> Any:
    """Run the operators of the case ``condition_func(x)`` selects, else the default."""
    return _run(case_operators.get(condition_func(x), default_operators), x)


def forlooppipeline(
    loop_body_operators: Operators,
    max_loop: int,
    break_func: Callable[[Any], bool] = _never,
    x: Any = None,
) -> Any:
    """Run the body up to ``max_loop`` times, stopping early when ``break_func(x)`` holds."""
    for _ in range(max_loop):
        x = _run(loop_body_operators, x)
        if break_func(x):
            break
    return x


def whilelooppipeline(
    loop_body_operators: Operators,
    condition_func: Callable[[int, Any], bool] = _never,
    x: Any = None,
) -> Any:
    """Run the body while ``condition_func(round_index, x)`` holds."""
    i = 0
    while condition_func(i, x):
        x = _run(loop_body_operators, x)
        i += 1
    return x


class PipelineBase:
    """A pipeline built once and called with ``x`` like an operator."""

    def __call__(self, x: Any = None) -> Any:
        raise NotImplementedError


class SequentialPipeline(PipelineBase):
    def __init__(self, operators: Operators) -> None:
        self.operators = operators

    def __call__(self, x: Any = None) -> Any:
        return sequentialpipeline(self.operators, x)


class IfElsePipeline(PipelineBase):
    def __init__(
        self,
        condition_func: Callable[[Any], bool],
        if_body_operators: Operators,
        else_body_operators: Operators = placeholder,
    ) -> None:
        self.condition_func = condition_func
        self.if_body_operators = if_body_operators
        self.else_body_operators = else_body_operators

    def __call__(self, x: Any = None) -> Any:
        return ifelsepipeline(
            self.condition_func, self.if_body_operators, self.else_body_operators, x
        )


class SwitchPipeline(PipelineBase):
    def __init__(
        self,
        condition_func: Callable[[Any], Any],
        case_operators: Mapping[Any, Operators],
        default_operators: Operators = placeholder,
    ) -> None:
        self.condition_func = condition_func
        self.case_operators = case_operators
        self.default_operators = default_operators

    def __call__(self, x: Any = None) -> Any:
        return switchpipeline(self.condition_func, self.case_operators, self.default_operators, x)


class ForLoopPipeline(PipelineBase):
    def __init__(
        self,
        loop_body_operators: Operators,
        max_loop: int,
        break_func: Callable[[Any], bool] = _never,
    ) -> None:
        self.loop_body_operators = loop_body_operators
        self.max_loop = max_loop
        self.break_func = break_func

    def __call__(self, x: Any = None) -> Any:
        return forlooppipeline(self.loop_body_operators, self.max_loop, self.break_func, x)


class WhileLoopPipeline(PipelineBase):
    def __init__(
        self,
        loop_body_operators: Operators,
        condition_func: Callable[[int, Any], bool] = _never,
    ) -> None:
        self.loop_body_operators = loop_body_operators
        self.condition_func = condition_func

    def __call__(self, x: Any = None) -> Any:
        return whilelooppipeline(self.loop_body_operators, self.condition_func, x)
