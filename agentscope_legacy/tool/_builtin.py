"""Built-in tools a user opts into (``tools: [builtin:calculator, builtin:read_file]``).

``calculator`` evaluates arithmetic by walking its ``ast``: numbers and operators only, no
names, calls or attributes, so nothing in the expression can run code. ``file_reader(root)``
makes a ``read_file`` confined to one directory: the resolved path (symlinks followed) must lie
inside the resolved root, and files over ``max_bytes`` are refused.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from ..errors import AgentScopeError

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
#: Bounds that keep one expression cheap: ``9**9**9`` would take minutes and gigabytes.
_MAX_EXPRESSION = 500  # as a Python caller is not held to the schema
_MAX_EXPONENT = 1000
_MAX_MAGNITUDE = 10**100


class ToolInputError(AgentScopeError, ValueError):
    """A built-in tool was given input it refuses (the model reads the message)."""


#: What an expression may hold; in the schema, so a grammar-constrained model writes only this.
EXPRESSION = {"pattern": r"^[0-9(+-][0-9+*/%() .-]{0,39}$", "maxLength": 40}


def calculator(expression: Annotated[str, EXPRESSION]) -> int | float:
    """Evaluate an arithmetic expression of numbers, parentheses and + - * / // % **, such as
    (2 + 3) * 4 / 5 or 2 ** 10.
    """
    # No ``Args:`` entry on purpose: measured on the 135M local model, a parameter description
    # in the schema made its grammar-constrained expressions run on (1 in 5 right, not 3).
    if not isinstance(expression, str) or len(expression) > _MAX_EXPRESSION:
        raise ToolInputError(
            f"the expression must be a string of at most {_MAX_EXPRESSION} characters"
        )
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise ToolInputError(f"not an arithmetic expression: {expression!r}") from None
    return _evaluate(tree.body)


def _evaluate(node: ast.AST) -> int | float:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_EXPONENT:
            raise ToolInputError(f"exponent {right} is too large (at most {_MAX_EXPONENT})")
        try:
            value = _BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise ToolInputError("division by zero") from None
        except OverflowError:
            raise ToolInputError("the result is too large") from None
        if isinstance(value, complex) or (isinstance(value, float) and not math.isfinite(value)):
            raise ToolInputError("the result is not a finite real number")
        if abs(value) > _MAX_MAGNITUDE:
            raise ToolInputError("the result is too large")
        return value
    raise ToolInputError(f"only numbers and + - * / // % ** are allowed, not {type(node).__name__}")


def file_reader(root: str | Path, max_bytes: int = 100_000) -> Callable[[str], str]:
    """A ``read_file`` tool reading UTF-8 text files under ``root`` only."""
    base = Path(root).resolve(strict=True)
    if not base.is_dir():
        raise ToolInputError(f"file reader root {str(base)!r} is not a directory")

    def read_file(path: str) -> str:
        """Read a text file, given its path relative to the readable directory.

        Args:
            path: the file's path relative to the readable directory, e.g. ``notes/a.txt``.
        """
        target = (base / path).resolve()  # symlinks followed: where the file really is
        if not target.is_relative_to(base):
            raise ToolInputError(f"{path!r} is outside the readable directory")
        if not target.is_file():
            raise ToolInputError(f"{path!r} is not a file")
        size = target.stat().st_size
        if size > max_bytes:
            raise ToolInputError(f"{path!r} has {size} bytes, more than the {max_bytes} allowed")
        return target.read_text(encoding="utf-8", errors="replace")

    return read_file


#: ``builtin:<name>`` -> a function of the readable directory returning the tool.
BUILTIN_TOOLS: dict[str, Callable[[Path], Callable[..., Any]]] = {
    "calculator": lambda root: calculator,
    "read_file": file_reader,
}
