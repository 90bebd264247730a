"""The ``model_type`` names of 0.0.x-0.1.1 that 0.1.2 dropped, and what to write instead.

Not registered: each is a :class:`~agentscope_legacy.errors.ConfigError` naming its
replacement (``ModelManager`` adds :func:`renamed_hint` to its unknown-type message), since
the old types behaved differently enough (``post_api`` returned only the raw JSON; the
post-API DALL-E parsed an envelope of its own) that running them silently as another type
would hide the change.
"""

from __future__ import annotations

#: Old model_type -> what replaces it.
RENAMED_MODEL_TYPES: dict[str, str] = {
    "openai": "'openai_chat' (the 0.0.x alias, renamed in 0.1.x)",
    "tongyi_chat": "'dashscope_chat' (the 0.0.x alias, renamed in 0.1.x)",
    "post_api": "'post_api_chat' (OpenAI-shaped replies; the JSON body stays in `raw`)",
    "post_api_dall_e": "'openai_dall_e' with `base_url` for an OpenAI-compatible image server",
    "post_api_dalle": "'openai_dall_e' with `base_url` for an OpenAI-compatible image server",
}


def renamed_hint(model_type: object) -> str:
    """``"; 0.x's type 'x' is replaced by ..."`` for an old type, else ``""``."""
    replacement = RENAMED_MODEL_TYPES.get(str(model_type))
    return f"; 0.x's model_type '{model_type}' is replaced by {replacement}" if replacement else ""
