"""A ReActAgent on the offline local model (SmolLM2-135M-Instruct) calling the built-in calculator.

    python examples/react_calculator.py "What is 37 * 43?"

A 135M model asked with ``tool_choice="auto"`` answers from memory (wrongly); forced with
``tool_choice="required"``, its first step is a tool call generated under the arguments'
JSON Schema as a grammar (the calculator's ``pattern`` keeps the expression to arithmetic),
then it answers from the tool's result.
"""

from __future__ import annotations

import sys

from agentscope_legacy.agents import ReActAgent
from agentscope_legacy.message import Msg
from agentscope_legacy.model import LlamaCppChatModel
from agentscope_legacy.tool import Toolkit, calculator


def build_agent() -> ReActAgent:
    model = LlamaCppChatModel(stream=True, generate_kwargs={"max_tokens": 160, "temperature": 0})
    return ReActAgent(
        "calc",
        "You are a calculator assistant.",
        model,
        toolkit=Toolkit([calculator]),
        max_iters=2,
        tool_choice="required",  # the first step must call the calculator
    )


def main(question: str) -> str:
    return build_agent()(Msg("user", question, "user")).get_text_content() or ""


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "What is 37 * 43?")
