"""Tools (``agentscope_legacy.tool``): Python functions as tools a model may call.

::

    toolkit = Toolkit()
    toolkit.register_tool_function(get_weather)    # type hints + docstring -> JSON schema
    schemas = toolkit.get_json_schemas()           # OpenAI's format, what ``tools=`` takes
    result = await toolkit.call(tool_use_block)    # a tool_result block; errors as its text

Built-ins a user opts into: :func:`calculator` (arithmetic parsed with ``ast``) and
:func:`file_reader` (a ``read_file`` confined to one directory). ``ReActAgent`` and
``RealtimeAgent`` run their tools here.
"""

from ._builtin import BUILTIN_TOOLS, ToolInputError, calculator, file_reader
from ._schema import function_schema
from ._toolkit import DEFAULT_TIMEOUT, Tool, Toolkit, result_text

__all__ = [
    "BUILTIN_TOOLS",
    "DEFAULT_TIMEOUT",
    "Tool",
    "ToolInputError",
    "Toolkit",
    "calculator",
    "file_reader",
    "function_schema",
    "result_text",
]
