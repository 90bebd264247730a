"""Text-to-speech models in the newer AgentScope style (reference 000, "TTS").

::

    from agentscope_legacy.tts import LocalTTSModel
    res = await LocalTTSModel().synthesize(Msg("assistant", "Hello.", "assistant"))
    res.content          # an AudioBlock: base64 WAV (stream=True: PCM chunks, is_last on the last)

    async with DashScopeRealtimeTTSModel(model_name="qwen3-tts-flash-realtime") as tts:
        await tts.push(chunk_1); await tts.push(chunk_2); final = await tts.synthesize(final_msg)

``TTSModelBase`` (plain models: one hook, ``_synthesize_pcm``) and ``RealtimeTTSModelBase``
(``push``/``synthesize`` sessions over one connection) are in ``_base``. The provider classes
are imported on first use (module ``__getattr__``), and import their SDK only when they call it.

Registration (the legacy ``model_type``s). ``_legacy.TTS_MODEL_TYPES`` maps each model_type to
``"<module>:<class>"`` of its TTS class: that one line is a type's whole registration. The class
carries ``model_type``, ``provider`` and ``config_schema`` (JSON Schema properties of its own
config fields: ``api_key``, ``base_url``...; the common ones, ``model_name``, ``voice``,
``format``, ``sample_rate``, ``stream``, ``timeout``, come from ``_legacy``). ``_legacy`` builds
one ``TTSWrapper`` subclass per type from that; the registry (``models/manager.py``) imports
``agentscope_legacy.tts._legacy`` by name (``PLUGIN_MODULES``: the models layer must not import
this higher one) when a manager is built, and validates TTS configs at load time like any
other. Config fields other than the common
ones are passed to the TTS class's constructor as keywords.

What a TTS config accepts, against a chat config (``models._base.COMMON_PROPERTIES``):

* the same: ``config_name``, ``model_type``, ``model_name``, ``stream``, ``generate_args``,
  ``replace``; and, on the providers that retry (``openai_tts``, ``dashscope_tts``,
  ``gemini_tts``), ``max_retries``, ``retry_interval`` and ``max_retry_interval`` with the
  chat schema (a call is retried only until its first audio; defaults 2, 0.5 s and 8 s);
* ``timeout``: one number, the seconds without audio after which a call fails
  (ProviderTimeoutError), not the chat configs' HTTP ``{connect, read}``;
* not accepted (a config error at load time): ``deadline`` (a synthesis is bounded by
  ``timeout`` between chunks instead), ``budget``, and the retry fields on ``local_tts`` and
  ``dashscope_realtime_tts`` (which do not retry; the latter has ``connect_timeout``);
* their own: ``voice``, ``format`` (``wav``/``pcm16``), ``sample_rate``, and each class's
  ``config_schema`` (``api_key``, ``base_url``...).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ._base import (
    TTSInputError as TTSInputError,
)
from ._base import (
    TTSModelBase as TTSModelBase,
)
from ._base import (
    TTSResponse as TTSResponse,
)
from ._base import (
    TTSSessionError as TTSSessionError,
)
from ._base import (
    TTSUsage as TTSUsage,
)
from ._local import LocalTTSModel as LocalTTSModel
from ._realtime import (
    RealtimeTTSModelBase as RealtimeTTSModelBase,
)

_LAZY = {
    "OpenAITTSModel": "._openai",
    "DashScopeTTSModel": "._dashscope",
    "DashScopeRealtimeTTSModel": "._dashscope_realtime",
    "GeminiTTSModel": "._gemini",
    "TTSWrapper": "._legacy",
    "SpeechResult": "._legacy",
    "tts_model_from_config": "._legacy",
    "SpeechStream": "._speak",
    "SpeechAudio": "._speak",
    "split_sentences": "._speak",
}

__all__ = sorted(
    [
        *_LAZY,
        "LocalTTSModel",
        "RealtimeTTSModelBase",
        "TTSInputError",
        "TTSModelBase",
        "TTSResponse",
        "TTSSessionError",
        "TTSUsage",
    ]
)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agentscope_legacy.tts' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
