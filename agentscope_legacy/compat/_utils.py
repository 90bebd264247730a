"""``agentscope.utils`` of 0.1.x: only a package here, for ``agentscope.utils.token_utils``."""

# A package's path: the alias finder answers for the submodules, so it stays empty.
__path__: list[str] = []
