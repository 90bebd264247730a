"""The tool module: schemas from functions, Toolkit calls (every failure a result, never a
raise), concurrency, and the built-ins' safety (calculator, confined file reader)."""

from __future__ import annotations

import asyncio
import os
from typing import Literal

import pytest

from agentscope_legacy.tool import (
    Tool,
    ToolInputError,
    Toolkit,
    calculator,
    file_reader,
    function_schema,
)


def search(query: str, limit: int = 3, mode: Literal["fast", "deep"] = "fast") -> list[str]:
    """Search the notes.

    Args:
        query: what to look for.
        limit: at most this many hits.
    """
    return [query] * limit


def test_schema_from_hints_and_docstring():
    assert function_schema(search) == {
        "type": "function",
        "function": {
            "name": "search",
            "description": "Search the notes.",
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "what to look for."},
                    "limit": {"type": "integer", "description": "at most this many hits."},
                    "mode": {"enum": ["fast", "deep"]},
                },
                "required": ["query"],
            },
        },
    }


def test_the_realtime_module_reexports_the_one_implementation():
    from agentscope_legacy.realtime import _tools

    assert _tools.Tool is Tool and _tools.function_schema is function_schema


def call(toolkit: Toolkit, name: str, arguments: object = None, **extra: object) -> str:
    block = {"type": "tool_use", "id": "x", "name": name, "input": arguments or {}, **extra}
    result = asyncio.run(toolkit.call(block))
    assert (result["type"], result["id"], result["name"]) == ("tool_result", "x", name)
    return result["output"][0]["text"]


def test_results_text_or_json_and_async_tools():
    async def double(n: int) -> int:
        """Twice n."""
        return 2 * n

    toolkit = Toolkit([search, double])
    assert call(toolkit, "search", {"query": "a", "limit": 2}) == '["a", "a"]'
    assert call(toolkit, "double", {"n": 21}) == "42"
    assert [s["function"]["name"] for s in toolkit.get_json_schemas()] == ["search", "double"]


def test_every_failure_is_a_result():
    def boom() -> None:
        """Fails."""
        raise KeyError("gone")

    def nan() -> float:
        """Not JSON either."""
        return float("nan")

    toolkit = Toolkit([boom, nan, search])
    assert call(toolkit, "boom") == "Error: KeyError: 'gone'"
    assert call(toolkit, "nan").startswith("Error: tool 'nan' returned a float")
    assert call(toolkit, "search", {}).startswith("Error: invalid arguments for 'search'")
    assert "no tool named 'zap'" in call(toolkit, "zap")
    assert "not a JSON object" in call(toolkit, "search", raw_input="{oops")


def test_a_hung_tool_times_out_and_async_ones_are_cancelled():
    cancelled = []

    async def forever() -> str:
        """Never ends."""
        try:
            await asyncio.sleep(60)
        finally:
            cancelled.append(True)
        return "never"

    toolkit = Toolkit(timeout=0.05)
    toolkit.register_tool_function(forever)
    assert call(toolkit, "forever") == "Error: tool 'forever' did not finish within 0.05 s"
    assert cancelled == [True]


def test_calls_of_one_reply_run_concurrently():
    async def main() -> list[str]:
        ready = asyncio.Event()

        async def waiter() -> str:
            """Waits for the setter: only finishes if both run at once."""
            await ready.wait()
            return "waited"

        async def setter() -> str:
            """Sets the event."""
            ready.set()
            return "set"

        toolkit = Toolkit([waiter, setter], timeout=2)
        blocks = [
            {"type": "tool_use", "id": n, "name": n, "input": {}} for n in ("waiter", "setter")
        ]
        results = await toolkit.call_all(blocks)
        return [r["output"][0]["text"] for r in results]

    assert asyncio.run(main()) == ["waited", "set"]  # in the calls' order


def test_registering_twice_or_a_schema_is_refused():
    toolkit = Toolkit([search])
    with pytest.raises(ValueError, match="already registered"):
        toolkit.register_tool_function(search)
    with pytest.raises(TypeError, match="register a function"):
        toolkit.register_tool_function(function_schema(search))  # type: ignore[arg-type]


# -- the calculator ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expression", "value"),
    [("1 + 2 * 3", 7), ("(2 + 3) * 4 / 5", 4.0), ("2 ** 10", 1024), ("-7 // 2", -4), ("7 % 3", 1)],
)
def test_calculator_does_arithmetic(expression, value):
    assert calculator(expression) == value


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('true')",
        "().__class__.__bases__[0].__subclasses__()",
        "open('/etc/passwd')",
        "x + 1",
        "[1, 2]",
        "'a' * 3",
        "1 if 1 else 2",
        "lambda: 1",
        "9 ** 9 ** 9",  # minutes of CPU if evaluated
        "1 / 0",
        "(-1) ** 0.5",
        "10.0 ** 400",
        "1" * 600,
        "2 +",
    ],
)
def test_calculator_refuses_anything_but_bounded_arithmetic(expression):
    with pytest.raises(ToolInputError):
        calculator(expression)


def test_calculator_refusals_reach_the_model_as_results():
    assert call(Toolkit([calculator]), "calculator", {"expression": "__import__('os')"}).startswith(
        "Error: ToolInputError: only numbers"
    )


# -- the file reader -----------------------------------------------------------------------------
@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "readable"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha")
    (root / "sub" / "b.txt").write_text("beta")
    (tmp_path / "secret.txt").write_text("do not read")
    (root / "big.txt").write_bytes(b"x" * 2000)
    os.symlink(tmp_path / "secret.txt", root / "link_out.txt")
    os.symlink(root / "a.txt", root / "link_in.txt")
    return root, tmp_path


def test_reader_reads_inside_its_directory(tree):
    root, _ = tree
    read_file = file_reader(root, max_bytes=1000)
    assert read_file("a.txt") == "alpha"
    assert read_file("sub/b.txt") == "beta"
    assert read_file("sub/../a.txt") == "alpha"
    assert read_file("link_in.txt") == "alpha"  # a symlink staying inside is fine


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("../secret.txt", "outside"),
        ("sub/../../secret.txt", "outside"),
        ("link_out.txt", "outside"),  # a symlink pointing out
        ("/etc/passwd", "outside"),
        ("sub", "not a file"),
        ("missing.txt", "not a file"),
        ("big.txt", "2000 bytes"),
    ],
)
def test_reader_refuses_traversal_symlinks_out_and_huge_files(tree, path, why):
    root, _ = tree
    with pytest.raises(ToolInputError, match=why):
        file_reader(root, max_bytes=1000)(path)


def test_reader_root_must_be_a_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        file_reader(tmp_path / "nope")
    (tmp_path / "f").write_text("")
    with pytest.raises(ToolInputError, match="not a directory"):
        file_reader(tmp_path / "f")
